"""Families of transformations beyond the paper's six: the candidates for a layer's symmetries.

Each is a :class:`~invariance.catalogue.transformations.Transformation` whose
``generators`` name its directions (one per entry of a factor or a shift), written
for the structure of the model, not for any normalizer: re-scale or shift the rows
of W by unit, by group or all together, with or without the linear bias c; shift c;
trade a row's scale against its gain where the statistics do not depend on the
summed inputs; shift each case.  :mod:`invariance.derive.symmetries` proves each
for a normalizer with the same tactic as the table's cells; the exact rank of the
Jacobian then shows whether the proved ones are all there are.

With ``G(i) = \\lfloor (i-1)/S \\rfloor + 1`` the group of unit ``i`` (groups of S units).
"""
from __future__ import annotations

import random

import sympy as sp
from sympy import IndexedBase, Symbol

from ..core.algebra import random_rational
from ..core.model import Group
from .transformations import Generator, Parameter, Transformation, _same_w, _same_x, _scale, delta, delta_unit

__all__ = ["FAMILIES", "applies", "group_of", "kind_of", "multiplicity", "size_value", "GROUPS"]

S = Group().size                                   # units per group, as the statistics write it
delta_group = IndexedBase("delta", positive=True)  # delta_G, one per group
gamma_group = IndexedBase("gamma")                 # gamma_{G, j}: one vector per group
gamma_case = IndexedBase("gamma")                  # gamma_{n, j}: one vector per case
kappa = Symbol("kappa", real=True)
kappa_unit = IndexedBase("kappa")                  # kappa_i (or kappa_G by group)
MU, SIGMA = IndexedBase("mu"), IndexedBase("sigma")


def group_of(i) -> sp.Expr:
    """:math:`G(i) = \\lfloor (i-1)/S \\rfloor + 1`."""
    return sp.floor((i - 1) / S) + 1


_COUNT = {"unit": "H", "case": "N", "input": "D"}
_i = Symbol("i", integer=True)


def _count(axis: str, dims: dict) -> int:
    return dims["H"] // dims["S"] if axis == "group" else dims[_COUNT[axis]]


def _draw(rng: random.Random, g: Generator, dims: dict):
    def one():
        return _scale(rng) if g.identity == 1 else random_rational(rng, nonzero=True)

    def nested(axes):
        return one() if not axes else [nested(axes[1:]) for _ in range(_count(axes[0], dims))]
    return nested(g.axes)


def _family(id, title, short, paper, words, gens, w=_same_w, x=_same_x, **moves) -> Transformation:
    """A family: its exact parameters are its generators' values (a factor in {1/2, 3/2, 2, 3}, a
    shift a non-zero rational), drawn at the sizes given; it has no float sampling (the numeric
    side measures a layer's symmetries by the Jacobian, not by transforming)."""
    names = [f"{g.symbol}{k}" for k, g in enumerate(gens)]

    def unsupported(*_):
        raise NotImplementedError(f"{id} is a family of directions, measured by the Jacobian, not sampled")
    at = {"unit": _i, "case": Symbol("n", integer=True), "input": Symbol("j", integer=True), "group": group_of(_i)}
    positive = tuple(sp.Gt(g.symbol[tuple(at[a] for a in g.axes)] if g.axes else g.symbol, 0, evaluate=False)
                     for g in gens if g.identity == 1)
    return Transformation(
        id, title, short, paper, w=w, x=x,
        exact=lambda rng, dims: {n: _draw(rng, g, dims) for n, g in zip(names, gens)},
        sample=unsupported, numeric=unsupported,
        values=lambda p, dims: {g.symbol: p[n] for n, g in zip(names, gens)},
        conditions=positive, parameters=tuple(Parameter(n) for n in names), generators=gens,
        words=words, **moves)


