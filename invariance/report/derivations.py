"""Proofs and counterexamples as LaTeX: one derivation per transformation as chains
of equalities with their reasons, a cell's checked laws, the steps of a proof,
what a refuted cell's proof tactic does establish, and an exact counterexample.

These renderers are being rewritten to render the certificate itself (issue 16);
their bodies are moved here unchanged from the former ``docs.py``, so they keep
the short private names they were written with (imported below under those names).
"""
from __future__ import annotations

import sympy as sp

from ..catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS
from ..core.cells import counterexample_symbols
from ..core.model import prime
from ..core.records import INVARIANT, Cell
from ..derive.reasons import RULE, action, built
from .latex import cell_label as _cell_ref, displaystyle as _displaystyle, label_for as _label
from .latex import display, esc, parts_tex, tex
from .linebreak import LINE as _LINE, gathered, maths_width as _width
from .sections import axes_figure

__all__ = ["derivations_section", "chain_tex", "counterexample_tex", "derived_in_full", "a_law_tex"]

H_PRIME = "h'"


def _representative(t_id: str, cells: dict) -> Cell | None:
    """The first row of the paper's table invariant to ``t_id``: its derivation is the
    transformation's (other cells differ only in their statistics' axes)."""
    return next((cells[n, t_id] for n in TABLE1 if (n, t_id) in cells and cells[n, t_id].verdict == INVARIANT),
                None)


def _axes_text(axes) -> str:
    return ", ".join(f"${tex(ax.index)}$ ({esc(ax.title)})" for ax in axes) or "none (a constant)"


def derivations_section(cells: dict) -> list[str]:
    out = [r"\section{One derivation per transformation}\label{sec:derivations}",
           r"\paragraph{The rule.} " + parts_tex(RULE) + r" Figure~\ref{fig:axes} puts the rule in one picture.",
           r"Each transformation acts on the summed inputs as $a' = \alpha a + \beta$ (derived from $W'$ and "
           r"$X'$ by the linearity of the sum over the inputs $j$). Below, for each transformation, $\alpha$ and "
           r"$\beta$ with the axes along which they vary, then the derivation for the first normalizer of the "
           r"paper's table that is invariant to it, as chains of equalities; every link is checked by SymPy "
           r"(unfold the definitions, linearity of the sum, expand to zero). The cells of "
           r"Section~\ref{sec:cells} and Appendix~\ref{sec:more} state only what differs: their verdict, the "
           r"reason in one sentence, their laws or their counterexample."]
    out += axes_figure()
    shown: dict = {}   # (normalizer, the chains after a') -> the transformation whose derivation shows them
    for t in TRANSFORMATIONS.values():
        out.append(f"\\subsection{{{esc(t.title)}: ${t.paper}$}}\\label{{{_label('tr', t.id)}}}")
        rep = _representative(t.id, cells)
        probe = rep or next(c for c in cells.values() if c.transformation == t.id)
        b = built(probe.normalizer, True)
        act = action(b, t)
        law = _a_law(b, act)
        extra = []
        if act.alpha_name != act.alpha:
            extra.append(f"{tex(act.alpha_name)} = {tex(act.alpha)}")
        if act.beta_name != act.beta:
            extra.append(f"{tex(act.beta_name)} = {tex(act.beta)}")
        out.append("On the summed inputs: $" + law + "$" + (", with" if extra else "."))
        if extra:
            out.append(display(r",\qquad ".join(extra)))
        out.append(f"The factor varies along: {_axes_text(act.alpha_axes) if act.alpha != 1 else 'no re-scaling'}; "
                   f"the shift along: {_axes_text(act.beta_axes) if act.beta != 0 else 'no shift'}.")
        if rep is None:
            out.append("No normalizer of the paper's table is invariant to it.")
            continue
        name = esc(NORMALIZERS[rep.normalizer].title.lower())
        chains = rep.proof.chains
        key = (rep.normalizer, chains[1:])
        if key in shown:
            out.append(f"For {name} (Section~\\ref{{{_cell_ref(rep)}}}), the first row of the paper's table "
                       f"invariant to it, the summed inputs change as under "
                       f"{esc(TRANSFORMATIONS[shown[key]].title.lower())}:")
            out.append(chain_tex(chains[0]))
            out.append(f"and from there the derivation is that of Section~\\ref{{{_label('tr', shown[key])}}}, "
                       "link for link.")
            continue
        shown[key] = t.id
        out.append(f"For {name} (Section~\\ref{{{_cell_ref(rep)}}}), the first row of the paper's table "
                   "invariant to it:")
        out.append(chain_tex(*chains))
    return out


def _a_law(b, act) -> str:
    m = b.m
    return f"{tex(m.at(prime(m.a), m.point))} = {tex(act.alpha_name * m.at(m.a, m.point) + act.beta_name)}"


def a_law_tex(cell: Cell) -> str:
    """How the cell's transformation acts on its summed inputs, with the names a reader sees."""
    b = built(cell.normalizer, True)
    return _a_law(b, action(b, TRANSFORMATIONS[cell.transformation]))


def derived_in_full(cell: Cell, cells: dict) -> bool:
    """Whether Section 5 derives ``cell`` in full: it is its transformation's representative."""
    return _representative(cell.transformation, cells) == cell


def chain_tex(*chains) -> str:
    """Chains of equalities in one display, each link's reason as its tag; a little space
    between chains."""
    lines = []
    for c, chain in enumerate(chains):
        for k, link in enumerate(chain.links):
            end = "" if (c, k) == (len(chains) - 1, len(chain.links) - 1) else \
                r" \\[4pt]" if k == len(chain.links) - 1 else r" \\"
            lines.append((tex(chain.lhs) if k == 0 else "") + f" &= {_displaystyle(tex(link.expr))}"
                         + f" \\tag*{{\\footnotesize[{parts_tex(link.why)}]}}" + end)
    return "\\begin{align*}\n" + "\n".join(lines) + "\n\\end{align*}"


