"""LaTeX for the toolkit's symbols: ``sigma^2'`` prints as :math:`\\sigma'^{2}`."""
from __future__ import annotations

import functools

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

__all__ = ["tex", "plain", "equation_tex", "pretty_form", "inline", "linear", "for_display"]

_GREEK = {"mu", "sigma", "nu", "gamma", "delta", "epsilon", "alpha", "beta"}
_SPECIAL = {"norm": r"\lVert w \rVert"}


def _name(name: str) -> str:
    primed = name.endswith("'")
    stem = name.rstrip("'")
    stem, _, power = stem.partition("^")
    body = _SPECIAL.get(stem, "\\" + stem if stem in _GREEK else stem)
    return body + ("'" if primed else "") + (f"^{{{power}}}" if power else "")


class _Printer(LatexPrinter):
    """The paper's subscripts: :math:`\\sigma_n^2`, :math:`\\lVert w_i \\rVert^2`; a power of a
    symbol that already carries an exponent (sigma^2) gets parentheses."""

    def _print_Mul(self, expr):
        """A mean as the paper writes it: (1/N) sum, not a fraction over the sum."""
        num, den = expr.as_numer_denom()
        if (den != 1 and num.has(sp.Sum) and not den.is_number
                and all(s.is_integer and s.is_positive for s in den.free_symbols)):
            return r"\frac{1}{%s} %s" % (self._print(den), self.parenthesize(num, 50) if num.is_Add
                                         else self._print(num))
        # the paper's g / sigma (a - mu): the centred factor after the fraction
        centred = [f for f in sp.Mul.make_args(num) if f.is_Add]
        if den != 1 and len(centred) == 1 and not expr.has(sp.Sum) and not den.is_number:
            rest = num / centred[0]
            return r"\frac{%s}{%s} \left(%s\right)" % (self._print(rest), self._print(den),
                                                        self._print(centred[0]))
        return super()._print_Mul(expr)

    def _print_Indexed(self, expr):
        name = expr.base.label.name
        sub = ",".join(self._print(i) for i in expr.indices)
        primed = "'" if name.endswith("'") else ""
        stem, _, power = name.rstrip("'").partition("^")
        if stem == "norm":
            return r"\lVert w_{%s} \rVert%s%s" % (sub, primed, f"^{{{power}}}" if power else "")
        if power:
            body = "\\" + stem if stem in _GREEK else stem
            return ("{%s%s}_{%s}^{%s}" if primed else "%s%s_{%s}^{%s}") % (body, primed, sub, power)
        return super()._print_Indexed(expr)

    def _print_Pow(self, expr):
        base = expr.base
        label = base.base.label if isinstance(base, sp.Indexed) else base
        if "^" in getattr(label, "name", "") and expr.exp not in (sp.S.Half, -sp.S.Half, -1):
            return r"\left(%s\right)^{%s}" % (self._print(base), self._print(expr.exp))
        return super()._print_Pow(expr)


