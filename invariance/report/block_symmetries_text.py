"""A block's symmetries for people (text), its certificate (JSON), and the command that prints
them; rendered from what :func:`invariance.derive.block_symmetries.block_symmetries` derived."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..catalogue.block_families import candidates
from ..catalogue.blocks import BLOCKS
from ..core.notation import plain
from ..core.rules import condition_text
from ..core.terms import show
from ..derive.block_symmetries import block_symmetries, document

__all__ = ["render_text", "blocks_command", "write_blocks"]


def _completeness(s) -> list[str]:
    done = [c for c in s.certificates if c.complete]
    names = ", ".join(next(iter(s.certificates)).sizes) if s.certificates else ""
    if s.complete:
        sets = ", ".join("(" + ", ".join(str(v) for v in c.sizes.values()) + ")" for c in done)
        ranks = ", ".join(f"{c.rank} of {c.columns}" for c in done)
        how = sorted({"exact rank over Q" if c.how.startswith("exact") else "Rump's test on the enclosures"
                      for c in done})
        return [f"  complete: at ({names}) = {sets}, rank of the Jacobian d(output)/d(parameters) = columns - dimension",
                f"    ({ranks}; {' and '.join(how)})"]
    out = ["  NOT shown complete at three sets of sizes:"]
    for c in s.certificates:
        out.append(f"    {c.sizes}: " + (c.how if c.rank is None else
                                          f"the certified rank leaves at most {c.columns - c.rank} directions; "
                                          f"{c.proved} proved, formula {c.expected}"))
    return out


def render_text(s) -> str:
    b = s.spec
    lines = [f"{b.title} ({b.id}): {b.words}", "",
             f"Parameter directions ({', '.join(b.params)}; for every token): dimension {plain(s.dimension)}"]
    if not s.basis:
        lines.append("  none")
    for d in s.basis:
        f = d.family
        lines.append(f"  {plain(d.count):>12}  {f.id}: {f.words}")
        lines.append("                " + "; ".join(f"{n} = {show(t)}" for n, t in f.definitions.items()))
        steps = sum(len(l.steps) + len(r.steps) for _, l, r in d.proof.chains)
        conds = "; ".join(condition_text(c) for c in f.conditions())
        lines.append(f"                proved for every size ({steps} rewrite steps)" + (f"; {conds}" if conds else ""))
    if s.dependent:
        lines.append("  also proved, in their span: " + "; ".join(d.family.id for d in s.dependent))
    own = [f for f in s.refused if f in b.families]
    for f in own:
        lines.append(f"  not proved (the rules do not bring the two sides together): {f.id}: {f.words}")
    lines.append(f"  tried also: {len(candidates(b)) - len(b.families)} candidates read off the shapes "
                 f"({len(s.refused) - len(own)} not proved)")
    lines += _completeness(s)
    lines += [f"  note: {n}" for n in b.notes]
    return "\n".join(lines)


def _measured(s, backend: str = "numpy") -> tuple[list[str], bool]:
    from ..numeric.block_measure import check_block
    ms = check_block(s, backend=backend)
    at = "; ".join(f"{m.dimension} at " + ", ".join(f"{k}={v}" for k, v in m.sizes.items()) for m in ms)
    gap = min(((m.spectrum.last_kept or 0.0), (m.spectrum.first_dropped or 0.0)) for m in ms) if ms else (0, 0)
    ok = bool(ms) and all(m.agrees for m in ms)
    how = "numpy, float64, complex step" if backend == "numpy" else "torch, float64, reverse mode"
    head = f"numeric ({how})" if ok else f"DISAGREEMENT numeric ({how})"
    wrong = "; ".join(f"measured {m.dimension}, proved {m.expected}" for m in ms if not m.agrees)
    return [f"{head} {s.block}: dimension {at}" + (f": {wrong}" if wrong else " (agrees)")
            + f"; singular values / sigma_max: last kept {gap[0]:.1e}, first dropped {gap[1]:.1e}"], ok


def blocks_command(ids, fmt: str = "text", numeric: bool = False, backend: str = "numpy") -> int:
    """Print each block's symmetries (text or the JSON certificate); exit 1 if one is not shown
    complete or, with ``numeric``, a measurement disagrees."""
    results = [block_symmetries(i) for i in ids]
    measured = [_measured(s, backend) for s in results] if numeric else [([], True) for _ in results]
    if fmt == "json":
        docs = [document(s) for s in results]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=1))
        for lines, _ in measured:
            if lines:
                print("\n".join(lines), file=sys.stderr)
    else:
        print("\n\n".join("\n\n".join([render_text(s)] + (["\n".join(m[0])] if m[0] else []))
                          for s, m in zip(results, measured)))
    incomplete = [s.block for s in results if not s.complete]
    if incomplete:
        print(f"not shown complete: {', '.join(incomplete)}", file=sys.stderr)
    disagree = [s.block for s, m in zip(results, measured) if not m[1]]
    if disagree:
        print(f"numeric disagreement: {', '.join(disagree)}", file=sys.stderr)
    return 1 if incomplete or disagree else 0


def write_blocks(out: Path) -> list:
    """proofs/symmetries__<block>.json for every registered block; (id, document, complete) each."""
    done = []
    for bid in BLOCKS:
        s = block_symmetries(bid)
        doc = document(s)
        (out / f"symmetries__{bid}.json").write_text(json.dumps(doc, indent=1) + "\n")
        done.append((bid, doc, s.complete))
    return done
