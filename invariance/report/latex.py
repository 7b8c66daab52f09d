"""LaTeX from the toolkit's words and SymPy's maths, for every generated document.

Text: :func:`esc` escapes plain text, :func:`prose` and :func:`mixed` set the
engine's words with the names they mention as maths, :func:`quote` keeps a
Markdown quote's bold and maths.  Labels: :func:`label_for`, :func:`cell_label`.
Maths: :func:`display`, :func:`equation` and :func:`equations` set displays,
broken into lines by :mod:`.linebreak` when they are too wide.
"""
from __future__ import annotations

import functools
import re

import sympy as sp

from ..catalogue.normalizers import NORMALIZERS as BUILTIN
from ..core.consequence import _TEX as _TRAINING_NAMES
from ..core.notation import _Printer, _name
from ..core.records import Cell
from .linebreak import LINE, break_display, maths_width

__all__ = ["tex", "group_index", "esc", "symbol", "prose", "mixed", "quote", "label_for", "cell_label", "conditions_tex", "parts_tex", "displaystyle",
           "display", "equation", "equations", "INLINE"]

INLINE = 40        # widest inline formula in prose before it becomes a display


# --- the document's maths ----------------------------------------------------------

class _Document(_Printer):
    """The toolkit's LaTeX printer (:func:`invariance.core.notation.tex`) as the document
    sets it: nested sums with their limits above and below (never stacked inequalities),
    a group's channels as :math:`k \\in G(i)`, and the training chapter's names
    (the generator :math:`\\xi^W`, one SGD step :math:`W^{+}`, the gradient
    :math:`\\partial_W L`) instead of their ids."""

    def _print_Sum(self, expr):
        heads = []
        limits = list(reversed(expr.limits))   # the last limit is the outermost sum
        bound = {lim[0] for lim in limits}
        if not any((lo.free_symbols | hi.free_symbols) & bound for _, lo, hi in limits):
            limits.sort(key=lambda lim: _SUM_ORDER.find(lim[0].name))   # independent: the model's axis order
        for var, lo, hi in limits:
            group = group_index(lo)
            heads.append(r"\sum_{%s \in G(%s)}" % (self._print(var), self._print(group)) if group is not None
                         else r"\sum_{%s=%s}^{%s}" % (self._print(var), self._print(lo), self._print(hi)))
        body = expr.function
        shown = r"\left(%s\right)" % self._print(body) if isinstance(body, sp.Add) else self._print(body)
        return " ".join(heads) + " " + shown

    def _print_floor(self, expr):
        num, den = expr.args[0].as_numer_denom()
        inner = r"\frac{%s}{%s}" % (self._print(num), self._print(den)) if den != 1 else self._print(num)
        return r"\left\lfloor %s \right\rfloor" % inner

    def _print_Indexed(self, expr):
        name = expr.base.label.name
        if name in _TRAINING_NAMES:
            return "{%s}_{%s}" % (_TRAINING_NAMES[name], ",".join(self._print(i) for i in expr.indices))
        return super()._print_Indexed(expr)


_SUM_ORDER = "mnkiqpjl"   # cases, units or channels, positions, inputs (a second input last)


def group_index(lower: sp.Expr):
    """The channel whose group a sum runs over, if ``lower`` is a group's first channel
    (:math:`S \\lfloor (i-1)/S \\rfloor + 1`); else None."""
    if not lower.has(sp.floor):
        return None
    inner = [s for f in lower.atoms(sp.floor) for s in f.free_symbols if s.name.islower()]
    return inner[0] if len(inner) == 1 else None


def _symbol_name(name: str) -> str | None:
    if name in _TRAINING_NAMES:
        return _TRAINING_NAMES[name]
    if name.endswith("hat"):   # a statistic without epsilon, e.g. the paper's sigma
        return r"\hat{%s}" % _name(name[:-3])
    if name.endswith("'") or "^" in name or name == "norm":
        return _name(name)
    if name in ("eta", "lambda"):
        return "\\" + name
    return None


@functools.lru_cache(maxsize=8192)
def tex(expr: sp.Basic) -> str:
    """LaTeX of ``expr`` as the document sets it (see :class:`_Document`)."""
    names = {s: _symbol_name(s.name) for s in expr.atoms(sp.Symbol) if _symbol_name(s.name) is not None}
    return _Document({"symbol_names": names}).doprint(expr)