def _laws_tex(cell: Cell) -> list[str]:
    """The checked steps of an invariant cell, aligned: what this cell adds to the derivation
    of its transformation."""
    rows = [(e.lhs, e.rhs, None) for e in cell.proof.steps()]
    if any(_width(f"{tex(lhs)} = {tex(rhs)}") > _LINE for lhs, rhs, _ in rows):
        return [display(f"{tex(lhs)} = {tex(rhs)}") for lhs, rhs, _ in rows]
    body = " \\\\\n".join(f"{tex(lhs)} &= {_displaystyle(tex(rhs))}" for lhs, rhs, _ in rows)
    return [f"\\begin{{align*}}\n{body}\n\\end{{align*}}"]


def _entries(v) -> list:
    return [sp.latex(x).replace(r"\frac", r"\tfrac") for x in v]


def _bmatrix(rows) -> str:
    return (r"\begin{bmatrix}" + r" \\ ".join(" & ".join(_entries(r)) for r in rows)
            + r"\end{bmatrix}")


def _value_tex(key, v) -> list[tuple[str, float]]:
    """(maths, rough width) for one value of a counterexample."""
    name = tex(key)
    if not isinstance(v, (list, tuple)):
        return [(f"{name} = {sp.latex(v)}", len(name) + 6)]
    if not v or not isinstance(v[0], (list, tuple)):
        if len(v) == 1:
            return [(f"{tex(key[1])} = {sp.latex(v[0])}", 10)]
        shown = [tex(key[k]) for k in range(1, len(v) + 1)]
        lhs = ", ".join(shown) if len(v) <= 3 else f"{shown[0]}, \\dots, {shown[-1]}"
        lhs = f"\\left({lhs}\\right)"
        return [(f"{lhs} = \\left({', '.join(_entries(v))}\\right)", 14 + 5 * len(v))]
    if isinstance(v[0][0], (list, tuple)):   # X[n, j, p]: one matrix per case
        return [(f"{tex(key[n + 1, sp.Symbol('j'), sp.Symbol('p')])} = {_bmatrix(v[n])}",
                 12 + 5 * len(v[n][0])) for n in range(len(v))]
    return [(f"{name} = {_bmatrix(v)}", 4 + 5 * len(v[0]))]


def _instance(cell: Cell):
    """(the counterexample's layer and values without the transformation's parameters, the
    parameters' symbols): two cells with the same layer and values share an instance."""
    ce = cell.counterexample
    symbols = counterexample_symbols(NORMALIZERS[cell.normalizer].build(), TRANSFORMATIONS[cell.transformation], ce)
    params = {str(k) for k in symbols if str(k) in ("delta", "gamma") or str(k) in ce.parameters}
    layer = tuple((str(k), str(v)) for k, v in symbols.items() if str(k) not in params)
    key = (NORMALIZERS[cell.normalizer].model.id, tuple(ce.sizes.items()), layer)
    return key, {k: v for k, v in symbols.items() if str(k) in params}, symbols


def _values_tex(symbols: dict) -> str:
    items = [(w, maths) for k, v in symbols.items() for maths, w in _value_tex(k, v)]
    shown = gathered(items, _LINE, gap=3)
    return f"\\begingroup\\renewcommand{{\\arraystretch}}{{1.3}}\n\\[\n{shown}\n\\]\n\\endgroup"


def counterexample_tex(cell: Cell, seen: dict | None = None) -> list[str]:
    """A cell's exact counterexample: its sizes and values (the conventions are stated once, in
    the section's introduction), and the two outputs at one entry.  ``seen`` maps an instance
    already shown to its cell's label: a cell with the same layer and values refers to it and
    shows only its transformation's parameters."""
    ce = cell.counterexample
    m = NORMALIZERS[cell.normalizer].model
    sizes = ", ".join(f"${k} = {v}$" for k, v in ce.sizes.items())
    key, params, symbols = _instance(cell)
    point = {ax.name: sp.Integer(ce.point[ax.name]) for ax in m.axes}
    where = ", ".join(f"${tex(ax.index)} = {ce.point[ax.name]}$" for ax in m.axes)
    h, hp = m.at(sp.IndexedBase("h"), point), m.at(sp.IndexedBase("h'"), point)
    outputs = (f"At {where}: ${tex(h)} = {sp.latex(ce.output)}$ but "
               f"${tex(hp)} = {sp.latex(ce.transformed_output)}$.")
    if seen is not None and key in seen:
        label, shown = seen[key]
        given = ", ".join(f"${x}$" for k, v in params.items() for x, _ in _value_tex(k, v))
        same = (ce.output, ce.transformed_output) == shown
        return [f"\\textit{{Counterexample}}: the instance of Section~\\ref{{{label}}} ({sizes}), with {given}"
                + (", which gives the same two outputs." if same else f". {outputs}")]
    if seen is not None:
        seen[key] = (_cell_ref(cell), (ce.output, ce.transformed_output))
    return [f"\\textit{{Counterexample}}: {sizes}:", _values_tex(_beyond_conventions(symbols)), outputs]


def _beyond_conventions(symbols: dict) -> dict:
    """The values to show: gain 1 and bias 0 are the section's conventions, said once."""
    usual = {"g": 1, "b": 0}
    return {k: v for k, v in symbols.items()
            if not (str(k) in usual and isinstance(v, (list, tuple)) and all(x == usual[str(k)] for x in v))}
