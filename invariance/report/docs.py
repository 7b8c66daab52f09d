"""The generated LaTeX document: every cell of the table with its derivation.

``python -m invariance docs`` writes ``docs/invariance.tex``, a standalone
document that reads like an appendix of the Layer Normalization paper: the
definitions of each normalizer and transformation, the tables, and for every
cell its proof (each step as checked by SymPy) or its exact counterexample,
then the claims of other sources that the derivation contradicts.  Every
formula is typeset from the SymPy expressions the proofs use
(:func:`invariance.core.notation.tex`); no verdict is typed in here.

``--pdf`` compiles it with ``latexmk -pdf`` (else ``pdflatex`` twice) in the
output directory.  Only packages of TeX Live's ``latex-base`` and
``latex-recommended`` are used.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import sympy as sp

from ..core.algebra import unfold
from ..derive.caveats import caveats as derive_caveats
from ..derive.claims import (NOTES_FORMULA, PAPER_CLAIMS, PAPER_TABLE_CLAIMS, TRANSCRIPT_CLAIMS, TRANSCRIPT_FILE,
                     Claim, argument_holds, assess, contradicting)
from ..core.definition import Normalizer, general_form
from ..derive.engine import derive
from ..core.cells import affine_law, counterexample_symbols, definitions
from ..derive.reasons import RULE, action, averaged_axes, built, reason
from ..core.model import CONV, DENSE, EPS, Model, prime
from ..catalogue.transformations import COMBINED
from ..catalogue.normalizers import NORMALIZERS as BUILTIN
from ..core.notation import tex
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS
from .latex import esc
from .table import cell_word, verdict_word

__all__ = ["build", "render", "write", "compile_pdf", "TEX_NAME", "PREAMBLE"]

TEX_NAME = "invariance.tex"
_LINE = 60          # widest display (in letter widths, see _width) before it is broken
_INLINE = 40        # widest inline formula in prose before it becomes a display
_MODELS = (DENSE, CONV)
H_PRIME = "h'"


# --- text --------------------------------------------------------------------





def _symbol(name: str) -> str:
    """A toolkit name (``mu'``, ``sigma^2``, ``norm^2``) as maths."""
    return tex(sp.Symbol(name))


def _names_pattern() -> re.Pattern:
    """Names that the engine's justification texts mention in plain words."""
    names = {"a'", "W'", "X'", "h'", "h", "alpha", "beta", "epsilon", "j"}
    for norm in BUILTIN:
        for s in norm.stats:
            names |= {s.name, s.name + "'"}
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z\\])({alternatives})(?![A-Za-z0-9'^])")


_NAMES = _names_pattern()
def prose(text: str) -> str:
    """Words from the engine (no ``$``): known names become maths, the rest is escaped."""
    out, pos = [], 0
    for m in _NAMES.finditer(text):
        out += [esc(text[pos:m.start()]), f"${_symbol(m.group(1))}$"]
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def mixed(text: str, inline: float = _INLINE) -> str:
    """LaTeX-with-``$`` text: words as :func:`prose`, maths as it is; a formula
    too wide for a line of prose is set as a display (broken if need be)."""
    parts = text.split("$")
    if len(parts) % 2 == 0:  # unbalanced: take it all as words
        return prose(text)
    out = []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            out.append(prose(part))
        elif _width(part) > inline or (r"\frac" in part and (r"\left" in part or r"\sqrt" in part)):
            after = parts[k + 1]
            stop = re.match(r"[,.;:]?", after).group(0)   # punctuation goes into the display
            parts[k + 1] = after[len(stop):].lstrip()
            out.append("\n\\[\n" + _break(part, _LINE - 6) + stop + "\n\\]\n")
        else:
            out.append(f"${part}$")
    return "".join(out)


def quote(text: str) -> str:
    """A verbatim quote from Markdown with ``\\( \\)`` maths: bold and maths kept, the rest escaped."""
    out, bold = [], False
    for token in re.split(r"(\\\(.*?\\\)|\\\[.*?\\\]|\*\*)", text):
        if token == "**":
            out.append("}" if bold else r"\textbf{")
            bold = not bold
        elif token.startswith((r"\(", r"\[")):
            out.append("$" + token[2:-2].strip() + "$")
        else:
            out.append(esc(token))
    return "".join(out) + ("}" if bold else "")


def _label(*parts: str) -> str:
    slug = lambda s: re.sub(r"[^A-Za-z0-9]+", "-", s.replace("'", "p").replace("^", ""))  # noqa: E731
    return ":".join(slug(p).strip("-") for p in parts)


# --- maths layout ----------------------------------------------------------------

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}_^&]|\s+|.")
_RELATION = {"=", "<", ">", "+", "-", r"\leq", r"\geq", r"\neq", r"\to", r"\le", r"\ge", r"\cdot", r"\times"}
_NARROW = {",": 0.5, ".": 0.3, "'": 0.3, "(": 0.6, ")": 0.6, "[": 0.6, "]": 0.6, "|": 0.4, "/": 0.7,
           r"\,": 0.3, r"\;": 0.4, r"\!": -0.2, r"\quad": 2.0, r"\qquad": 4.0, r"\lVert": 0.6,
           r"\rVert": 0.6, r"\lfloor": 0.6, r"\rfloor": 0.6, r"\left": 0.0, r"\right": 0.0,
           r"\\": 0.0, "&": 0.0, r"\dots": 2.0, r"\ldots": 2.0}


