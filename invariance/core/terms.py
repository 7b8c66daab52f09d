"""Blocks as terms: the matrix expressions of a transformer's per-token computation.

A term is a nested tuple ``(op, *args)``; one token is a row vector, so a linear map is
``x W`` (``dot``), a gain is ``diag(g)``, and a normalizer acts on each row:

=================  ===============================================  =====================
term               meaning                                          shape
=================  ===============================================  =====================
``("var", n)``     a declared variable (its shape from the recipe)  declared
``("I", d)``       the identity                                     d x d
``("C", d)``       the centring matrix C = I - 1^T 1 / d             d x d
``("ones", d)``    the row of ones 1                                1 x d
``("zero", r, c)`` zeros                                            r x c
``("dot", A..)``   the matrix product A B ..                        chained
``("add", A..)``   the sum                                          equal shapes
``("neg", A)``     -A
``("T", A)``       the transpose
``("diag", v)``    the diagonal matrix of a row v                   d x d
``("recip", v)``   1 / v, entrywise                                 1 x d
``("istd", v)``    1 / sqrt(v + eps), entrywise                     1 x d
``("rms", u)``     each row u / sqrt(u u^T / d + eps)                same as u
``("ln", u)``      each row (u - mu 1) / sqrt(sigma^2 + eps)        same as u
``("relu", u)``,   entrywise activations                            same as u
``("tanh", u)``,
``("gelu", u)``
=================  ===============================================  =====================

Sizes are names (``d``, ``m`` ...) or 1; a proof about terms holds for every size.
:func:`canonical` flattens products and sums and orders the summands (the product is
associative, the sum associative and commutative): two terms are equal when their canonical
forms are.  :func:`from_json` reads an untrusted term: whitelisted operators, declared names,
bounded size, shapes checked; nothing in it is evaluated as code.
"""
from __future__ import annotations

import json
from fractions import Fraction

__all__ = ["OPS", "UNARY", "ACTIVATIONS", "TermError", "var", "dot", "add", "neg", "T", "diag",
           "canonical", "shape", "from_json", "to_json", "key", "show", "latex", "evaluate",
           "subterms", "replace_at", "size", "MAX_NODES", "Exact", "NotExact", "differ"]

ACTIVATIONS = ("relu", "tanh", "gelu")
UNARY = ("neg", "T", "diag", "recip", "istd", "rms", "ln") + ACTIVATIONS
NARY = ("dot", "add")
OPS = ("var", "I", "C", "ones", "zero") + NARY + UNARY
MAX_NODES = 2_000     # nodes of one term in a file: a genuine step has under 100


class TermError(ValueError):
    """A term that is malformed or whose shapes do not fit."""


# --- building ---------------------------------------------------------------------------------
def var(name: str):
    return ("var", name)


def dot(*args):
    return ("dot",) + args


def add(*args):
    return ("add",) + args


def neg(a):
    return ("neg", a)


def T(a):
    return ("T", a)


def diag(v):
    return ("diag", v)


def key(t) -> str:
    """A total order on terms (the order of summands in canonical form)."""
    return json.dumps(to_json(t), separators=(",", ":"))


def canonical(t):
    """Products and sums flattened, one-factor products and one-summand sums removed, summands
    in :func:`key` order."""
    op = t[0]
    if op in ("var", "I", "C", "ones", "zero"):
        return t
    args = [canonical(a) for a in t[1:]]
    if op in NARY:
        flat = []
        for a in args:
            flat.extend(a[1:] if a[0] == op else [a])
        if len(flat) == 1:
            return flat[0]
        if op == "add":
            flat.sort(key=key)
        return (op,) + tuple(flat)
    return (op,) + tuple(args)


def size(t) -> int:
    return 1 + sum(size(a) for a in t[1:] if isinstance(a, tuple))


def subterms(t, path=()):
    """Every (path, subterm), outermost first, left to right."""
    yield path, t
    if t[0] in NARY or t[0] in UNARY:
        for k, a in enumerate(t[1:], start=1):
            yield from subterms(a, path + (k,))


