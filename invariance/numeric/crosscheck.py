"""The numeric cross-check: run the NumPy layers before and after a transformation.

For each cell, many random instances (sizes, weights, data, gains, biases and
the transformation's parameters all drawn from a seeded generator) are run
through :func:`invariance.catalogue.layers.layer`, vectorised along a leading axis.  The
transformation is applied to W and X, never to the summed inputs.

An instance counts as *unchanged* when its deviation
:math:`\\max |h' - h| / \\max |g|` is within its own tolerance.  NumPy in
float64 uses a bound derived from float64 rounding and the instance's
conditioning (:func:`tolerance`); every other backend and dtype uses the
error measured against the same layer in a wider type
(:func:`measured_tolerance`).
"""
from __future__ import annotations

import numbers
import sys
import zlib
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..catalogue import layers
from ..catalogue.layers import _checked, _draw, check_op, random_sizes  # noqa: F401 (re-exported)
from ..core.definition import Normalizer
from ..core.model import EPS
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..catalogue.transformations import Transformation

__all__ = ["NumericResult", "Setup", "cross_check", "check_backend", "chunk_size", "progress_bar", "margins", "EPS_DEPENDENT", "WITHIN_EPS_BOUND",
           "eps_bound_function", "tolerance", "measured_tolerance", "replay",
           "random_sizes", "resolve_eps", "BACKENDS", "DTYPES", "check_op"]

U = np.finfo(np.float64).eps / 2   # unit roundoff of float64, 2**-53
GROUPS_OF_SIZES = 10                # instances come in groups that share their sizes
MEMORY_BUDGET = 256 * 2**20         # bytes of arrays one batched call may hold
LIVE_COPIES = 32                    # arrays of an instance's size alive at once, generously
EXTENDED = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2**10  # longdouble is wider
EPS_DEPENDENT = "eps-dependent"   # invariant only at eps = 0, run with eps > 0, no bound to check
WITHIN_EPS_BOUND = "within-eps-bound"   # h' != h beyond rounding, but within the proven eps bound
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


def check_backend(setup: Setup, norms) -> None:
    """ValueError (one line) if a normalizer cannot run on the setup's backend."""
    if setup.backend == "torch":
        missing = [n.id for n in norms if n.torch is None]
        if missing:
            raise ValueError(f"no PyTorch counterpart for {', '.join(missing)}; leave it out (--normalizers) "
                             "or use --backend numpy")


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

    eps_bound_ratio: tuple[float, float] | None = None   # deviation / eps bound: median, max

    def agrees(self, cell: Cell) -> bool:
        if self.verdict == EPS_DEPENDENT:
            return True
        if self.eps > 0 and cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions:
            return self.verdict in (INVARIANT, WITHIN_EPS_BOUND)   # within rounding, or the bound
        return self.verdict == cell.verdict and self.replay_differs in (None, True)

    def disagreement(self, cell: Cell) -> str | None:
        """How this result contradicts ``cell``, in words; None when it agrees."""
        if self.agrees(cell):
            return None
        said, dtype = [], self.setup.dtype
        layers_ = "the " + {"numpy": "NumPy", "torch": "PyTorch"}[self.setup.backend] + " layers"
        if self.verdict != cell.verdict and cell.verdict == INVARIANT:
            said.append(f"proven invariant, but {layers_} changed the output in random instances "
                        f"(max relative deviation {self.max_relative_deviation:.3g}, "
                        f"{self.max_tolerance_ratio:.3g} times the {dtype} tolerance)")
        elif self.verdict != cell.verdict and cell.verdict == NOT_INVARIANT:
            said.append(f"refuted by an exact counterexample, but {layers_} left the output unchanged "
                        f"in all {self.instances} random instances (max relative deviation "
                        f"{self.max_relative_deviation:.3g}, within the {dtype} tolerance)")
        elif self.verdict != cell.verdict:
            said.append(f"no symbolic verdict, numerically {self.verdict}")
        if self.replay_differs is False:
            said.append(f"the exact counterexample, run through {layers_} in {dtype}, does not "
                        f"change the output (relative deviation {self.replay_deviation:.3g}, within the tolerance)")
        return "; ".join(said)

    def to_json(self) -> dict:
        out = {"verdict": self.verdict, "max_relative_deviation": self.max_relative_deviation,
               "max_tolerance_ratio": self.max_tolerance_ratio,
               "instances": self.instances, "seed": self.seed, **self.setup.to_json(), "eps_value": self.eps}
        if self.eps_bound_ratio is not None:
            out["eps_bound_ratio"] = {"median": self.eps_bound_ratio[0], "max": self.eps_bound_ratio[1]}
        if self.replay_differs is not None:
            out["counterexample_replay"] = {"differs": self.replay_differs,
                                            "relative_deviation": self.replay_deviation}
        return out










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
    op, kw = _checked(norm), norm.numeric_kwargs
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
    return layers.layer(*(np.asarray(v, dtype=dt) for v in (W, X, g, b)), _checked(norm), eps,
                        **norm.numeric_kwargs)