def _width(maths: str) -> float:
    """Rough width of LaTeX maths in letters (fractions stack, scripts are smaller)."""
    tokens = [t for t in _TOKEN.findall(maths) if not t.isspace()]
    width, _ = _seq(tokens, 0)
    return width


def _seq(tokens, i, until="}"):
    """Width of a sequence up to ``until``; a ``\\\\`` starts a new line (the widest counts)."""
    lines, w = [], 0.0
    while i < len(tokens):
        t = tokens[i]
        if t == until:
            return max(lines + [w]), i + 1
        if t == r"\\":
            lines.append(w)
            w, i = 0.0, i + 1
            continue
        dw, i = _atom(tokens, i)
        w += dw
    return max(lines + [w]), i


def _arg(tokens, i):
    if i < len(tokens) and tokens[i] == "{":
        return _seq(tokens, i + 1)
    return _atom(tokens, i) if i < len(tokens) else (0.0, i)


def _atom(tokens, i):
    t = tokens[i]
    if t == "{":
        return _seq(tokens, i + 1)
    if t in ("_", "^"):
        w, i = _arg(tokens, i + 1)
        return 0.7 * w, i
    if t in (r"\frac", r"\dfrac", r"\tfrac"):
        a, i = _arg(tokens, i + 1)
        b, i = _arg(tokens, i)
        return max(a, b) + 0.4, i
    if t == r"\sqrt":
        i += 1
        if i < len(tokens) and tokens[i] == "[":
            while tokens[i] != "]":
                i += 1
            i += 1
        a, i = _arg(tokens, i)
        return a + 1.2, i
    if t in (r"\left", r"\right"):
        return 0.6, i + 2
    if t in (r"\sum", r"\prod"):
        i, limits = i + 1, [0.0]
        while i < len(tokens) and tokens[i] in ("_", "^"):
            w, i = _arg(tokens, i + 1)
            limits.append(0.7 * w)
        return max(1.6, max(limits)) + 0.4, i
    if t in (r"\text", r"\mathrm", r"\mathbf", r"\operatorname", r"\substack", r"\mathit"):
        return _arg(tokens, i + 1)
    if t in (r"\begin", r"\end"):
        _, i = _arg(tokens, i + 1)
        return 0.0, i
    if t in _RELATION:
        return 1.8, i + 1
    return _NARROW.get(t, 1.0), i + 1


def _cuts(maths: str) -> list[int]:
    """Positions of the top-level `` = ``, `` + ``, `` - `` (outside braces and \\left...\\right)."""
    depth, cuts, i = 0, [], 0
    while i < len(maths):
        if maths.startswith(r"\left", i) and not maths.startswith(r"\leftarrow", i):
            depth, i = depth + 1, i + 5
            continue
        if maths.startswith(r"\right", i) and not maths.startswith(r"\rightarrow", i):
            depth, i = depth - 1, i + 6
            continue
        ch = maths[i]
        if ch == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and i > 0 and maths[i - 1] == " " and ch in "=+-" and maths[i + 1:i + 2] == " ":
            cuts.append(i - 1)
        i += 1
    return cuts


def _break(maths: str, limit: float = _LINE) -> str:
    """``maths`` as it is if it fits, else an ``aligned`` block broken at top-level
    ``+`` and ``-`` of the right-hand side (lines filled greedily)."""
    if _width(maths) <= limit:
        return maths
    cuts = _cuts(maths)
    eq = next((c for c in cuts if maths[c + 1] == "="), None)
    if eq is not None:
        lhs, rhs, cuts = maths[:eq], maths[eq + 3:], [c - eq - 3 for c in cuts if c > eq]
        head = lhs + " &= "
    else:
        lhs, rhs, head = "", maths, "& "
    pieces, start = [], 0
    for c in cuts:
        if c > 0:
            pieces.append(rhs[start:c].strip())
            start = c
    pieces.append(rhs[start:].strip())
    if len(pieces) == 1:
        return maths  # nothing to break at: leave it to LaTeX (the log shows any overfull box)
    lines, current = [], pieces[0]
    for piece in pieces[1:]:
        budget = limit - (_width(lhs) + 2 if not lines else 4)
        if _width(current + " " + piece) > budget:
            lines.append(current)
            current = piece
        else:
            current += " " + piece
    lines.append(current)
    body = (" \\\\\n" + r"&\quad ").join(lines)
    return "\\begin{aligned}\n" + head + body + "\n\\end{aligned}"


def _displaystyle(maths: str) -> str:
    """A sum in a fraction's numerator gets its limits below it, as in a display."""
    return maths.replace(r"\frac{\sum", r"\frac{\displaystyle\sum")


def display(maths: str, label: str | None = None, limit: float = _LINE) -> str:
    body = _break(_displaystyle(maths), limit)
    if label is None:
        return f"\\[\n{body}\n\\]"
    return f"\\begin{{equation}}\\label{{{label}}}\n{body}\n\\end{{equation}}"


def equation(lhs: sp.Basic, rhs: sp.Basic, label: str | None = None) -> str:
    return display(f"{tex(lhs)} = {tex(rhs)}", label)


def equations(rows) -> str:
    """Labelled ``(lhs, rhs, label)`` rows aligned at ``=`` in one ``align``; one
    ``equation`` each if a row is too wide and must be broken."""
    rows = [(tex(lhs), _displaystyle(tex(rhs)), label) for lhs, rhs, label in rows]
    if any(_width(f"{lhs} = {rhs}") > _LINE for lhs, rhs, _ in rows):
        return "\n".join(display(f"{lhs} = {rhs}", label) for lhs, rhs, label in rows)
    body = " \\\\\n".join(f"{lhs} &= {rhs} \\label{{{label}}}" for lhs, rhs, label in rows)
    return f"\\begin{{align}}\n{body}\n\\end{{align}}"


