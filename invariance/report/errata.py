"""Where the sources get it wrong: each claim of the paper's prose and of the study
notes (:mod:`invariance.derive.claims`) against the derived cell, the paper's
unstated assumptions, its Eq. 6, the notes' formula corrected, and where a
verdict changes beyond the paper's table.
"""
from __future__ import annotations

import sympy as sp

from ..catalogue.normalizers import NORMALIZERS as BUILTIN
from ..catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS
from ..catalogue.transformations import COMBINED
from ..core.algebra import unfold
from ..core.cells import affine_law, definitions
from ..core.model import CONV, DENSE, prime
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..derive.claims import (NOTES_FORMULA, PAPER_CLAIMS, PAPER_TABLE_CLAIMS, TRANSCRIPT_CLAIMS, Claim,
                             argument_holds, assess, contradicting)
from ..derive.engine import derive
from ..derive.reasons import averaged_axes, built, reason
from .latex import cell_label, conditions_tex, esc, label_for, parts_tex, quote, tex
from .sections import needs_eps_zero
from .table import verdict_word

__all__ = ["sources_section"]

_PAPER_SENTENCE = PAPER_CLAIMS[0].quote


def _a_law(cell: Cell) -> str:
    """The derived action of the cell's transformation on the summed inputs, a' = alpha a + beta."""
    norm, t = NORMALIZERS[cell.normalizer], TRANSFORMATIONS[cell.transformation]
    b = norm.build(sp.S.Zero)
    alpha, beta = affine_law(b, {e.name: e for e in definitions(b, t)})
    m = b.m
    return f"{tex(m.at(prime(m.a), m.point))} = {tex(alpha * m.at(m.a, m.point) + beta)}"


def _claim_cell(claim: Claim) -> str:
    return (f"{esc(NORMALIZERS[claim.normalizer].title)} under "
            f"{esc(TRANSFORMATIONS[claim.transformation].title.lower())}")


def _evidence(cell: Cell) -> list[str]:
    """The derived verdict and its reason; the proof or counterexample is the cell's, referred to."""
    ref = f"(Section~\\ref{{{cell_label(cell)}}})"
    if cell.verdict == INVARIANT:
        where = f" where {conditions_tex(cell)}" if cell.conditions else ""
        return [f"Derived: \\textbf{{Invariant}}{where} {ref}. {parts_tex(reason(cell))}"]
    if cell.verdict == NOT_INVARIANT:
        return [f"Derived: \\textbf{{No}}, with an exact counterexample {ref}. {parts_tex(reason(cell))}"]
    return ["Derived: unknown (no proof and no counterexample was found)."]


def _named(cell: Cell) -> str:
    """``Batch norm: the factor ...``: a cell's reason said of its normalizer, for a list of several."""
    parts = list(reason(cell))
    if parts and isinstance(parts[0], str):
        parts[0] = parts[0][:1].lower() + parts[0][1:]
    return f"\\emph{{{esc(NORMALIZERS[cell.normalizer].title)}}} (Section~\\ref{{{cell_label(cell)}}}): {parts_tex(parts)}"


def _agreeing(pairs, wrong=()) -> list[str]:
    """Right claims, one item per quote (``wrong``: claims of the same source that are not)."""
    by_quote: dict[str, list] = {}
    for claim, cell in pairs:
        by_quote.setdefault(claim.quote, []).append((claim, cell))
    items = []
    for q, group in by_quote.items():
        cells = "; ".join(f"{_claim_cell(c)}: {verdict_word(c.claimed_verdict)}" for c, _ in group)
        but = [c for c in wrong if c.quote == q]
        note = "".join(f" (but not for {esc(NORMALIZERS[c.normalizer].title.lower())}: see above)" for c in but)
        items.append(f"\\item ``{quote(q)}'' --- {cells}, as derived{note}.")
    return [r"\begin{itemize}", *items, r"\end{itemize}"] if items else []


