"""The cells' pages: one subsection per cell with its verdict, the reason in one
sentence, the definitions that differ in it, and its checked laws or its exact
counterexample (:mod:`.derivations`).  What every cell shares (how to read it, the
conventions of a counterexample) is said once, at the start of the section.
"""
from __future__ import annotations

import sympy as sp

from ..catalogue.registry import TRANSFORMATIONS, normalizer as _registered
from ..core.model import EPS
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..derive.reasons import reason
from .derivations import _laws_tex, a_law_tex, counterexample_tex, derived_in_full
from .latex import cell_label, conditions_tex, equations, esc, label_for, parts_tex, tex
from .sections import Definitions

__all__ = ["cell_tex", "cells_section"]


def _definitions_of(cell: Cell, defs: Definitions):
    """(labels, local displays): where each equation a cell uses is typeset.

    The transformation's ``W'`` and ``X'`` are typeset in the cell; a
    definition identical to the one in the notation section is referred to;
    one that differs (``epsilon = 0`` in a proof that needs it) is typeset in
    the cell.  A primed definition refers to its unprimed twin; the names of the
    factor and shift of ``a'`` refer to the derivation of the transformation.
    """
    norm = _registered(cell.normalizer)
    labels, local, differing = {}, [], []
    for e in cell.definitions:
        if e.name in ("W'", "X'"):
            labels[e.name] = label_for("eq", cell.normalizer, cell.transformation, e.name)
            local.append(e)
            continue
        if e.name in ("alpha", "beta"):   # the transformation's factor and shift: stated where it is derived
            labels[e.name] = label_for("tr", cell.transformation)
            continue
        stem = e.name[:-1] if e.name.endswith("'") else e.name
        if stem in labels:
            labels[e.name] = labels[stem]
            continue
        found = defs.find(norm, stem)
        if found and (found[0], found[1]) == (e.lhs, e.rhs):
            labels[e.name] = found[2]
        else:
            labels[e.name] = label_for("eq", cell.normalizer, cell.transformation, e.name)
            differing.append(e)
    return labels, local, differing


def cell_tex(cell: Cell, defs: Definitions, cells: dict) -> list[str]:
    """One cell: its verdict, the reason in one sentence (derived), then only what differs from
    its transformation's derivation: the laws (checked), or the exact counterexample.  A cell
    whose laws are those of an earlier cell of its row says so instead of repeating them."""
    norm, t = _registered(cell.normalizer), TRANSFORMATIONS[cell.transformation]
    out = [f"\\subsection{{{esc(norm.title)} under {esc(t.title.lower())}}}\\label{{{cell_label(cell)}}}"]
    if cell.verdict == INVARIANT:
        conditions = conditions_tex(cell)
        head = r"\textbf{Invariant}" + (f", where {conditions}." if conditions else ".")
        steps = tuple((e.lhs, e.rhs) for e in cell.proof.steps())
        earlier = defs.laws_shown.get((cell.normalizer, steps))
        if earlier is not None:
            a_law = cell.proof.steps()[0]
            out.append(f"{head} The laws are those under {esc(TRANSFORMATIONS[earlier.transformation].title.lower())} "
                       f"(Section~\\ref{{{cell_label(earlier)}}}): the summed inputs change the same way, "
                       f"${tex(a_law.lhs)} = {tex(a_law.rhs)}$.")
            return out
        defs.laws_shown[cell.normalizer, steps] = cell
        out.append(f"{head} {parts_tex(reason(cell))}")
    elif cell.verdict == NOT_INVARIANT:
        conditions = ", ".join(f"${tex(c)}$" for c in cell.conditions if c != sp.Eq(EPS, 0))
        head = r"\textbf{No}" + (f" (the counterexample has {conditions})" if conditions else "")
        why = reason(cell)
        earlier = defs.reasons_shown.get((cell.normalizer, why))
        if earlier is not None:
            out.append(f"{head}, as under {esc(TRANSFORMATIONS[earlier.transformation].title.lower())} "
                       f"(Section~\\ref{{{cell_label(earlier)}}}) and for the same reason: the summed inputs "
                       f"change the same way, ${a_law_tex(cell)}$.")
            return out + counterexample_tex(cell, defs.instances)
        defs.reasons_shown[cell.normalizer, why] = cell
        out.append(f"{head}. {parts_tex(why)}")
    else:
        out.append(r"\textbf{Verdict: unknown}: no proof and no counterexample was found.")
        return out
    labels, local, differing = _definitions_of(cell, defs)
    norm_defs = {e.name: defs.find(norm, e.name) for e in differing}
    only_eps = all(found is not None and found[1].xreplace({EPS: 0}) == e.rhs
                   for e, found in zip(differing, norm_defs.values()))
    if differing and not only_eps:
        out.append("Definitions that differ in this cell:")
        out.append(equations([(e.lhs, e.rhs, labels[e.name]) for e in differing]))
    if cell.verdict == NOT_INVARIANT:
        return out + counterexample_tex(cell, defs.instances)
    if derived_in_full(cell, cells):
        return out + [f"Section~\\ref{{{label_for('tr', t.id)}}} derives it in full."]
    return out + [f"Its laws, derived as in Section~\\ref{{{label_for('tr', t.id)}}}:"] + _laws_tex(cell)


#: How a cell is set out: said once, at the start of the cells of the paper's table.
HOW_TO_READ = (
    r"Each cell gives its verdict with its conditions, and the reason in one sentence (the rule of "
    r"Section~\ref{sec:derivations}). An invariant cell then lists its laws, each checked; "
    r"Section~\ref{sec:derivations} derives them, in full for the first invariant row of the paper's table. "
    r"A ``No'' is shown by an exact counterexample in rational numbers: the sizes, the values of the "
    r"instance with gain $g = 1$, bias $b = 0$ and $\epsilon = 0$, and the two outputs at one entry. "
    r"Matrices are indexed as in the definitions, rows first: $W_{i,j}$, $X_{n,j}$, and on the "
    r"convolutional layer one matrix $X_{n,j,p}$ for each case $n$, with rows $j$ and columns $p$. "
    r"A cell whose instance was shown before refers to it.")


def cells_section(at: dict, defs: Definitions, normalizers, title: str, label: str) -> list[str]:
    out = [f"\\section{{{title}}}\\label{{{label}}}",
           HOW_TO_READ if label == "sec:cells" else r"The cells are set out as in Section~\ref{sec:cells}."]
    for norm in normalizers:
        out.append(f"\\subsection{{{esc(norm.title)}}}\\label{{{label_for('sec', norm.id)}}}")
        for t in TRANSFORMATIONS:
            out += [x.replace("\\subsection{", "\\subsubsection{", 1) for x in cell_tex(at[norm.id, t], defs, at)]
    return out