# --- words ----------------------------------------------------------------------

_ESCAPE = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%",
           "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


_UNICODE = {"\u2019": "'", "\u2018": "`", "\u201c": "``", "\u201d": "''", "\u2014": "---",
            "\u2013": "--", "\u2026": r"\dots{}", "\u00a0": "~", "\u00b5": r"$\mu$", "\u03bc": r"$\mu$",
            "\u03c3": r"$\sigma$", "\u03b4": r"$\delta$", "\u03b3": r"$\gamma$"}


def esc(text: str) -> str:
    """Plain text (any characters) as LaTeX text."""
    out = []
    for ch in text:
        if ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) > 127:
            raise ValueError(f"docs: no LaTeX for the character {ch!r} in {text!r}")
        else:
            out.append(ch)
    return "".join(out)


# --- words with maths ----------------------------------------------------------

def symbol(name: str) -> str:
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
        out += [esc(text[pos:m.start()]), f"${symbol(m.group(1))}$"]
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def mixed(text: str, inline: float = INLINE) -> str:
    """LaTeX-with-``$`` text: words as :func:`prose`, maths as it is; a formula
    too wide for a line of prose is set as a display (broken if need be)."""
    parts = text.split("$")
    if len(parts) % 2 == 0:  # unbalanced: take it all as words
        return prose(text)
    out = []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            out.append(prose(part))
        elif maths_width(part) > inline or (r"\frac" in part and (r"\left" in part or r"\sqrt" in part)):
            after = parts[k + 1]
            stop = re.match(r"[,.;:]?", after).group(0)   # punctuation goes into the display
            parts[k + 1] = after[len(stop):].lstrip()
            out.append("\n\\[\n" + break_display(part, LINE - 6) + stop + "\n\\]\n")
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


def label_for(*parts: str) -> str:
    """A LaTeX label of ``parts`` joined by colons (a prime spelled ``p``, other marks dashes)."""
    slug = lambda s: re.sub(r"[^A-Za-z0-9]+", "-", s.replace("'", "p").replace("^", ""))  # noqa: E731
    return ":".join(slug(p).strip("-") for p in parts)


def cell_label(cell: Cell) -> str:
    """The label of a cell's page in the document."""
    return label_for("cell", cell.normalizer, cell.transformation)


def conditions_tex(cell: Cell) -> str:
    """A cell's conditions as inline maths, comma-separated."""
    return ", ".join(f"${tex(c)}$" for c in cell.conditions)


def parts_tex(parts) -> str:
    """Words and SymPy expressions (from :mod:`invariance.derive.reasons`) as LaTeX text."""
    return "".join(esc(p) if isinstance(p, str) else f"${tex(p)}$" for p in parts)


# --- displays --------------------------------------------------------------------

def displaystyle(maths: str) -> str:
    """A sum in a fraction's numerator gets its limits below it, as in a display."""
    return maths.replace(r"\frac{\sum", r"\frac{\displaystyle\sum")


def display(maths: str, label: str | None = None, limit: float = LINE) -> str:
    body = break_display(displaystyle(maths), limit)
    if label is None:
        return f"\\[\n{body}\n\\]"
    return f"\\begin{{equation}}\\label{{{label}}}\n{body}\n\\end{{equation}}"


def equation(lhs: sp.Basic, rhs: sp.Basic, label: str | None = None) -> str:
    return display(f"{tex(lhs)} = {tex(rhs)}", label)


def equations(rows) -> str:
    """Labelled ``(lhs, rhs, label)`` rows aligned at ``=`` in one ``align``; one
    ``equation`` each if a row is too wide and must be broken."""
    rows = [(tex(lhs), displaystyle(tex(rhs)), label) for lhs, rhs, label in rows]
    if any(maths_width(f"{lhs} = {rhs}") > LINE for lhs, rhs, _ in rows):
        return "\n".join(display(f"{lhs} = {rhs}", label) for lhs, rhs, label in rows)
    body = " \\\\\n".join(f"{lhs} &= {rhs} \\label{{{label}}}" for lhs, rhs, label in rows)
    return f"\\begin{{align}}\n{body}\n\\end{{align}}"
