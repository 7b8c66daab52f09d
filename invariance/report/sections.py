"""The document's sections around the cells: the introduction, notation and
definitions, the transformations, the tables, the axes figure, the caveats and
the bibliography.  Each ``*_section`` returns LaTeX blocks; :mod:`.docs` puts
them in order.
"""
from __future__ import annotations

import re

import sympy as sp

from ..catalogue.normalizers import NORMALIZERS as BUILTIN
from ..catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS
from ..core.algebra import unfold
from ..core.definition import Normalizer, general_form
from ..core.model import CONV, DENSE, EPS, Model
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..derive.caveats import caveats as derive_caveats
from ..derive.reasons import action, averaged_axes, built
from .latex import cell_label, display, equation, equations, esc, group_index, label_for, tex
from .table import cell_word

__all__ = ["Definitions", "intro_section", "notation_section", "transformation_section", "axes_figure",
           "tables_section", "table_tex", "needs_eps_zero", "EPS_MARK", "caveats_section", "paper_bound", "BIBLIOGRAPHY",
           "cite", "bibliography_section"]

_MODELS = (DENSE, CONV)


# --- the introduction, notation and definitions ------------------------------------

def intro_section(cells: list[Cell], outline: str) -> list[str]:
    """The abstract (its last sentence is ``outline``, the chapters in order) and the method."""
    proved = sum(c.verdict == INVARIANT for c in cells)
    refuted = sum(c.verdict == NOT_INVARIANT for c in cells)
    return [
        r"\begin{abstract}",
        r"Table~1 of Ba, Kiros and Hinton, \emph{Layer Normalization} (2016), says which re-scalings "
        r"and re-centerings of the weights and of the data leave batch, weight and layer normalization "
        r"unchanged. This document derives every cell of that table, and of the same table for RMSNorm, "
        r"convolutional batch and layer norm, group norm, instance norm and batch norm at inference, with "
        f"SymPy: of {len(cells)} cells, {proved} are proved invariant, step by step, and {refuted} are "
        r"refuted by an exact counterexample in rational numbers. In order, it " + outline + ".",
        r"\end{abstract}",
        r"\tableofcontents",
        r"\section{How the cells are derived}\label{sec:method}",
        r"For every normalizer and transformation the same proof tactic runs: (1) the transformation acts "
        r"on the summed inputs affinely, $a' = \alpha a + \beta$, found by substituting $W'$ and $X'$ "
        r"and the linearity of the sum over the inputs; (2) each statistic obeys a law, the first of "
        r"$s' = s$, $\alpha s + \beta$, $\alpha s$, $\alpha^2 s$ that can be checked; (3) with those laws "
        r"the output satisfies $h' = h$. Every step is checked by unfolding the equations it names "
        r"(rewrite rules), pushing sums through sums and constants out of them, and expanding the "
        r"difference of the two sides to literally zero; no step is taken on trust. "
        r"If a step cannot be checked the tactic gives up, which is no evidence either way, and a search "
        r"for a counterexample in exact rationals begins: smallest sizes first, gain $1$, bias $0$, "
        r"$\epsilon = 0$. A ``No'' is always such a counterexample.",
        r"The invariant cells state their conditions: a positive scale factor, $\epsilon = 0$ where the "
        r"proof needs it (marked $^{\dagger}$ in the tables), and non-zero statistics in denominators. "
        r"Their caveats (a negative factor, $\epsilon > 0$, sizes at which $\sigma$ vanishes) are derived "
        r"too and listed once, in Section~\ref{sec:caveats}. A normalizer is a catalogue entry, so one "
        r"more row needs no change to the toolkit: an example shipped with it registers Dynamic "
        + cite(esc("Tanh (Zhu et al. 2025)")) + ", which has no statistics.",
    ]


class _Eq5:
    """Just enough of a :class:`invariance.core.definition.Context` for Eq. 5 with
    per-unit statistics, so that :func:`general_form` typesets it."""

    def __init__(self, m: Model):
        self.m = m

    def has(self, name):
        return name == "mu"

    def stat(self, name, at):
        return sp.IndexedBase(name)[at["unit"]]

    def a(self, at):
        return self.m.at(self.m.a, at)

    def g(self, at):
        return self.m.g[at["unit"]]

    def b(self, at):
        return self.m.b[at["unit"]]