# --- definitions -----------------------------------------------------------------

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
    """The numbered definitions of the document, to refer to from every cell."""

    def __init__(self):
        self.label: dict[tuple[str, str], tuple[sp.Basic, sp.Basic, str]] = {}
        for m in _MODELS:
            r = m.a_rule()
            self.label[(m.id, "a")] = (r.lhs, r.rhs, _label("eq", m.id, "a"))
        for norm in BUILTIN:
            b = norm.build(EPS)
            for r in b.stat_rules:
                name = r.base.label.name
                self.label[(norm.id, name)] = (r.lhs, r.rhs, _label("eq", norm.id, name))
            self.label[(norm.id, "h")] = (b.out_rule.lhs, b.out_rule.rhs, _label("eq", norm.id, "h"))

    def find(self, norm: Normalizer, name: str):
        return self.label.get((norm.model.id, name)) or self.label.get((norm.id, name))


def _eq_number(source: str) -> str:
    m = re.search(r"Eq\. (\d+)", source)
    return f" (the paper's Eq.~{m.group(1)})" if m else ""


def _normalizer_definitions(norm: Normalizer, defs: Definitions) -> list[str]:
    b = norm.build(EPS)
    out = [f"\\subsection{{{esc(norm.title)}{_eq_number(norm.source)}}}\\label{{{_label('norm', norm.id)}}}",
           f"On the {esc(norm.model.title)}"
           + (f", with $G = {norm.groups}$ groups of $S$ consecutive channels" if norm.groups else "")
           + f". Source: {cite(esc(norm.source))}."]
    names = [r.base.label.name for r in b.stat_rules] + ["h"]
    out.append(equations([defs.label[(norm.id, name)] for name in names]))
    return out


def notation_section(defs: Definitions) -> list[str]:
    out = [r"\section{Notation and definitions}\label{sec:notation}"]
    for m in _MODELS:
        axes = ", ".join(f"{esc(ax.title)} ${tex(ax.index)} = 1, \\dots, {tex(ax.size)}$"
                         for ax in (*m.axes, m.input))
        lhs, rhs, label = defs.label[(m.id, "a")]
        out += [f"\\paragraph{{The {esc(m.title)}.}} Indices: {axes}. The summed inputs are",
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
                       _label("eq", "general")))
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


# --- one derivation per transformation, the rule and the figure --------------------------

def _representative(t_id: str, cells: dict) -> Cell | None:
    """The first row of the paper's table invariant to ``t_id``: its derivation is the
    transformation's (other cells differ only in their statistics' axes)."""
    return next((cells[n, t_id] for n in TABLE1 if (n, t_id) in cells and cells[n, t_id].verdict == INVARIANT),
                None)


def chain_tex(chain) -> str:
    """A chain of equalities, each link's reason as its tag (set below the link if it is long)."""
    lines = []
    for k, link in enumerate(chain.links):
        lines.append((tex(chain.lhs) if k == 0 else "") + f" &= {_displaystyle(tex(link.expr))}"
                     + f" \\tag*{{\\footnotesize[{parts_tex(link.why)}]}}"
                     + (r" \\" if k < len(chain.links) - 1 else ""))
    return "\\begin{align*}\n" + "\n".join(lines) + "\n\\end{align*}"


def _axes_text(axes) -> str:
    return ", ".join(f"${tex(ax.index)}$ ({esc(ax.title)})" for ax in axes) or "none (a constant)"


