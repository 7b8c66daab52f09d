"""The symbolic model of one layer, in the paper's notation.

Dense layer: weights :math:`W \\in \\mathbb{R}^{H\\times D}` with rows
:math:`w_i`, a batch of :math:`N` cases :math:`x_n`, summed inputs
:math:`a_{n,i} = \\sum_{j=1}^{D} W_{i,j} X_{n,j}`.

Convolutional layer (a 1x1 convolution, the same linear map at every
position): :math:`a_{n,i,p} = \\sum_{j=1}^{D} W_{i,j} X_{n,j,p}` with
:math:`C` channels ``i`` and :math:`P` positions ``p``.

Sizes and free indices are symbols, so every result holds for every size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import sympy as sp
from sympy import IndexedBase, Sum, Symbol

from .algebra import Rule

__all__ = ["Axis", "Group", "Model", "DENSE", "DENSE_BIAS", "CONV", "MODELS", "EPS", "prime"]

EPS = Symbol("epsilon", nonnegative=True)


def _int(name: str, **kw) -> Symbol:
    return Symbol(name, integer=True, **kw)


@dataclass(frozen=True)
class Axis:
    """One axis of the summed inputs: free index, bound (summation) index, size."""

    name: str
    index: Symbol
    bound: Symbol
    size: Symbol
    title: str


@dataclass(frozen=True)
class Group:
    """Statistics over the units of one group of ``size`` consecutive units.

    Unit ``i`` lies in the group of units
    :math:`S\\lfloor (i-1)/S \\rfloor + 1, \\dots, S\\lfloor (i-1)/S \\rfloor + S`.
    """

    axis: str = "unit"
    size: Symbol = Symbol("S", integer=True, positive=True)


def prime(base: IndexedBase) -> IndexedBase:
    """The transformed counterpart of a symbol: ``a`` -> ``a'``."""
    return IndexedBase(base.label.name + "'", **base.label.assumptions0)


Env = Mapping[str, sp.Expr]  # axis name -> index expression


class Model:
    """Symbols of one layer kind, and helpers to write statistics over its axes."""

    def __init__(self, id: str, title: str, axes: tuple[Axis, ...], input_axis: Axis,
                 linear_bias: bool = False):
        self.id, self.title, self.axes, self.input = id, title, axes, input_axis
        self.W, self.X, self.a = IndexedBase("W"), IndexedBase("X"), IndexedBase("a")
        self.g, self.b = IndexedBase("g"), IndexedBase("b")
        # the linear map's own bias c_i (nn.Linear's default); no transformation touches it
        self.c = IndexedBase("c") if linear_bias else None
        self.eps = EPS

    # -- points -------------------------------------------------------------
    def axis(self, name: str) -> Axis:
        return next(ax for ax in (*self.axes, self.input) if ax.name == name)

    @property
    def point(self) -> dict[str, Symbol]:
        """The free indices of a summed input, e.g. ``{'case': n, 'unit': i}``."""
        return {ax.name: ax.index for ax in self.axes}

    @property
    def sizes(self) -> tuple[Symbol, ...]:
        return tuple(ax.size for ax in (*self.axes, self.input))

    def at(self, base: IndexedBase, at: Env):
        return base[tuple(at[ax.name] for ax in self.axes)]

    def x(self, base: IndexedBase, at: Env, j) -> sp.Expr:
        """``X[n, j]`` (dense) or ``X[n, j, p]`` (conv) at the point ``at``."""
        rest = tuple(at[ax.name] for ax in self.axes[2:])
        return base[(at["case"], j, *rest)]

    def summed_input(self, at: Env, W: IndexedBase | None = None, X: IndexedBase | None = None,
                     c: IndexedBase | None = None):
        """:math:`a = \\sum_j W_{i,j} X_{n,j(,p)}` (:math:`+\\, c_i` with a linear bias)."""
        W, X, j = W or self.W, X or self.X, self.input.index
        a = Sum(W[at["unit"], j] * self.x(X, at, j), (j, 1, self.input.size))
        return a if self.c is None else a + (c or self.c)[at["unit"]]

    def a_rule(self, a: IndexedBase | None = None, W=None, X=None, c=None) -> Rule:
        return Rule(self.at(a or self.a, self.point), self.summed_input(self.point, W, X, c))

    # -- statistics ---------------------------------------------------------
    def _ranges(self, over, at: Env):
        """Bound index, limits and count of each axis (or group) summed over."""
        out = []
        for item in over:
            if isinstance(item, Group):
                ax = self.axis(item.axis)
                start = item.size * sp.floor((at[ax.name] - 1) / item.size) + 1
                out.append((ax, start, start + item.size - 1, item.size))
            else:
                ax = self.axis(item)
                out.append((ax, sp.S.One, ax.size, ax.size))
        return out

    def total(self, f: Callable[[Env], sp.Expr], at: Env, over) -> sp.Expr:
        """:math:`\\sum_{\\text{over}} f`, with the summed axes' indices bound."""
        ranges = self._ranges(over, at)
        inner = dict(at)
        for ax, *_ in ranges:
            inner[ax.name] = ax.bound
        expr = f(inner)
        for ax, lo, hi, _ in reversed(ranges):
            expr = Sum(expr, (ax.bound, lo, hi))
        return expr

    def mean(self, f: Callable[[Env], sp.Expr], at: Env, over) -> sp.Expr:
        """:math:`\\frac{1}{|\\text{over}|}\\sum_{\\text{over}} f`."""
        count = sp.Mul(*[c for *_, c in self._ranges(over, at)])
        return self.total(f, at, over) / count


_n, _m, _N = _int("n"), _int("m"), _int("N", positive=True)
_i, _k = _int("i"), _int("k")
_j, _D = _int("j"), _int("D", positive=True)
_p, _q, _P = _int("p"), _int("q"), _int("P", positive=True)

DENSE = Model(
    "dense", "fully connected layer",
    (Axis("case", _n, _m, _N, "case"), Axis("unit", _i, _k, _int("H", positive=True), "unit")),
    Axis("input", _j, _j, _D, "input"))

CONV = Model(
    "conv", "convolutional layer (1x1 convolution over P positions)",
    (Axis("case", _n, _m, _N, "case"), Axis("unit", _i, _k, _int("C", positive=True), "channel"),
     Axis("position", _p, _q, _P, "position")),
    Axis("input", _j, _j, _D, "input channel"))

DENSE_BIAS = Model(
    "dense-linear-bias", "fully connected layer with a bias in the linear map",
    DENSE.axes, DENSE.input, linear_bias=True)

MODELS = {m.id: m for m in (DENSE, DENSE_BIAS, CONV)}