FAMILIES = (
    _family("group-rows-rescaling", "Group rows re-scaling", "w_G re-scale", r"w_i \to \delta_{G(i)} w_i",
            "re-scale the rows of each group", (Generator(delta_group, ("group",)),),
            w=lambda m, i, j: delta_group[group_of(i)] * m.W[i, j]),
    _family("group-rows-recentering", "Group rows re-centering", "w_G re-center",
            r"w_i \to w_i + \gamma_{G(i)}", "shift the rows of each group by one vector",
            (Generator(gamma_group, ("group", "input"), 0),),
            w=lambda m, i, j: m.W[i, j] + gamma_group[group_of(i), j]),
    _family("weight-and-bias-rescaling", "Weight matrix and linear bias re-scaling", "(W, c) re-scale",
            r"(W, c) \to \delta (W, c)", "re-scale W and c together", (Generator(delta),),
            w=lambda m, i, j: delta * m.W[i, j], c=lambda m, i: delta * m.c[i]),
    _family("row-and-bias-rescaling", "Weight vector and linear bias re-scaling", "(w_i, c_i) re-scale",
            r"(w_i, c_i) \to \delta_i (w_i, c_i)", "re-scale each row w_i and c_i together",
            (Generator(delta_unit, ("unit",)),),
            w=lambda m, i, j: delta_unit[i] * m.W[i, j], c=lambda m, i: delta_unit[i] * m.c[i]),
    _family("group-rows-and-bias-rescaling", "Group rows and linear bias re-scaling", "(w_G, c_G) re-scale",
            r"(w_i, c_i) \to \delta_{G(i)} (w_i, c_i)", "re-scale the rows of each group and their c together",
            (Generator(delta_group, ("group",)),),
            w=lambda m, i, j: delta_group[group_of(i)] * m.W[i, j],
            c=lambda m, i: delta_group[group_of(i)] * m.c[i]),
    _family("bias-shift", "Linear bias shift", "c shift", r"c \to c + \kappa \mathbf{1}",
            "shift every c_i by the same amount", (Generator(kappa, (), 0),),
            c=lambda m, i: m.c[i] + kappa),
    _family("unit-bias-shift", "Linear bias shift per unit", "c_i shift", r"c_i \to c_i + \kappa_i",
            "shift each c_i", (Generator(kappa_unit, ("unit",), 0),),
            c=lambda m, i: m.c[i] + kappa_unit[i]),
    _family("group-bias-shift", "Linear bias shift per group", "c_G shift", r"c_i \to c_i + \kappa_{G(i)}",
            "shift the c_i of each group by the same amount", (Generator(kappa_unit, ("group",), 0),),
            c=lambda m, i: m.c[i] + kappa_unit[group_of(i)]),
    # where mu and sigma do not depend on the summed inputs (running statistics), h is affine in a:
    # a row's scale can be traded against its gain, the bias compensating for the mean
    # where sigma does not move with a (no scaling, or a fixed one), W's scale can be traded
    # against every gain at once
    _family("weight-against-gain", "Weight matrix against the gains", "W vs g",
            r"W \to \delta W,\ g \to g/\delta", "re-scale W and divide every gain g_i by the same factor",
            (Generator(delta),), w=lambda m, i, j: delta * m.W[i, j], g=lambda m, i: m.g[i] / delta),
    _family("row-against-gain", "Weight vector against gain", "w_i vs g_i",
            r"w_i \to \delta_i w_i,\ g_i \to g_i/\delta_i,\ b_i \to b_i + g_i \mu_i (1/\delta_i - 1)/\sigma_i",
            "re-scale w_i and divide g_i by the same factor, b_i compensating",
            (Generator(delta_unit, ("unit",)),),
            w=lambda m, i, j: delta_unit[i] * m.W[i, j], g=lambda m, i: m.g[i] / delta_unit[i],
            b=lambda m, i: m.b[i] + m.g[i] * MU[i] * (1 / delta_unit[i] - 1) / SIGMA[i]),
    _family("row-and-bias-against-gain", "Weight vector and linear bias against gain", "(w_i, c_i) vs g_i",
            r"(w_i, c_i) \to \delta_i (w_i, c_i),\ g_i \to g_i/\delta_i,\ b_i \to b_i + g_i \mu_i (1/\delta_i - 1)/\sigma_i",
            "re-scale w_i and c_i and divide g_i by the same factor, b_i compensating",
            (Generator(delta_unit, ("unit",)),),
            w=lambda m, i, j: delta_unit[i] * m.W[i, j], c=lambda m, i: delta_unit[i] * m.c[i],
            g=lambda m, i: m.g[i] / delta_unit[i],
            b=lambda m, i: m.b[i] + m.g[i] * MU[i] * (1 / delta_unit[i] - 1) / SIGMA[i]),
    _family("bias-against-output-bias", "Linear bias against output bias", "c_i vs b_i",
            r"c_i \to c_i + \kappa_i,\ b_i \to b_i - g_i \kappa_i / \sigma_i",
            "shift c_i, b_i compensating", (Generator(kappa_unit, ("unit",), 0),),
            c=lambda m, i: m.c[i] + kappa_unit[i], b=lambda m, i: m.b[i] - m.g[i] * kappa_unit[i] / SIGMA[i]),
    # a normalizer's own trainable scalars (e.g. Dynamic Tanh's alpha, multiplying a): W's scale
    # traded against them
    _family("weight-against-scalars", "Weight matrix against the layer's scalars", "W vs alpha",
            r"W \to \delta W,\ \theta \to \theta/\delta",
            "re-scale W and divide the layer's trainable scalars by the same factor", (Generator(delta),),
            w=lambda m, i, j: delta * m.W[i, j], scalars=lambda m, theta: theta / delta),
    _family("case-recentering", "Single case re-centering", "case re-center", r"x_n \to x_n + \gamma_n",
            "shift each case by its own vector", (Generator(gamma_case, ("case", "input"), 0),),
            x=lambda m, n, j, rest: m.X[(n, j, *rest)] + gamma_case[n, j]),
)


