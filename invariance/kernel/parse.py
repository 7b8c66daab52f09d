"""The kernel's reader: expressions and exact values from untrusted text, never evaluated.

:func:`parse` builds a SymPy expression from ``srepr`` text one whitelisted
parse-tree node at a time (``ast.parse`` only parses); :func:`rational` reads
an exact rational.  Every resource a file could inflate is bounded here.
"""
from __future__ import annotations

import ast
import contextvars
import re
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

__all__ = ["CertificateError", "Vocabulary", "parse", "rational", "is_index", "expansion_terms",
           "MAX_TERMS", "MAX_SIZE", "MAX_RANGE", "array", "size", "scalars"]


MAX_TEXT = 20_000        # characters in one expression


MAX_NODES = 4_000        # parse-tree nodes in one expression


MAX_INT = 10 ** 6        # an integer literal inside an expression


MAX_DIGITS = 60          # digits of a counterexample value's numerator or denominator


MAX_SIZE = 8             # a counterexample's size along one axis


MAX_TERMS = 20_000       # terms an expression may expand to (a power of a long sum would hang expand)


MAX_RANGE = 8            # terms of a sum whose range is not one of the layer's sizes


ASSUMPTIONS = frozenset({"integer", "positive", "nonnegative", "negative", "nonpositive", "nonzero",
                         "real", "commutative"})


class CertificateError(ValueError):
    """A certificate that cannot be checked; the message says why, in one line."""


@dataclass(frozen=True)
class Vocabulary:
    """What a cell's expressions may mention: the registry's symbols, indexed
    bases and functions for that cell."""

    symbols: frozenset
    bases: frozenset
    functions: dict

    @classmethod
    def of(cls, eqs) -> "Vocabulary":
        """Symbols as scalars (sizes, epsilon, indices, scale factors, constants; an
        indexed base's label is no scalar), indexed bases, functions."""
        exprs = [x for e in eqs for x in (e.lhs, e.rhs)]
        funcs = {type(f).__name__: type(f) for x in exprs for f in x.atoms(sp.Function)}
        return cls(frozenset().union(*(set(scalars(x)) for x in exprs)),
                   frozenset().union(*(x.atoms(IndexedBase) for x in exprs)), funcs)


def scalars(expr):
    """Every Symbol of ``expr`` used as a scalar (not as an indexed base's label)."""
    if isinstance(expr, Symbol):
        yield expr
    elif isinstance(expr, Indexed):
        for i in expr.indices:
            yield from scalars(i)
    else:
        for a in expr.args:
            yield from scalars(a)


def is_index(s) -> bool:
    """An integer symbol with no other assumption: what indices and summation
    variables are.  A size (positive) is a parameter of the layer, never one."""
    return isinstance(s, Symbol) and s == Symbol(s.name, integer=True)