class Definitions:
    """The numbered definitions of the document, to refer to from every cell, and what the
    cells have shown already (instances, laws), so that each is shown once."""

    def __init__(self):
        self.instances: dict = {}     # counterexample instances shown -> (their cell's label, its two outputs)
        self.laws_shown: dict = {}    # (normalizer, laws) shown -> the cell that shows them
        self.reasons_shown: dict = {}  # (normalizer, reason of a refuted cell) shown -> its cell
        self.label: dict[tuple[str, str], tuple[sp.Basic, sp.Basic, str]] = {}
        for m in _MODELS:
            r = m.a_rule()
            self.label[(m.id, "a")] = (r.lhs, r.rhs, label_for("eq", m.id, "a"))
        for norm in BUILTIN:
            b = norm.build(EPS)
            for r in b.stat_rules:
                name = r.base.label.name
                self.label[(norm.id, name)] = (r.lhs, r.rhs, label_for("eq", norm.id, name))
            self.label[(norm.id, "h")] = (b.out_rule.lhs, b.out_rule.rhs, label_for("eq", norm.id, "h"))

    def find(self, norm: Normalizer, name: str):
        return self.label.get((norm.model.id, name)) or self.label.get((norm.id, name))


def model_title(m: Model) -> str:
    """A layer's title as text, its sizes as maths: ``1x1 convolution over P positions``."""
    return re.sub(r"\b1x1\b", r"$1 \\times 1$", esc(m.title)).replace(" P ", " $P$ ")


def _eq_number(source: str) -> str:
    m = re.search(r"Eq\. (\d+)", source)
    return f" (the paper's Eq.~{m.group(1)})" if m else ""


def _normalizer_definitions(norm: Normalizer, defs: Definitions) -> list[str]:
    b = norm.build(EPS)
    out = [f"\\subsection{{{esc(norm.title)}{_eq_number(norm.source)}}}\\label{{{label_for('norm', norm.id)}}}",
           f"On the {model_title(norm.model)}"
           + (f", with $G = {norm.groups}$ groups of $S$ consecutive channels" if norm.groups else "")
           + f". Source: {cite(esc(norm.source.replace(', running statistics', '')))}."
           + _group_sentence(b) + _constants_sentence(norm)]
    names = [r.base.label.name for r in b.stat_rules] + ["h"]
    out.append(equations([defs.label[(norm.id, name)] for name in names]))
    return out


def _group_sentence(b) -> str:
    """What G(i) in a group's sums stands for, read off the sums' limits."""
    for rule in b.stat_rules:
        for s in rule.rhs.atoms(sp.Sum):
            for var, lo, hi in s.limits:
                i = group_index(lo)
                if i is not None:
                    return (f" The channels of the group of channel ${tex(i)}$ are "
                            f"$G({tex(i)}) = \\{{{tex(lo)}, \\dots, {tex(hi)}\\}}$.")
    return ""


def _constants_sentence(norm: Normalizer) -> str:
    """What the constants of a normalizer (batch norm's running statistics) stand for."""
    if not norm.constants:
        return ""
    names = " and ".join(f"${tex(k)}$" for k in norm.constants)
    values = ", ".join(f"${tex(k)} = {tex(v)}$" for k, v in norm.constants.items())
    return (f" Here {names} are the running mean and variance: estimated on training batches, then frozen, "
            r"so they depend on neither the inputs nor the weights and follow no transformation. "
            r"An implementation keeps one pair for each unit $i$; the derivations need only that they are "
            f"constants, so one pair serves every unit here (the counterexamples take {values}).")