def sources_section(cells: dict) -> list[str]:
    out = [r"\section{Where the sources get it wrong}\label{sec:sources}",
           r"Each claim below is quoted verbatim and read as one verdict on one cell, a normalizer under a "
           r"transformation; that cell is derived afresh and the two verdicts compared."]
    # (1) the paper's own prose
    paper = [(c, *assess(c, cells)) for c in PAPER_CLAIMS]
    dataset = [(c, cell, ok) for c, cell, ok in paper if c.quote == _PAPER_SENTENCE]
    wrong = [(c, cell) for c, cell, ok in dataset if not ok]
    out += [r"\subsection{The paper, section 5.1}",
            r"In section 5.1 (``Data re-scaling and re-centering''), Ba, Kiros and Hinton write:",
            f"\\begin{{quote}}``{quote(_PAPER_SENTENCE)}''\\end{{quote}}",
            r"``All the normalization methods'' are the three rows of their Table 1. Derived: "
            + "; ".join(f"{esc(NORMALIZERS[c.normalizer].title)}, \\textbf{{{verdict_word(cell.verdict)}}}"
                        for c, cell, _ in dataset) + "."]
    lucky = [(c, cell) for c, cell, ok in paper if ok and argument_holds(c) is False]
    if wrong or lucky:
        law = _a_law((wrong or lucky)[0][1])
        every = all(argument_holds(c) is False for c, _, _ in dataset)
        out.append(f"Its argument is wrong{' for every row' if every else ''}: the summed inputs do not stay "
                   r"constant, they change "
                   f"(${law}$, derived), and only a normalizer whose statistics change with them cancels the "
                   r"change.")
    for c, cell in wrong:
        out += [f"\\paragraph{{{_claim_cell(c)}.}}"] + _evidence(cell)
    for c, other in contradicting([c for c, _ in wrong], PAPER_TABLE_CLAIMS):
        table_right = assess(other, cells)[1]
        out.append(f"The paper contradicts itself here: its own Table~1 says ``{esc(other.quote)}'' for "
                   f"{esc(NORMALIZERS[c.normalizer].title.lower())} under "
                   f"{esc(TRANSFORMATIONS[c.transformation].title.lower())}"
                   + (", and the table is right." if table_right else ", and the table is wrong too."))
    if lucky:
        out.append(r"\paragraph{Right conclusion, wrong argument.} For "
                   + " and ".join(esc(NORMALIZERS[c.normalizer].title.lower()) for c, _ in lucky)
                   + " the sentence's conclusion is right (derived: Invariant), for another reason: the "
                   + "statistics change with the summed inputs and cancel the change.")
        out.append(r"\begin{itemize}" + "".join(f"\n\\item {_named(cell)}" for _, cell in lucky)
                   + "\n\\end{itemize}")
    right = [(c, cell) for c, cell, ok in paper if ok and c.quote != _PAPER_SENTENCE]
    if right:
        out += [r"The section's other invariance claims agree with the derivation:"] + _agreeing(right)
    out += _assumptions_tex(cells)
    out += _eq6_tex(cells)
    # (2) the transcript
    assessed = [(c, *assess(c, cells)) for c in TRANSCRIPT_CLAIMS]
    wrong = [(c, cell) for c, cell, ok in assessed if not ok]
    out += [r"\subsection{Study notes (a chat transcript), not a published source}",
            r"The study notes are a chat in which an assistant explains the paper's Table~1 column by column, "
            r"then works through layer norm under weight matrix re-centering. "
            f"Of the {len(assessed)} verdicts it states, {len(wrong)} contradict the derived table. "
            r"A sentence about several normalizers counts once for each."]
    by_cell: dict[tuple, list] = {}
    for c, cell in wrong:
        by_cell.setdefault((c.normalizer, c.transformation), []).append((c, cell))
    for (n, t), group in by_cell.items():
        cell = group[0][1]
        claimed = {c.claimed_verdict for c, _ in group}
        out.append(f"\\paragraph{{{_claim_cell(group[0][0])}.}} The transcript says "
                   + ("" if len(group) == 1 else "(more than once) ")
                   + f"``{verdict_word(group[0][0].claimed_verdict)}''" + (":" if len(claimed) == 1 else ""))
        out += [f"\\begin{{quote}}``{quote(c.quote)}''\\end{{quote}}" for c, _ in group]
        contrary = [c for c, cl, ok in assessed if ok and (c.normalizer, c.transformation) == (n, t)]
        if contrary:
            out.append("It also says the opposite, which agrees with the derivation, so the "
                       "transcript contradicts itself here:")
            out += [f"\\begin{{quote}}``{quote(c.quote)}''\\end{{quote}}" for c in contrary]
        out += _evidence(cell)
    out += _notes_formula_tex(cells)
    right = [(c, cell) for c, cell, ok in assessed if ok]
    out += [r"\paragraph{What it gets right.} These verdicts of the notes agree with the derivation:"]
    out += _agreeing(right, [c for c, _ in wrong])
    out += _beyond_tex(cells)
    return out


def _assumptions_tex(cells: dict) -> list[str]:
    """The paper's unstated assumptions: what its invariant cells need, read off their conditions."""
    table = [cells[n, t] for n in TABLE1 for t in TRANSFORMATIONS if cells[n, t].verdict == INVARIANT]
    scaled = [c for c in table if TRANSFORMATIONS[c.transformation].conditions
              and any(cond in TRANSFORMATIONS[c.transformation].conditions for cond in c.conditions)]
    eps = [c for c in table if needs_eps_zero(c)]
    name = lambda c: (f"{esc(NORMALIZERS[c.normalizer].title.lower())} under "  # noqa: E731
                      f"{esc(TRANSFORMATIONS[c.transformation].title.lower())}")
    listed = lambda cs: (" and ".join(name(c) for c in cs) if len(cs) < 3 else  # noqa: E731
                         "; ".join(name(c) for c in cs[:-1]) + "; and " + name(cs[-1]))
    positive = (r"a positive factor, since the statistics scale by $|\delta|$ and a negative factor flips the "
                r"sign of the centred output")
    eps_zero = r"$\epsilon = 0$, since for $\epsilon > 0$"
    formula = r"\[ \sqrt{\delta^2\sigma^2 + \epsilon} \ne \delta\sqrt{\sigma^2 + \epsilon} \]"
    head = r"\paragraph{Unstated assumptions.} The paper states its invariances without conditions. Derived, "
    if scaled == eps:   # the same cells need both: list them once
        rest = [c for c in table if c not in scaled]
        return [head + f"{len(scaled)} of the {len(table)} invariant cells of its table, those marked "
                f"$^{{\\dagger}}$ in Table~\\ref{{tab:table1}}, need both {positive}, and {eps_zero}",
                formula + r"(Section~\ref{sec:caveats} gives both caveats)"
                + (f"; the other {len(rest)}, {listed(rest)}, need neither." if rest else ".")]
    return [head + f"{len(scaled)} of the {len(table)} invariant cells of its table need {positive}: "
            f"{listed(scaled)}. {len(eps)} need {eps_zero}", formula + f"(Section~\\ref{{sec:caveats}}): {listed(eps)}."]


