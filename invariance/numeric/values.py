"""Values, not only verdicts: a normalizer's numeric op against its own definition.

The verdicts of the cross-check compare the numeric layer with itself (before
and after a transformation), so an op that computes the wrong thing but is
invariant where the definition is (the identity beside layer norm's
definition, an unbiased variance) passes them.  Here the output of the op,
:math:`h = g\\,\\mathrm{op}(a) + b`, is compared with the same output evaluated
*exactly* from the symbolic definitions (:func:`invariance.core.cells.bind_definitions`)
at random rational points: exact W, X, g, b and sizes 2 or 3 along every axis,
with :math:`\\epsilon = 0` and :math:`\\epsilon = 1/8`.

A point agrees when :math:`\\max |h_{\\mathrm{op}} - h_{\\mathrm{exact}}| / \\max |g|`
is within the float64 rounding bound of :func:`invariance.numeric.tolerance`
(which covers rounding the rational inputs to float64: each moves a summed
input by at most u times its magnitude, inside the bound's (D + M) u term).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..catalogue import layers
from ..core.definition import Normalizer
from ..core.cells import bind_definitions, bind_instance, definitions, random_instance, with_groups
from ..core.model import EPS

__all__ = ["ValueCheck", "compare_values", "exact_layer", "EPSILONS"]

# 1/8 is exact in binary, so float64 sees the same epsilon as the definition does;
# a value such as 1/7 would add its own rounding, which the tolerance does not cover.
EPSILONS = (sp.Integer(0), sp.Rational(1, 8))


@dataclass(frozen=True)
class ValueCheck:
    normalizer: str
    points: int                  # rational instances compared (each at every output entry)
    max_deviation: float         # largest max |h_op - h_exact| / max |g|
    max_tolerance_ratio: float   # largest deviation / tolerance; > 1 is a disagreement
    worst: dict                  # sizes and eps of the worst instance

    @property
    def agrees(self) -> bool:
        return self.max_tolerance_ratio <= 1

    def to_json(self) -> dict:
        return {"points": self.points, "max_deviation": self.max_deviation,
                "max_tolerance_ratio": self.max_tolerance_ratio, "agrees": self.agrees,
                "worst": self.worst}


def exact_layer(norm: Normalizer, rng: random.Random, eps: sp.Expr = sp.Integer(0),
                unit_gain: bool = False, fixed: dict | None = None):
    """One exact random instance and its exact output, all as float64 arrays.

    Returns ``(W, X, g, b, h)`` (h of shape (N, H) or (N, C, P), evaluated from
    the definitions, rounded once at the end), or None when a statistic in a
    denominator is exactly zero at that instance.  ``unit_gain``: g = 1, b = 0;
    ``fixed``: sizes by axis name (e.g. ``{"unit": 6, "input": 4}``) kept as given.
    """
    from ..catalogue.registry import TRANSFORMATIONS   # any transformation: only h is read, never h'
    b = norm.build(EPS)
    m = b.m
    fixed = fixed or {}
    sizes = with_groups(b, {ax.size: fixed.get(ax.name) or rng.randint(2, 3) for ax in (*m.axes, m.input)})
    t = next(iter(TRANSFORMATIONS.values()))
    values, params = random_instance(b, t, rng, sizes, unit_gain=unit_gain)
    eqs = definitions(b, t)
    arrays, _ = bind_definitions(eqs, bind_instance(b, t, values, params, sizes), {**sizes, EPS: eps})
    h_base = next(e for e in eqs if e.name == "h").lhs.base
    shape = [sizes[ax.size] for ax in m.axes]
    try:
        h = [float(sp.N(arrays[h_base](*(k + 1 for k in idx)), 30))
             for idx in itertools.product(*map(range, shape))]
    except ZeroDivisionError:
        return None
    if not all(np.isfinite(h)):
        return None
    as_array = lambda k: np.array(values[k], dtype=float)  # noqa: E731
    return as_array("W"), as_array("X"), as_array("g"), as_array("b"), np.reshape(h, shape)


def compare_values(norm: Normalizer, draws: int = 4, seed: int = 0, op=None,
                   epsilons=EPSILONS, backend: str = "numpy", device: str = "cpu",
                   unit_gain: bool = False, fixed: dict | None = None) -> ValueCheck:
    """``draws`` rational instances at each epsilon of :data:`EPSILONS`: the
    numeric op (``op``, else the entry's NumPy op or, with ``backend="torch"``,
    its PyTorch counterpart, in float64) against the exact definition.

    A PyTorch counterpart without an epsilon (weight norm) is compared at 0 only.
    """
    from .crosscheck import tolerance
    rng = random.Random(seed)
    if op is None and backend == "torch":
        from . import torch_backend
        op = lambda W, X, g, b, eps: torch_backend.layer(  # noqa: E731
            norm, W[None], X[None], g[None], b[None], eps, "float64", device)[0]
        epsilons = epsilons if norm.torch is None or norm.torch.has_eps else epsilons[:1]
    op = op or (lambda W, X, g, b, eps: layers.layer(W, X, g, b, norm.numeric, eps, **norm.numeric_kwargs))
    worst, ratio_max, dev_max, count = {}, 0.0, 0.0, 0
    for eps in epsilons:
        done = 0
        for _ in range(20 * draws):          # a zero statistic is rare; give up after many
            if done == draws:
                break
            found = exact_layer(norm, rng, eps, unit_gain, fixed)
            if found is None:
                continue
            W, X, g, b, h = found
            try:
                got = np.asarray(op(W, X, g, b, float(eps)), dtype=float)
            except ValueError:                 # the op refuses a zero statistic the float inputs show
                continue
            dev = np.abs(got - h).max() / np.abs(g).max() if got.shape == h.shape else np.inf
            tol = tolerance(norm, W[None], X[None], g[None], b[None], eps=float(eps))[0]
            ratio = dev / tol if tol > 0 else (0.0 if dev == 0 else np.inf)
            if ratio >= ratio_max:
                ratio_max, worst = ratio, {"sizes": dict(zip("NHD" if X.ndim == 2 else "NCDP",
                                                             (*X.shape[:1], W.shape[0], *X.shape[1:]))),
                                           "eps": str(eps)}
            dev_max, done, count = max(dev_max, dev), done + 1, count + 1
    return ValueCheck(norm.id, count, float(dev_max), float(ratio_max), worst)