def notation_section(defs: Definitions) -> list[str]:
    out = [r"\section{Notation and definitions}\label{sec:notation}"]
    for m in _MODELS:
        axes = ", ".join(f"{esc(ax.title)} ${tex(ax.index)} = 1, \\dots, {tex(ax.size)}$"
                         for ax in (*m.axes, m.input))
        lhs, rhs, label = defs.label[(m.id, "a")]
        out += [f"\\paragraph{{The {model_title(m)}.}} Indices: {axes}. The summed inputs are",
                equation(lhs, rhs, label)]
        if m is DENSE:
            out.append(r"that is, in the paper's notation, $a_i = w_i^T x$ for each case $x = x_n$, with "
                       r"$w_i$ the $i$-th row of $W$.")
    out += [
        r"Summation indices $m, k, q$ run over cases, units and positions inside a statistic. "
        r"A primed symbol belongs to the transformed layer: it is defined by the same equation "
        r"with every symbol primed (e.g.\ $a'$ from $W'$ and $X'$). "
        r"The paper writes no $\epsilon$; here every $\sigma$ has an $\epsilon \ge 0$ under its "
        r"square root and variances are biased, as implementations compute them.",
        r"\subsection{The general form (the paper's Eq.~5)}\label{norm:general}",
        r"Every normalizer below computes, for each summed input, with gain $g_i$ and bias $b_i$,"]
    m = DENSE
    h = m.at(sp.IndexedBase("h"), m.point)
    out.append(display(f"{tex(h)} = f\\left({tex(general_form(_Eq5(m), m.point))}\\right)",
                       label_for("eq", "general")))
    out.append(r"with its own statistics $\mu$ and $\sigma$: over the cases for batch norm, over the "
               r"units for layer norm, $\sigma_i = \lVert w_i \rVert$ and $\mu = 0$ for weight norm "
               r"(a normalizer without $\mu$ uses $\mu = 0$). The non-linearity $f$ is left out "
               r"below: an unchanged argument gives an unchanged $h$.")
    first = [n for n in BUILTIN if n.id in TABLE1]
    for norm in first:
        out += _normalizer_definitions(norm, defs)
    out.append(r"\subsection{The other normalizers}"
               r" These rows are not in the paper's table; each says which layer it normalizes.")
    for norm in BUILTIN:
        if norm.id not in TABLE1:
            out += [s.replace(r"\subsection{", r"\subsubsection{", 1) for s in _normalizer_definitions(norm, defs)]
    return out


def transformation_section() -> list[str]:
    m = DENSE
    i, j, n = m.point["unit"], m.input.index, m.point["case"]
    rows = []
    for t in TRANSFORMATIONS.values():
        cond = ", ".join(f"${tex(c)}$" for c in t.conditions) or "--"
        rows.append(f"{esc(t.title)} & ${t.paper}$ & ${tex(t.w(m, i, j))}$ & ${tex(t.x(m, n, j, ()))}$ "
                    f"& {cond} \\\\")
    return [
        r"\section{The six transformations}\label{sec:transformations}",
        r"Section 5.1 of the paper. Each acts on the weights and the data entrywise; "
        r"on the convolutional layer $X'$ carries the position index $p$ too.",
        "\n".join([r"\begin{center}\small",
                   r"\begin{tabular}{@{}llllc@{}}", r"\toprule",
                   r"Transformation & The paper & $W'_{i,j}$ & $X'_{n,j}$ & Assumed \\", r"\midrule",
                   *rows, r"\bottomrule", r"\end{tabular}", r"\end{center}"]),
        r"$\gamma$ is one vector added to every row of $W$ (Eq.~6 of the paper) or to every case. "
        r"Single training case re-scaling is proved in the stronger form with one factor $\delta_n > 0$ "
        r"per case; the paper's transformation is the special case $\delta_m = \delta$, "
        r"$\delta_n = 1$ for $n \ne m$, and a counterexample uses exactly that.",
    ]


