"""A transformation as a continuous family: its parameter, identity, generator, read off the registry.

For a transformation ``t`` of the registry (a column of the table or a family of directions),
:func:`family` finds the parameter of W', X', g', b', c' and the value giving the identity;
the generator :math:`\\xi = \\partial_s P'(\\theta_0 + s v)|_{s=0}` of each tensor P it moves is
``sympy.diff`` of the registry's own expression (:func:`_generator`).  A parameter indexed by
the group of unit i, :math:`G(i) = \\lfloor (i-1)/S \\rfloor + 1`, is indexed by the group's number
u, its sums taken group by group (:func:`_chain_sum`).  Used by :mod:`invariance.core.training`.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

from .model import Group, Model

__all__ = ["Family", "family", "tensors", "TENSORS", "GROUP", "S", "V", "U"]

S = Symbol("s")                                   # the curve parameter; only inside sympy.diff
V, U = "v", "U"                                   # free directions: of the parameter, of W or X
TENSORS = ("W", "X", "g", "b", "c")               # what a family may move: the weights, the data, the
#                                                   gain, the bias, the linear bias
GROUP = Symbol("u", integer=True)                 # the number of a group, for a family indexed by groups


# --- the family: parameters, identity, generator ---------------------------------

@dataclass(frozen=True)
class Family:
    """A transformation as a continuous family with the identity in it.

    ``param`` is its parameter (a Symbol, or an IndexedBase indexed by
    ``axes``), ``identity`` the value giving W' = W and X' = X, ``acts_on``
    which of W, X, g, b, c it moves.  ``group``: for a parameter indexed by the
    group of unit i, G(i) = floor((i-1)/S) + 1 (then ``indices`` is the group's
    number u and unit i runs over S(u-1)+1, ..., Su)."""

    param: sp.Basic
    identity: sp.Expr
    indices: tuple          # the parameter's index symbols (empty for a scalar)
    acts_on: tuple[str, ...]
    group: sp.Expr | None = None


def tensors(m: Model) -> tuple[str, ...]:
    """The tensors of the layer a family may move: W, X, g, b (and c with a linear bias)."""
    return tuple(k for k in TENSORS if k != "c" or m.c is not None)


def _entry(m: Model, which: str):
    """(the entry W[i, j], X[n, j, ...] or g[i], b[i], c[i], its index symbols, their sizes)."""
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    if which == "W":
        idx = (i, j)
        sizes = (m.axis("unit").size, m.input.size)
        return m.W[idx], idx, sizes
    if which in ("g", "b", "c"):
        return getattr(m, which)[i], (i,), (m.axis("unit").size,)
    rest = [ax for ax in m.axes[2:]]
    idx = (pt["case"], j, *[ax.index for ax in rest])
    sizes = (m.axis("case").size, m.input.size, *[ax.size for ax in rest])
    return m.X[idx], idx, sizes


def _primed(m: Model, t, which: str) -> sp.Expr:
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    if which == "W":
        return t.w(m, i, j)
    if which in ("g", "b", "c"):
        f = getattr(t, which)
        return f(m, i) if f is not None else getattr(m, which)[i]
    return t.x(m, pt["case"], j, tuple(pt[ax.name] for ax in m.axes[2:]))


def _group_of(m: Model, index) -> bool:
    """Whether ``index`` is G(i) = floor((i-1)/S) + 1 of the unit index i, S a size."""
    i = m.axis("unit").index
    S = next((s for s in index.free_symbols if s.is_positive and s.is_integer), None) \
        if isinstance(index, sp.Expr) else None
    return S is not None and sp.expand(index - sp.floor((i - 1) / S) - 1) == 0


def family(m: Model, t) -> Family | str:
    """The continuous family behind ``t``, or the reason it is not one.

    Read from the registry's W', X' (and g', b', c'): the parameter is what
    they mention besides the layer's tensors, its indices and, in g' and b',
    quantities of the layer that the family's generators do not name (running
    statistics mu_i, sigma_i); it must be real-valued (not an integer), and
    some value (0, or 1 where the parameter must be positive) must give the
    identity.
    """
    exprs = {w: _primed(m, t, w) for w in tensors(m)}
    own = {m.W, m.X, m.g, m.b} | ({m.c} if m.c is not None else set())
    named = {g.symbol for g in getattr(t, "generators", ())}
    constants = {b for w in ("g", "b") for b in exprs[w].atoms(IndexedBase)} - own - named
    bases = {b for e in exprs.values() for b in e.atoms(IndexedBase)} - own - constants
    labels = {b.label for e in exprs.values() for b in e.atoms(IndexedBase)}
    model_syms = {ax.index for ax in (*m.axes, m.input)}
    scalars = {s for e in exprs.values() for s in e.free_symbols if isinstance(s, Symbol)} - labels - model_syms \
        - {Group().size}   # the size of a group, in G(i)
    params = sorted(bases, key=str) + sorted(scalars, key=str)
    if not params:
        return "W' and X' have no parameter: a single transformation, not a continuous family"
    if len(params) > 1:
        return f"more than one parameter ({', '.join(map(str, params))}): not a one-parameter-type family"
    (p,) = params
    label = p.label if isinstance(p, IndexedBase) else p
    if label.is_integer:
        return f"its parameter {label} is an integer: a discrete family"
    occ = {o for e in exprs.values() for o in e.atoms(Indexed) if o.base == p} if isinstance(p, IndexedBase) else set()
    group = None
    if len({o.indices for o in occ}) == 1 and len(next(iter(occ)).indices) == 1 \
            and _group_of(m, next(iter(occ)).indices[0]):
        group = next(iter(occ)).indices[0]
    elif len({o.indices for o in occ}) > 1 or not all(ix in model_syms for o in occ for ix in o.indices):
        return f"its parameter {label} is not indexed by the layer's own indices"
    indices = (GROUP,) if group is not None else next(iter(occ)).indices if occ else ()
    for value in (sp.S.Zero, sp.S.One):
        if value == 0 and (label.is_positive or label.is_nonzero):
            continue
        if all(sp.expand(_substitute(e, p, value) - _entry(m, w)[0]) == 0 for w, e in exprs.items()):
            acts = tuple(w for w, e in exprs.items() if e.has(p))
            return Family(p, value, tuple(indices), acts, group)
    return f"no value of its parameter {label} gives the identity (W' = W, X' = X)"


def _substitute(expr, p, value):
    if isinstance(p, IndexedBase):
        return expr.replace(lambda e: isinstance(e, Indexed) and e.base == p, lambda e: value)
    return expr.xreplace({p: value})


def _direction(f: Family):
    """The free direction v of the parameter: v[l] (per component) or a scalar v."""
    return IndexedBase(V)[f.indices] if f.indices else Symbol(V)


def _generator(m: Model, t, f: Family, which: str) -> sp.Expr:
    """:math:`\\xi = \\partial_s W'(\\theta_0 + s v)|_{s=0}`, by ``sympy.diff`` of the registry's W' (or X')."""
    e = _primed(m, t, which)
    v = IndexedBase(V)
    if isinstance(f.param, IndexedBase):
        moved = e.replace(lambda x: isinstance(x, Indexed) and x.base == f.param,
                          lambda x: f.identity + S * v[x.indices])
    else:
        moved = e.xreplace({f.param: f.identity + S * Symbol(V)})
    return sp.expand(sp.diff(moved, S).subs(S, 0))


def _generator_u(m: Model, t, which: str) -> sp.Expr:
    """:math:`\\partial_s W'(W + s U)|_{s=0}` at a fixed parameter, by ``sympy.diff``."""
    base = getattr(m, which)
    e = _primed(m, t, which)
    moved = e.replace(lambda x: isinstance(x, Indexed) and x.base == base,
                      lambda x: x + S * IndexedBase(U)[x.indices])
    return sp.expand(sp.diff(moved, S).subs(S, 0))


def _sum(body, idx, sizes, outer=()):
    """Sum of ``body`` over ``idx`` (1..size), the indices in ``outer`` outermost."""
    inner = [(k, 1, n) for k, n in zip(idx, sizes) if k not in outer]
    outs = [(k, 1, n) for k, n in zip(idx, sizes) if k in outer]
    limits = inner + outs
    return Sum(body, *limits) if limits else body


def _size_of(m: Model, index) -> sp.Expr:
    if index == GROUP:   # the number of groups: H/S (an integer: the groups split the units)
        return sp.floor(m.axis("unit").size / Group().size)
    return next(ax.size for ax in (*m.axes, m.input) if ax.index == index)


def _chain_sum(m: Model, f: Family, body, idx, sizes):
    """The sum of ``body`` over a tensor's entries ``idx``, the parameter's index outermost;
    for a family by groups, the units taken group by group (i = S(u-1)+1, ..., Su; H = S G)."""
    if f.group is None:
        return _sum(body, idx, sizes, outer=f.indices)
    i, S = m.axis("unit").index, Group().size
    limits = [(k, 1, n) for k, n in zip(idx, sizes) if k != i]
    if i in idx:
        limits.append((i, S * (GROUP - 1) + 1, S * GROUP))
    return Sum(body, *limits, (GROUP, 1, _size_of(m, GROUP)))