@functools.lru_cache(maxsize=8192)   # a certificate's expressions recur across cells and within chains
def tex(expr: sp.Basic) -> str:
    """LaTeX of ``expr`` with the toolkit's names.

    >>> tex(sp.IndexedBase("sigma^2'")[sp.Symbol('n')])
    "{\\\\sigma'}_{n}^{2}"
    >>> tex(sp.IndexedBase("sigma^2")[sp.Symbol('n')] ** sp.Rational(3, 2))
    '\\\\left(\\\\sigma_{n}^{2}\\\\right)^{\\\\frac{3}{2}}'
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


@functools.lru_cache(maxsize=8192)
def plain(expr: sp.Basic) -> str:
    """One-line text for a terminal: ``sigma[n] != 0``, ``a'[n, i] = ...``.

    >>> plain(sp.Ne(sp.IndexedBase('sigma')[sp.Symbol('n')], 0))
    'sigma[n] != 0'
    """
    for rel, op in _OPS.items():
        if isinstance(expr, rel):
            return f"{_sstr(expr.lhs)} {op} {_sstr(expr.rhs)}"
    return _sstr(expr)


# --- the terminal: SymPy's pretty printer with the paper's names --------------------

_GREEK_UNICODE = {"mu": "\u03bc", "sigma": "\u03c3", "nu": "\u03bd", "gamma": "\u03b3", "delta": "\u03b4",
                  "epsilon": "\u03b5", "alpha": "\u03b1", "beta": "\u03b2"}
_SUB = dict(zip("0123456789aehijklmnoprstuvx", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089"
                "\u2090\u2091\u2095\u1d62\u2c7c\u2096\u2097\u2098\u2099\u2092\u209a\u1d63\u209b\u209c\u1d64"
                "\u1d65\u2093"))
_SUP = dict(zip("0123456789+-()", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
                "\u207a\u207b\u207d\u207e"))


def _display_name(name: str, indices, unicode: bool) -> str:
    """``sigma^2'`` with indices (n,) -> ``σ'²ₙ`` (unicode) or ``sigma'^2_n``; ``norm^2`` -> ``‖wᵢ‖²``."""
    primed = "'" if name.endswith("'") else ""
    stem, _, power = name.rstrip("'").partition("^")
    sub = "".join(str(i) for i in indices)
    if unicode:
        subs = "".join(_SUB.get(ch, "") for ch in sub)
        subs = subs if len(subs) == len(sub) else ("_" + sub if sub else "")
        sup = "".join(_SUP[ch] for ch in power) if all(ch in _SUP for ch in power) else "^" + power
        if stem == "norm":
            return f"\u2016w{subs}\u2016{primed}{sup}"
        return _GREEK_UNICODE.get(stem, stem) + primed + sup + subs
    sup = "^" + power if power else ""
    if stem == "norm":
        return f"|w{'_' + sub if sub else ''}|{primed}{sup}"
    return stem + primed + sup + ("_" + sub if sub else "")


def for_display(expr: sp.Basic, unicode: bool) -> sp.Basic:
    """``expr`` with every indexed symbol and toolkit name replaced by a symbol
    whose name is what a reader writes (a_nk, σ'²ₙ), for the pretty printer."""
    if not isinstance(expr, sp.Basic):
        return expr
    names = {e: sp.Symbol(_display_name(e.base.label.name, e.indices, unicode),
                          **({"positive": True} if e.base.label.is_positive else {}))
             for e in expr.atoms(sp.Indexed)}
    labels = {e.base.label for e in names}
    names |= {s: sp.Symbol(_display_name(s.name, (), unicode)) for s in expr.atoms(sp.Symbol) - labels
              if "^" in s.name or s.name.endswith("'") or (unicode and s.name in _GREEK_UNICODE)}
    return _rebuild(expr, names)


def _rebuild(e, names):
    """xreplace that keeps the order and grouping of sums and products the caller chose."""
    if e in names:
        return names[e]
    if not e.args or isinstance(e, sp.Indexed):
        return e
    args = [_rebuild(a, names) for a in e.args]
    if isinstance(e, (sp.Add, sp.Mul, sp.Pow, sp.core.relational.Relational)):
        return e.func(*args, evaluate=False)
    return e.func(*args)


def pretty_form(expr: sp.Basic, unicode: bool):
    """A :class:`sympy.printing.pretty.stringpict.prettyForm` of ``expr`` (terms in the given order)."""
    from sympy.printing.pretty.pretty import PrettyPrinter
    from sympy.printing.pretty.pretty_symbology import pretty_use_unicode
    before = pretty_use_unicode(unicode)    # symbol names read the global flag
    try:
        return PrettyPrinter({"use_unicode": unicode})._print(for_display(expr, unicode))
    finally:
        pretty_use_unicode(before)