def axes_figure() -> list[str]:
    """The table in one picture: the axes each normalizer's statistics average over, beside the
    axes along which each transformation's factor and shift vary (on the convolutional layer,
    which has all three axes)."""
    conv = next(n for n in BUILTIN if n.model is CONV)
    axes = CONV.axes
    head = " & ".join(f"${tex(ax.index)}$" for ax in axes)
    mark = lambda yes: r"$\blacksquare$" if yes else r"$\cdot$"  # noqa: E731
    rows = []
    for norm in BUILTIN:
        b = built(norm.id, True)
        avg = averaged_axes(b)
        over = set()
        for name in ("mu", "sigma"):
            over |= {ax.name for ax in (avg.get(name) or ())}
        mine = {ax.name for ax in b.m.axes}
        cells = [mark(ax.name in over) if ax.name in mine else "" for ax in axes]
        from_w = unfold(b.stat_rule("sigma").rhs, list(reversed(b.stat_rules))).has(b.m.W)
        source = "$a$" if any(avg.get(n) for n in ("mu", "sigma")) else "$W$" if from_w else "constants"
        rows.append(f"{esc(norm.title)} & " + " & ".join(cells) + f" & {source}" + r" \\")
    left = "\n".join([r"\begin{tabular}{@{}l" + "c" * len(axes) + "l@{}}", r"\toprule",
                      r"$\mu, \sigma$ average over & " + head + r" & from \\", r"\midrule", *rows,
                      r"\bottomrule", r"\end{tabular}"])
    rows = []
    for t in TRANSFORMATIONS.values():
        act = action(built(conv.id, True), t)
        a_axes = {ax.name for ax in act.alpha_axes} if act.alpha != 1 else None
        b_axes = {ax.name for ax in act.beta_axes} if act.beta != 0 else None
        cell = lambda s: " & ".join(["--"] * len(axes)) if s is None else " & ".join(mark(ax.name in s) for ax in axes)  # noqa: E731,E501
        rows.append(f"${t.paper}$ & {cell(a_axes)} & {cell(b_axes)}" + r" \\")
    right = "\n".join([r"\begin{tabular}{@{}l" + "c" * (2 * len(axes)) + "@{}}", r"\toprule",
                       f"& \\multicolumn{{{len(axes)}}}{{c}}{{$\\alpha$ varies along}} & "
                       f"\\multicolumn{{{len(axes)}}}{{c}}{{$\\beta$ varies along}} \\\\",
                       " & " + head + " & " + head + r" \\", r"\midrule", *rows, r"\bottomrule", r"\end{tabular}"])
    return ["\n".join([r"\begin{figure}[H]", r"\centering\small", left, r"\quad", right,
                       r"\caption{The table in one picture. Left: for each normalizer, the axes (case $n$, unit "
                       r"or channel $i$, position $p$) of its layer over which its statistics $\mu$ and $\sigma$ "
                       r"average ($\blacksquare$) or do not ($\cdot$; blank: the layer has no such axis), and what "
                       r"they are computed from: the summed inputs $a$, the weights $W$, or constants (running "
                       r"statistics). Right: the axes along which each transformation's factor $\alpha$ and shift "
                       r"$\beta$ vary ($\blacksquare$) or are constant ($\cdot$); --: no factor, or no shift. A "
                       r"cell is invariant when every axis along which $\alpha$ or $\beta$ varies is one its "
                       r"statistics do not average over, and a shift meets a mean $\mu$.}\label{fig:axes}",
                       r"\end{figure}"])]


# --- the tables --------------------------------------------------------------------

def tables_section(at: dict, registered: list[Cell]) -> list[str]:
    out = [r"\section{The tables}\label{sec:tables}",
           r"Table~\ref{tab:table1} below has the layout of the paper's Table~1; "
           r"Table~\ref{tab:all} adds every other registered normalizer. "
           r"Each entry links to its cell."]
    out += table_tex([at[n, t] for n in TABLE1 for t in TRANSFORMATIONS],
                     "Invariance properties under the normalization methods (the paper's Table~1), "
                     "every cell derived.", "tab:table1")
    out += table_tex(registered, r"Every registered normalizer ($^{\dagger}$ as in Table~\ref{tab:table1}).",
                     "tab:all", note=False)
    return out


def _stack(title: str, width: int = 13) -> str:
    """A title on lines of at most ``width`` letters (a one-line title stays plain text)."""
    lines, current = [], ""
    for word in title.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    if len(lines) == 1:
        return esc(lines[0])
    return r"\begin{tabular}[b]{@{}c@{}}" + r"\\".join(esc(x) for x in lines) + r"\end{tabular}"


def table_tex(cells: list[Cell], caption: str, label: str, note: bool = True) -> list[str]:
    """A table of verdicts, each linked to its cell; ``note``: the caption explains the dagger."""
    rows = list(dict.fromkeys(c.normalizer for c in cells))
    cols = list(dict.fromkeys(c.transformation for c in cells))
    at = {(c.normalizer, c.transformation): c for c in cells}
    documented = {n.id for n in BUILTIN}   # a normalizer registered at run time has no section to link to
    word = lambda c: cell_word(c) + (r"$^{\dagger}$" if needs_eps_zero(c) else "")  # noqa: E731
    link = lambda c: (f"\\hyperref[{cell_label(c)}]{{{word(c)}}}"  # noqa: E731
                      if c.normalizer in documented else word(c))
    body = [_stack(NORMALIZERS[r].title, 24) + " & " + " & ".join(link(at[r, c]) for c in cols) + r" \\"
            for r in rows]
    return ["\n".join([r"\begin{table}[H]", r"\centering\small", r"\setlength{\tabcolsep}{2pt}",
                       r"\begin{tabular}{@{}l" + "c" * len(cols) + "@{}}", r"\toprule",
                       " & " + " & ".join(_stack(TRANSFORMATIONS[c].title) for c in cols) + r" \\",
                       r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
                       f"\\caption{{{caption}{' ' + EPS_MARK if note else ''}}}\\label{{{label}}}",
                       r"\end{table}"])]


