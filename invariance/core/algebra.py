"""Exact algebra on index sums: the few rewrites the proofs need, done fast.

``sympy.simplify`` is slow on nested ``Sum`` objects and often fails to cancel
them, so the proofs never ask it anything.  Instead each step is checked by

1. *unfolding*: replacing indexed symbols by their definitions (rewrite rules),
2. *sum normal form*: pushing every ``Sum`` through ``+`` and pulling out the
   factors that do not depend on its index (linearity of the sum),
   :math:`\\sum_k (c\\,x_k + y_k) = c \\sum_k x_k + \\sum_k y_k`,
   :math:`\\sum_{k=1}^{K} c = K c` and :math:`\\sum_{k=l}^{l} x_k = x_l`,
3. ``expand`` of the difference, which must be literally ``0`` (or, when no
   sum is left, ``cancel`` of it, for quotients of opaque statistics).

A step that fails this test is *not shown*, never *shown false*.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Mapping

import sympy as sp
from sympy import Indexed, IndexedBase, Sum

__all__ = ["Rule", "sum_normal_form", "unfold", "holds", "evaluate", "exact_nonzero",
           "random_rational", "TooManyTerms"]


@dataclass(frozen=True)
class Rule:
    """A definition ``base[params] := rhs``, usable as a rewrite rule."""

    lhs: Indexed
    rhs: sp.Expr

    @property
    def base(self) -> IndexedBase:
        return self.lhs.base

    def apply(self, indices: tuple) -> sp.Expr:
        """The right-hand side at ``indices``; its summation indices are renamed
        first where they would capture a symbol of ``indices``."""
        if len(indices) != len(self.lhs.indices):
            raise ValueError(f"{self.base} takes {len(self.lhs.indices)} indices, got {indices}")
        free = set().union(*(sp.sympify(i).free_symbols for i in indices))
        return rename_bound(self.rhs, free).xreplace(dict(zip(self.lhs.indices, indices)))


def rename_bound(expr: sp.Expr, avoid: set) -> sp.Expr:
    """``expr`` with every summation index in ``avoid`` renamed (``k`` -> ``k_``, ``k__``...).

    The new names are deterministic, so two sides of an equation renamed alike
    still compare equal.  An inner limit's bounds that use a renamed outer index
    are renamed with it:

    >>> k, j = sp.symbols('k j', integer=True)
    >>> rename_bound(sp.Sum(1, (k, 1, j), (j, 1, 2)), {j})
    Sum(1, (k, 1, j_), (j_, 1, 2))
    """
    clash = {v for s in expr.atoms(Sum) for v in s.variables} & avoid
    if not clash:
        return expr
    taken = avoid | expr.free_symbols | {v for s in expr.atoms(Sum) for v in s.variables}
    renames = {}
    for v in clash:
        name = v.name + "_"
        while any(t.name == name for t in taken):
            name += "_"
        renames[v] = sp.Symbol(name, **v.assumptions0)
        taken.add(renames[v])

    def rebind(e):
        # limits are listed innermost first: a limit's bounds may use the variables of the
        # limits after it (the outer ones), and only those are renamed there
        limits, lims = [], e.limits
        for p, (k, lo, hi) in enumerate(lims):
            outer = {v: renames[v] for v, *_ in lims[p + 1:] if v in renames}
            limits.append((renames.get(k, k), lo.xreplace(outer), hi.xreplace(outer)))
        return Sum(e.function.xreplace({k: renames[k] for k in e.variables if k in renames}), *limits)

    # innermost first, so that each sum renames only the indices it binds itself
    return expr.replace(lambda e: isinstance(e, Sum) and bool(set(e.variables) & clash), rebind)


def unfold(expr: sp.Expr, rules: Iterable[Rule]) -> sp.Expr:
    """Replace every ``base[idx]`` that a rule defines by the rule's right-hand side.

    Rules are applied in the order given, each once, so a rule may introduce
    symbols that a later rule defines.
    """
    for rule in rules:
        expr = expr.replace(
            lambda e, r=rule: isinstance(e, Indexed) and e.base == r.base,
            lambda e, r=rule: r.apply(e.indices))
    return expr


def _split(term: sp.Expr, k: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(factor free of k, factor depending on k) of a product."""
    free, dep = [], []
    for f in sp.Mul.make_args(term):
        (dep if k in f.free_symbols else free).append(f)
    return sp.Mul(*free), sp.Mul(*dep)


