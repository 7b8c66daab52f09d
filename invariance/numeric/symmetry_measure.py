"""The dimension of a layer's symmetries, measured: the null space of a float64 Jacobian.

At each set of sizes where :mod:`invariance.derive.symmetries` certified the rank, the Jacobian
of h with respect to the kind's variables (W, g, b, c for the parameter kind; X for the data
kind) is computed from the numeric layer alone, stacked over K random inputs (or parameter
values) so that it has at least twice as many rows as columns, and its numerical rank is read
off its singular values: dimension = columns - rank.  A measurement, never a certificate; it
must equal the proved dimension (the formula at those sizes).

How the derivatives are taken, and the rank threshold that follows (Weyl: the computed
:math:`\\tilde J = J + E` has :math:`|\\sigma_k(\\tilde J) - \\sigma_k(J)| \\le \\lVert E\\rVert_2`,
so a singular value that is zero in J is at most :math:`\\lVert E\\rVert_2` in :math:`\\tilde J`):

- NumPy, complex step: :math:`J e_k = \\mathrm{Im}\\, h(x + i t e_k) / t` with t = 1e-30 (the
  truncation, :math:`t^2 |h'''|`, is 1e-60 relative; there is no subtraction to cancel), so each
  entry carries only the op's rounding, a few eps64 relative, as reverse mode does.  Used when
  the op takes complex input and agrees with central differences (an op with ``abs`` or a
  comparison in it does not: its complex step is wrong by O(1)).
- NumPy, central differences otherwise: step :math:`t_k = \\epsilon_{64}^{1/3} \\max(1, |x_k|)`;
  the error of an entry is the truncation :math:`t^2 |h'''| / 6`, estimated by Richardson
  (:math:`|D(t) - D(2t)| / 3`), plus the rounding :math:`M \\epsilon_{64} \\max|h| / t` (h is
  off by at most M eps64 |h|, M the values a statistic sums over).
- PyTorch: reverse mode (``torch.autograd.functional.jacobian``) through the layer's own
  PyTorch functions (:class:`~invariance.core.definition.TorchOp`), in float64, eps = 0.

Threshold: complex step and reverse mode, :math:`\\max(M, P)\\, \\epsilon_{64}\\, \\sigma_{\\max}`
(entries off by a few eps64 relative; NumPy's ``matrix_rank`` default, after Golub and Van
Loan); central differences, :math:`2 \\lVert E \\rVert_F` with E the error estimate above (the
factor 2 for the estimate's own error), if larger.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..catalogue import layers
from ..core.jacobian import concrete, shapes_of
from .nullspace import Spectrum, from_singular_values

__all__ = ["Spectrum", "Measurement", "LayerCheck", "measure", "check_layer", "spectrum", "BACKENDS",
           "NoCounterpart", "COMPLEX_STEP", "EPS64"]

EPS64 = float(np.finfo(np.float64).eps)
COMPLEX_STEP = 1e-30
FD_STEP = EPS64 ** (1 / 3)     # central differences: balances t^2 |h'''| against eps64 |h| / t
CONSISTENT = 1e-6              # complex step vs central differences, relative in Frobenius norm:
#                                the latter is accurate to ~eps64^(2/3) ~ 4e-11 relative for a smooth
#                                op; a non-analytic op (abs, a comparison) makes the complex step
#                                wrong by O(1)
ROWS_PER_COLUMN = 2            # the stacked Jacobian has at least this many rows per column
BACKENDS = ("numpy", "torch")


class NoCounterpart(ValueError):
    """The layer has no implementation on this backend (said, not failed)."""


def spectrum(J: np.ndarray, threshold: float) -> Spectrum:
    """Rank of J: the singular values above ``threshold`` sigma_max (the probe's own rule)."""
    return from_singular_values(np.linalg.svd(J, compute_uv=False), J.shape, threshold)


@dataclass(frozen=True)
class Measurement:
    """The dimension measured at one set of sizes."""

    sizes: dict                      # axis name -> int (and "groups")
    spectrum: Spectrum
    method: str                      # "complex step", "central differences" or "reverse mode"
    expected: int                    # the proved dimension (the formula) at these sizes
    exact_null: int | None           # columns - certified rank (None: no rank certified)
    note: str = ""                   # why the method was chosen, if not the first choice

    @property
    def dimension(self) -> int:
        return self.spectrum.dimension

    @property
    def agrees(self) -> bool:
        """The proved dimension, and the one the exact rank leaves (equal where it is complete)."""
        return self.dimension == self.expected and self.exact_null in (None, self.dimension)


@dataclass
class LayerCheck:
    """One layer and kind: a measurement at each certified set of sizes, or why there is none."""

    normalizer: str
    kind: str
    backend: str
    measurements: list = field(default_factory=list)
    unavailable: str = ""            # no numeric counterpart: said, not failed
    error: str = ""                  # the numeric layer failed at a certified set of sizes: a failure

    @property
    def agrees(self) -> bool:
        return not self.error and all(m.agrees for m in self.measurements)

    def line(self, label=lambda sizes: ", ".join(f"{k}={v}" for k, v in sizes.items())) -> str:
        head = f"numeric ({self.backend}, float64) {self.normalizer} {self.kind}:"
        if self.unavailable:
            return f"{head} not measured: {self.unavailable}"
        if self.error:
            return f"DISAGREEMENT {head} not measured: {self.error}"
        if not self.measurements:
            return f"{head} not measured: no set of sizes was certified"
        at = "; ".join(f"{m.dimension} at {label(m.sizes)}" for m in self.measurements)
        methods = ", ".join(dict.fromkeys(m.note or m.method for m in self.measurements))
        s = min(self.measurements, key=lambda m: _ratio(m.spectrum)).spectrum   # the narrowest gap
        gap = (f"singular values / sigma_max: last kept {_g(s.last_kept)}, threshold {s.threshold:.1e}, "
               + ("none dropped" if s.first_dropped is None else f"first dropped {_g(s.first_dropped)}")
               + f"; {methods}")
        if self.agrees:
            return f"{head} dimension {at} (agrees; {gap})"
        wrong = "; ".join(f"measured {m.dimension}, proved {m.expected}"
                          + ("" if m.exact_null is None else f", exact rank leaves {m.exact_null}")
                          + f" at {label(m.sizes)}" for m in self.measurements if not m.agrees)
        return f"DISAGREEMENT {head} dimension {at}: {wrong} ({gap})"


def _g(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def _ratio(s: Spectrum) -> float:
    """How clear the rank is: last kept over first dropped (infinite with none dropped)."""
    if s.first_dropped is None or s.first_dropped == 0:
        return math.inf if s.last_kept is not None else 0.0
    return (s.last_kept or 0.0) / s.first_dropped


def check_layer(norm, analysis, backend: str = "numpy", seed: int = 0) -> LayerCheck:
    """Measure at each certified set of sizes of ``analysis`` (a
    :class:`~invariance.derive.symmetries.Symmetries`) and compare with its dimension."""
    out = LayerCheck(norm.id, analysis.kind, backend)
    try:
        _available(norm, backend)
    except NoCounterpart as err:
        out.unavailable = str(err)
        return out
    for c in analysis.certificates:
        if c.rank is None:
            continue
        try:
            m = measure(norm, analysis.kind, c.sizes, backend, seed)
        except (ValueError, ArithmeticError) as err:   # e.g. a user's op refusing these sizes
            out.error = f"the {backend} layer raised {type(err).__name__} at {c.sizes}: {' '.join(str(err).split())}"
            return out
        out.measurements.append(Measurement(m.sizes, m.spectrum, m.method, c.expected, c.columns - c.rank, m.note))
    return out


def _available(norm, backend: str) -> None:
    if backend == "torch":
        if norm.torch is None:
            raise NoCounterpart(f"{norm.id} has no PyTorch counterpart (Normalizer.torch)")
        if norm.model.c is not None and not norm.torch.vmap:
            raise NoCounterpart(f"{norm.id}'s PyTorch counterpart takes no linear bias")
    if norm.trainable:
        raise NoCounterpart(f"{norm.id}'s numeric op holds its trainable scalars "
                            f"({', '.join(t.name for t in norm.trainable)}) fixed")
    if norm.model.c is not None and norm.model.c not in norm.constants:
        raise NoCounterpart(f"{norm.id} registers no value of the linear bias c that its numeric op adds")


# --- the point, and h as a function of the kind's variables -----------------------------------------
def _point(norm, sizes: dict, kind: str, rng: np.random.Generator):
    """Float64 shapes and K stacked points: shared parameters and K inputs (parameter kind), or
    shared data and K parameter values (data kind).  Standard normal, gains in +-[0.5, 2]."""
    b = norm.build(0)
    shapes = shapes_of(b, concrete(b, {k: v for k, v in sizes.items() if k != "groups"}))
    names = ("X",) if kind == "data" else tuple(k for k in ("W", "g", "b", "c") if k in shapes)
    cols = sum(math.prod(shapes[k]) for k in names)
    outputs = math.prod(shapes["X"][:1]) * shapes["W"][0] * math.prod(shapes["X"][2:])
    K = max(2, -(-ROWS_PER_COLUMN * cols // outputs))

    def draw(name, lead=()):
        if name == "g":
            return rng.uniform(0.5, 2.0, size=lead + shapes[name]) * rng.choice([-1.0, 1.0], size=lead + shapes[name])
        return rng.normal(size=lead + shapes[name])
    fixed = {k: draw(k, (K,)) for k in shapes if k not in names}     # the K inputs, or parameter values
    free = {k: draw(k) for k in names}                               # the variables, shared
    return shapes, names, free, fixed, K


def _registered_c(norm, H: int) -> np.ndarray:
    return np.array([float(v) for v in norm.constants[norm.model.c]][:H])


def _h_numpy(norm, free: dict, fixed: dict, lead: int) -> np.ndarray:
    """h for ``lead`` copies of the variables (leading axis) at each of the K stacked points:
    shape (lead, K, outputs).  The numeric op adds its registered c; a + (c - c_registered) moves it."""
    v = {k: x[:, None] for k, x in free.items()} | {k: x[None] for k, x in fixed.items()}
    W, X, g, b = v["W"], v["X"], v["g"], v["b"]
    a = layers.summed_inputs(W, X)
    conv = X.ndim == W.ndim + 1
    expand = (lambda t: t[..., None, :, None]) if conv else (lambda t: t[..., None, :])
    if "c" in v:
        a = a + expand(v["c"] - _registered_c(norm, W.shape[-2]))
    z = norm.numeric(a, W, 0.0, **norm.numeric_kwargs)
    h = expand(g) * z + expand(b)
    return h.reshape(h.shape[0], h.shape[1], -1)


def _flat(free: dict, names) -> np.ndarray:
    return np.concatenate([free[k].ravel() for k in names])


def _unflat(theta: np.ndarray, free: dict, names) -> dict:
    """``theta`` (lead, columns) back into the variables, each (lead, *shape)."""
    out, k = {}, 0
    for n in names:
        size = free[n].size
        out[n] = theta[:, k:k + size].reshape((theta.shape[0],) + free[n].shape)
        k += size
    return out


def _rows(h: np.ndarray) -> np.ndarray:
    """(columns, K, outputs) -> the Jacobian, one row per output of each stacked point."""
    return h.reshape(h.shape[0], -1).T


def _complex_step(norm, free, fixed, names):
    theta = _flat(free, names)
    P = theta.size
    moved = theta[None].astype(complex) + 1j * COMPLEX_STEP * np.eye(P)
    with layers.complex_step():
        h = _h_numpy(norm, _unflat(moved, free, names), fixed, P)
    if not np.iscomplexobj(h):
        raise TypeError("the op returned real values for complex input")
    return _rows(h.imag / COMPLEX_STEP)


def _central(norm, free, fixed, names, scale: float = 1.0):
    """Central differences and an estimate of each entry's error (Richardson, plus rounding)."""
    theta = _flat(free, names)
    P = theta.size
    step = FD_STEP * np.maximum(1.0, np.abs(theta))
    steps = np.diag(step)
    f = lambda d: _h_numpy(norm, _unflat(theta[None] + d, free, names), fixed, P)   # noqa: E731
    D1 = (f(steps) - f(-steps)) / (2 * step[:, None, None])
    D2 = (f(2 * steps) - f(-2 * steps)) / (4 * step[:, None, None])
    h0 = _h_numpy(norm, _unflat(theta[None], free, names), fixed, 1)
    M = h0.shape[-1]                       # no statistic sums more values than one point's outputs
    rounding = M * EPS64 * np.abs(h0).max() / step[:, None, None]
    err = np.abs(D1 - D2) / 3 + rounding
    return _rows(D1), _rows(err)


def _torch_jacobian(norm, shapes, free, fixed, names, K: int):
    """Reverse mode through the PyTorch counterpart, one stacked point at a time."""
    import torch
    op = norm.torch
    t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in fixed.items()}
    theta0 = torch.as_tensor(_flat(free, names), dtype=torch.float64)
    c0 = (torch.as_tensor(_registered_c(norm, shapes["W"][0]), dtype=torch.float64)
          if norm.model.c is not None else None)

    def h(theta):
        parts, k = {}, 0
        for n in names:
            size = free[n].size
            parts[n] = theta[k:k + size].reshape(free[n].shape)
            k += size
        outs = []
        for s in range(K):
            v = {n: (parts[n] if n in parts else t[n][s]) for n in ("W", "X", "g", "b", "c") if n in parts or n in t}
            W, X = v["W"], v["X"]
            if c0 is not None:   # the op adds its registered c: a column c - c0 on a constant input 1
                W = torch.cat([W, (v["c"] - c0)[:, None]], -1)
                X = torch.cat([X, torch.ones(X.shape[:-1] + (1,), dtype=X.dtype)], -1)
            outs.append(op.layer(W, X, v["g"], v["b"], 0.0).reshape(-1))
        return torch.cat(outs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # tiny tensors: one thread is faster (see numeric/torch_backend.py)
    try:
        J = torch.autograd.functional.jacobian(h, theta0, vectorize=False)
    finally:
        torch.set_num_threads(threads)
    return J.numpy()


@dataclass(frozen=True)
class _Measured:
    sizes: dict
    spectrum: Spectrum
    method: str
    note: str = ""


def measure(norm, kind: str, sizes: dict, backend: str = "numpy", seed: int = 0, method: str | None = None):
    """The measured dimension of ``norm``'s symmetries of ``kind`` at ``sizes`` (axis name -> int).

    ``method`` forces "complex step" or "central differences" (NumPy); by default the complex step
    where the op supports it.  Returns an object with ``sizes``, ``spectrum``, ``method``, ``note``.
    """
    _available(norm, backend)
    key = f"{norm.id}|{kind}|{sorted(sizes.items())}".encode()
    rng = np.random.default_rng([seed, zlib.crc32(key)])
    shapes, names, free, fixed, K = _point(norm, sizes, kind, rng)
    if backend == "torch":
        J = _torch_jacobian(norm, shapes, free, fixed, names, K)
        return _Measured(dict(sizes), spectrum(J, max(J.shape) * EPS64), "reverse mode")
    J_fd, err = _central(norm, free, fixed, names)
    top = max(float(np.linalg.norm(J_fd, 2)), 1e-300)
    fd_threshold = max(max(J_fd.shape) * EPS64, 2 * float(np.linalg.norm(err)) / top)
    note = ""
    if method != "central differences":
        try:
            J = _complex_step(norm, free, fixed, names)
        except (TypeError, ValueError, FloatingPointError) as why:
            note = f"central differences: the op does not take complex input ({why})"
        else:
            off = np.linalg.norm(J - J_fd) / max(np.linalg.norm(J_fd), 1e-300)
            if off <= CONSISTENT or method == "complex step":
                return _Measured(dict(sizes), spectrum(J, max(J.shape) * EPS64), "complex step")
            note = (f"central differences: the complex step differs from them by {off:.1e} relative "
                    "(the op is not analytic)")
    return _Measured(dict(sizes), spectrum(J_fd, fd_threshold), "central differences", note)