def applies(t: Transformation, norm) -> bool:
    """Whether ``t`` can be written for ``norm`` at all: a group family needs groups, a family
    moving c a linear bias, one that names mu_i or sigma_i statistics kept by unit alone."""
    axes = {a for g in t.generators for a in g.axes}
    if "group" in axes and not norm.groups:
        return False
    if "c" in t.moves and norm.model.c is None:
        return False
    if "scalars" in t.moves and not norm.trainable:
        return False
    named = set()
    for k in ("g", "b"):
        f = getattr(t, k)
        if f is not None:
            named |= {x.base.label.name for x in f(norm.model, _i).atoms(sp.Indexed)}
    if named & {"mu", "sigma"}:
        kept = norm.build().kept
        return all(kept.get(s) == ("unit",) for s in named & {"mu", "sigma"})
    return True


def kind_of(t: Transformation) -> str:
    """``data`` if the family moves X alone, ``parameter`` if it leaves X alone, else ``mixed``."""
    from ..core.model import DENSE as m
    i, j, n = m.point["unit"], m.input.index, m.point["case"]
    moves_x = t.x(m, n, j, ()) != m.X[n, j]
    moves_p = t.w(m, i, j) != m.W[i, j] or bool(t.moves)
    return "mixed" if moves_x and moves_p else "data" if moves_x else "parameter"


#: The number of groups G, as a dimension formula writes it.
GROUPS = Symbol("G", integer=True, positive=True)


def multiplicity(t: Transformation, m) -> sp.Expr:
    """The number of directions of a family, in the sizes: one per entry of each generator."""
    count = {"unit": m.axis("unit").size, "case": m.axis("case").size, "input": m.input.size, "group": GROUPS}
    return sp.Add(*[sp.Mul(*[count[a] for a in g.axes]) for g in t.generators])


def size_value(expr: sp.Expr, m, axes: dict, groups) -> int:
    """A dimension formula (a sum of :func:`multiplicity`) at sizes given by axis name."""
    subs = {ax.size: axes[ax.name] for ax in (*m.axes, m.input)} | {GROUPS: groups or 1}
    return int(sp.sympify(expr).xreplace(subs))