def sum_normal_form(expr: sp.Expr) -> sp.Expr:
    """Linearity of the sum, applied bottom-up, then ``expand``.

    >>> k, K = sp.symbols('k K', integer=True, positive=True)
    >>> x, c = sp.IndexedBase('x'), sp.Symbol('c')
    >>> sum_normal_form(sp.Sum(c * x[k] + 1, (k, 1, K)))
    K + c*Sum(x[k], (k, 1, K))
    """
    if not expr.has(Sum):
        return sp.expand(expr)
    if isinstance(expr, Sum):
        *inner, (k, lo, hi) = expr.limits   # SymPy lists limits innermost first
        body = Sum(expr.function, *inner) if inner else expr.function
        if sp.expand(hi - lo) == 0:  # a sum of one term is that term
            body = rename_bound(body, lo.free_symbols)   # so that lo is not captured
            return sum_normal_form(body.subs(k, lo))  # subs, not xreplace: inner sums may bind k
        body = sum_normal_form(body)
        total = sp.S.Zero
        for term in sp.Add.make_args(body):
            const, dep = _split(term, k)
            if dep == 1:
                total += const * (hi - lo + 1)
            else:
                total += const * Sum(dep, (k, lo, hi))
        return sp.expand(total)
    args = [sum_normal_form(a) for a in expr.args]
    return sp.expand(expr.func(*args))


def holds(lhs: sp.Expr, rhs: sp.Expr, rules: Iterable[Rule] = ()) -> bool:
    """True when ``lhs = rhs`` is shown by unfolding ``rules`` and sum linearity."""
    rules = tuple(rules)
    diff = sum_normal_form(unfold(lhs, rules) - unfold(rhs, rules))
    if diff == 0:
        return True
    # a rational function of opaque symbols (the last step of a proof): cancel it
    return not diff.has(Sum) and sp.cancel(sp.together(diff)) == 0


# --- exact evaluation at concrete sizes -------------------------------------

Env = Mapping[sp.Basic, object]


class TooManyTerms(ValueError):
    """An evaluation would add up more terms than its budget allows."""


_BUDGET = object()   # env key of the terms an evaluation may still add up


def evaluate(expr: sp.Expr, arrays: Mapping[IndexedBase, object], env: Env | None = None,
             max_terms: int | None = None) -> sp.Expr:
    """Evaluate ``expr`` exactly, with concrete sizes and arrays.

    ``arrays`` maps an IndexedBase to a nested list (indices are 1-based in the
    maths, 0-based in the list) or to a callable taking the index values.
    ``env`` maps plain symbols (sizes, scalars, free indices) to numbers.
    Rational arithmetic runs on Python ``Fraction`` (much faster than SymPy's
    numbers); anything else (a square root, tanh) is left to SymPy, exactly.
    With ``max_terms``, more terms of sums than that raise :class:`TooManyTerms`
    (a certificate may not make the checker add up 10^12 terms).
    """
    env = {k: _frac(v) for k, v in (env or {}).items()}
    if max_terms is not None:
        env[_BUDGET] = [max_terms]
    return _sym(_eval(expr, arrays, env))


def _doctest_nested_sums():
    """An inner sum may reuse the outer sum's index:

    >>> m, x = sp.Symbol('m', integer=True), sp.IndexedBase('x')
    >>> evaluate(sp.Sum(x[m] - sp.Sum(x[m], (m, 1, 2)), (m, 1, 2)), {x: [1, 2]})
    -3

    A reversed range follows Karr's convention, as SymPy's algebra does:

    >>> evaluate(sp.Sum(1, (m, 3, 1)), {}), sp.Sum(1, (m, 3, 1)).doit()
    (-1, -1)
    """