EPS_MARK = (r"$^{\dagger}$: proved for $\epsilon = 0$ only (with $\epsilon > 0$ the deviation is "
            r"bounded in Table~\ref{tab:caveats}).")


def needs_eps_zero(cell: Cell) -> bool:
    return cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions


# --- the caveats and the bibliography ----------------------------------------------

def paper_bound(bound: sp.Expr) -> sp.Expr:
    """A caveat's bound on |h' - h| in the paper's notation, checked equal to the derived one:
    the variance statistic s as the square of its root without epsilon (the paper's sigma,
    written sigma-hat here, where sigma has epsilon inside; ||w_i|| and nu_n as they are),
    so that s^(3/2) reads sigma-hat^3, and |1 - delta^-2| as |delta^2 - 1| / delta^2."""
    roots = {}
    for p in bound.atoms(sp.Pow):
        if abs(p.exp) == sp.Rational(3, 2) and isinstance(p.base, sp.Indexed):
            stem = p.base.base.label.name.partition("^")[0]
            root = sp.IndexedBase(stem + "hat" if stem == "sigma" else stem, positive=True)[p.base.indices]
            roots[p.base] = root ** 2
    before = bound.xreplace(roots)
    for a in before.atoms(sp.Abs):   # the only other change: each |x| as |x over a common denominator|
        if sp.cancel(sp.together(a.args[0]) - a.args[0]) != 0:   # a rational function: exactly 0 or not
            raise ValueError(f"docs: the bound {bound} rewritten is not the same at {a}")
    return before.replace(lambda e: isinstance(e, sp.Abs), lambda e: sp.Abs(sp.together(e.args[0])))


def _slashed(expr: sp.Expr) -> str:
    """``numerator / (denominator)`` on one line: a fraction in a table row is too small to read."""
    num, den = sp.fraction(expr)
    return tex(num) if den == 1 else f"{tex(num)} \\,/\\, \\left({tex(den)}\\right)"


def caveats_section(cells: list[Cell]) -> list[str]:
    """Every invariant cell's caveats, once, in one table."""
    rows = []
    for cell in cells:
        found = {c.kind: c for c in derive_caveats(cell)}
        if not found:
            continue
        neg = found.get("negative-scale")
        eps = found.get("eps")
        deg = found.get("degenerate")
        neg_t = (f"${tex(neg.expr)}$" if neg is not None and neg.expr is not None else
                 ("none found" if neg is not None else "--"))
        eps_t = ("$0$ (exact)" if eps is not None and eps.expr == 0 else
                 f"$\\le {_slashed(paper_bound(eps.expr))}$" if eps is not None and eps.expr is not None else "--")
        m = re.match(r"when \$(.*?)\$", deg.statement) if deg is not None else None
        deg_t = f"${m.group(1)}$" if m else "--"
        short = esc(TRANSFORMATIONS[cell.transformation].short).replace(r"w\_i", r"$w_i$")   # the paper's w_i
        title = f"{esc(NORMALIZERS[cell.normalizer].title)}, {short}"
        rows.append(f"{title} & {neg_t} & {eps_t} & {deg_t} \\\\")
    head = r"Cell & $h'$ if the factor is negative & $|h' - h|$ if $\epsilon > 0$ & $\sigma \equiv 0$ when \\"
    return [r"\section{Caveats of the invariant cells}\label{sec:caveats}",
            r"Table~\ref{tab:caveats} gives them for each invariant cell, each derived. With a negative factor "
            r"the proof tactic, re-run with $\delta < 0$ (where $\sqrt{\delta^2 s} = -\delta\sqrt{s}$), gives "
            r"the relation shown: the centred output $h - b$ flips sign. With $\epsilon > 0$ the exact "
            r"deviation is checked, then bounded by the mean value theorem; the bound is written in the "
            r"paper's notation, where $\hat\sigma$ is $\sigma$ at $\epsilon = 0$ (the paper's $\sigma$), and "
            r"likewise $\lVert w_i \rVert$ and $\nu_n$. At the sizes in the last column $\sigma = 0$ for "
            r"every input.",
            "\n".join([r"{\small", r"\begin{longtable}{@{}P{3.8cm}P{2.1cm}P{6.1cm}P{2.5cm}@{}}",
                       r"\caption{The caveats of the invariant cells.}\label{tab:caveats}\\",
                       r"\toprule", head, r"\midrule", r"\endfirsthead",
                       r"\toprule", head, r"\midrule", r"\endhead", *rows, r"\bottomrule", r"\end{longtable}}"])]


