"""The numeric cross-check: run the NumPy layers before and after a transformation.

For each cell, many random instances (sizes, weights, data, gains, biases and
the transformation's parameters all drawn from a seeded generator) are run
through :func:`invariance.layers.layer`, vectorised along a leading axis.  The
transformation is applied to W and X, never to the summed inputs.

An instance counts as *unchanged* when its deviation
:math:`\\max |h' - h| / \\max |g|` is within its own tolerance, derived from
float64 rounding and the instance's conditioning (see :func:`tolerance`).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from . import layers
from .definition import Normalizer
from .records import INVARIANT, NOT_INVARIANT, Cell
from .transformations import Transformation

__all__ = ["NumericResult", "cross_check", "tolerance", "replay", "random_sizes"]

U = np.finfo(np.float64).eps / 2   # unit roundoff of float64, 2**-53
GROUPS_OF_SIZES = 10                # instances come in groups that share their sizes
EXTENDED = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2**10  # longdouble is wider


@dataclass(frozen=True)
class NumericResult:
    verdict: str
    max_relative_deviation: float
    max_tolerance_ratio: float       # largest deviation / tolerance seen
    instances: int
    seed: int
    replay_deviation: float | None = None   # the exact counterexample, run in float64
    replay_differs: bool | None = None

    def agrees(self, cell: Cell) -> bool:
        return self.verdict == cell.verdict and self.replay_differs in (None, True)

    def to_json(self) -> dict:
        out = {"verdict": self.verdict, "max_relative_deviation": self.max_relative_deviation,
               "instances": self.instances, "seed": self.seed}
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


def _deviation(norm, W, X, g, b, Wt, Xt):
    """Per instance: max |h' - h| / max |g|, and its tolerance."""
    op, kw = norm.numeric, norm.numeric_kwargs
    h = layers.layer(W, X, g, b, op, **kw)
    ht = layers.layer(Wt, Xt, g, b, op, **kw)
    dev = _per_instance_max(ht - h) / _per_instance_max(g)
    return dev, tolerance(norm, W, X, g, b, h) + tolerance(norm, Wt, Xt, g, b, ht)


def replay(norm: Normalizer, trans: Transformation, cell: Cell) -> tuple[float, bool]:
    """Run the exact counterexample through the NumPy layers: (deviation, differs)."""
    ce = cell.counterexample
    m = norm.model
    as_float = lambda v: np.array(v, dtype=float)[None]  # noqa: E731
    W, X, g, b = (as_float(ce.values[s]) for s in (m.W, m.X, m.g, m.b))
    params = {k: (v if isinstance(v, int) else as_float(v)) for k, v in ce.parameters.items()}
    Wt, Xt = layers.transform(trans.id, W, X, params)
    dev, tol = _deviation(norm, W, X, g, b, Wt, Xt)
    return float(dev[0]), bool(dev[0] > tol[0])


def cross_check(norm: Normalizer, trans: Transformation, cell: Cell | None = None,
                instances: int = 1000, seed: int = 0) -> NumericResult:
    """Numeric verdict over ``instances`` random instances (seeded)."""
    rng = np.random.default_rng([seed, _stable_hash(norm.id), _stable_hash(trans.id)])
    per_group = -(-instances // GROUPS_OF_SIZES)
    devs, ratios, count = [], [], 0
    for _ in range(GROUPS_OF_SIZES):
        s = random_sizes(norm, rng)
        W, X, g, b = _draw(norm, rng, per_group, s)
        params = trans.sample(rng, per_group, s)
        Wt, Xt = layers.transform(trans.id, W, X, params)
        dev, tol = _deviation(norm, W, X, g, b, Wt, Xt)
        devs.append(dev.max())
        ratios.append((dev / tol).max())
        count += per_group
    verdict = INVARIANT if max(ratios) <= 1 else NOT_INVARIANT
    replay_dev = replay_ok = None
    if cell is not None and cell.counterexample is not None:
        replay_dev, replay_ok = replay(norm, trans, cell)
    return NumericResult(verdict, float(max(devs)), float(max(ratios)), count, seed, replay_dev, replay_ok)


def _stable_hash(text: str) -> int:
    """A hash that does not change between runs (Python's str hash does)."""
    return zlib.crc32(text.encode())