def _eq6_tex(cells: dict) -> list[str]:
    """The paper's Eq. 6, both weight-matrix transformations at once, checked for its rows."""
    out = [r"\paragraph{The combined transformation of Eq.~6.} The paper derives layer norm's invariance "
           f"for both weight-matrix transformations at once, ${COMBINED.paper}$. Checked for the rows of "
           r"its table (each a proof or an exact counterexample, as for the other cells):"]
    items = []
    for n in TABLE1:
        cell = derive(n, COMBINED)
        cond = f", where {conditions_tex(cell)}" if cell.verdict == INVARIANT and cell.conditions else ""
        items.append(f"\\item {esc(NORMALIZERS[n].title)}: \\textbf{{{verdict_word(cell.verdict)}}}{cond}. "
                     + parts_tex(reason(cell)))
    return out + [r"\begin{itemize}", *items, r"\end{itemize}"]


def _notes_formula_tex(cells: dict) -> list[str]:
    """The notes' formula for layer norm after weight-matrix re-centering, and the derived one."""
    cell = cells[NOTES_FORMULA.normalizer, NOTES_FORMULA.transformation]
    if cell.proof is None:
        return []
    steps = {e.name: e for e in cell.proof.steps()}
    scale = next(e for e in cell.proof.steps() if e.lhs.base.label.name == "sigma^2'")
    out = steps["invariance"]
    return [r"\paragraph{The notes' formula, corrected.} For "
            f"{esc(NORMALIZERS[cell.normalizer].title.lower())} under "
            f"{esc(TRANSFORMATIONS[cell.transformation].title.lower())} the notes derive",
            f"\\[ {NOTES_FORMULA.quote} \\]",
            r"with $c$ the paper's $\gamma$. Both halves are wrong: the shift, the same for every unit, "
            r"cancels exactly in the numerator, and it adds nothing to the variance. Section~"
            f"\\ref{{{label_for('tr', cell.transformation)}}} derives, each link checked, "
            f"${tex(scale.lhs)} = {tex(scale.rhs)}$ and ${tex(out.lhs)} = {tex(out.rhs)}$: the output is $h$ "
            r"itself, and the notes' conclusion (``not strictly invariant'') is wrong too."]


def _beyond_tex(cells: dict) -> list[str]:
    """Where a normalizer's verdict changes with the layer it normalizes, and batch norm at inference."""
    out = [r"\subsection{Beyond the paper's table}"]
    dense = {n.title: n for n in BUILTIN if n.model is DENSE}
    for conv in (n for n in BUILTIN if n.model is CONV):
        twin = dense.get(conv.title.replace(" (conv)", ""))
        if twin is None:
            continue
        for t in TRANSFORMATIONS.values():
            a, b = cells[twin.id, t.id], cells[conv.id, t.id]
            if a.verdict != b.verdict:
                out.append(f"\\paragraph{{{esc(twin.title)}, dense and convolutional.}} Under "
                           f"{esc(t.title.lower())}, {esc(twin.title.lower())} is \\textbf{{{verdict_word(a.verdict)}}} "
                           f"on a fully connected layer (Section~\\ref{{{cell_label(a)}}}) but "
                           f"\\textbf{{{verdict_word(b.verdict)}}} on a convolutional one "
                           f"(Section~\\ref{{{cell_label(b)}}}). {parts_tex(reason(b if b.verdict == NOT_INVARIANT else a))}")
    fixed = [n for n in BUILTIN if n.model is DENSE and all(
        averaged_axes(built(n.id, True)).get(s, ()) is None and not
        unfold(built(n.id, True).stat_rule(s).rhs, list(reversed(built(n.id, True).stat_rules))).has(DENSE.W)
        for s in ("mu", "sigma"))]
    for n in fixed:
        row = [cells[n.id, t] for t in TRANSFORMATIONS]
        lost = [c for c in row if c.verdict == NOT_INVARIANT]
        out.append(f"\\paragraph{{{esc(n.title)}.}} With running statistics (fixed after training) batch norm "
                   f"loses its invariances: {len(lost)} of the {len(row)} transformations change its output "
                   f"(Appendix~\\ref{{{label_for('sec', n.id)}}}), each with an exact counterexample: its "
                   r"statistics are constants, so nothing absorbs a change of the summed inputs." if lost else "")
    return out
