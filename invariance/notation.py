"""LaTeX for the toolkit's symbols: ``sigma^2'`` prints as :math:`\\sigma'^{2}`."""
from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

__all__ = ["tex", "plain", "equation_tex"]

_GREEK = {"mu", "sigma", "nu", "gamma", "delta", "epsilon", "alpha", "beta"}
_SPECIAL = {"norm": r"\lVert w \rVert"}


def _name(name: str) -> str:
    primed = name.endswith("'")
    stem = name.rstrip("'")
    stem, _, power = stem.partition("^")
    body = _SPECIAL.get(stem, "\\" + stem if stem in _GREEK else stem)
    return body + ("'" if primed else "") + (f"^{{{power}}}" if power else "")


class _Printer(LatexPrinter):
    """A power of a symbol that already carries an exponent (sigma^2) gets parentheses."""

    def _print_Pow(self, expr):
        base = expr.base
        label = base.base.label if isinstance(base, sp.Indexed) else base
        if "^" in getattr(label, "name", "") and expr.exp not in (sp.S.Half, -sp.S.Half, -1):
            return r"\left(%s\right)^{%s}" % (self._print(base), self._print(expr.exp))
        return super()._print_Pow(expr)


def tex(expr: sp.Basic) -> str:
    """LaTeX of ``expr`` with the toolkit's names.

    >>> tex(sp.IndexedBase("sigma^2'")[sp.Symbol('n')])
    "{\\\\sigma'^{2}}_{n}"
    >>> tex(sp.IndexedBase("sigma^2")[sp.Symbol('n')] ** sp.Rational(3, 2))
    '\\\\left({\\\\sigma^{2}}_{n}\\\\right)^{\\\\frac{3}{2}}'
    """
    names = {s: _name(s.name) for s in expr.atoms(sp.Symbol)
             if s.name.endswith("'") or "^" in s.name or s.name in _SPECIAL}
    return _Printer({"symbol_names": names}).doprint(expr)


def equation_tex(lhs: sp.Basic, rhs: sp.Basic) -> str:
    return f"{tex(lhs)} = {tex(rhs)}"


_OPS = {sp.Eq: "=", sp.Ne: "!=", sp.Gt: ">", sp.Ge: ">=", sp.Lt: "<", sp.Le: "<="}


class _Plain(StrPrinter):
    """As for LaTeX: a power of sigma^2 gets parentheses, (sigma^2[n])**(3/2)."""

    def _print_Pow(self, expr, rational=False):
        label = expr.base.base.label if isinstance(expr.base, sp.Indexed) else expr.base
        if "^" in getattr(label, "name", "") and expr.exp not in (sp.S.Half, -sp.S.Half, -1):
            return f"({self._print(expr.base)})**{self.parenthesize(expr.exp, 1000)}"
        return super()._print_Pow(expr, rational)


def _sstr(expr) -> str:
    return _Plain().doprint(expr)


def plain(expr: sp.Basic) -> str:
    """One-line text for a terminal: ``sigma[n] != 0``, ``a'[n, i] = ...``.

    >>> plain(sp.Ne(sp.IndexedBase('sigma')[sp.Symbol('n')], 0))
    'sigma[n] != 0'
    """
    for rel, op in _OPS.items():
        if isinstance(expr, rel):
            return f"{_sstr(expr.lhs)} {op} {_sstr(expr.rhs)}"
    return _sstr(expr)
