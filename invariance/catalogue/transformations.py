"""The six transformations of the paper's section 5.1, acting on W and X.

Each entry gives, side by side: the symbolic definition of ``W'`` and ``X'``
(used by the proofs), exact random parameters (used by the counterexample
search) and float parameters for K instances (used by the NumPy cross-check).
The parameters are in the format of :func:`invariance.numeric.crosscheck.transform`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from sympy import IndexedBase, Symbol

from ..core.algebra import random_rational
from ..core.model import DENSE, Model

__all__ = ["Parameter", "Generator", "Transformation", "TRANSFORMATIONS", "COMBINED"]

_n, _i = DENSE.point["case"], DENSE.point["unit"]
delta = Symbol("delta", positive=True)
gamma = IndexedBase("gamma")
delta_unit = IndexedBase("delta", positive=True)   # delta_i, one per unit
delta_case = IndexedBase("delta", positive=True)   # delta_n: delta for the re-scaled case, 1 otherwise


def _scale(rng: random.Random) -> sp.Rational:
    """A positive exact scale factor other than 1."""
    return rng.choice([sp.Integer(2), sp.Integer(3), sp.Rational(1, 2), sp.Rational(3, 2)])


def _log_uniform(rng: np.random.Generator, shape) -> np.ndarray:
    """Scale factors in [1/4, 4], log-uniform, so none is tiny or huge."""
    return np.exp(rng.uniform(np.log(0.25), np.log(4.0), size=shape))


@dataclass(frozen=True)
class Parameter:
    """A parameter of a transformation: its shape (sizes by name) and, for an
    index, the size it counts up to (1-based)."""

    name: str
    shape: tuple[str, ...] = ()
    index_of: str | None = None


@dataclass(frozen=True)
class Generator:
    """One parameter of a family of transformations, as a direction: the symbol (a scalar, or an
    IndexedBase with one entry per index along ``axes``: "unit", "case", "input", "group"), and
    its value at the identity (1 for a factor, 0 for a shift).  The tangent of the family along
    one entry is the derivative of W', X' (and g', b', c') with respect to it at the identity."""

    symbol: sp.Basic
    axes: tuple[str, ...] = ()
    identity: int = 1


@dataclass(frozen=True)
class Transformation:
    """``W -> W'`` and ``X -> X'``, written entrywise; ``g``, ``b``, ``c`` (where given) move the
    gain, the bias and the linear bias too: ``g(m, i)`` is g'_i in the original symbols."""

    id: str
    title: str
    short: str                                   # a column header that fits a terminal
    paper: str                                   # the paper's wording, as maths
    w: Callable[[Model, sp.Expr, sp.Expr], sp.Expr]          # W'[i, j]
    x: Callable[[Model, sp.Expr, sp.Expr, tuple], sp.Expr]   # X'[n, j, *rest]
    exact: Callable[[random.Random, dict], dict]             # exact parameters
    sample: Callable[[np.random.Generator, int, dict], dict]  # K float parameter sets
    values: Callable[[dict, dict], dict]                     # parameters, sizes -> symbol values
    numeric: Callable                                        # layers.Operands -> (W', X'), NumPy
    conditions: tuple[sp.Basic, ...] = field(default=())     # assumptions the symbols carry
    parameters: tuple[Parameter, ...] = ()                   # what a counterexample may set
    generators: tuple[Generator, ...] = ()                   # its directions (see Generator)
    g: Callable | None = None                                # g'_i, if it moves the gain
    b: Callable | None = None                                # b'_i, if it moves the bias
    c: Callable | None = None                                # c'_i, if it moves the linear bias
    words: str = ""                                          # the direction in words, e.g. "re-scale W"
    scalars: Callable | None = None                          # theta' of each trainable scalar theta

    @property
    def moves(self) -> frozenset:
        """Which of the gain, bias, linear bias, the normalizer's trainable scalars it moves: a
        subset of {"g", "b", "c", "scalars"}."""
        return frozenset(k for k in ("g", "b", "c", "scalars") if getattr(self, k) is not None)


def _same_w(m, i, j):
    return m.W[i, j]


def _same_x(m, n, j, rest):
    return m.X[(n, j, *rest)]


TRANSFORMATIONS = (
    Transformation(
        "weight-matrix-rescaling", "Weight matrix re-scaling", "W re-scale", r"W \to \delta W",
        w=lambda m, i, j: delta * m.W[i, j], x=_same_x,
        exact=lambda rng, s: {"delta": _scale(rng)},
        sample=lambda rng, K, s: {"delta": _log_uniform(rng, K)},
        numeric=lambda o: (o.scalar("delta", "W") * o.W, o.X),
        values=lambda p, s: {delta: p["delta"]},
        conditions=(sp.Gt(delta, 0, evaluate=False),), parameters=(Parameter("delta"),),
        generators=(Generator(delta),), words="re-scale W"),
    Transformation(
        "weight-matrix-recentering", "Weight matrix re-centering", "W re-center", r"W \to W + \mathbf{1}\gamma^T",
        w=lambda m, i, j: m.W[i, j] + gamma[j], x=_same_x,
        exact=lambda rng, s: {"gamma": [random_rational(rng, nonzero=True) for _ in range(s["D"])]},
        sample=lambda rng, K, s: {"gamma": rng.normal(size=(K, s["D"]))},
        numeric=lambda o: (o.W + o.param("gamma", "W", (o.D,))[..., None, :], o.X),
        values=lambda p, s: {gamma: p["gamma"]}, parameters=(Parameter("gamma", ("D",)),),
        generators=(Generator(gamma, ("input",), 0),), words="shift every row of W by one vector"),
    Transformation(
        "weight-vector-rescaling", "Weight vector re-scaling", "w_i re-scale", r"w_i \to \delta_i w_i",
        w=lambda m, i, j: delta_unit[i] * m.W[i, j], x=_same_x,
        exact=lambda rng, s: {"delta": [sp.Integer(1)] * (s["H"] - 1) + [_scale(rng)]},
        sample=lambda rng, K, s: {"delta": _log_uniform(rng, (K, s["H"]))},
        numeric=lambda o: (o.param("delta", "W", (o.H,))[..., :, None] * o.W, o.X),
        values=lambda p, s: {delta_unit: p["delta"]},
        conditions=(sp.Gt(delta_unit[_i], 0, evaluate=False),), parameters=(Parameter("delta", ("H",)),),
        generators=(Generator(delta_unit, ("unit",)),), words="re-scale each row w_i"),
    Transformation(
        "dataset-rescaling", "Dataset re-scaling", "data re-scale", r"x_n \to \delta x_n",
        w=_same_w, x=lambda m, n, j, rest: delta * m.X[(n, j, *rest)],
        exact=lambda rng, s: {"delta": _scale(rng)},
        sample=lambda rng, K, s: {"delta": _log_uniform(rng, K)},
        numeric=lambda o: (o.W, o.scalar("delta", "X") * o.X),
        values=lambda p, s: {delta: p["delta"]},
        conditions=(sp.Gt(delta, 0, evaluate=False),), parameters=(Parameter("delta"),),
        generators=(Generator(delta),), words="re-scale every case"),
    Transformation(
        "dataset-recentering", "Dataset re-centering", "data re-center", r"x_n \to x_n + \gamma",
        w=_same_w, x=lambda m, n, j, rest: m.X[(n, j, *rest)] + gamma[j],
        exact=lambda rng, s: {"gamma": [random_rational(rng, nonzero=True) for _ in range(s["D"])]},
        sample=lambda rng, K, s: {"gamma": rng.normal(size=(K, s["D"]))},
        numeric=lambda o: (o.W, o.X + o.param("gamma", "X", (o.D,))[(..., None, slice(None)) + (None,) * o.conv]),
        values=lambda p, s: {gamma: p["gamma"]}, parameters=(Parameter("gamma", ("D",)),),
        generators=(Generator(gamma, ("input",), 0),), words="shift every case by one vector"),
    Transformation(
        "single-case-rescaling", "Single training case re-scaling", "case re-scale", r"x_m \to \delta x_m",
        # Proved for a positive factor delta_n per case; the paper's transformation
        # is the special case delta_m = delta, delta_n = 1 for n != m.
        w=_same_w, x=lambda m, n, j, rest: delta_case[n] * m.X[(n, j, *rest)],
        exact=lambda rng, s: {"delta": _scale(rng), "case": 1},
        sample=lambda rng, K, s: {"delta": _log_uniform(rng, K), "case": int(rng.integers(1, s["N"] + 1))},
        numeric=lambda o: (o.W, np.where(o.case(), o.scalar("delta", "X") * o.X, o.X)),
        values=lambda p, s: {delta_case: [p["delta"] if n == p["case"] else sp.Integer(1)
                                           for n in range(1, s["N"] + 1)]},
        conditions=(sp.Gt(delta_case[_n], 0, evaluate=False),),
        parameters=(Parameter("delta"), Parameter("case", index_of="N")),
        generators=(Generator(delta_case, ("case",)),), words="re-scale each case x_n"),
)

#: The paper's Eq. 6, both weight-matrix transformations at once: W' = delta W + 1 gamma^T.
#: Not a column of Table 1 (so not in the registry); the errata check it.
COMBINED = Transformation(
    "weight-matrix-rescaling-and-recentering", "Weight matrix re-scaling and re-centering (Eq. 6)",
    "W re-scale+center", r"W \to \delta W + \mathbf{1}\gamma^T",
    w=lambda m, i, j: delta * m.W[i, j] + gamma[j], x=_same_x,
    exact=lambda rng, s: {"delta": _scale(rng),
                          "gamma": [random_rational(rng, nonzero=True) for _ in range(s["D"])]},
    sample=lambda rng, K, s: {"delta": _log_uniform(rng, K), "gamma": rng.normal(size=(K, s["D"]))},
    numeric=lambda o: (o.scalar("delta", "W") * o.W + o.param("gamma", "W", (o.D,))[..., None, :], o.X),
    values=lambda p, s: {delta: p["delta"], gamma: p["gamma"]},
    conditions=(sp.Gt(delta, 0, evaluate=False),),
    parameters=(Parameter("delta"), Parameter("gamma", ("D",))))
