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

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Mapping

import sympy as sp
from sympy import Indexed, IndexedBase, Sum

__all__ = ["Rule", "sum_normal_form", "unfold", "holds", "evaluate", "exact_nonzero",
           "random_rational", "TooManyTerms", "EmptyRange", "Budget", "BUDGET"]


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


def _same_group(body: sp.Expr, k: sp.Symbol, lo, hi) -> sp.Expr:
    """Within one whole group, :math:`k = Sq+1, \\dots, Sq+S` with q an integer and S a size,
    every k is in group q + 1: :math:`\\lfloor (k-1)/S \\rfloor = q`.  Not where a sum inside
    ``body`` binds k again (that k runs over its own range).

    >>> k, i = sp.symbols('k i', integer=True); S = sp.Symbol('S', integer=True, positive=True)
    >>> q = sp.floor((i - 1) / S)
    >>> _same_group(sp.floor((k - 1) / S) + k, k, S * q + 1, S * q + S)
    k + floor((i - 1)/S)
    """
    S = sp.expand(hi - lo + 1)
    if not (isinstance(S, sp.Symbol) and S.is_integer and S.is_positive):
        return body
    if any(k in s.variables for s in body.atoms(Sum)):
        return body   # an inner sum binds k again: its k is another variable (the lemma is not used)
    q = (lo - 1) / S
    if not q.is_integer or q.has(k):
        return body
    target = sp.expand((k - 1) / S)
    return body.replace(lambda e: isinstance(e, sp.floor) and sp.expand(e.args[0]) == target, lambda e: q)


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
        body = sum_normal_form(_same_group(body, k, lo, hi))
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
    """An evaluation would cost more than its :class:`Budget` allows (the message says which bound)."""


class EmptyRange(ValueError):
    """A sum whose upper bound is below its lower bound: empty, or reversed (which Karr's
    convention would read as minus a sum, where a reader reads nothing)."""


@dataclass
class Budget:
    """What the evaluations that carry it (in their ``env``, under :data:`BUDGET`) may still
    spend, together: the cost of what an untrusted expression makes the evaluator do, not only
    the count of its terms.

    - ``terms``: terms of sums added up;
    - ``digits``: decimal digits of any numerator or denominator computed (Python
      prints at most 4,300; Fraction arithmetic on larger numbers gets slow);
    - ``radicand``: digits of a rational whose square root is not rational (a square
      root is decided with :func:`math.isqrt`; SymPy, which the value then goes to,
      tries to factor it: 1,600 digits take a second, 10,000 minutes);
    - ``work``: units of arithmetic on values that are not rational (SymPy's, on
      radicals): each operation costs the size of its operands, one unit per node and
      per digit of their numbers, so adding up distinct radicals one by one is
      quadratic and is cut short;
    - ``operand``: units of one such operation's operands (so no radicand SymPy forms
      by multiplying square roots together has more than a few hundred digits).
    """

    terms: int = 100_000
    digits: int = 1_000
    radicand: int = 120
    work: int = 20_000
    operand: int = 400
    spent_terms: int = 0
    spent_work: int = 0

    def spend_terms(self, count: int) -> None:
        self.spent_terms += count
        if self.spent_terms > self.terms:
            raise TooManyTerms(f"it adds up more than {self.terms} terms")

    def number(self, value: Fraction) -> Fraction:
        """``value``, if its numerator and denominator have at most ``digits`` digits."""
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > self.digits * 3.33 + 1:
            raise TooManyTerms(f"it makes a number of more than {self.digits} digits")
        return value

    def spend_work(self, operands) -> None:
        cost = sum(_heft(a) for a in operands)
        if cost > self.operand:
            raise TooManyTerms(f"it makes an operation on radicals (values that are not rational) of size "
                               f"{cost}, more than {self.operand}")
        self.spent_work += cost
        if self.spent_work > self.work:
            raise TooManyTerms(f"it does more than {self.work} units of work on radicals (values that are "
                               "not rational)")


BUDGET = object()   # the env key of the :class:`Budget` an evaluation spends from


