"""The numeric cross-check: run the NumPy layers before and after a transformation.

For each cell, many random instances (sizes, weights, data, gains, biases and
the transformation's parameters all drawn from a seeded generator) are run
through :func:`invariance.layers.layer`, vectorised along a leading axis.  The
transformation is applied to W and X, never to the summed inputs.

An instance counts as *unchanged* when its deviation
:math:`\\max |h' - h| / \\max |g|` is within its own tolerance.  NumPy in
float64 uses a bound derived from float64 rounding and the instance's
conditioning (:func:`tolerance`); every other backend and dtype uses the
error measured against the same layer in a wider type
(:func:`measured_tolerance`).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import layers
from .definition import Normalizer
from .model import EPS
from .records import INVARIANT, NOT_INVARIANT, Cell
from .transformations import Transformation

__all__ = ["NumericResult", "Setup", "cross_check", "margins", "EPS_DEPENDENT", "tolerance", "measured_tolerance", "replay",
           "random_sizes", "resolve_eps", "BACKENDS", "DTYPES"]

U = np.finfo(np.float64).eps / 2   # unit roundoff of float64, 2**-53
GROUPS_OF_SIZES = 10                # instances come in groups that share their sizes
EXTENDED = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2**10  # longdouble is wider
EPS_DEPENDENT = "eps-dependent"   # invariant only at eps = 0, run with eps > 0: not compared
BACKENDS = ("numpy", "torch")
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Setup:
    """Where the layers run: backend, dtype, epsilon ("0", "default" or a number), device."""

    backend: str = "numpy"
    dtype: str = "float64"
    eps: str = "0"
    device: str = "cpu"

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if self.eps not in ("0", "default"):
            try:
                value = float(self.eps)
            except ValueError:
                value = -1.0
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"--eps must be 0, default or a finite number >= 0, got {self.eps!r}")
        if self.backend == "torch":
            from .torch_backend import check_device
            check_device(self.device)
        elif self.device != "cpu":
            raise ValueError(f"--device {self.device} needs --backend torch (NumPy runs on the cpu)")

    def to_json(self) -> dict:
        return {"backend": self.backend, "dtype": self.dtype, "eps": self.eps, "device": self.device}


def resolve_eps(norm: Normalizer, setup: Setup) -> float:
    """The epsilon a normalizer runs with: 0, PyTorch's default for the entry, or the value.

    An entry whose PyTorch counterpart has no epsilon (weight norm) runs at 0 on
    the torch backend whatever is asked, since that is what PyTorch computes.
    """
    if setup.eps == "0" or (setup.backend == "torch" and norm.torch and not norm.torch.has_eps):
        return 0.0
    if setup.eps == "default":
        return norm.torch.default_eps(setup.dtype) if norm.torch else 0.0
    return float(setup.eps)


@dataclass(frozen=True)
class NumericResult:
    verdict: str
    max_relative_deviation: float
    max_tolerance_ratio: float       # largest deviation / tolerance seen
    instances: int
    seed: int
    replay_deviation: float | None = None   # the exact counterexample, run in float64
    replay_differs: bool | None = None
    setup: Setup = Setup()
    eps: float = 0.0

    def agrees(self, cell: Cell) -> bool:
        if self.verdict == EPS_DEPENDENT:
            return True
        return self.verdict == cell.verdict and self.replay_differs in (None, True)

    def to_json(self) -> dict:
        out = {"verdict": self.verdict, "max_relative_deviation": self.max_relative_deviation,
               "max_tolerance_ratio": self.max_tolerance_ratio,
               "instances": self.instances, "seed": self.seed, **self.setup.to_json(), "eps_value": self.eps}
        if self.replay_differs is not None:
            out["counterexample_replay"] = {"differs": self.replay_differs,
                                            "relative_deviation": self.replay_deviation}
        return out


def random_sizes(norm: Normalizer, rng: np.random.Generator) -> dict[str, int]:
    """Sizes with at least two entries along every axis, so that sigma > 0 almost surely."""
    sizes = {"N": int(rng.integers(2, 6)), "H": int(rng.integers(2, 7)), "D": int(rng.integers(1, 6))}
    if norm.model.id == "conv":
        sizes["P"] = int(rng.integers(2, 5))
        groups = norm.groups or 1
        sizes["H"] = groups * int(rng.integers(max(1, 2 // groups), 4))
    return sizes


def _draw(norm: Normalizer, rng: np.random.Generator, K: int, s: dict):
    """K instances: standard normal weights and data, gains bounded away from 0."""
    x_shape = (K, s["N"], s["D"]) + ((s["P"],) if "P" in s else ())
    W = rng.normal(size=(K, s["H"], s["D"]))
    X = rng.normal(size=x_shape)
    g = rng.uniform(0.5, 2.0, size=(K, s["H"])) * rng.choice([-1.0, 1.0], size=(K, s["H"]))
    b = rng.normal(size=(K, s["H"]))
    return W, X, g, b


def _per_instance_max(x: np.ndarray) -> np.ndarray:
    return np.abs(x).reshape(x.shape[0], -1).max(axis=1)


def tolerance(norm: Normalizer, W, X, g, b, h=None, eps: float = 0.0) -> np.ndarray:
    """Per instance, a bound on the float64 rounding error of one layer output h.

    Two parts, added:

    - *Input rounding, through the conditioning.*  Each
      :math:`a = \\sum_j W_{ij} x_j` is off by at most :math:`\\gamma_D \\sum_j
      |W_{ij}||x_j|`, :math:`\\gamma_D \\approx D u` (Higham, *Accuracy and
      Stability of Numerical Algorithms*, Sec. 3.1), and a mean over at most M
      values, each at most that size, by M u times it.  We push a perturbation
      of :math:`(D + M) u \\sum_j |W_{ij}||x_j|` with random signs through the
      normalizer (lifted by 2**20 so that the measurement is far above
      rounding, then scaled back: first order), three times, keeping the
      largest change.  Random signs give about :math:`\\lVert J_i \\rVert_2`
      times the perturbation; the worst signs give at most
      :math:`\\lVert J_i \\rVert_1 \\le \\sqrt{M} \\lVert J_i \\rVert_2`, so we
      multiply by :math:`4\\sqrt{M}` (4 for an unlucky draw and the gain and
      bias), and add :math:`M u (1 + |z|)` for the final division (also times 4).
    - *The implementation's own rounding.*  Where the conditioning lives in
      intermediate quantities that the exact map does not show (two units:
      layer norm gives exactly +-1, yet computing it from nearly equal values
      cancels digits), we measure it: the same layer in extended precision
      (``np.longdouble``, 64-bit significand on x86-64; 0 where it is no wider
      than float64) differs from the float64 result by the float64 error, to
      within 2**-11 of it; doubled.
    """
    op, kw = norm.numeric, norm.numeric_kwargs
    a = layers.summed_inputs(W, X)
    M = a[0].size                      # no statistic sums more values than one instance has
    bound = (W.shape[-1] + M) * U * layers.summed_inputs(np.abs(W), np.abs(X))
    rng, lift = np.random.default_rng(0), 2.0 ** 20
    z = op(a, W, eps, **kw)
    propagated = np.max([_per_instance_max(op(a + lift * bound * rng.choice([-1.0, 1.0], size=a.shape),
                                              W, eps, **kw) - z) / lift for _ in range(3)], axis=0)
    division = M * U * (1 + _per_instance_max(z))
    scale = _per_instance_max(g)
    measured = 0.0
    if EXTENDED:
        ext = [np.asarray(v, dtype=np.longdouble) for v in (W, X, g, b)]
        h = layers.layer(W, X, g, b, op, eps, **kw) if h is None else h
        measured = _per_instance_max(layers.layer(*ext, op, eps, **kw) - h).astype(float) / scale
    return 4 * (np.sqrt(M) * propagated + division) + 2 * measured


def _run(norm: Normalizer, setup: Setup, W, X, g, b, eps: float, dtype=None) -> np.ndarray:
    """h for K instances on the setup's backend, in ``dtype`` (default: the setup's)."""
    dtype = dtype or setup.dtype
    if setup.backend == "torch":
        from . import torch_backend
        return torch_backend.layer(norm, W, X, g, b, eps, dtype, setup.device)
    dt = DTYPES[dtype]
    return layers.layer(*(np.asarray(v, dtype=dt) for v in (W, X, g, b)), norm.numeric, eps,
                        **norm.numeric_kwargs)


def _reference(norm: Normalizer, setup: Setup, W, X, g, b, eps: float) -> np.ndarray:
    """The same layer in a wider type: float64 for float32 (same backend), and for
    float64 the NumPy layer in ``np.longdouble`` (PyTorch has no wider type; the
    NumPy op is the same function, checked against the exact definition by
    :mod:`invariance.values`).  The inputs are widened exactly."""
    if setup.dtype == "float32":
        return _run(norm, setup, W, X, g, b, eps, "float64")
    wide = np.longdouble if EXTENDED else np.float64
    return layers.layer(*(np.asarray(v, dtype=wide) for v in (W, X, g, b)), norm.numeric, eps,
                        **norm.numeric_kwargs)


def measured_tolerance(err: np.ndarray, err_t: np.ndarray, M: int, dtype: str) -> np.ndarray:
    """Tolerance on max |h' - h| / max |g| from the measured errors of h and h'.

    ``err`` is max |h - h_wide| / max |g| per instance, h_wide the same layer in
    a wider type on the same (rounded) inputs; ``err_t`` the same for h', whose
    wide twin is transformed in the wide type.  For an invariant cell the wide
    outputs agree to their own rounding, so by the triangle inequality
    |h' - h| <= err + err_t + |h'_wide - h_wide|.  The last term is the wide
    type's rounding: to first order (u_wide / u) ~ 2**-29 (float64 against
    float32) or 2**-11 (longdouble against float64) times the measured errors,
    so a factor 2 on them covers it, and M u (one unit of rounding per value an
    instance holds) covers instances whose outputs happen to round exactly.
    """
    u = np.finfo(DTYPES[dtype]).eps / 2
    return 2 * (err + err_t) + M * u


def _deviation(norm, setup: Setup, eps: float, W, X, g, b, trans_id: str, params):
    """Per instance: max |h' - h| / max |g| in the setup's dtype, and its tolerance.

    W, X, g, b are float64 draws: rounded once to the setup's dtype; the
    transformation is applied to the rounded W and X in that dtype.
    """
    dt = DTYPES[setup.dtype]
    W, X, g, b = (np.asarray(v, dtype=dt) for v in (W, X, g, b))
    Wt, Xt = layers.transform(trans_id, W, X, params)
    h, ht = _run(norm, setup, W, X, g, b, eps), _run(norm, setup, Wt, Xt, g, b, eps)
    scale = _per_instance_max(g).astype(float)
    dev = _per_instance_max(ht - h).astype(float) / scale
    if setup.backend == "numpy" and setup.dtype == "float64":
        return dev, tolerance(norm, W, X, g, b, h, eps) + tolerance(norm, Wt, Xt, g, b, ht, eps)
    wide = np.float64 if setup.dtype == "float32" else (np.longdouble if EXTENDED else np.float64)
    Ww, Xw = W.astype(wide), X.astype(wide)
    Wtw, Xtw = layers.transform(trans_id, Ww, Xw, params)
    err = _per_instance_max(h - _reference(norm, setup, Ww, Xw, g, b, eps)).astype(float) / scale
    err_t = _per_instance_max(ht - _reference(norm, setup, Wtw, Xtw, g, b, eps)).astype(float) / scale
    M = int(np.prod(h.shape[1:]))
    return dev, measured_tolerance(err, err_t, M, setup.dtype)


def replay(norm: Normalizer, trans: Transformation, cell: Cell, setup: Setup = Setup()) -> tuple[float, bool]:
    """Run the exact counterexample through the setup's layers: (deviation, differs).

    Counterexamples are exact at epsilon = 0, so they are replayed at 0.
    """
    ce = cell.counterexample
    m = norm.model
    as_float = lambda v: np.array(v, dtype=float)[None]  # noqa: E731
    W, X, g, b = (as_float(ce.values[s]) for s in (m.W, m.X, m.g, m.b))
    params = {k: (v if isinstance(v, int) else as_float(v)) for k, v in ce.parameters.items()}
    dev, tol = _deviation(norm, setup, 0.0, W, X, g, b, trans.id, params)
    return float(dev[0]), bool(dev[0] > tol[0])


def cross_check(norm: Normalizer, trans: Transformation, cell: Cell | None = None,
                instances: int = 1000, seed: int = 0, setup: Setup = Setup()) -> NumericResult:
    """Numeric verdict over ``instances`` random instances (seeded), on ``setup``'s layers."""
    rng = np.random.default_rng([seed, _stable_hash(norm.id), _stable_hash(trans.id)])
    eps = resolve_eps(norm, setup)
    per_group = -(-instances // GROUPS_OF_SIZES)
    devs, ratios, count = [], [], 0
    for _ in range(GROUPS_OF_SIZES):
        s = random_sizes(norm, rng)
        W, X, g, b = _draw(norm, rng, per_group, s)
        params = trans.sample(rng, per_group, s)
        dev, tol = _deviation(norm, setup, eps, W, X, g, b, trans.id, params)
        devs.append(dev.max())
        ratios.append((dev / tol).max())
        count += per_group
    verdict = INVARIANT if max(ratios) <= 1 else NOT_INVARIANT
    if eps > 0 and cell is not None and cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions:
        verdict = EPS_DEPENDENT   # the proof needed eps = 0; its eps > 0 bound is not checked here
    replay_dev = replay_ok = None
    if cell is not None and cell.counterexample is not None:
        replay_dev, replay_ok = replay(norm, trans, cell, setup)
    return NumericResult(verdict, float(max(devs)), float(max(ratios)), count, seed, replay_dev, replay_ok,
                         setup, eps)


def margins(results) -> str:
    """One line: the largest deviation/tolerance over invariant cells (how close
    rounding came to the tolerance) and the smallest over refuted cells (how
    far the clearest difference stood above it)."""
    inv = [(r.max_tolerance_ratio, c) for c, r in results if r.verdict == INVARIANT == c.verdict]
    ref = [(r.max_tolerance_ratio, c) for c, r in results if c.verdict == NOT_INVARIANT]
    setup = results[0][1].setup if results else Setup()
    parts = [f"margins ({setup.backend}, {setup.dtype}, eps {setup.eps}):"]
    if inv:
        r, c = max(inv, key=lambda x: x[0])
        parts.append(f"invariant cells deviation/tolerance <= {r:.3g} ({c.normalizer} x {c.transformation});")
    if ref:
        r, c = min(ref, key=lambda x: x[0])
        parts.append(f"refuted cells >= {r:.3g} ({c.normalizer} x {c.transformation})")
    return " ".join(parts)


def _stable_hash(text: str) -> int:
    """A hash that does not change between runs (Python's str hash does)."""
    return zlib.crc32(text.encode())