def replace_at(t, path, new):
    if not path:
        return new
    k = path[0]
    return t[:k] + (replace_at(t[k], path[1:], new),) + t[k + 1:]


# --- shapes -----------------------------------------------------------------------------------
def shape(t, decl: dict) -> tuple:
    """(rows, columns) of ``t``; ``decl`` maps a variable's name to its shape.  Raises TermError."""
    op = t[0]
    if op == "var":
        if t[1] not in decl:
            raise TermError(f"an undeclared name {t[1]!r}")
        return decl[t[1]]
    if op in ("I", "C"):
        return (t[1], t[1])
    if op == "ones":
        return (1, t[1])
    if op == "zero":
        return (t[1], t[2])
    shapes = [shape(a, decl) for a in t[1:]]
    if op == "dot":
        for (_, c), (r, _) in zip(shapes, shapes[1:]):
            if c != r:
                raise TermError(f"a product of {c} columns by {r} rows")
        return (shapes[0][0], shapes[-1][1])
    if op == "add":
        if any(s != shapes[0] for s in shapes):
            raise TermError(f"a sum of shapes {sorted(set(map(str, shapes)))}")
        return shapes[0]
    (s,) = shapes
    if op == "T":
        return (s[1], s[0])
    if op == "diag":
        if s[0] != 1:
            raise TermError("diag of a matrix, not a row")
        return (s[1], s[1])
    if op in ("recip", "istd") and s[0] != 1:
        raise TermError(f"{op} of a matrix, not a row")
    return s


# --- files ------------------------------------------------------------------------------------
def to_json(t):
    if t[0] == "var":
        return t[1]
    return [t[0]] + [to_json(a) if isinstance(a, tuple) else a for a in t[1:]]