def derivations_section(cells: dict) -> list[str]:
    out = [r"\section{One derivation per transformation}\label{sec:derivations}",
           r"\paragraph{The rule.} " + parts_tex(RULE),
           r"Each transformation acts on the summed inputs as $a' = \alpha a + \beta$ (derived from $W'$ and "
           r"$X'$ by the linearity of the sum over the inputs $j$). Below, for each transformation, $\alpha$ and "
           r"$\beta$ with the axes along which they vary, then the derivation for the first normalizer of the "
           r"paper's table that is invariant to it, as chains of equalities; every link is checked by SymPy "
           r"(unfold the definitions, linearity of the sum, expand to zero). The cells of "
           r"Sections~\ref{sec:cells} and~\ref{sec:more} state only what differs: their verdict, the reason in "
           r"one sentence, their laws or their counterexample. Figure~\ref{fig:axes} puts the rule in one picture."]
    out += axes_figure()
    for t in TRANSFORMATIONS.values():
        out.append(f"\\subsection{{{esc(t.title)}: ${t.paper}$}}\\label{{{_label('tr', t.id)}}}")
        rep = _representative(t.id, cells)
        probe = rep or next(c for c in cells.values() if c.transformation == t.id)
        b = built(probe.normalizer, True)
        act = action(b, t)
        m = b.m
        a_t = m.at(prime(m.a), m.point)
        law = f"{tex(a_t)} = {tex(act.alpha_name * m.at(m.a, m.point) + act.beta_name)}"
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
        out.append(f"{esc(NORMALIZERS[rep.normalizer].title)} (Section~\\ref{{{_cell_ref(rep)}}}): "
                   + parts_tex(reason(rep)))
        out += [chain_tex(c) for c in rep.proof.chains]
    return out


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
        note = "" if any(avg.get(n) for n in ("mu", "sigma")) else r" ($\sigma$ from $W$)" if from_w else " (fixed)"
        rows.append(f"{esc(norm.title)}{note} & " + " & ".join(cells) + r" \\")
    left = "\n".join([r"\begin{tabular}{@{}l" + "c" * len(axes) + "@{}}", r"\toprule",
                      r"$\mu, \sigma$ average over & " + head + r" \\", r"\midrule", *rows,
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
    return ["\n".join([r"\begin{figure}[htbp]", r"\centering\small", left, r"\quad", right,
                       r"\caption{The table in one picture. Left: the axes (case $n$, unit or channel $i$, "
                       r"position $p$) over which each normalizer's statistics average ($\blacksquare$; blank: the "
                       r"layer has no such axis). Right: the axes along which each transformation's factor "
                       r"$\alpha$ and shift $\beta$ vary (--: none). A cell is invariant when every axis along "
                       r"which $\alpha$ or $\beta$ varies is one its statistics do not average over, and a shift "
                       r"meets a mean $\mu$.}\label{fig:axes}", r"\end{figure}"])]


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
        neg_t = (f"$h' = {tex(neg.expr)}$" if neg is not None and neg.expr is not None else
                 ("none found" if neg is not None else "--"))
        eps_t = ("exact" if eps is not None and eps.expr == 0 else
                 f"$|h' - h| \\le {tex(eps.expr)}$" if eps is not None and eps.expr is not None else "--")
        m = re.match(r"when \$(.*?)\$", deg.statement) if deg is not None else None
        deg_t = f"${m.group(1)}$" if m else "--"
        short = esc(TRANSFORMATIONS[cell.transformation].short).replace(r"w\_i", r"$w_i$")   # the paper's w_i
        title = f"{esc(NORMALIZERS[cell.normalizer].title)}, {short}"
        rows.append(f"{title} & {neg_t} & {eps_t} & {deg_t} \\\\")
    return [r"\section{Caveats of the invariant cells}\label{sec:caveats}",
            r"Derived for each invariant cell (\texttt{invariance/caveats.py}): with a negative factor, the "
            r"proof tactic re-run with $\delta < 0$ (where $\sqrt{\delta^2 s} = -\delta\sqrt{s}$) gives the "
            r"relation shown, a sign flip of the centred output; with $\epsilon > 0$ the exact deviation is "
            r"checked and bounded by the mean value theorem; at the sizes shown $\sigma = 0$ for every input.",
            "\n".join([r"{\small", r"\begin{longtable}{@{}p{3.3cm}p{2.6cm}p{6.2cm}p{2.4cm}@{}}", r"\toprule",
                       r"Cell & Negative factor & $\epsilon > 0$ & $\sigma \equiv 0$ when \\", r"\midrule",
                       r"\endhead", *rows, r"\bottomrule", r"\end{longtable}}"]),
            r"\begin{center}\refstepcounter{table}\label{tab:caveats}\end{center}"]


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


# --- tables ----------------------------------------------------------------------

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


def _cell_ref(cell: Cell) -> str:
    return _label("cell", cell.normalizer, cell.transformation)


def table_tex(cells: list[Cell], caption: str, label: str) -> list[str]:
    rows = list(dict.fromkeys(c.normalizer for c in cells))
    cols = list(dict.fromkeys(c.transformation for c in cells))
    at = {(c.normalizer, c.transformation): c for c in cells}
    documented = {n.id for n in BUILTIN}   # a normalizer registered at run time has no section to link to
    word = lambda c: cell_word(c) + (r"$^{\dagger}$" if _needs_eps_zero(c) else "")  # noqa: E731
    link = lambda c: (f"\\hyperref[{_cell_ref(c)}]{{{word(c)}}}"  # noqa: E731
                      if c.normalizer in documented else word(c))
    body = [_stack(NORMALIZERS[r].title, 24) + " & " + " & ".join(link(at[r, c]) for c in cols) + r" \\"
            for r in rows]
    return ["\n".join([r"\begin{table}[htbp]", r"\centering\small", r"\setlength{\tabcolsep}{2pt}",
                       r"\begin{tabular}{@{}l" + "c" * len(cols) + "@{}}", r"\toprule",
                       " & " + " & ".join(_stack(TRANSFORMATIONS[c].title) for c in cols) + r" \\",
                       r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
                       f"\\caption{{{caption} {EPS_MARK}}}\\label{{{label}}}", r"\end{table}"])]


EPS_MARK = (r"$^{\dagger}$: proved for $\epsilon = 0$ only (with $\epsilon > 0$ the deviation is "
            r"bounded in Table~\ref{tab:caveats}).")


def _needs_eps_zero(cell: Cell) -> bool:
    return cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions


# --- one cell --------------------------------------------------------------------

def _conditions(cell: Cell) -> str:
    return ", ".join(f"${tex(c)}$" for c in cell.conditions)


def _definitions_of(cell: Cell, defs: Definitions):
    """(labels, local displays): where each equation a cell uses is typeset.

    The transformation's ``W'`` and ``X'`` are typeset in the cell; a
    definition identical to the one in the notation section is referred to;
    one that differs (``epsilon = 0`` in a proof that needs it) is typeset in
    the cell.  A primed definition refers to its unprimed twin.
    """
    norm = NORMALIZERS[cell.normalizer]
    labels, local, differing = {}, [], []
    for e in cell.definitions:
        if e.name in ("W'", "X'"):
            labels[e.name] = _label("eq", cell.normalizer, cell.transformation, e.name)
            local.append(e)
            continue
        stem = e.name[:-1] if e.name.endswith("'") else e.name
        if stem in labels:
            labels[e.name] = labels[stem]
            continue
        found = defs.find(norm, stem)
        if found and (found[0], found[1]) == (e.lhs, e.rhs):
            labels[e.name] = found[2]
        else:
            labels[e.name] = _label("eq", cell.normalizer, cell.transformation, e.name)
            differing.append(e)
    return labels, local, differing


def _definitions_tex(cell: Cell, labels: dict, local, differing) -> list[str]:
    out = [f"The transformation ({esc(TRANSFORMATIONS[cell.transformation].title.lower())}):"]
    out.append(equations([(e.lhs, e.rhs, labels[e.name]) for e in local]))
    names = [e.name for e in cell.definitions if e.name not in ("W'", "X'") and not e.name.endswith("'")]
    refs = ", ".join(f"${_symbol(n)}$~\\eqref{{{labels[n]}}}" for n in names)
    out.append(f"The definitions used: {refs}, and their primed twins for the transformed layer.")
    if differing:
        eps = " (here $\\epsilon = 0$)" if any(sp.Eq(EPS, 0) == c for c in cell.conditions) else ""
        out.append(f"In this cell{eps}:")
        out.append(equations([(e.lhs, e.rhs, labels[e.name]) for e in differing]))
    return out


def _uses(e, labels: dict) -> str:
    parts = []
    for u in e.uses:
        if u.endswith(" law"):
            parts.append(f"the ${_symbol(u[:-4])}$ law~\\eqref{{{labels[u]}}}")
        else:
            parts.append(f"${_symbol(u)}$~\\eqref{{{labels[u]}}}")
    return ", ".join(parts)


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


def counterexample_tex(cell: Cell) -> list[str]:
    ce = cell.counterexample
    m = NORMALIZERS[cell.normalizer].model
    sizes = ", ".join(f"${k} = {v}$" for k, v in ce.sizes.items())
    symbols = counterexample_symbols(NORMALIZERS[cell.normalizer].build(), TRANSFORMATIONS[cell.transformation], ce)
    items = [x for k, v in symbols.items() for x in _value_tex(k, v)]
    lines, current, width = [], [], 0.0
    for maths, w in items:
        if current and width + w > _LINE:
            lines.append(current)
            current, width = [], 0.0
        current.append(maths)
        width += w + 3
    lines.append(current)
    shown = "\\begin{gathered}\n" + " \\\\\n".join(r", \quad ".join(x) for x in lines) + "\n\\end{gathered}"
    point = {ax.name: sp.Integer(ce.point[ax.name]) for ax in m.axes}
    where = ", ".join(f"${tex(ax.index)} = {ce.point[ax.name]}$" for ax in m.axes)
    h, hp = m.at(sp.IndexedBase("h"), point), m.at(sp.IndexedBase("h'"), point)
    return [f"Sizes {sizes}; $\\epsilon = 0$. Matrices are indexed as in the definitions "
            f"(rows first: $W_{{i,j}}$, $X_{{n,j}}$, or $X_{{n,j,p}}$ with rows $j$ and columns $p$):",
            f"\\begingroup\\renewcommand{{\\arraystretch}}{{1.3}}\n\\[\n{shown}\n\\]\n\\endgroup",
            f"At {where}: ${tex(h)} = {sp.latex(ce.output)}$ but "
            f"${tex(hp)} = {sp.latex(ce.transformed_output)}$, exactly."]


def _caveats_tex(cell: Cell) -> list[str]:
    found = derive_caveats(cell)
    if not found:
        return []
    kinds = {"negative-scale": "Negative factor", "eps": r"$\epsilon > 0$", "degenerate": "Degenerate sizes"}
    items = [f"\\item \\textit{{{kinds.get(c.kind, esc(c.kind))}}}: {mixed(c.statement)}. "
             f"Evidence: {mixed(c.evidence)}." for c in found]
    return [r"\paragraph{Caveats.}", r"\begin{itemize}", *items, r"\end{itemize}"]


def parts_tex(parts) -> str:
    """Words and SymPy expressions (from :mod:`invariance.derive.reasons`) as LaTeX text."""
    return "".join(esc(p) if isinstance(p, str) else f"${tex(p)}$" for p in parts)


def _laws_tex(cell: Cell) -> list[str]:
    """The checked steps of an invariant cell, aligned: what this cell adds to the derivation
    of its transformation."""
    rows = [(e.lhs, e.rhs, None) for e in cell.proof.steps()]
    if any(_width(f"{tex(lhs)} = {tex(rhs)}") > _LINE for lhs, rhs, _ in rows):
        return [display(f"{tex(lhs)} = {tex(rhs)}") for lhs, rhs, _ in rows]
    body = " \\\\\n".join(f"{tex(lhs)} &= {_displaystyle(tex(rhs))}" for lhs, rhs, _ in rows)
    return [f"\\begin{{align*}}\n{body}\n\\end{{align*}}"]


def cell_tex(cell: Cell, defs: Definitions) -> list[str]:
    """One cell: its verdict, the reason in one sentence (derived), then only what differs from
    its transformation's derivation: the laws (checked), or the exact counterexample."""
    norm, t = NORMALIZERS[cell.normalizer], TRANSFORMATIONS[cell.transformation]
    out = [f"\\subsection{{{esc(norm.title)} under {esc(t.title.lower())}}}\\label{{{_cell_ref(cell)}}}"]
    conditions = _conditions(cell)
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
        eps = r" with $\epsilon = 0$" if _needs_eps_zero(cell) else ""
        out.append(f"The laws{eps}, each checked (Section~\\ref{{{_label('tr', t.id)}}} derives them in words):")
        out += _laws_tex(cell)
    else:
        out.append(r"\textit{Counterexample} (exact; gain $g = 1$, bias $b = 0$).")
        out += counterexample_tex(cell)
    return out


# --- the sources ------------------------------------------------------------------

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
    ref = f"(Section~\\ref{{{_cell_ref(cell)}}})"
    if cell.verdict == INVARIANT:
        where = f" where {_conditions(cell)}" if cell.conditions else ""
        return [f"Derived: \\textbf{{Invariant}}{where} {ref}. {parts_tex(reason(cell))}"]
    if cell.verdict == NOT_INVARIANT:
        return ([f"Derived: \\textbf{{No}} {ref}. {parts_tex(reason(cell))} An exact counterexample "
                 "(gain 1, bias 0):"] + counterexample_tex(cell))
    return ["Derived: unknown (no proof and no counterexample was found)."]


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
           r"Each claim below is a record in \texttt{invariance/claims.py}: a source, its words verbatim, "
           r"one normalizer, one transformation and the verdict the words give. "
           r"\texttt{claims.assess} derives that cell afresh and compares."]
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
    if wrong:
        law = _a_law(wrong[0][1])
        out.append(r"The sentence is wrong, and so is its argument: the summed inputs do not stay "
                   f"constant, they change (${law}$, derived), and only a normalizer whose statistics "
                   r"change with them cancels the change.")
    for c, cell in wrong:
        out += [f"\\paragraph{{{_claim_cell(c)}.}}"] + _evidence(cell)
    for c, other in contradicting([c for c, _ in wrong], PAPER_TABLE_CLAIMS):
        table_right = assess(other, cells)[1]
        out.append(f"The paper contradicts itself here: its own Table~1 says ``{esc(other.quote)}'' for "
                   f"{esc(NORMALIZERS[c.normalizer].title.lower())} under "
                   f"{esc(TRANSFORMATIONS[c.transformation].title.lower())}"
                   + (", and the table is right." if table_right else ", and the table is wrong too."))
    lucky = [(c, cell) for c, cell, ok in paper if ok and argument_holds(c) is False]
    if lucky:
        out.append(r"\paragraph{Right conclusion, wrong argument.} For "
                   + " and ".join(esc(NORMALIZERS[c.normalizer].title.lower()) for c, _ in lucky)
                   + " the sentence's conclusion is right (derived: Invariant) but its argument is not: "
                   + f"the summed inputs do not stay constant (${_a_law(lucky[0][1])}$); "
                   + "the statistics change with them and cancel the change. "
                   + " ".join(parts_tex(reason(cell)) for _, cell in lucky))
    right = [(c, cell) for c, cell, ok in paper if ok and c.quote != _PAPER_SENTENCE]
    if right:
        out += [r"The section's other invariance claims agree with the derivation:"] + _agreeing(right)
    out += _assumptions_tex(cells)
    out += _eq6_tex(cells)
    # (2) the transcript
    assessed = [(c, *assess(c, cells)) for c in TRANSCRIPT_CLAIMS]
    wrong = [(c, cell) for c, cell, ok in assessed if not ok]
    out += [r"\subsection{Study notes (a chat transcript), not a published source}",
            f"The team's seed file \\texttt{{{esc(TRANSCRIPT_FILE)}}} holds study notes: a chat in which an assistant "
            r"explains the paper's Table 1 column by column, then works through layer norm under "
            r"weight-matrix re-centering. "
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
    eps = [c for c in table if _needs_eps_zero(c)]
    name = lambda c: (f"{esc(NORMALIZERS[c.normalizer].title.lower())} under "  # noqa: E731
                      f"{esc(TRANSFORMATIONS[c.transformation].title.lower())}")
    return [r"\paragraph{Unstated assumptions.} The paper states its invariances without conditions. "
            f"Derived, {len(scaled)} of the {len(table)} invariant cells of its table need a positive factor "
            r"($\delta > 0$: the statistics scale by $|\delta|$, so a negative factor flips the sign of the "
            r"centred output, Section~\ref{sec:caveats}): " + "; ".join(name(c) for c in scaled) + ". "
            f"{len(eps)} need $\\epsilon = 0$ ($\\sqrt{{\\delta^2\\sigma^2 + \\epsilon}} \\ne "
            r"\delta\sqrt{\sigma^2 + \epsilon}$; the deviation for $\epsilon > 0$ is bounded in "
            r"Section~\ref{sec:caveats}): " + "; ".join(name(c) for c in eps) + "."]


def _eq6_tex(cells: dict) -> list[str]:
    """The paper's Eq. 6, both weight-matrix transformations at once, checked for its rows."""
    out = [r"\paragraph{The combined transformation of Eq.~6.} The paper derives layer norm's invariance "
           f"for both weight-matrix transformations at once, ${COMBINED.paper}$. Checked for the rows of "
           r"its table (each a proof or an exact counterexample, as for the other cells):"]
    items = []
    for n in TABLE1:
        cell = derive(n, COMBINED)
        cond = f", where {_conditions(cell)}" if cell.verdict == INVARIANT and cell.conditions else ""
        items.append(f"\\item {esc(NORMALIZERS[n].title)}: \\textbf{{{verdict_word(cell.verdict)}}}{cond}. "
                     + parts_tex(reason(cell)))
    return out + [r"\begin{itemize}", *items, r"\end{itemize}"]


def _notes_formula_tex(cells: dict) -> list[str]:
    """The notes' formula for layer norm after weight-matrix re-centering, and the derived one."""
    cell = cells[NOTES_FORMULA.normalizer, NOTES_FORMULA.transformation]
    if cell.proof is None:
        return []
    found = cell.proof.chains
    scale = [c for c in found if c.lhs.base.label.name == "sigma^2'"]
    centred = [c for c in found if c.name == "invariance"]
    return [r"\paragraph{The notes' formula, corrected.} For "
            f"{esc(NORMALIZERS[cell.normalizer].title.lower())} under "
            f"{esc(TRANSFORMATIONS[cell.transformation].title.lower())} the notes derive",
            f"\\[ {NOTES_FORMULA.quote} \\]",
            r"with $c$ the paper's $\gamma$. Both halves are wrong: the shift, the same for every unit, "
            r"cancels exactly in the numerator, and it adds nothing to the variance. Derived, each link "
            r"checked:", *[chain_tex(c) for c in scale + centred],
            r"so the output is $h$ itself, and the notes' conclusion (``not strictly invariant'') is wrong too."]


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
                           f"on a fully connected layer but \\textbf{{{verdict_word(b.verdict)}}} on a convolutional "
                           f"one. Dense: {parts_tex(reason(a))} Convolutional: {parts_tex(reason(b))}")
    fixed = [n for n in BUILTIN if n.model is DENSE and all(
        averaged_axes(built(n.id, True)).get(s, ()) is None and not
        unfold(built(n.id, True).stat_rule(s).rhs, list(reversed(built(n.id, True).stat_rules))).has(DENSE.W)
        for s in ("mu", "sigma"))]
    for n in fixed:
        row = [cells[n.id, t] for t in TRANSFORMATIONS]
        lost = [c for c in row if c.verdict == NOT_INVARIANT]
        out.append(f"\\paragraph{{{esc(n.title)}.}} With running statistics (fixed after training) batch norm "
                   f"loses its invariances: {len(lost)} of the {len(row)} transformations change its output "
                   f"(Section~\\ref{{{_cell_ref(row[0])}}} and after), each with an exact counterexample. "
                   + parts_tex(reason(lost[0])) if lost else "")
    return out


# --- the document ----------------------------------------------------------------------

PREAMBLE = r"""% Generated by `python -m invariance docs`: do not edit by hand.
% Regenerate with `python -m invariance docs` (add --pdf to compile docs/invariance.pdf).
\documentclass[10pt,a4paper]{article}
\usepackage{amsmath,amssymb}
\usepackage{booktabs,longtable}
\usepackage[margin=2.5cm]{geometry}
\usepackage[hidelinks]{hyperref}
\usepackage{graphicx}
\numberwithin{equation}{section}
\setcounter{MaxMatrixCols}{20}
\setcounter{tocdepth}{1}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5ex plus 0.3ex}
\title{Invariance of normalization layers under re-scaling and re-centering:\\
every cell derived}
\author{Generated by the \texttt{invariance} toolkit}
\date{}
\begin{document}
\maketitle
"""


def _intro(cells: list[Cell]) -> list[str]:
    proved = sum(c.verdict == INVARIANT for c in cells)
    refuted = sum(c.verdict == NOT_INVARIANT for c in cells)
    return [
        r"\begin{abstract}",
        r"Table~1 of Ba, Kiros and Hinton, \emph{Layer Normalization} (2016), says which re-scalings "
        r"and re-centerings of the weights and of the data leave batch, weight and layer normalization "
        r"unchanged. This document derives every cell of that table, and of the same table for RMSNorm, "
        r"convolutional batch and layer norm, group norm and instance norm, with SymPy: "
        f"of {len(cells)} cells, {proved} are proved invariant, step by step, and {refuted} are "
        r"refuted by an exact counterexample in rational numbers. It ends with the claims of the paper's "
        r"prose and of a chat transcript that the derivation contradicts.",
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
        r"more row needs no change to the toolkit: \texttt{examples/dynamic\_tanh.py} registers Dynamic "
        + cite(esc("Tanh (Zhu et al. 2025)")) + ", which has no statistics.",
    ]


def tables_section(at: dict, registered: list[Cell]) -> list[str]:
    out = [r"\section{The tables}\label{sec:tables}",
           r"Table~\ref{tab:table1} has the layout of the paper's Table~1; "
           r"Table~\ref{tab:all} adds every other registered normalizer. "
           r"Each entry links to its cell."]
    out += table_tex([at[n, t] for n in TABLE1 for t in TRANSFORMATIONS],
                     "Invariance properties under the normalization methods (the paper's Table~1), "
                     "every cell derived.", "tab:table1")
    out += table_tex(registered, "Every registered normalizer.", "tab:all")
    return out


def cells_section(at: dict, defs: Definitions, normalizers, title: str, label: str) -> list[str]:
    out = [f"\\section{{{title}}}\\label{{{label}}}"]
    for norm in normalizers:
        out.append(f"\\subsection{{{esc(norm.title)}}}\\label{{{_label('sec', norm.id)}}}")
        for t in TRANSFORMATIONS:
            out += [x.replace("\\subsection{", "\\subsubsection{", 1) for x in cell_tex(at[norm.id, t], defs)]
    return out


def chapters(cells: list[Cell]) -> list:
    """The document's chapters in order, each a function of (cells by key, definitions,
    every registered cell) returning LaTeX blocks: one more chapter is one more entry."""
    first = [n for n in BUILTIN if n.id in TABLE1]
    more = [n for n in BUILTIN if n.id not in TABLE1]
    return [
        lambda at, defs, reg: _intro(cells),
        lambda at, defs, reg: notation_section(defs),
        lambda at, defs, reg: transformation_section(),
        lambda at, defs, reg: tables_section(at, reg),
        lambda at, defs, reg: derivations_section(at),
        lambda at, defs, reg: cells_section(at, defs, first, "The cells of the paper's Table 1", "sec:cells"),
        lambda at, defs, reg: sources_section(at),
        lambda at, defs, reg: caveats_section([c for c in cells if c.verdict == INVARIANT]),
        lambda at, defs, reg: [_training_chapter([at[n, t] for n in TABLE1 for t in TRANSFORMATIONS])],
        lambda at, defs, reg: bibliography_section(),
        lambda at, defs, reg: [r"\appendix"] + cells_section(at, defs, more, "The rows beyond Table 1",
                                                              "sec:more"),
    ]


def _training_chapter(cells: list[Cell]) -> str:
    """Issue 12's chapter, on the paper's cells already derived (its figure: :func:`write`)."""
    from .training_report import chapter_tex, collect
    consequences = collect(cells, numeric=True)
    return chapter_tex(consequences=consequences, scope="of the paper's Table~1 (every row: the JSON output)")


def render(cells: list[Cell] | None = None) -> str:
    """The whole document as a string (``cells``: every built-in cell, derived if not given)."""
    if cells is None:
        cells = [derive(n, t) for n in BUILTIN for t in TRANSFORMATIONS.values()]
    at = {(c.normalizer, c.transformation): c for c in cells}
    defs = Definitions()
    registered = [at.get((n, t)) or derive(n, t) for n in NORMALIZERS for t in TRANSFORMATIONS]
    parts = [PREAMBLE.rstrip("\n")]
    for chapter in chapters(cells):
        parts += chapter(at, defs, registered)
    parts.append(r"\end{document}")
    text = "\n\n".join(p for p in parts if p) + "\n"
    text = re.sub(r"\n{3,}", "\n\n", text)
    # a display continues the paragraph before it (no blank line, no extra space)
    text = re.sub(r"\n\n(?=\\begin\{(?:equation|align)|\\\[|\\begingroup)", "\n", text)
    if not text.isascii():
        bad = sorted({ch for ch in text if ord(ch) > 127})
        raise ValueError(f"docs: non-ASCII characters in the LaTeX: {bad}")
    return text


def write(out: Path, cells: list[Cell] | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TEX_NAME
    path.write_text(render(cells), encoding="ascii")
    from .training_report import write_figure
    write_figure(out)   # the training chapter's figure, beside the .tex (generated, not committed)
    return path


# --- compiling ----------------------------------------------------------------------

_AUX = (".aux", ".fls", ".fdb_latexmk", ".out", ".toc")
_FLAGS = ("-interaction=nonstopmode", "-halt-on-error", "-file-line-error")


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if re.match(r"^(\S*\.tex:\d+: |! )", line):
            return line.strip()
    return "see the log"


def compile_pdf(tex_path: Path, timeout: float = 600) -> int:
    """Compile ``tex_path`` in its directory: 0 and a PDF, or 1 and a one-line error on stderr."""
    tex_path = Path(tex_path).resolve()
    cwd, stem = tex_path.parent, tex_path.stem
    pdf, log = cwd / f"{stem}.pdf", cwd / f"{stem}.log"
    if shutil.which("latexmk"):
        runs = [["latexmk", "-pdf", *_FLAGS, tex_path.name]]
    elif shutil.which("pdflatex"):
        runs = [["pdflatex", *_FLAGS, tex_path.name]] * 3   # the third only if LaTeX asks to rerun
    else:
        print("python -m invariance docs: neither latexmk nor pdflatex is on PATH; install TeX Live "
              "(apt-get install texlive-latex-base texlive-latex-recommended latexmk)", file=sys.stderr)
        return 1
    for k, cmd in enumerate(runs):
        if k == 2 and "Rerun to get" not in log.read_text(errors="replace"):
            break
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"python -m invariance docs: {cmd[0]} took more than {timeout:.0f} s on {tex_path}",
                  file=sys.stderr)
            return 1
        if proc.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else proc.stdout
            for ext in (".pdf", *_AUX):   # no stale PDF, no half-written aux file for the next run
                (cwd / f"{stem}{ext}").unlink(missing_ok=True)
            print(f"python -m invariance docs: LaTeX error in {tex_path}: {_first_error(text)} "
                  f"(log: {log})", file=sys.stderr)
            return 1
    for ext in _AUX:
        (cwd / f"{stem}{ext}").unlink(missing_ok=True)
    pages = re.search(r"Output written on \S+ \((\d+) pages?", log.read_text(errors="replace"))
    print(f"wrote {pdf}" + (f" ({pages.group(1)} pages)" if pages else ""))
    return 0


def build(out: Path, pdf: bool = False) -> int:
    """Write ``out/invariance.tex``; with ``pdf``, compile it.  Returns an exit status."""
    start = time.perf_counter()
    path = write(Path(out))
    print(f"wrote {path} ({time.perf_counter() - start:.1f} s)")
    return compile_pdf(path) if pdf else 0
