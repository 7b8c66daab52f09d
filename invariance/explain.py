"""Plain-text account of one cell, for ``python -m invariance check``."""
from __future__ import annotations

import textwrap

from .notation import plain
from .records import INVARIANT, NOT_INVARIANT, UNKNOWN, Cell

__all__ = ["explain"]

_VERDICT = {INVARIANT: "INVARIANT", NOT_INVARIANT: "NOT INVARIANT"}


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)


def explain(cell: Cell, titles: dict[str, str], caveats=(), numeric=None) -> str:
    lines = [f"{titles[cell.normalizer]} under {titles[cell.transformation].lower()}: "
             f"{_VERDICT.get(cell.verdict, 'UNKNOWN (no proof and no counterexample found)')}"]
    if cell.conditions:
        lines.append("conditions: " + ", ".join(plain(c) for c in cell.conditions))
    if cell.verdict == INVARIANT:
        lines.append("proof (each step checked by SymPy: unfold the equations it uses, "
                     "linearity of the sum, expand to 0):")
        for k, e in enumerate(cell.proof.steps(), 1):
            lines.append(_wrap(f"{k}. {plain(e.lhs)} = {plain(e.rhs)}", "  "))
            lines.append(_wrap(f"by {e.justification} (uses {', '.join(e.uses)})", "     "))
    ce = cell.counterexample
    if ce is not None:
        sizes = ", ".join(f"{k} = {v}" for k, v in ce.sizes.items())
        lines.append(f"counterexample (exact rationals, eps = 0, gain 1, bias 0; {sizes}):")
        for k, v in (ce.values | ce.parameters).items():
            lines.append(_wrap(f"{k} = {_fmt(v)}", "  "))
        at = ", ".join(f"{ax} {v}" for ax, v in ce.point.items())
        lines.append(_wrap(f"at {at}: h = {ce.output} but h' = {ce.transformed_output}", "  "))
    for c in caveats:
        lines.append(_wrap("caveat " + c.text(), ""))
    if numeric is not None:
        lines.append(f"numeric cross-check: {numeric.verdict}, max relative deviation "
                     f"{numeric.max_relative_deviation:.2e} over {numeric.instances} instances (seed {numeric.seed})"
                     + ("" if numeric.replay_differs is None else
                        f"; counterexample replayed in float64 {'differs' if numeric.replay_differs else 'DOES NOT differ'}"
                        f" (relative deviation {numeric.replay_deviation:.3g})"))
        if cell.verdict != UNKNOWN and not numeric.agrees(cell):
            lines.append(_wrap("DISAGREEMENT: " + numeric.disagreement(cell), ""))
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)