def parse(text, vocab: Vocabulary, evaluate: bool = True) -> sp.Expr:
    """The SymPy expression that ``srepr`` text denotes, built node by node (``evaluate=False``:
    exactly as written, as a chain's link is shown).

    >>> v = Vocabulary(frozenset({Symbol('x')}), frozenset(), {})
    >>> parse("Add(Symbol('x'), Integer(2))", v)
    x + 2
    >>> parse("__import__('os').system('true')", v)
    Traceback (most recent call last):
    ...
    invariance.kernel.parse.CertificateError: not a call of Symbol, Integer, Rational, IndexedBase, Indexed, Add, Mul, Pow or Sum
    """
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise CertificateError(f"an expression must be a string of at most {MAX_TEXT} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CertificateError(f"not an expression: {text[:60]!r}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CertificateError(f"an expression of more than {MAX_NODES} nodes")
    token = _EVALUATE.set(evaluate)
    try:
        expr = _build(tree.body, vocab)
    finally:
        _EVALUATE.reset(token)
    if not isinstance(expr, sp.Expr) or isinstance(expr, (IndexedBase, sp.Tuple)):
        raise CertificateError(f"not an expression: {text[:60]!r}")
    _check_vocabulary(expr, vocab)
    if not evaluate:
        _check_as_written(expr)
    return expr


#: Whether Add, Mul and Pow are built as SymPy would simplify them, or exactly as written
#: (a link of a chain is shown as its author wrote it: ``delta a + beta - (delta mu + beta)``).
_EVALUATE: contextvars.ContextVar = contextvars.ContextVar("evaluate", default=True)
_CALLS = "Symbol, Integer, Rational, IndexedBase, Indexed, Add, Mul, Pow or Sum"


_NAMES = frozenset({"Symbol", "Integer", "Rational", "IndexedBase", "Indexed", "Tuple", "Add", "Mul", "Pow", "Sum",
                    "UnevaluatedExpr"})


def _build(node, vocab: Vocabulary):
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise CertificateError(f"not a call of {_CALLS}")
    name, args = node.func.id, node.args
    if name not in _NAMES and name not in vocab.functions:
        raise CertificateError(f"{name}() is not allowed (allowed: {_CALLS}"
                               + "".join(f", {f}" for f in sorted(vocab.functions)) + ")")
    if node.keywords and name != "Symbol":
        raise CertificateError(f"{name}() takes no keyword arguments here")
    if name == "Symbol":
        if len(args) != 1 or not _is_str(args[0]):
            raise CertificateError("Symbol() takes one string")
        kw = {}
        for k in node.keywords:
            if k.arg not in ASSUMPTIONS or not (isinstance(k.value, ast.Constant) and isinstance(k.value.value, bool)):
                raise CertificateError(f"Symbol() assumption {k.arg!r} is not one of {', '.join(sorted(ASSUMPTIONS))}")
            kw[k.arg] = k.value.value
        try:
            return Symbol(args[0].value, **kw)
        except Exception:   # inconsistent assumptions
            raise CertificateError(f"Symbol({args[0].value!r}) has inconsistent assumptions") from None
    if name == "Integer":
        return sp.Integer(_int(args, 1)[0])
    if name == "Rational":
        p, q = _int(args, 2)
        if q <= 0:
            raise CertificateError("Rational() needs a positive denominator")
        return sp.Rational(p, q)
    if name == "IndexedBase":
        if len(args) != 1:
            raise CertificateError("IndexedBase() takes one Symbol")
        label = _build(args[0], vocab)
        if not isinstance(label, Symbol):
            raise CertificateError("IndexedBase() takes one Symbol")
        return IndexedBase(label)
    built = [_build(a, vocab) for a in args]
    if name == "Indexed":
        if len(built) < 2 or not isinstance(built[0], IndexedBase) or not all(_is_expr(b) for b in built[1:]):
            raise CertificateError("Indexed() takes an IndexedBase and indices")
        return Indexed(built[0], *built[1:])
    if name == "Tuple":   # only as the limits of a Sum, checked there
        return sp.Tuple(*built)
    if name == "Sum" and len(built) >= 2:
        body, *limits = built
        if not _is_expr(body) or not all(
                isinstance(t, sp.Tuple) and len(t) == 3 and isinstance(t[0], Symbol) and t[0].is_integer
                and all(_is_expr(x) and x.is_integer for x in t[1:]) for t in limits):
            # a bound such as H/3 is counted H/3 times by the algebra but int(H/3) by the evaluator
            raise CertificateError("Sum() takes a body and limits Tuple(integer Symbol, lower, upper) "
                                   "whose bounds are integers")
        return Sum(body, *limits)
    if not all(_is_expr(b) for b in built):
        raise CertificateError(f"{name}() takes expressions")
    if name in ("Add", "Mul") and built:
        return (sp.Add if name == "Add" else sp.Mul)(*built, evaluate=_EVALUATE.get())
    if name == "UnevaluatedExpr" and len(built) == 1 and not _EVALUATE.get():   # display only: kept as written
        return sp.UnevaluatedExpr(built[0])
    if name == "Pow" and len(built) == 2:
        base, exp = built
        if not (exp.is_Rational and abs(exp.p) <= 4 and exp.q <= 2):
            raise CertificateError(f"a power with exponent {exp} (allowed: p/q with |p| <= 4, q <= 2)")
        if base.is_Rational and max(abs(base.p), base.q) > MAX_INT:   # SymPy would compute it now
            raise CertificateError(f"a power of a number larger than {MAX_INT}")
        if not base.free_symbols and not base.is_Rational:   # kept as written, a tower would be computed later
            raise CertificateError(f"a power of a number larger than {MAX_INT}, or of a computed number")
        if base.is_number and not exp.is_Integer:   # SymPy would compute it now, merging radicands
            raise CertificateError(f"a root of a number ({base}), which SymPy would factor: not in a step")
        return sp.Pow(base, exp, evaluate=_EVALUATE.get())
    if name in vocab.functions and len(built) == 1:
        arg = built[0]
        if arg.has(Sum) or not arg.free_symbols:   # SymPy would evaluate it numerically, now
            raise CertificateError(f"{name}() of a constant or of a sum is not allowed")
        return vocab.functions[name](arg)
    raise CertificateError(f"{name}() is not allowed (allowed: {_CALLS}"
                           + "".join(f", {f}" for f in sorted(vocab.functions)) + ")")


def _check_as_written(expr: sp.Expr) -> None:
    """An expression kept as written prints as what it means.  SymPy's printers decide brackets
    and signs from the shape an evaluated expression would have (LaTeX from ``is_Add``, text from
    a leading ``-`` of a term's text), so some unevaluated shapes print false: ``-1*U(a + b)`` as
    ``- a + b`` in LaTeX, ``2*U(-H)`` as ``2 - H``, ``3*((-H)*x)`` as ``3 - H x``, ``x + U(-y + z)``
    as ``x - (y + z)``, ``x/(1/2)`` as ``x/1/2``.  They are refused; what remains (checked against
    both printers on random shapes) is: a wrapper U only as a factor of a product (around a sum,
    which is bracketed, or a product or a Sum) or as a term of a sum (around a product), never
    around a product or a Sum that carries a minus sign; a minus sign in a product only on a number, with no wrapper beside it; no power of a
    power or of a wrapper."""
    bad = None
    if isinstance(expr, sp.UnevaluatedExpr):
        bad = "UnevaluatedExpr() of the whole expression"
    for node in sp.preorder_traversal(expr):
        if bad:
            break
        for arg in node.args:
            if isinstance(arg, sp.UnevaluatedExpr):
                inner = arg.args[0]
                if not (isinstance(node, sp.Mul) and isinstance(inner, (sp.Add, sp.Mul, Sum))
                        or isinstance(node, sp.Add) and isinstance(inner, sp.Mul)) \
                        or (not inner.is_Add and inner.could_extract_minus_sign()):
                    bad = f"UnevaluatedExpr({inner}) in {node}"
        if isinstance(node, sp.Pow) and isinstance(node.base, (sp.Pow, sp.UnevaluatedExpr)):
            bad = f"a power of {node.base}"
        if isinstance(node, sp.Mul) and (
                any(f.is_Number and f.is_negative for f in node.args)
                and any(isinstance(f, sp.UnevaluatedExpr) for f in node.args)
                or any(not f.is_Number and not f.is_Add and f.could_extract_minus_sign() for f in node.args)):
            bad = f"a minus sign inside a product, {node}"
    if bad:
        raise CertificateError(f"{bad[:200]}: a shape kept as written that SymPy prints as something else "
                               "(write it as SymPy would)")


def _is_str(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) <= 40


def _is_expr(x) -> bool:
    return isinstance(x, sp.Expr) and not isinstance(x, (IndexedBase, sp.Tuple))


def _int(args, count: int) -> list[int]:
    out = []
    for a in args:
        sign = 1
        if isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub):
            sign, a = -1, a.operand
        if not (isinstance(a, ast.Constant) and type(a.value) is int and a.value <= MAX_INT):
            raise CertificateError(f"expected an integer literal of at most {MAX_INT}")
        out.append(sign * a.value)
    if len(out) != count:
        raise CertificateError(f"expected {count} integer literal(s)")
    return out