def inline(expr: sp.Basic, unicode: bool) -> str:
    """One line of maths for a sentence: ``σ' = δ⋅σ``, ``a'_ni - mu'_n``; what the pretty
    printer would set on several lines (a fraction, a sum) as :func:`linear` writes it."""
    form = pretty_form(expr, unicode)
    if form.height() == 1:
        return form.render(wrap_line=False)
    return linear(expr, unicode)


_RELATION = {sp.Eq: ("=", "="), sp.Ne: ("\u2260", "!="), sp.Lt: ("<", "<"), sp.Gt: (">", ">"),
             sp.Le: ("\u2264", "<="), sp.Ge: ("\u2265", ">=")}


class _Linear(StrPrinter):
    """Maths on one line as a reader writes it, not as Python would: ``|x|``, ``x^2`` (``x²``),
    ``sqrt(x)`` (``√x``), ``sum_{i=1}^{H} x_i`` (``∑_{i=1}^{H} xᵢ``), ``a <= b`` (``a ≤ b``)."""

    def __init__(self, unicode: bool):
        super().__init__()
        self.unicode = unicode

    def _print_Abs(self, expr):
        return f"|{self._print(expr.args[0])}|"

    def _print_Symbol(self, expr):
        if self.unicode:   # the Greek letters that for_display leaves to the pretty printer (eta, lambda)
            from sympy.printing.pretty.pretty_symbology import greek_unicode
            return greek_unicode.get(expr.name, expr.name)
        return super()._print_Symbol(expr)

    def _print_Relational(self, expr):
        op = next((ops for rel, ops in _RELATION.items() if isinstance(expr, rel)), None)
        if op is None:
            return super()._print_Relational(expr)
        return f"{self._print(expr.lhs)} {op[0] if self.unicode else op[1]} {self._print(expr.rhs)}"

    def _print_Sum(self, expr):
        body = expr.function
        text = self.parenthesize(body, 50) if body.is_Add else self._print(body)
        sigma = "\u2211" if self.unicode else "sum"
        for k, lo, hi in reversed(expr.limits):
            text = f"{sigma}_{{{self._print(k)}={self._print(lo)}}}^{{{self._print(hi)}}} {text}"
        return text

    def _print_Pow(self, expr, rational=False):
        b, e = expr.base, expr.exp
        name = getattr(b, "name", "")
        bare = b.is_Atom and "^" not in name and not any(c in _SUP.values() for c in name) \
            and not (b.is_Number and b < 0)
        if e == sp.S.Half or e == -sp.S.Half:
            inner = self._print(b)
            root = ("\u221a" + (inner if bare else f"({inner})")) if self.unicode else f"sqrt({inner})"
            return root if e > 0 else f"1/{root}"
        if e.is_negative and e.is_Rational:
            return f"1/{self._print(sp.Pow(b, -e, evaluate=False))}"
        base = self._print(b) if bare else f"({self._print(b)})"
        exp = self._print(e)
        if self.unicode and e.is_Integer and all(ch in _SUP for ch in exp):
            return base + "".join(_SUP[ch] for ch in exp)
        return f"{base}^{exp if e.is_Atom and not e.is_Rational or e.is_Integer else f'({exp})'}"

    def _print_Mul(self, expr):
        text = super()._print_Mul(expr)
        return text.replace("*", "\u22c5") if self.unicode else text


def linear(expr: sp.Basic, unicode: bool = False) -> str:
    """One line of maths in the paper's names, as a reader writes it (no ``**``, ``Abs``, ``Sum``).

    >>> a, d = sp.IndexedBase('a'), sp.Symbol('delta', positive=True)
    >>> i, n = sp.symbols('i n', integer=True)
    >>> linear(sp.Le(sp.Abs(a[n, i]), 1 / (2 * d**2)))
    '|a_ni| <= 1/(2*delta^2)'
    >>> linear(sp.Le(sp.Abs(a[n, i]), 1 / (2 * d**2)), unicode=True)
    '|aₙᵢ| ≤ 1/(2⋅δ²)'
    """
    return _Linear(unicode).doprint(for_display(expr, unicode))