def _heft(v) -> int:
    """The size of a value for :meth:`Budget.spend_work`: a unit per node and per digit of its numbers."""
    if isinstance(v, Fraction):
        return 1 + (v.numerator.bit_length() + v.denominator.bit_length()) * 3 // 10
    size = 0
    for node in sp.preorder_traversal(v):
        size += 1 + ((int(node.p).bit_length() + int(node.q).bit_length()) * 3 // 10 if node.is_Rational else 0)
    return size


def evaluate(expr: sp.Expr, arrays: Mapping[IndexedBase, object], env: Env | None = None,
             budget: Budget | None = None) -> sp.Expr:
    """Evaluate ``expr`` exactly, with concrete sizes and arrays.

    ``arrays`` maps an IndexedBase to a nested list (indices are 1-based in the
    maths, 0-based in the list; an index outside 1..size raises IndexError,
    never wraps around) or to a callable taking the index values.
    ``env`` maps plain symbols (sizes, scalars, free indices) to numbers.
    Rational arithmetic runs on Python ``Fraction`` (much faster than SymPy's
    numbers); a square root of a rational is decided with :func:`math.isqrt`;
    anything else (an irrational square root, tanh) is left to SymPy, exactly.
    A sum whose range is empty or reversed raises :class:`EmptyRange`.
    With a ``budget`` (or one in ``env`` under :data:`BUDGET`, which callables
    evaluating definitions pass on), going over it raises :class:`TooManyTerms`
    (a certificate may not make the checker add up 10^12 terms, nor radicals).
    """
    env = {k: v if k is BUDGET else _frac(v) for k, v in (env or {}).items()}
    if budget is not None:
        env[BUDGET] = budget
    return _sym(_eval(expr, arrays, env))


def _doctest_nested_sums():
    """An inner sum may reuse the outer sum's index:

    >>> m, x = sp.Symbol('m', integer=True), sp.IndexedBase('x')
    >>> evaluate(sp.Sum(x[m] - sp.Sum(x[m], (m, 1, 2)), (m, 1, 2)), {x: [1, 2]})
    -3

    A reversed range (which SymPy's algebra reads by Karr's convention, as -1 here)
    is refused, and so is an index that would wrap around:

    >>> evaluate(sp.Sum(1, (m, 3, 1)), {})
    Traceback (most recent call last):
    ...
    invariance.core.algebra.EmptyRange: a sum over m from 3 to 1: empty or reversed
    >>> evaluate(x[0], {x: [1, 2]})
    Traceback (most recent call last):
    ...
    IndexError: x[0]: an index outside 1..2
    """


def _frac(v):
    """A Fraction when ``v`` is rational, else ``v`` as a SymPy number."""
    if isinstance(v, (Fraction, int)):
        return Fraction(v)
    v = sp.sympify(v)
    return Fraction(int(v.p), int(v.q)) if v.is_Rational else v


def _sym(v):
    return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v


def _whole(v) -> int:
    """An index or a bound: a whole number (a symbol with no value is a TypeError, as int() says)."""
    if isinstance(v, Fraction):
        if v.denominator != 1:
            raise IndexError(f"an index or a bound of {v}, not a whole number")
        return v.numerator
    return int(v)


def _sqrt(r: Fraction) -> Fraction | None:
    """The square root of ``r`` >= 0 if it is rational (by isqrt: SymPy would try to factor ``r``)."""
    p, q = math.isqrt(r.numerator), math.isqrt(r.denominator)
    return Fraction(p, q) if p * p == r.numerator and q * q == r.denominator else None


def _eval(e, arrays, env):
    if e in env:
        return env[e]
    budget = env.get(BUDGET)
    if isinstance(e, Indexed):
        idx = [_whole(_eval(i, arrays, env)) for i in e.indices]
        value = arrays[e.base]
        if callable(value):
            return _frac(value(*idx))
        for i in idx:
            if not isinstance(value, (list, tuple)) or not 1 <= i <= len(value):
                size = len(value) if isinstance(value, (list, tuple)) else "its size"
                raise IndexError(f"{e.base}[{', '.join(map(str, idx))}]: an index outside 1..{size}")
            value = value[i - 1]
        if isinstance(value, (list, tuple)):
            raise IndexError(f"{e.base}[{', '.join(map(str, idx))}]: fewer indices than the array has axes")
        return _frac(value)
    if isinstance(e, Sum):
        return _eval_sum(e.function, e.limits, arrays, env)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    if not e.args:
        return e
    args = [_eval(a, arrays, env) for a in e.args]
    if all(isinstance(a, Fraction) for a in args):
        number = budget.number if budget is not None else (lambda v: v)
        if isinstance(e, sp.Add):
            out = Fraction(0)
            for a in args:
                out = number(out + a)
            return out
        if isinstance(e, sp.Mul):
            out = Fraction(1)
            for a in args:
                out = number(out * a)
            return out
        if isinstance(e, sp.Pow):
            base, exp = args
            if exp.denominator == 1 and (base or exp > 0):
                return number(base ** int(exp))
            if exp.denominator == 2 and base:   # base^(p/2): a square root, decided exactly
                radicand = number(base ** exp.numerator)
                root = _sqrt(radicand) if radicand > 0 else None
                if root is not None:
                    return root
                if budget is not None and max(radicand.numerator.bit_length(),
                                              radicand.denominator.bit_length()) > budget.radicand * 3.33 + 1:
                    raise TooManyTerms(f"it takes the square root of a number of more than {budget.radicand} digits")
        if isinstance(e, sp.floor):
            return Fraction(args[0].numerator // args[0].denominator)
    if budget is not None:
        budget.spend_work(args)
    return _frac(e.func(*[_sym(a) for a in args]))


def _eval_sum(body, limits, arrays, env):
    *rest, (k, lo, hi) = limits   # the last limit is the outermost
    lo, hi = _whole(_eval(lo, arrays, env)), _whole(_eval(hi, arrays, env))
    if hi < lo:
        raise EmptyRange(f"a sum over {k} from {lo} to {hi}: empty or reversed")
    budget = env.get(BUDGET)
    if budget is not None:
        budget.spend_terms(hi - lo + 1)
    total, outer = Fraction(0), env.get(k)   # an enclosing sum may bind k too: restore it
    for v in range(lo, hi + 1):
        env[k] = Fraction(v)
        term = _eval_sum(body, rest, arrays, env) if rest else _eval(body, arrays, env)
        if isinstance(term, Fraction) and isinstance(total, Fraction):
            total = total + term if budget is None else budget.number(total + term)
        else:
            if budget is not None:
                budget.spend_work((total, term))
            total = _frac(_sym(total) + _sym(term))
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