def _check_vocabulary(expr: sp.Expr, vocab: Vocabulary) -> None:
    bound = {v for s in expr.atoms(Sum) for v in s.variables}
    for v in bound:   # binding a size (or epsilon) would capture it in a definition unfolded inside
        if not is_index(v):
            raise CertificateError(f"a sum over {v.name!r}: only an integer index may be summed over")
    free = expr.free_symbols
    for s in set(scalars(expr)):
        if s in vocab.symbols or (s in bound and s not in free):
            continue   # the registry's, or a summation index bound where it occurs
        raise CertificateError(f"symbol {s.name!r} (with its assumptions) is not one of this cell's")
    for b in expr.atoms(IndexedBase):
        if b not in vocab.bases:
            raise CertificateError(f"{b.label.name!r} is not an indexed quantity of this cell")
    for p in expr.atoms(sp.Pow):   # SymPy merges nested powers (or will, when a chain is checked)
        if p.base.is_number and not p.exp.is_Integer:
            raise CertificateError(f"a root of a number ({p.base}), which SymPy would factor: not in a step")
        exp = p.exp
        while isinstance(p.base, sp.Pow) and exp.is_Rational and p.base.exp.is_Rational:
            p, exp = p.base, exp * p.base.exp
        if not (exp.is_Rational and abs(exp.p) <= 4 and exp.q <= 2):
            raise CertificateError(f"a power with exponent {exp} (allowed: p/q with |p| <= 4, q <= 2)")
    if expansion_terms(expr) > MAX_TERMS:
        raise CertificateError(f"an expression that expands to more than {MAX_TERMS} terms")
    _check_ranges(expr, vocab)


