"""The exact Jacobian of a block (a term) with respect to its parameters, and a family's tangents.

:class:`DualField` is a number field for :func:`invariance.core.terms.evaluate` whose numbers are
:class:`~invariance.core.jacobian.Dual`: a value (a fraction, or a ball where a square root is
irrational or a tanh is taken) with its exact gradient.  ReLU is exact at a value whose sign is
settled and not 0 (there it is linear near the point); at 0, or a ball that straddles 0, the
derivative does not exist and :class:`~invariance.core.terms.NotExact` is raised.

- :func:`jacobian`: d output / d parameters, one row per output entry of each stacked token,
  the parameters shared; columns in :func:`columns` order (each parameter, row-major).
- :func:`tangents`: the derivative of a family's parameter maps at the identity generator, one
  vector per direction of each generator (its entries; or the skew A = E_ij - E_ji, i < j, of a
  rotation; or A = u_i^T u_j - u_j^T u_i with u_i = e_i - e_n, i < j < n, of a rotation fixing
  1^T: skew, A 1^T = 0, independent).  Q = I + A to first order, so the tangent is the
  derivative along A (the Cayley transform's 2A spans the same).
"""
from __future__ import annotations

import math
from fractions import Fraction

from .jacobian import Dual, _pow
from .balls import Ball, tanh_ball
from .terms import NotExact, evaluate, shape

__all__ = ["DualField", "MAX_COLUMNS", "columns", "stacked", "jacobian", "tangents", "basis_directions", "shape_at"]


#: The most columns a completeness certificate may have: the kernel's bound (the rank's work grows
#: as their cube; a set of sizes beyond it is skipped by the search).
MAX_COLUMNS = 96


def _lift(x) -> Dual:
    return x if isinstance(x, Dual) else Dual(x)


class DualField:
    """Forward-mode numbers for :func:`~invariance.core.terms.evaluate` (every result a Dual)."""

    zero, one = Fraction(0), Fraction(1)

    @staticmethod
    def rational(q):
        return Fraction(q)

    @staticmethod
    def sqrt(x):
        return _lift(_pow(_lift(x), Fraction(1, 2)))

    @staticmethod
    def recip(x):
        return _lift(_pow(_lift(x), Fraction(-1)))

    @staticmethod
    def relu(x):
        x = _lift(x)
        v = x.v
        lo, hi = (v.M - v.R, v.M + v.R) if isinstance(v, Ball) else (v, v)
        if lo > 0:
            return x
        if hi < 0:
            return Dual(Fraction(0))
        raise NotExact("a ReLU at 0 (or whose sign the enclosure does not settle): no derivative there")

    @staticmethod
    def tanh(x):
        x = _lift(x)
        v = x.v
        t = Fraction(0) if not isinstance(v, Ball) and v == 0 else tanh_ball(v)
        return Dual(t, {k: d * (1 - t * t) for k, d in x.d.items()})

    @staticmethod
    def gelu(x):
        raise NotExact("GELU has no exact enclosure here")


def shape_at(shape, sizes: dict) -> tuple:
    return tuple(1 if s == 1 else sizes[s] for s in shape)


def columns(params, decl: dict, sizes: dict) -> list:
    """(parameter, row, column) of every parameter entry: the Jacobian's columns."""
    out = []
    for p in params:
        r, c = shape_at(decl[p], sizes)
        out += [(p, i, j) for i in range(r) for j in range(c)]
    return out


def stacked(term, params, decl: dict, sizes: dict) -> int:
    """Tokens a completeness certificate stacks: four times the rows the columns need, and four
    more (each ReLU unit must be seen on and off, each pattern of them often enough)."""
    outputs = math.prod(shape_at(shape(term, decl), sizes))
    return 4 * -(-len(columns(params, decl, sizes)) // outputs) + 4


def jacobian(term, token: str, params, decl: dict, sizes: dict, values: dict, tokens: list) -> list:
    """d term / d parameters at ``values`` (parameter -> rows of Fractions), stacked over
    ``tokens`` (each a row of Fractions): one row per output entry of each token."""
    cols = columns(params, decl, sizes)
    where = {(p, i, j): k for k, (p, i, j) in enumerate(cols)}
    env = {p: [[Dual(Fraction(v), {where[(p, i, j)]: Fraction(1)}) for j, v in enumerate(row)]
               for i, row in enumerate(values[p])] for p in params}
    rows = []
    for tok in tokens:
        env[token] = [[Fraction(v) for v in tok]]
        for out in evaluate(term, env, sizes, DualField):
            for y in out:
                row = [Fraction(0)] * len(cols)
                for k, d in (y.d.items() if isinstance(y, Dual) else ()):
                    row[k] = d
                rows.append(row)
    return rows


def basis_directions(gen, sizes: dict) -> list:
    """The tangent directions of one generator at its identity: a list of (identity, direction),
    each a matrix (rows of Fractions) of the generator's shape."""
    r, c = shape_at(gen.shape, sizes)
    z = lambda: [[Fraction(0)] * c for _ in range(r)]   # noqa: E731
    if gen.kind in ("positive", "nonzero", "shift"):
        base = [[Fraction(0 if gen.kind == "shift" else 1)] * c for _ in range(r)]
        out = []
        for i in range(r):
            for j in range(c):
                a = z()
                a[i][j] = Fraction(1)
                out.append(a)
        return [(base, a) for a in out]
    eye = [[Fraction(int(i == j)) for j in range(r)] for i in range(r)]
    n = r if gen.kind == "rotation" else r - 1
    vec = (lambda i: [Fraction(int(k == i)) for k in range(r)]) if gen.kind == "rotation" else \
        (lambda i: [Fraction(int(k == i)) - Fraction(int(k == r - 1)) for k in range(r)])
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            u, w = vec(i), vec(j)
            out.append([[u[p] * w[q] - w[p] * u[q] for q in range(r)] for p in range(r)])
    return [(eye, a) for a in out]


def tangents(family, params, decl: dict, sizes: dict, values: dict) -> list:
    """The family's tangent vectors at ``values``, in :func:`columns` order."""
    cols = columns(params, decl, sizes)
    env = {p: values[p] for p in params}
    dirs = []
    for gen in family.generators:
        dirs.append((gen, basis_directions(gen, sizes)))
    out = []
    for gen, basis in dirs:
        if not basis:
            continue
        base = basis[0][0]
        genv = [[Dual(base[i][j], {k: a[i][j] for k, (_, a) in enumerate(basis) if a[i][j] != 0})
                 for j in range(len(base[0]))] for i in range(len(base))]
        local = dict(env)
        for other, obasis in dirs:   # the other generators at their identity
            if other is not gen:
                local[other.name] = obasis[0][0] if obasis else _identity(other, sizes)
        local[gen.name] = genv
        moved = {name[:-1]: evaluate(term, local, sizes, DualField) for name, term in family.definitions.items()}
        for k in range(len(basis)):
            vec = []
            for p, i, j in cols:
                y = moved[p][i][j] if p in moved else None
                vec.append(y.d.get(k, Fraction(0)) if isinstance(y, Dual) else Fraction(0))
            out.append(vec)
    return out


def _identity(gen, sizes):
    r, c = shape_at(gen.shape, sizes)
    if gen.kind.startswith("rotation"):
        return [[Fraction(int(i == j)) for j in range(r)] for i in range(r)]
    return [[Fraction(0 if gen.kind == "shift" else 1)] * c for _ in range(r)]
