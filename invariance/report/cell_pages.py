"""The cells' pages: one subsection per cell with its verdict, the reason in one
sentence, the definitions that differ in it, and its checked laws or its exact
counterexample (:mod:`.derivations`); the caveats of an invariant cell.
"""
from __future__ import annotations


from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS
from ..core.model import EPS
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..derive.caveats import caveats as derive_caveats
from ..derive.reasons import reason
from .derivations import _laws_tex, counterexample_tex
from .latex import cell_label, conditions_tex, equations, esc, label_for, mixed, parts_tex
from .sections import Definitions, needs_eps_zero

__all__ = ["cell_tex", "cells_section"]


def _definitions_of(cell: Cell, defs: Definitions):
    """(labels, local displays): where each equation a cell uses is typeset.

    The transformation's ``W'`` and ``X'`` are typeset in the cell; a
    definition identical to the one in the notation section is referred to;
    one that differs (``epsilon = 0`` in a proof that needs it) is typeset in
    the cell.  A primed definition refers to its unprimed twin; the names of the
    factor and shift of ``a'`` refer to the derivation of the transformation.
    """
    norm = NORMALIZERS[cell.normalizer]
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


def _caveats_tex(cell: Cell) -> list[str]:
    found = derive_caveats(cell)
    if not found:
        return []
    kinds = {"negative-scale": "Negative factor", "eps": r"$\epsilon > 0$", "degenerate": "Degenerate sizes"}
    items = [f"\\item \\textit{{{kinds.get(c.kind, esc(c.kind))}}}: {mixed(c.statement)}. "
             f"Evidence: {mixed(c.evidence)}." for c in found]
    return [r"\paragraph{Caveats.}", r"\begin{itemize}", *items, r"\end{itemize}"]


def cell_tex(cell: Cell, defs: Definitions) -> list[str]:
    """One cell: its verdict, the reason in one sentence (derived), then only what differs from
    its transformation's derivation: the laws (checked), or the exact counterexample."""
    norm, t = NORMALIZERS[cell.normalizer], TRANSFORMATIONS[cell.transformation]
    out = [f"\\subsection{{{esc(norm.title)} under {esc(t.title.lower())}}}\\label{{{cell_label(cell)}}}"]
    conditions = conditions_tex(cell)
    if cell.verdict == INVARIANT:
        out.append(r"\textbf{Invariant}" + (f", where {conditions}." if conditions else ".")
                   + f" {parts_tex(reason(cell))}")
    elif cell.verdict == NOT_INVARIANT:
        out.append(r"\textbf{No}" + (f" (the counterexample has {conditions})." if conditions else ".")
                   + f" {parts_tex(reason(cell))}")
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
    if cell.verdict == INVARIANT:
        eps = r" with $\epsilon = 0$" if needs_eps_zero(cell) else ""
        out.append(f"The laws{eps}, each checked (Section~\\ref{{{label_for('tr', t.id)}}} derives them in words):")
        out += _laws_tex(cell)
    else:
        out.append(r"\textit{Counterexample} (exact; gain $g = 1$, bias $b = 0$).")
        out += counterexample_tex(cell)
    return out


def cells_section(at: dict, defs: Definitions, normalizers, title: str, label: str) -> list[str]:
    out = [f"\\section{{{title}}}\\label{{{label}}}"]
    for norm in normalizers:
        out.append(f"\\subsection{{{esc(norm.title)}}}\\label{{{label_for('sec', norm.id)}}}")
        for t in TRANSFORMATIONS:
            out += [x.replace("\\subsection{", "\\subsubsection{", 1) for x in cell_tex(at[norm.id, t], defs)]
    return out
