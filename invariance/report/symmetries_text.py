"""A layer's symmetries for people: text (terminal), Markdown, LaTeX; JSON is the certificate.

Rendered from what :func:`invariance.derive.symmetries.symmetries` derived (the same objects
the certificate is written from: nothing is derived twice).
"""
from __future__ import annotations

import sympy as sp

from ..core.notation import plain, tex
from ..catalogue.registry import normalizer as _normalizer

__all__ = ["render_text", "render_markdown", "render_latex", "VARIABLES_OF"]

VARIABLES_OF = {"parameter": "W, g, b{c}; for every input", "data": "X; for every value of the parameters"}
_AXIS = {"case": "N", "unit": "H", "position": "P", "input": "D"}


def _variables(kind: str, norm) -> str:
    extra = (", c" if norm.model.c is not None else "") + "".join(f", {t.name}" for t in norm.trainable)
    return VARIABLES_OF[kind].format(c=extra)


def _axis_name(norm, axis: str) -> str:
    if axis == "groups":
        return "G"
    if axis == "unit":
        return str(norm.model.axis("unit").size)
    return _AXIS[axis]


def _sizes(norm, sizes: dict) -> str:
    return ", ".join(f"{_axis_name(norm, k)} = {v}" for k, v in sizes.items())


def _conditions(cell) -> str:
    """The conditions a reader needs here: positive factors, eps = 0 (sigma != 0 is every cell's)."""
    return ", ".join(plain(c) for c in cell.conditions if not isinstance(c, sp.Ne))


_HOW = {"exact": "exact rank over Q", "Rump": "Rump's test on the enclosures of the irrational entries"}


def _completeness(norm, s) -> list[str]:
    done = [c for c in s.certificates if c.complete]
    names = ", ".join(_axis_name(norm, k) for k in (done or s.certificates)[0].sizes) if s.certificates else ""
    sets = ", ".join("(" + ", ".join(str(v) for v in c.sizes.values()) + ")" for c in done)
    how = sorted({h for c in done for k, h in _HOW.items() if k in c.how})
    ranks = ", ".join(f"{c.rank} of {c.columns}" for c in done)
    out = []
    if s.complete:
        wrt = "(" + ", ".join(["W", "g", "b"] + (["c"] if norm.model.c is not None else [])
                              + [t.name for t in norm.trainable]) + ")" if s.kind == "parameter" else "X"
        out.append(f"  complete: at {names} = {sets}, rank of dh/d{wrt} = columns - dimension")
        out.append(f"    ({ranks}; {' and '.join(how)})")
    else:
        out.append("  NOT shown complete at three sets of sizes:")
        for c in s.certificates:
            if c.rank is None:
                out.append(f"    {_sizes(norm, c.sizes)}: {c.how}")
            else:
                out.append(f"    {_sizes(norm, c.sizes)}: the certified rank leaves at most {c.columns - c.rank} "
                           f"directions; {c.proved} proved, formula {c.expected}")
    for sizes, witness in s.witnesses:
        shown = ", ".join(f"{k} {v:+g}" for k, v in witness)
        out.append(f"  found, not proved, at {_sizes(norm, sizes)}: a numerically null direction outside the "
                   "proved span")
        out.append(f"    (float64 SVD witness, its largest entries: {shown})")
    return out


def _degenerate(norm, s) -> list[str]:
    parts = []
    for d in s.degenerate:
        where = f"{_axis_name(norm, d.axis)} = {d.size}"
        parts.append(f"{where}: h undefined (a statistic is 0)" if d.note else
                     f"{where}: {'exactly' if d.exact else 'at most'} {d.bound} (formula {d.formula})")
    return ["  degenerate sizes: " + "; ".join(parts)] if parts else []


def render_text(norm_id: str, analyses) -> str:
    """The symmetries of one layer, for a terminal."""
    norm = _normalizer(norm_id)
    lines = [f"{norm.title} ({norm.id}): the directions that leave h unchanged"]
    for s in analyses:
        eps = ", at eps = 0" if s.eps_zero else ""
        lines += ["", f"{s.kind.capitalize()} directions ({_variables(s.kind, norm)}): dimension "
                      f"{plain(s.dimension)}{eps}"]
        if not s.basis:
            lines.append("  none")
        for d in s.basis:
            t, cond = d.family, _conditions(d.cell)
            if len(t.words) + len(_paper(t)) <= 84:
                lines.append(f"  {plain(d.count):>5}  {t.words:<44} {_paper(t)}")
            else:
                lines += [f"  {plain(d.count):>5}  {t.words}", f"         {_paper(t)}"]
            lines.append(f"         proved for every size: {t.id}" + (f"; {cond}" if cond else ""))
        if s.dependent:
            lines.append("  also proved, in their span: " + "; ".join(d.family.words for d in s.dependent))
        lines += _completeness(norm, s) + _degenerate(norm, s)
    return "\n".join(lines)


def _paper(t) -> str:
    """The family's maths as plain text (its LaTeX with the commands spelled out)."""
    text = t.paper
    for a, b in ((r"\to", "->"), (r"\delta", "delta"), (r"\gamma", "gamma"), (r"\kappa", "kappa"),
                 (r"\mathbf{1}", "1 "), (r"\mu", "mu"), (r"\sigma", "sigma"), (r"\ ", " "), ("{", ""), ("}", ""),
                 ("\\", "")):
        text = text.replace(a, b)
    return text


def render_markdown(norm_id: str, analyses) -> str:
    norm = _normalizer(norm_id)
    out = [f"## {norm.title} (`{norm.id}`): symmetries", ""]
    for s in analyses:
        out += [f"### {s.kind.capitalize()} directions: dimension ${tex(s.dimension)}$", "",
                f"In {_variables(s.kind, norm)}" + (", at $\\epsilon = 0$." if s.eps_zero else "."), "",
                "| directions | family | in the paper's notation | conditions |", "|---|---|---|---|"]
        for d in s.basis:
            conds = ", ".join(f"${tex(c)}$" for c in d.cell.conditions) or "none"
            out.append(f"| ${tex(d.count)}$ | {d.family.words} | ${d.family.paper}$ | {conds} |")
        out.append("")
        out += [line.strip() and line for line in _completeness(norm, s) + _degenerate(norm, s)]
        out.append("")
    return "\n".join(out)


def render_latex(norm_id: str, analyses) -> str:
    norm = _normalizer(norm_id)
    rows = []
    for s in analyses:
        for k, d in enumerate(s.basis):
            kind = f"{s.kind} (${tex(s.dimension)}$)" if k == 0 else ""
            rows.append(f"{kind} & ${tex(d.count)}$ & {d.family.words} & ${d.family.paper}$ \\\\")
        if not s.basis:
            rows.append(f"{s.kind} ($0$) & & none & \\\\")
    return "\n".join([f"% {norm.title}: symmetries", r"\begin{tabular}{llll}", r"\hline",
                      r"kind (dimension) & count & direction & family \\", r"\hline", *rows, r"\hline",
                      r"\end{tabular}"])


def sizes_label(norm, sizes: dict) -> str:
    return _sizes(norm, sizes)

