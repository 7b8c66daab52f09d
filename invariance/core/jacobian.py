"""The exact Jacobian of a layer at a rational point, its certified rank, and a family's tangents.

Shared by the search (which draws the points) and the kernel (which re-checks them).

- :func:`outputs` evaluates the registry's definitions at concrete sizes in forward-mode
  differentiation: every value carries its gradient with respect to the chosen variables (W,
  g, b, c and the normalizer's trainable scalars, or X).  Values are exact fractions; a square
  root of a non-square, and tanh, become a :class:`Ball`: an enclosure on the integer grid
  2^-160 that every later operation keeps an enclosure (ball arithmetic).  Only what the
  evaluator cannot enclose (another function) raises :class:`NotRational`.
- :func:`rank_at_least` bounds the rank from below, certified: exact over Q when every entry is
  rational (``DomainMatrix`` over QQ), else a submatrix shown nonsingular for every matrix in
  the enclosure (Rump's test, in integers; floating point only chooses the submatrix).
- :func:`tangents` is the derivative of a family's W', X', g', b', c' (and theta') with respect
  to each entry of its generators at the identity: the directions it spans at the point.

Why the rank certifies completeness: each proved direction lies in the null space of the
Jacobian at every point and for every input, so the null space is at least their span; the
rank of the Jacobian stacked over finitely many inputs at one point is a lower bound on its
rank at almost every point (a non-zero minor stays non-zero off a proper algebraic set, and
over all inputs the rank is no lower).  Rank >= columns - (independent proved directions) at
one point therefore shows that, at almost every point, the proved directions are all there are.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import sympy as sp
from sympy import Indexed, IndexedBase, Sum

from .balls import Ball, ball as _ball, exact as _exact, sqrt_ball as _sqrt_ball, tanh_ball as _tanh_ball

__all__ = ["NotRational", "Dual", "outputs", "rank", "tangents", "shapes_of", "entries",
           "Ball", "rank_at_least", "columns_of", "jacobian", "KINDS",
           "concrete", "stacked", "grouped_ok", "outside_null_space"]

class NotRational(ValueError):
    """A value at this point is not rational (e.g. the square root of a non-square)."""


class Dual:
    """A rational value with its exact gradient: ``v + sum_k d[k] e_k``."""

    __slots__ = ("v", "d")

    def __init__(self, v: Fraction, d: dict | None = None):
        self.v, self.d = v, d or {}

    # operators, so that generic code (terms.evaluate) computes with it as with a number
    def __add__(self, o):
        return _add(self, o)

    __radd__ = __add__

    def __mul__(self, o):
        return _mul(self, o)

    __rmul__ = __mul__

    def __neg__(self):
        return _mul(self, Fraction(-1))

    def __sub__(self, o):
        return _add(self, -o)

    def __rsub__(self, o):
        return _add(o, -self)


def _lift(x) -> Dual:
    return x if isinstance(x, Dual) else Dual(x)


def _add(x, y):
    if not isinstance(x, Dual) and not isinstance(y, Dual):
        return x + y
    x, y = _lift(x), _lift(y)
    d = dict(x.d)
    for k, v in y.d.items():
        d[k] = d.get(k, 0) + v
    return Dual(x.v + y.v, d)


def _scale(d: dict, s) -> dict:
    return {k: v * s for k, v in d.items()} if not (_exact(s) and s == 0) else {}


def _mul(x, y):
    if not isinstance(x, Dual) and not isinstance(y, Dual):
        return x * y
    x, y = _lift(x), _lift(y)
    d = _scale(x.d, y.v)
    for k, v in y.d.items():
        d[k] = d.get(k, 0) + v * x.v
    return Dual(x.v * y.v, d)


def _root(r: Fraction) -> Fraction:
    if r < 0:
        raise NotRational(f"the square root of {r} < 0")
    p, q = math.isqrt(r.numerator), math.isqrt(r.denominator)
    if p * p != r.numerator or q * q != r.denominator:
        raise NotRational(f"the square root of {r} is irrational")
    return Fraction(p, q)


def _pow(x, e: Fraction):
    """x^e for an integer or half-integer e (derivative e x^(e-1) x'); an irrational square root
    becomes a :class:`Ball`."""
    v = x.v if isinstance(x, Dual) else x
    if e.denominator == 1:
        if not isinstance(v, Ball) and v == 0 and e < 0:
            raise ZeroDivisionError("a statistic is zero at this point")
        out = v ** int(e)
        der = e * v ** (int(e) - 1) if isinstance(x, Dual) and e != 0 else 0
    elif e.denominator == 2:
        root = None
        if not isinstance(v, Ball):
            try:
                root = _root(v)
            except NotRational:
                pass
        if root is None:
            root = _sqrt_ball(v)
        if not isinstance(root, Ball) and root == 0:
            raise ZeroDivisionError("a square root of zero at this point")
        out = root ** e.numerator
        der = e * root ** (e.numerator - 2) if isinstance(x, Dual) else 0
    else:
        raise NotRational(f"a power {e} of a value")
    return Dual(out, _scale(x.d, der)) if isinstance(x, Dual) else out


def _whole(v) -> int:
    v = v.v if isinstance(v, Dual) else v
    if v.denominator != 1:
        raise IndexError(f"an index {v}, not a whole number")
    return v.numerator


def _ev(e, arrays, env):
    if e in env:
        return env[e]
    if isinstance(e, Indexed):
        idx = [_whole(_ev(i, arrays, env)) for i in e.indices]
        value = arrays[e.base]
        if callable(value):
            return value(*idx)
        for i in idx:
            if not 1 <= i <= len(value):
                raise IndexError(f"{e.base}[{', '.join(map(str, idx))}]: an index outside 1..{len(value)}")
            value = value[i - 1]
        return value
    if isinstance(e, Sum):
        *rest, (k, lo, hi) = e.limits
        lo, hi = _whole(_ev(lo, arrays, env)), _whole(_ev(hi, arrays, env))
        body = Sum(e.function, *rest) if rest else e.function
        total, outer = Fraction(0), env.get(k)
        for v in range(lo, hi + 1):
            env[k] = Fraction(v)
            total = _add(total, _ev(body, arrays, env))
        env.pop(k, None) if outer is None else env.__setitem__(k, outer)
        return total
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    if isinstance(e, sp.Add):
        out = Fraction(0)
        for a in e.args:
            out = _add(out, _ev(a, arrays, env))
        return out
    if isinstance(e, sp.Mul):
        out = Fraction(1)
        for a in e.args:
            out = _mul(out, _ev(a, arrays, env))
        return out
    if isinstance(e, sp.Pow) and e.exp.is_Rational:
        return _pow(_ev(e.base, arrays, env), Fraction(int(e.exp.p), int(e.exp.q)))
    if isinstance(e, sp.tanh):
        x = _ev(e.args[0], arrays, env)
        v = x.v if isinstance(x, Dual) else x
        t = Fraction(0) if not isinstance(v, Ball) and v == 0 else _tanh_ball(v)
        return Dual(t, _scale(x.d, 1 - t * t)) if isinstance(x, Dual) else t
    if isinstance(e, sp.KroneckerDelta):
        x, y = (_ev(a, arrays, env) for a in e.args[:2])
        return Fraction(int(x == y))
    if isinstance(e, sp.floor):
        v = _ev(e.args[0], arrays, env)
        return Fraction(math.floor(v.v if isinstance(v, Dual) else v))
    raise NotRational(f"{type(e).__name__} is not evaluated exactly here: {e}")


def _memo(lhs, rhs, arrays, env):
    cache = {}

    def value(*idx):
        if idx not in cache:
            cache[idx] = _ev(rhs, arrays, {**env, **dict(zip(lhs.indices, idx))})
        return cache[idx]
    return value


def shapes_of(b, sizes: dict) -> dict[str, tuple[int, ...]]:
    """The shape of each tensor of the layer ``b`` at ``sizes`` (symbol -> int): W, g, b, X, c with
    a linear bias, and () for each of the normalizer's own trainable scalars, by name."""
    m = b.m
    H, D, N = (sizes[m.axis(ax).size] for ax in ("unit", "input", "case"))
    out = {"W": (H, D), "g": (H,), "b": (H,), "X": (N, D, *[sizes[ax.size] for ax in m.axes[2:]])}
    return out | ({"c": (H,)} if m.c is not None else {}) | {s.name: () for s in b.norm.trainable}


def entries(shape) -> list[tuple[int, ...]]:
    """Every 1-based index of a tensor of ``shape``, in row-major order."""
    return list(itertools.product(*[range(1, n + 1) for n in shape]))


def _nest(shape, f, prefix=()):
    if not shape:
        return f(prefix)
    return [_nest(shape[1:], f, prefix + (k,)) for k in range(1, shape[0] + 1)]


_RULES: dict = {}


def _rules(b) -> list:
    """a, the statistics and h of ``b``, as (lhs, rhs) pairs (built once per definition)."""
    key = id(b)
    if key not in _RULES or _RULES[key][0] is not b:
        a = b.m.a_rule()
        _RULES[key] = (b, [(a.lhs, a.rhs)] + [(r.lhs, r.rhs) for r in b.stat_rules]
                       + [(b.out_rule.lhs, b.out_rule.rhs)])
    return _RULES[key][1]


def bind(b, sizes: dict, point: dict, variables=()) -> tuple[dict, dict]:
    """(arrays, env) of the layer's definitions at ``point`` (tensor name -> nested lists of
    Fractions, and constant symbol -> Fraction); the tensors named in ``variables`` carry a
    unit gradient per entry, keyed ``(name, index)``."""
    m = b.m
    bases = {"W": m.W, "g": m.g, "b": m.b, "c": m.c, "X": m.X}
    arrays = {}
    scalars = {s.name: s for s in b.norm.trainable}
    env = {}
    for name, shape in shapes_of(b, sizes).items():
        values = point[name]
        if name in scalars:   # a trainable scalar: a value (and a variable) of the environment
            env[scalars[name]] = Dual(Fraction(values), {(name, ()): Fraction(1)}) if name in variables \
                else Fraction(values)
        elif name in variables:
            arrays[bases[name]] = _nest(shape, lambda idx, v=values, n=name: Dual(_at(v, idx), {(n, idx): Fraction(1)}))
        else:
            arrays[bases[name]] = values
    # the normalizer's registered constants (running statistics, a fixed alpha), from the registry
    env = {k: Fraction(int(sp.Rational(v).p), int(sp.Rational(v).q)) for k, v in b.norm.constants.items()
           if isinstance(k, sp.Symbol) and not isinstance(v, (list, tuple)) and k not in scalars.values()} | env
    env |= {k: Fraction(v) for k, v in sizes.items()}
    env[b.eps] = Fraction(0) if not isinstance(b.eps, sp.Symbol) else env.get(b.eps, Fraction(0))
    for lhs, rhs in _rules(b):
        arrays[lhs.base] = _memo(lhs, rhs, arrays, env)
    return arrays, env


def _at(values, idx):
    for k in idx:
        values = values[k - 1]
    return Fraction(values)


def outputs(b, sizes: dict, point: dict, variables=()) -> dict:
    """h at every point of the output (index tuple -> Dual or Fraction)."""
    arrays, _ = bind(b, sizes, point, variables)
    h = arrays[b.out_rule.lhs.base]
    return {idx: h(*idx) for idx in entries([sizes[ax.size] for ax in b.m.axes])}


#: What a symmetry moves: the parameters (W, g, b, c) for every input, or the data for every parameter.
KINDS = ("parameter", "data")


def columns_of(b, sizes: dict, kind: str) -> list:
    """The variables of one kind at ``sizes``, as (tensor name, index) pairs: the Jacobian's columns."""
    shapes = shapes_of(b, sizes)
    names = ("X",) if kind == "data" else tuple(k for k in shapes if k != "X")
    return [(k, idx) for k in names for idx in entries(shapes[k])]


def jacobian(b, sizes: dict, points: list, kind: str) -> list[list]:
    """dh/d(variables of ``kind``) at every output entry of every stacked point, exactly (balls
    where a square root is irrational)."""
    cols = columns_of(b, sizes, kind)
    where = {c: k for k, c in enumerate(cols)}
    names = tuple(dict.fromkeys(k for k, _ in cols))
    rows = []
    for point in points:
        for h in outputs(b, sizes, point, variables=names).values():
            row = [Fraction(0)] * len(cols)
            for key, v in (h.d.items() if isinstance(h, Dual) else ()):
                row[where[key]] = v
            rows.append(row)
    return rows


def concrete(b, axes: dict) -> dict:
    """Size symbol -> int from sizes by axis name (the group size S = units / groups for grouped
    statistics)."""
    m = b.m
    sizes = {ax.size: axes[ax.name] for ax in (*m.axes, m.input)}
    if b.norm.groups:
        S = next(s for s in b.size_symbols if s not in sizes)
        sizes[S] = axes["unit"] // b.norm.groups
    return sizes


def grouped_ok(norm, axes: dict) -> bool:
    """For grouped statistics: the groups divide the units, and a group's statistic runs over at
    least 3 values (S units times the positions): over 2 the normalized values are +-1."""
    if not norm.groups:
        return True
    S, rest = axes["unit"] // norm.groups, 1
    for name, v in axes.items():
        if name not in ("case", "unit", "input", "groups"):
            rest *= v
    return axes["unit"] % norm.groups == 0 and S * rest >= 3


def stacked(b, sizes: dict, kind: str) -> int:
    """How many points a completeness certificate stacks: enough rows for the columns, and one more."""
    outputs = len(entries([sizes[ax.size] for ax in b.m.axes]))
    return -(-len(columns_of(b, sizes, kind)) // outputs) + 1


def rank(rows: list[list[Fraction]], columns: int) -> int:
    """The rank over Q of the matrix with these rows (fraction arithmetic throughout)."""
    from sympy import QQ
    from sympy.polys.matrices import DomainMatrix
    if not rows or not columns:
        return 0
    return DomainMatrix([[QQ(v.numerator, v.denominator) for v in r] for r in rows], (len(rows), columns), QQ).rank()


SCALE_BITS = 64   # the grid of R and of the re-centred midpoints in the nonsingularity test


def rank_at_least(rows: list, columns: int, need: int | None = None) -> tuple[int, str]:
    """A certified lower bound on the rank of a matrix whose entries are rationals or balls, and
    how it was certified.  With ``need`` (the rank a certificate needs), one submatrix only is
    tested, of that size (or of every pivot found, if fewer): a failed test is not retried at
    each smaller size, which costs a cube of the size each time.

    Exact rows: the rank over Q.  Otherwise: square submatrices are chosen in floating point
    (complete pivoting), then one of size r is shown nonsingular for every matrix in the
    enclosure, in integer arithmetic: with A = M + E (|E| <= Delta entrywise, M the midpoints on
    a 2^-64 grid, their rounding added to Delta) and any rational R (an approximate inverse
    rounded to that grid), ||I - R M||_inf + || |R| Delta ||_inf < 1 implies that R A is
    nonsingular, so A is (Rump's test: ||I - R A|| < 1).  Floating point only chooses; it
    proves nothing, and a poor choice only makes the bound lower.
    """
    if all(_exact(v) for r in rows for v in r):
        exact = [[v.m if isinstance(v, Ball) else v for v in r] for r in rows]   # exact balls: on the grid
        return rank(exact, columns), "exact rank over Q"
    import numpy as np
    mid = np.array([[float(_ball(v).m) for v in r] for r in rows], dtype=float)
    picks = _pivots(mid)
    sizes = range(len(picks), 0, -1) if need is None else [min(need, len(picks))] if picks and need > 0 else []
    for size in sizes:
        rs, cs = [p for p, _ in picks[:size]], [q for _, q in picks[:size]]
        if _nonsingular([[rows[i][j] for j in cs] for i in rs]):
            return size, (f"a {size} x {size} submatrix shown nonsingular for every value in the enclosure "
                          f"of its irrational entries (Rump's test, integer arithmetic)")
    return 0, "no submatrix certified"


def outside_null_space(rows: list, vectors: list, seed: int) -> int | None:
    """The index of a vector ``v`` of ``vectors`` shown not to satisfy ``rows v = 0`` (None if
    none is): a random integer combination ``w`` of the rows (``seed``, not the file's), and
    ``(w rows) v`` certainly non-zero (a rational, or a ball that excludes zero).  Cost: one pass
    over the matrix, then one over each vector."""
    import random
    rng = random.Random(seed)
    if not rows:
        return None
    u = [Fraction(0)] * len(rows[0])
    for r in rows:
        w = rng.randint(1, 1 << 32)
        for j, x in enumerate(r):
            if not (_exact(x) and x == 0):
                u[j] = u[j] + w * x
    for k, v in enumerate(vectors):
        total = Fraction(0)
        for a, x in zip(u, v):
            if not (_exact(a) and a == 0) and not (_exact(x) and x == 0):
                total = total + a * x
        if (abs(total.M) > total.R) if isinstance(total, Ball) else total != 0:
            return k
    return None


def _pivots(a) -> list[tuple[int, int]]:
    """(row, column) pivots of Gaussian elimination with complete pivoting, in floating point,
    while the pivot is above 1e-9 of the largest entry (a choice, not a claim)."""
    import numpy as np
    a = a.copy()
    top = np.abs(a).max() if a.size else 0.0
    out, rows, cols = [], list(range(a.shape[0])), list(range(a.shape[1]))
    while rows and cols:
        sub = np.abs(a[np.ix_(rows, cols)])
        k = int(sub.argmax())
        i, j = rows[k // len(cols)], cols[k % len(cols)]
        if a[i, j] == 0 or abs(a[i, j]) <= 1e-9 * top:
            break
        out.append((i, j))
        rows.remove(i)
        cols.remove(j)
        for r in rows:
            a[r, :] -= a[r, j] / a[i, j] * a[i, :]
    return out


def _nonsingular(A: list[list]) -> bool:
    import numpy as np
    n, g = len(A), 1 << SCALE_BITS
    mids, rads = [], []
    for row in A:
        mr, rr = [], []
        for v in row:
            v = _ball(v)
            q = round(v.m * g)                       # the midpoint on the grid
            mr.append(q)
            rr.append(v.r + abs(v.m - Fraction(q, g)))
        mids.append(mr)
        rads.append(rr)
    try:
        inv = np.linalg.inv(np.array(mids, dtype=float) / g)
    except np.linalg.LinAlgError:
        return False
    if not np.all(np.isfinite(inv)):
        return False
    R = [[int(round(x * g)) for x in row] for row in inv]   # R / g: any rational matrix will do
    Ri, Mi = np.array(R, dtype=object), np.array(mids, dtype=object)
    RM = Ri.dot(Mi)                                          # (R/g)(M/g) = RM / g^2, exactly
    radsum = [sum(r) for r in rads]                          # sum_j Delta_kj
    for i in range(n):
        off = sum(abs((g * g if i == j else 0) - RM[i, j]) for j in range(n))
        bound = Fraction(off, g * g) + sum(Fraction(abs(R[i][k]), g) * radsum[k] for k in range(n))
        if bound >= 1:
            return False
    return True


def tangents(b, t, sizes: dict, point: dict, columns: list) -> list[list[Fraction]]:
    """The directions family ``t`` spans at ``point``: one vector per entry of each generator,
    with entries in the order of ``columns`` ((tensor name, index) pairs)."""
    m = b.m
    arrays, env = bind(b, sizes, point)
    counts = {"unit": sizes[m.axis("unit").size], "case": sizes[m.axis("case").size],
              "input": sizes[m.input.size]}
    group = next((s for s in sizes if str(s) == "S"), None)
    if group is not None:
        counts["group"] = counts["unit"] // sizes[group]
    i, j, n = m.axis("unit").index, m.input.index, m.axis("case").index
    rest = tuple(ax.index for ax in m.axes[2:])
    entry = {"W": (t.w(m, i, j), (i, j)), "X": (t.x(m, n, j, rest), (n, j, *rest))}
    for k in ("g", "b", "c"):
        if getattr(t, k) is not None:
            entry[k] = (getattr(t, k)(m, i), (i,))
    for s in (b.norm.trainable if t.scalars is not None else ()):
        entry[s.name] = (t.scalars(m, s), ())
    identity = {}
    for g in t.generators:
        if isinstance(g.symbol, IndexedBase):
            identity[g.symbol] = _nest(tuple(counts[a] for a in g.axes), lambda idx, v=g.identity: Fraction(v))
        else:
            env[g.symbol] = Fraction(g.identity)
    arrays = {**arrays, **identity}
    out = []
    for g in t.generators:
        ks = [sp.Symbol(f"k{q}", integer=True) for q in range(len(g.axes))]
        var = g.symbol[tuple(ks)] if ks else g.symbol
        derivs = {name: (sp.diff(expr, var), idx) for name, (expr, idx) in entry.items()}
        for gen_idx in entries(tuple(counts[a] for a in g.axes)):
            local = {**env, **{k: Fraction(v) for k, v in zip(ks, gen_idx)}}
            vec = []
            for name, idx in columns:
                d, syms = derivs.get(name, (sp.S.Zero, ()))
                if d == 0:
                    vec.append(Fraction(0))
                    continue
                value = _ev(d, arrays, {**local, **{s: Fraction(v) for s, v in zip(syms, idx)}})
                vec.append(value.v if isinstance(value, Dual) else value)
            out.append(vec)
    return out