BIBLIOGRAPHY = (
    ("ioffe2015", "Ioffe and Szegedy 2015",
     r"S.~Ioffe and C.~Szegedy. Batch normalization: accelerating deep network training by reducing "
     r"internal covariate shift. \emph{ICML}, 2015. arXiv:1502.03167."),
    ("salimans2016", "Salimans and Kingma 2016",
     r"T.~Salimans and D.~P.~Kingma. Weight normalization: a simple reparameterization to accelerate "
     r"training of deep neural networks. \emph{NeurIPS}, 2016. arXiv:1602.07868."),
    ("ba2016", "Ba et al. 2016",
     r"J.~L.~Ba, J.~R.~Kiros and G.~E.~Hinton. Layer normalization. arXiv:1607.06450, 2016."),
    ("ulyanov2016", "Ulyanov et al. 2016",
     r"D.~Ulyanov, A.~Vedaldi and V.~Lempitsky. Instance normalization: the missing ingredient for fast "
     r"stylization. arXiv:1607.08022, 2016."),
    ("wu2018", "Wu and He 2018",
     r"Y.~Wu and K.~He. Group normalization. \emph{ECCV}, 2018. arXiv:1803.08494."),
    ("zhang2019", "Zhang and Sennrich 2019",
     r"B.~Zhang and R.~Sennrich. Root mean square layer normalization. \emph{NeurIPS}, 2019. "
     r"arXiv:1910.07467."),
    ("kunin2021", "Kunin et al. 2021",
     r"D.~Kunin, J.~Sagastuy-Brena, S.~Ganguli, D.~L.~K.~Yamins and H.~Tanaka. Neural mechanics: symmetry "
     r"and broken conservation laws in deep learning dynamics. \emph{ICLR}, 2021. arXiv:2012.04728."),
    ("ashkboos2024slicegpt", "Ashkboos et al. 2024",
     r"S.~Ashkboos, M.~L.~Croci, M.~Gennari do Nascimento, T.~Hoefler and J.~Hensman. SliceGPT: compress "
     r"large language models by deleting rows and columns. \emph{ICLR}, 2024. arXiv:2401.15024."),
    ("ashkboos2024quarot", "Ashkboos et al. 2024",
     r"S.~Ashkboos, A.~Mohtashami, M.~L.~Croci, B.~Li, P.~Cameron, M.~Jaggi, D.~Alistarh, T.~Hoefler and "
     r"J.~Hensman. QuaRot: outlier-free 4-bit inference in rotated LLMs. \emph{NeurIPS}, 2024. "
     r"arXiv:2404.00456."),
    ("xiao2023", "Xiao et al. 2023",
     r"G.~Xiao, J.~Lin, M.~Seznec, H.~Wu, J.~Demouth and S.~Han. SmoothQuant: accurate and efficient "
     r"post-training quantization for large language models. \emph{ICML}, 2023. arXiv:2211.10438."),
    ("zhu2025", "Zhu et al. 2025",
     r"J.~Zhu, X.~Chen, K.~He, Y.~LeCun and Z.~Liu. Transformers without normalization. \emph{CVPR}, 2025. "
     r"arXiv:2503.10622."),
)


def cite(text: str) -> str:
    """LaTeX text with each bibliography entry's short name followed by its citation."""
    for key, short, _ in BIBLIOGRAPHY:
        text = text.replace(esc(short), f"{esc(short)}~\\cite{{{key}}}")
    return text


def bibliography_section() -> list[str]:
    items = [f"\\bibitem{{{key}}} {entry}" for key, _, entry in BIBLIOGRAPHY]
    return ["\n".join([r"\begin{thebibliography}{9}", *items, r"\end{thebibliography}"])]