def _reference(norm: Normalizer, setup: Setup, W, X, g, b, eps: float) -> np.ndarray:
    """The same layer in a wider type: float64 for float32 (same backend), and for
    float64 the NumPy layer in ``np.longdouble`` (PyTorch has no wider type; the
    NumPy op is the same function, checked against the exact definition by
    :mod:`invariance.numeric.values`).  The inputs are widened exactly."""
    if setup.dtype == "float32":
        return _run(norm, setup, W, X, g, b, eps, "float64")
    wide = np.longdouble if EXTENDED else np.float64
    return layers.layer(*(np.asarray(v, dtype=wide) for v in (W, X, g, b)), _checked(norm), eps,
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


def _both(run, norm, setup: Setup, W, X, Wt, Xt, g, b, eps):
    """``run`` on the original and the transformed layer in one call: the instances of
    both, stacked along the instance axis (each instance's statistics stay its own), so a
    backend with a fixed cost per call (PyTorch's vmap) pays it once."""
    if W.shape != Wt.shape or X.shape != Xt.shape:   # broadcast parameters: run apart
        return run(norm, setup, W, X, g, b, eps), run(norm, setup, Wt, Xt, g, b, eps)
    both = run(norm, setup, np.concatenate([W, Wt]), np.concatenate([X, Xt]),
               np.concatenate([g, g]), np.concatenate([b, b]), eps)
    return both[:len(W)], both[len(W):]


def _deviation(norm, setup: Setup, eps: float, W, X, g, b, trans_id: str, params):
    """Per instance: max |h' - h| / max |g| in the setup's dtype, and its tolerance.

    W, X, g, b are float64 draws: rounded once to the setup's dtype; the
    transformation is applied to the rounded W and X in that dtype.
    """
    dt = DTYPES[setup.dtype]
    W, X, g, b = (np.asarray(v, dtype=dt) for v in (W, X, g, b))
    Wt, Xt = transform(trans_id, W, X, params)
    h, ht = _both(_run, norm, setup, W, X, Wt, Xt, g, b, eps)
    scale = _per_instance_max(g).astype(float)
    dev = _per_instance_max(ht - h).astype(float) / scale
    if setup.backend == "numpy" and setup.dtype == "float64":
        return dev, tolerance(norm, W, X, g, b, h, eps) + tolerance(norm, Wt, Xt, g, b, ht, eps), (h, ht)
    wide = np.float64 if setup.dtype == "float32" else (np.longdouble if EXTENDED else np.float64)
    Ww, Xw = W.astype(wide), X.astype(wide)
    Wtw, Xtw = transform(trans_id, Ww, Xw, params)
    ref, ref_t = _both(_reference, norm, setup, Ww, Xw, Wtw, Xtw, g, b, eps)
    err = _per_instance_max(h - ref).astype(float) / scale
    err_t = _per_instance_max(ht - ref_t).astype(float) / scale
    M = int(np.prod(h.shape[1:]))
    return dev, measured_tolerance(err, err_t, M, setup.dtype), (h, ht)


def replay(norm: Normalizer, trans: Transformation, cell: Cell, setup: Setup = Setup()) -> tuple[float, bool]:
    """Run the exact counterexample through the setup's layers: (deviation, differs).

    Counterexamples are exact at epsilon = 0, so they are replayed at 0.
    """
    ce = cell.counterexample
    as_float = lambda v: np.array(v, dtype=float)[None]  # noqa: E731
    W, X, g, b = (as_float(ce.values[k]) for k in ("W", "X", "g", "b"))
    params = {k: (v if isinstance(v, int) else as_float(v)) for k, v in ce.parameters.items()}
    dev, tol, _ = _deviation(norm, setup, 0.0, W, X, g, b, trans.id, params)
    return float(dev[0]), bool(dev[0] > tol[0])


def chunk_size(sizes: dict) -> int:
    """Instances per batched call such that the arrays alive at once fit MEMORY_BUDGET.

    Per instance, W, X and the summed inputs (hence h) hold H D + N D P + N H P
    values; the cross-check keeps about LIVE_COPIES arrays of that size at once
    (h and h' in two precisions, the perturbed runs of the tolerance, the
    transformed operands), of at most 16 bytes a value (longdouble).
    """
    P = sizes.get("P", 1)
    values = sizes["H"] * sizes["D"] + sizes["N"] * sizes["D"] * P + sizes["N"] * sizes["H"] * P
    return max(1, MEMORY_BUDGET // (16 * LIVE_COPIES * values))


def cross_check(norm: Normalizer, trans: Transformation, cell: Cell | None = None,
                instances: int = 1000, seed: int = 0, setup: Setup = Setup(),
                progress=None) -> NumericResult:
    """Numeric verdict over exactly ``instances`` random instances (seeded by ``seed`` >= 0),
    on ``setup``'s layers.

    The instances run in chunks (:func:`chunk_size`), so any number fits in
    memory; ``progress(k)`` is called after each chunk of k instances.

    With eps > 0 on a cell whose proof needed eps = 0, the verdict is one of
    three: invariant (within rounding), within the proven eps bound of
    :func:`invariance.derive.caveats.eps_bound`, or not invariant.
    """
    if isinstance(instances, bool) or not isinstance(instances, numbers.Integral) or instances < 1:
        raise ValueError(f"instances must be a whole number >= 1, got {instances!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    rng = np.random.default_rng([seed, _stable_hash(norm.id), _stable_hash(trans.id)])
    eps = resolve_eps(norm, setup)
    bound = None
    if eps > 0 and cell is not None and cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions:
        bound = eps_bound_function(cell)
    groups = min(GROUPS_OF_SIZES, instances)
    devs, ratios, count, beyond, bound_ratios = [], [], 0, False, []
    for k in range(groups):                 # exactly `instances` in all
        s = random_sizes(norm, rng)
        left = instances // groups + (k < instances % groups)
        while left:                       # in chunks that fit MEMORY_BUDGET, whatever --instances is
            K = min(left, chunk_size(s))
            W, X, g, b = _draw(norm, rng, K, s)
            params = trans.sample(rng, K, s)
            dev, tol, (h, ht) = _deviation(norm, setup, eps, W, X, g, b, trans.id, params)
            devs.append(dev.max())
            ratios.append((dev / tol).max())
            count, left = count + K, left - K
            if bound is not None:
                within, r = _within_bound(bound, norm, setup, eps, W, X, g, trans.id, params, h, ht, tol)
                beyond |= not within.all()
                bound_ratios.append(r)
            if progress is not None:
                progress(K)
    verdict = INVARIANT if max(ratios) <= 1 else NOT_INVARIANT
    eps_ratio = None
    if eps > 0 and cell is not None and cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions:
        if bound is None:
            verdict = EPS_DEPENDENT   # the proof needed eps = 0 and no bound was derived
        elif verdict == NOT_INVARIANT and not beyond:
            verdict = WITHIN_EPS_BOUND
        r = np.concatenate(bound_ratios) if bound_ratios else np.array([])
        r = r[np.isfinite(r)]
        eps_ratio = (float(np.median(r)), float(r.max())) if r.size else None
    replay_dev = replay_ok = None
    if cell is not None and cell.counterexample is not None:
        replay_dev, replay_ok = replay(norm, trans, cell, setup)
    return NumericResult(verdict, float(max(devs)), float(max(ratios)), count, seed, replay_dev, replay_ok,
                         setup, eps, eps_ratio)


def eps_bound_function(cell: Cell):
    """The proven bound on |h' - h| for eps > 0 (:func:`invariance.derive.caveats.eps_bound`)
    as a NumPy function ``f(c, s, alpha, g, eps)``, where h = g c / sqrt(s + eps) + b
    and the summed inputs scale by alpha; None if no bound was proven."""
    from ..derive.caveats import _scale_parts, eps_bound
    from ..derive.engine import derive_laws
    found = eps_bound(cell)
    if found is None or found.expr == 0:
        return None
    b = _normalizer_of(cell).build(EPS)
    state = derive_laws(b, _transformation_of(cell))
    s_expr, c_expr = _scale_parts(state, b)
    C, S, A, G = sp.symbols("c s alpha g")
    m = b.m
    expr = found.expr.xreplace({c_expr: C}).xreplace({s_expr: S, state.alpha: A, m.g[m.point["unit"]]: G})
    if not expr.free_symbols <= {C, S, A, G, EPS}:
        return None
    return sp.lambdify((C, S, A, G, EPS), expr, "numpy")


def _within_bound(bound, norm, setup: Setup, eps: float, W, X, g, trans_id, params, h, ht, tol):
    """Per instance: is every |h' - h| within the bound plus rounding, and the largest
    (deviation - rounding tolerance) / bound among entries that moved beyond rounding
    (<= 1 exactly when within).

    c and s come from the NumPy op in a wider type (float64, or longdouble for
    float64 runs): with z(e) = c / sqrt(s + e), s = eps z(eps)^2 / (z(0)^2 - z(eps)^2)
    and c = z(0) sqrt(s); alpha = sqrt(s' / s), the law s' = alpha^2 s of the proof.
    """
    wide = np.float64 if setup.dtype == "float32" else (np.longdouble if EXTENDED else np.float64)
    Ww, Xw = np.asarray(W, dtype=DTYPES[setup.dtype]).astype(wide), np.asarray(X, dtype=DTYPES[setup.dtype]).astype(wide)
    Wtw, Xtw = transform(trans_id, Ww, Xw, params)

    def parts(Wv, Xv):
        a = layers.summed_inputs(Wv, Xv)
        z0 = norm.numeric(a, Wv, 0.0, **norm.numeric_kwargs)
        z1 = norm.numeric(a, Wv, eps, **norm.numeric_kwargs)
        gap = z0 * z0 - z1 * z1
        ok = gap > 0                                  # c = 0 (or lost to rounding): bound 0 there
        s = np.where(ok, eps * z1 * z1 / np.where(ok, gap, 1), 1)
        return np.where(ok, z0 * np.sqrt(s), 0), s
    c, s = parts(Ww, Xw)
    _, s_t = parts(Wtw, Xtw)
    conv = np.ndim(X) == np.ndim(W) + 1
    gb = np.asarray(g, dtype=float)[:, None, :, None] if conv else np.asarray(g, dtype=float)[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        bnd = np.asarray(bound(c.astype(float), s.astype(float), np.sqrt(s_t / s).astype(float), gb, eps), dtype=float)
    scale = _per_instance_max(np.asarray(g, dtype=float))
    slack = (tol * scale).reshape((-1,) + (1,) * (h.ndim - 1))
    d = np.abs(np.asarray(ht, dtype=float) - np.asarray(h, dtype=float))
    within = (d <= bnd + slack).reshape(len(d), -1).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > slack, (d - slack) / bnd, np.nan).reshape(len(d), -1)   # rounding set aside
    return within, np.nanmax(np.where(np.isnan(r), -np.inf, r), axis=1)


def progress_bar(total: int, desc: str):
    """A tqdm bar on stderr (shown on a terminal only), or None without tqdm.

    Returns an object with ``update(k)`` and ``close()``.
    """
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="inst", unit_scale=True, leave=False, disable=None,
                file=sys.stderr)


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


def _normalizer_of(cell: Cell) -> Normalizer:
    from ..catalogue.registry import normalizer
    return normalizer(cell.normalizer)


def _transformation_of(cell: Cell) -> Transformation:
    from ..catalogue.registry import transformation
    return transformation(cell.transformation)


def _stable_hash(text: str) -> int:
    """A hash that does not change between runs (Python's str hash does)."""
    return zlib.crc32(text.encode())


def transform(name, W, X, params):
    """Apply a transformation of section 5.1 to (W, X); returns (W', X').

    ``name`` is a transformation id of :mod:`invariance.catalogue.registry`; ``params`` a
    dict: ``delta`` (a scalar per instance, or a vector over the units for weight
    vector re-scaling), ``gamma`` (a vector over the inputs), ``case`` (the
    re-scaled case, 1-based as in the paper).
    """
    from ..catalogue.registry import transformation
    try:
        t = transformation(name)
    except KeyError as err:
        raise ValueError(str(err)) from None
    ops = layers.Operands(name, W, X, params)
    Wn, Xn = t.numeric(ops)
    return Wn.astype(ops.W.dtype, copy=False), Xn.astype(ops.X.dtype, copy=False)
