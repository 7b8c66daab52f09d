"""The ``rewrite`` command: a recipe's (or your claim's) verdict, printed and checked.

Re-exported by :mod:`invariance.report.commands`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .exits import EXIT_FAIL, EXIT_OK, BadInput

__all__ = ["REWRITE_FORMATS", "rewrite_documents", "write_rewrites", "rewrite_command"]


REWRITE_FORMATS = ("text", "json", "markdown", "latex")


def rewrite_documents(ids) -> list:
    """(recipe id, document) for each recipe: its verdict derived afresh."""
    from ..catalogue.rewrites import RECIPES
    from ..core.rewrite import document
    from ..derive.rewrite import rewrite
    return [(i, document(rewrite(i), RECIPES[i])) for i in ids]


def write_rewrites(out: Path) -> list:
    """proofs/rewrite__<id>.json for every recipe; returns (id, document) for each."""
    from ..catalogue.rewrites import RECIPES
    docs = rewrite_documents(list(RECIPES))
    for rid, doc in docs:
        (out / f"rewrite__{rid}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return docs


def _claim(claim: str, define, assume):
    from ..catalogue.rewrites import ClaimError, claim as make
    original, eq, rewritten = claim.partition("=")
    if not eq or "=" in rewritten:
        raise BadInput(f"--claim reads ORIGINAL = REWRITTEN, e.g. \"RMS(x Q) Q^T W = RMS(x) W\"; got {claim[:80]!r}")
    try:
        return make(original, rewritten, list(define), list(assume))
    except ClaimError as e:
        raise BadInput(f"--claim: {e}") from None


def rewrite_command(recipe: str | None = None, everything: bool = False, fmt: str = "text",
                    numeric: bool = False, backend: str | None = None, claim: str | None = None,
                    define=(), assume=()) -> int:
    """A rewrite's verdict: proved for every size (the chains of equalities), or refuted by an
    exact counterexample (with the repair and the corrected recipe where there is one).  Exit 1
    if a verdict is unknown or a numeric check disagrees."""
    from ..catalogue.rewrites import RECIPES, recipe as find_recipe
    from ..core.rewrite import UNKNOWN, document
    from ..derive.rewrite import verdict
    from .rewrite_text import render_latex, render_markdown, render_text
    if sum((recipe is not None, everything, claim is not None)) != 1:
        raise BadInput("give one of a RECIPE, --all or --claim; recipes: " + ", ".join(RECIPES))
    if (define or assume) and claim is None:
        raise BadInput("--define and --assume go with --claim")
    if backend is not None and not numeric:
        raise BadInput("--backend is for the numeric cross-check only; add --numeric")
    if claim is not None:
        r = _claim(claim, define, assume)
        docs = [(r.id, document(verdict(r), r))]
    else:
        docs = rewrite_documents(list(RECIPES) if everything else [find_recipe(recipe).id])
    if fmt == "json":
        print(json.dumps(docs[0][1] if len(docs) == 1 else [d for _, d in docs], indent=1))
    else:
        render = {"text": render_text, "markdown": render_markdown, "latex": render_latex}[fmt]
        print(("\n\n" + ("" if fmt == "latex" else "-" * 72 + "\n\n")).join(render(d) for _, d in docs))
    failed = False
    if numeric:
        from ..numeric.rewrite_check import check_recipe
        for rid, doc in docs:
            lines, ok = check_recipe(rid, doc, backend or "numpy")
            to = sys.stderr if fmt in ("json", "latex") else sys.stdout
            print(("" if to is sys.stderr else "\n") + "\n".join(lines), file=to)
            failed |= not ok
    unknown = [rid for rid, d in docs if d["verdict"] == UNKNOWN]
    if unknown:
        print(f"unknown: {', '.join(unknown)}: neither a proof nor a counterexample was found", file=sys.stderr)
    from ..kernel.rewrites import check_rewrite   # what verify will say of the document just printed
    unchecked = [f"{rid}: {p}" for rid, d in docs if d["verdict"] != UNKNOWN for p in check_rewrite(d)]
    for line in unchecked:
        print(f"the certificate does not verify: {line}", file=sys.stderr)
    return EXIT_FAIL if unknown or failed or unchecked else EXIT_OK