def from_json(data, decl: dict, sizes, limit: int = MAX_NODES):
    """A term from a file: a name is a declared variable; a list is ``[op, args..]`` with ``op``
    one of :data:`OPS` and the right number of arguments; a size is one of ``sizes`` or 1.
    The term's shapes are checked.  Raises TermError; evaluates nothing."""
    budget = [limit]

    def read(x, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > 200:
            raise TermError(f"a term of more than {limit} nodes or 200 levels")
        if isinstance(x, str):
            if x not in decl:
                raise TermError(f"an undeclared name {x[:40]!r}")
            return ("var", x)
        if not isinstance(x, list) or not x or not isinstance(x[0], str) or x[0] not in OPS or x[0] == "var":
            raise TermError("a term is a declared name or [op, arguments..] with a known op")
        op, args = x[0], x[1:]
        if op in ("I", "C", "ones", "zero"):
            want = 2 if op == "zero" else 1
            if len(args) != want or any(not ((type(a) is int and a == 1) or (isinstance(a, str) and a in sizes))
                                        for a in args):   # not 1.0 or true: they read as 1
                raise TermError(f"{op} takes {want} size(s), each a declared size or 1")
            return (op,) + tuple(args)
        if (op in NARY and len(args) < 2) or (op in UNARY and len(args) != 1):
            raise TermError(f"{op} with {len(args)} arguments")
        return (op,) + tuple(read(a, depth + 1) for a in args)

    t = read(data, 0)
    shape(t, decl)
    return t


# --- showing (the paper's notation) -----------------------------------------------------------
_NAMES = {"rms": "RMS", "ln": "LN", "relu": "ReLU", "tanh": "tanh", "gelu": "GELU"}
_TEX = {"rms": r"\operatorname{RMS}", "ln": r"\operatorname{LN}", "relu": r"\operatorname{ReLU}",
        "tanh": r"\tanh", "gelu": r"\operatorname{GELU}"}


def _name(n: str, tex: bool) -> str:
    if not tex:
        return n
    base, primes = n.rstrip("'"), "'" * (len(n) - len(n.rstrip("'")))
    head = base.rstrip("0123456789")
    sub = base[len(head):]
    greek = {"beta": r"\beta", "gamma": r"\gamma", "mu": r"\mu", "sigma": r"\sigma"}
    head = greek.get(head, head if len(head) == 1 else rf"\mathrm{{{head}}}")
    return head + (f"_{{{sub}}}" if sub else "") + primes


def _show(t, tex: bool, prec: int) -> str:
    op = t[0]
    if op == "var":
        return _name(t[1], tex)
    if op == "I":
        return "I"
    if op == "C":
        return "C"
    if op == "ones":
        return r"\mathbf{1}" if tex else "1"
    if op == "zero":
        return "0"
    if op == "dot":
        out = (r"\," if tex else " ").join(_show(a, tex, 2) for a in t[1:])
        return f"({out})" if prec > 2 else out
    if op == "add":
        parts = [_show(t[1], tex, 1)]
        for a in t[2:]:
            parts.append(f"- {_show(a[1], tex, 2)}" if a[0] == "neg" else f"+ {_show(a, tex, 1)}")
        out = " ".join(parts)
        return (r"\left(" + out + r"\right)" if tex else f"({out})") if prec > 1 else out
    (a,) = t[1:]
    if op == "neg":
        out = f"-{_show(a, tex, 2)}"
        return f"({out})" if prec > 1 else out
    if op == "T":
        inner = _show(a, tex, 3)
        return inner + ("^{\\top}" if tex else "^T")
    if op == "diag":
        return (r"\operatorname{diag}(" if tex else "diag(") + _show(a, tex, 0) + ")"
    if op == "recip":
        return (r"1/" + _show(a, tex, 3)) if not tex else r"\frac{1}{" + _show(a, tex, 0) + "}"
    if op == "istd":
        inner = _show(a, tex, 1)
        return (r"1/\sqrt{" + inner + r" + \epsilon}") if tex else f"1/sqrt({inner} + eps)"
    fn = (_TEX if tex else _NAMES)[op]
    return fn + (r"\left(" if tex else "(") + _show(a, tex, 0) + (r"\right)" if tex else ")")


def show(t) -> str:
    """The term in text: ``RMS(x Q) Q^T W1``."""
    return _show(t, False, 0)


def latex(t) -> str:
    return _show(t, True, 0)


# --- values -----------------------------------------------------------------------------------
def evaluate(t, env: dict, sizes: dict, field, eps=0, budget: list | None = None):
    """The term's value at concrete sizes: a list of rows.  ``env`` maps a name to its value (a
    list of rows); ``field`` supplies the numbers' operations (``zero``, ``one``, ``sqrt``,
    ``recip``, ``relu``, ``tanh``, ``gelu``, ``rational``, and optionally ``tidy``, applied to
    every entry of a product or sum): exact fractions and balls for the kernel and the search,
    floats for a quick look.  ``eps`` is the normalizers' epsilon.  ``budget``, a one-element
    list, is the number of entry operations still allowed (decremented; :class:`NotExact` when
    it runs out): what bounds the time of a term from a file."""
    z, o = field.zero, field.one
    tidy = getattr(field, "tidy", lambda x: x)

    def spend(n):
        if budget is not None:
            budget[0] -= n
            if budget[0] < 0:
                raise NotExact("more entry operations than the budget of one evaluation")

    def n_of(s):
        return 1 if s == 1 else sizes[s]

    def mat(r, c, f):
        return [[f(i, j) for j in range(c)] for i in range(r)]

    def ev(t):
        op = t[0]
        if op == "var":
            return env[t[1]]
        if op in ("I", "C"):
            n = n_of(t[1])
            off = z if op == "I" else field.rational(Fraction(-1, n))
            on = o if op == "I" else field.rational(Fraction(n - 1, n))
            return mat(n, n, lambda i, j: on if i == j else off)
        if op == "ones":
            return [[o] * n_of(t[1])]
        if op == "zero":
            return mat(n_of(t[1]), n_of(t[2]), lambda i, j: z)
        vals = [ev(a) for a in t[1:]]
        spend(sum(len(v) * len(v[0]) for v in vals))
        if op == "dot":
            out = vals[0]
            for b in vals[1:]:
                spend(len(out) * len(b) * len(b[0]))
                out = [[tidy(_sum([row[k] * b[k][j] for k in range(len(b))], z)) for j in range(len(b[0]))]
                       for row in out]
            return out
        if op == "add":
            return [[tidy(_sum([v[i][j] for v in vals], z)) for j in range(len(vals[0][0]))]
                    for i in range(len(vals[0]))]
        (a,) = vals
        if op == "neg":
            return [[-x for x in row] for row in a]
        if op == "T":
            return [list(col) for col in zip(*a)]
        if op == "diag":
            return mat(len(a[0]), len(a[0]), lambda i, j: a[0][i] if i == j else z)
        if op == "recip":
            return [[field.recip(x) for x in row] for row in a]
        if op == "istd":
            return [[field.recip(field.sqrt(x + eps)) for x in row] for row in a]
        if op in ("rms", "ln"):
            out = []
            for row in a:
                n = len(row)
                if op == "ln":
                    mu = _sum(row, z) * field.rational(Fraction(1, n))
                    row = [x - mu for x in row]
                r = field.recip(field.sqrt(_sum([x * x for x in row], z) * field.rational(Fraction(1, n)) + eps))
                out.append([x * r for x in row])
            return out
        f = getattr(field, op)
        return [[f(x) for x in row] for row in a]

    return ev(t)


def _sum(xs, zero):
    out = zero
    for x in xs:
        out = out + x
    return out


class Exact:
    """Exact numbers for :func:`evaluate`: fractions, and a :class:`~invariance.core.balls.Ball`
    (an enclosure on the grid 2^-160) for an irrational square root or tanh.  A ReLU of a ball
    that straddles 0, and GELU (no enclosure here), raise :class:`NotExact`."""

    zero, one = Fraction(0), Fraction(1)
    MAX_BITS = 4_096   # of an exact entry (numerator and denominator): past it, its enclosure

    @staticmethod
    def rational(q):
        return Fraction(q)

    @staticmethod
    def tidy(x):
        """An exact entry whose numerator and denominator together pass :attr:`MAX_BITS` bits
        becomes its enclosure (a ball on the grid): sums of products of distinct denominators
        would otherwise multiply an entry's digits by the width at every product."""
        if isinstance(x, Fraction) and x.numerator.bit_length() + x.denominator.bit_length() > Exact.MAX_BITS:
            from .balls import Ball
            return Ball.of(x)
        return x

    @staticmethod
    def sqrt(x):
        from .balls import Ball, sqrt_ball
        if not isinstance(x, Ball):
            if x < 0:
                raise NotExact(f"the square root of {x} < 0")
            import math
            p, q = math.isqrt(x.numerator), math.isqrt(x.denominator)
            if p * p == x.numerator and q * q == x.denominator:
                return Fraction(p, q)
        return sqrt_ball(x)

    @staticmethod
    def recip(x):
        from .balls import Ball
        if isinstance(x, Ball):
            return x.inverse()
        if x == 0:
            raise NotExact("a division by zero")
        return 1 / x

    @staticmethod
    def relu(x):
        from .balls import Ball
        if not isinstance(x, Ball):
            return x if x > 0 else Fraction(0)
        if x.M - x.R >= 0:
            return x
        if x.M + x.R <= 0:
            return Fraction(0)
        raise NotExact("a ReLU of a value whose sign the enclosure does not settle")

    @staticmethod
    def tanh(x):
        from .balls import tanh_ball
        return tanh_ball(x)

    @staticmethod
    def gelu(x):
        raise NotExact("GELU has no exact enclosure here (it is checked numerically only)")


class NotExact(ValueError):
    """A value the exact evaluation cannot produce or enclose."""


def differ(a, b) -> bool:
    """Certainly different: two exact values that differ, or two enclosures that are disjoint."""
    from .balls import Ball
    if not isinstance(a, Ball) and not isinstance(b, Ball):
        return a != b
    a, b = Ball.of(a), Ball.of(b)
    return abs(a.M - b.M) > a.R + b.R