def _frac(v):
    """A Fraction when ``v`` is rational, else ``v`` as a SymPy number."""
    if isinstance(v, (Fraction, int)):
        return Fraction(v)
    v = sp.sympify(v)
    return Fraction(int(v.p), int(v.q)) if v.is_Rational else v


def _sym(v):
    return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v


def _eval(e, arrays, env):
    if e in env:
        return env[e]
    if isinstance(e, Indexed):
        idx = [int(_eval(i, arrays, env)) for i in e.indices]
        value = arrays[e.base]
        if callable(value):
            return _frac(value(*idx))
        for i in idx:
            value = value[i - 1]
        return _frac(value)
    if isinstance(e, Sum):
        return _eval_sum(e.function, e.limits, arrays, env)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    if not e.args:
        return e
    args = [_eval(a, arrays, env) for a in e.args]
    if all(isinstance(a, Fraction) for a in args):
        if isinstance(e, sp.Add):
            return sum(args, Fraction(0))
        if isinstance(e, sp.Mul):
            out = Fraction(1)
            for a in args:
                out *= a
            return out
        if isinstance(e, sp.Pow) and args[1].denominator == 1 and (args[0] or args[1] > 0):
            return args[0] ** int(args[1])
        if isinstance(e, sp.floor):
            return Fraction(args[0].numerator // args[0].denominator)
    return _frac(e.func(*[_sym(a) for a in args]))


def _eval_sum(body, limits, arrays, env):
    *rest, (k, lo, hi) = limits   # the last limit is the outermost
    lo, hi = int(_eval(lo, arrays, env)), int(_eval(hi, arrays, env))
    if hi < lo - 1:   # Karr's convention, as SymPy's (and so holds'): sum_{lo}^{hi} = -sum_{hi+1}^{lo-1}
        return -_eval_sum(body, [*rest, (k, sp.Integer(hi + 1), sp.Integer(lo - 1))], arrays, env)
    budget = env.get(_BUDGET)
    if budget is not None:
        budget[0] -= hi - lo + 1
        if budget[0] < 0:
            raise TooManyTerms("the sums add up more terms than allowed")
    total, outer = Fraction(0), env.get(k)   # an enclosing sum may bind k too: restore it
    for v in range(lo, hi + 1):
        env[k] = Fraction(v)
        term = _eval_sum(body, rest, arrays, env) if rest else _eval(body, arrays, env)
        total = total + term if isinstance(term, Fraction) and isinstance(total, Fraction) \
            else _frac(_sym(total) + _sym(term))
    if outer is None:
        env.pop(k, None)
    else:
        env[k] = outer
    return total


def exact_nonzero(value: sp.Expr) -> bool:
    """True only if ``value`` (a closed-form number) is certainly non-zero.

    Rationals are decided exactly.  Otherwise mpmath evaluates it with 50
    significant digits and error tracking (``strict=True`` raises rather than
    return fewer correct digits); a magnitude above 1e-30 then cannot be a
    rounding artefact.
    """
    if value.has(sp.Float):  # not an exact value: nothing to certify
        return False
    if value.is_Rational:
        return value != 0
    if value == 0:
        return False
    try:
        approx = sp.N(value, 50, strict=True)
    except Exception:  # precision exhausted: cannot certify either way
        return False
    return abs(approx) > sp.Rational(1, 10**30)


def random_rational(rng: random.Random, lo: int = -5, hi: int = 5, den: int = 4,
                    nonzero: bool = False) -> sp.Rational:
    """A small random rational p/q with lo <= p/q <= hi and q <= den."""
    while True:
        q = rng.randint(1, den)
        p = rng.randint(lo * q, hi * q)
        if p or not nonzero:
            return sp.Rational(Fraction(p, q).numerator, Fraction(p, q).denominator)