def _check_ranges(expr: sp.Expr, vocab: Vocabulary) -> None:
    """Every sum runs over one of the layer's sizes, or over 1 to MAX_RANGE terms, whatever
    the values of its symbols: never empty or reversed (which SymPy reads by Karr's convention,
    a sum from 3 to 1 as -1, where a reader reads nothing), never over thousands of terms
    that are cheap to the algebra and dear to the spot check (distinct radicals)."""
    sizes = {s for s in vocab.symbols if s.is_integer and s.is_positive}
    for s in expr.atoms(Sum):
        for k, lo, hi in s.limits:
            length = sp.expand(hi - lo + 1)
            if length in sizes or (length.is_Integer and 1 <= length <= MAX_RANGE):
                continue
            if isinstance(length, sp.floor) and len(length.args[0].args) == 2 and \
                    set(length.args[0].args) <= sizes | {1 / x for x in sizes}:   # floor(H/S) groups: >= 0 terms
                continue
            raise CertificateError(f"a sum over {k.name} from {lo} to {hi}: a range must run over one of the "
                                   f"layer's sizes ({', '.join(sorted(x.name for x in sizes)) or 'none'}) or over "
                                   f"1 to {MAX_RANGE} terms, never an empty or reversed one")


def expansion_terms(expr) -> int:
    """An upper estimate of the terms ``expand`` (and the sum normal form) make of ``expr``,
    counting what they expand inside it too (sum limits, indices, function arguments)."""
    if isinstance(expr, sp.Add):
        return sum(expansion_terms(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        return sp.prod([expansion_terms(a) for a in expr.args])
    if isinstance(expr, sp.Pow):
        base = expansion_terms(expr.base)
        return base ** abs(expr.exp.p) if expr.exp.q == 1 and expr.exp.is_Rational else base
    if isinstance(expr, Sum):
        return expansion_terms(expr.function) + sum(expansion_terms(x) for _, lo, hi in expr.limits for x in (lo, hi))
    return 1 + sum(expansion_terms(a) for a in expr.args if isinstance(a, sp.Expr) and not isinstance(a, IndexedBase))


_RATIONAL = re.compile(r"-?(0|[1-9][0-9]{0,%d})(/[1-9][0-9]{0,%d})?" % (MAX_DIGITS - 1, MAX_DIGITS - 1))


def rational(text) -> sp.Rational:
    """``"-13/3"`` -> Rational(-13, 3); nothing else is accepted (no floats, no expressions)."""
    if not isinstance(text, str) or not _RATIONAL.fullmatch(text):
        raise CertificateError(f"{text!r} is not an exact rational such as -13/3")
    f = Fraction(text)
    return sp.Rational(f.numerator, f.denominator)


def array(value, shape: tuple[int, ...], what: str):
    if not shape:
        return rational(value)
    if not isinstance(value, list) or len(value) != shape[0]:
        raise CertificateError(f"{what} must have shape {shape}")
    return [array(v, shape[1:], what) for v in value]


def size(value, what: str, top: int = MAX_SIZE) -> int:
    if type(value) is not int or not 1 <= value <= top:
        raise CertificateError(f"{what} must be an integer from 1 to {top}, got {value!r}")
    return value

