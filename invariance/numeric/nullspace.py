"""The symmetries of your own module, measured: the null space of its Jacobian.

A direction v in the space of the module's trainable parameters theta is a
symmetry (to first order) when the output does not move along it, for every
input: J v = 0, where J stacks the Jacobian d output / d theta over B batches of
N random cases.  Its null space dimension is the number of independent such
directions at the module's own parameters (a fresh module's gain of 1 or bias
of 0 can add some: they are measured, not assumed).  Computed in float64 by
reverse-mode autodiff, one row per output value; B is chosen so that J has at
least twice as many rows as columns, and the dimension is measured again with
half the batches (when the two agree, more batches would not lower it).

With ``input_directions``, each batch's input X_b joins the variables: the
directions of the input alone (per batch), and those that need the parameters
and the input together (e.g. W -> W A with x -> A^-1 x), are counted too.

Each direction is printed with a numeric witness: a basis vector of the null
space (pivoted so that one entry is 1 and other pivots 0), its largest entries
by parameter name, |J v| relative to sigma_max, and how far the output moves
for a finite step along it (rounding for a line of symmetries, second order for
a curved one).
"""
from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import numpy as np

from .probe_layer import POSITIONS, select_output

__all__ = ["Symmetries", "measure", "MAX_PARAMETERS", "CASES"]

MAX_PARAMETERS = 3000   # beyond this the SVD of J (about 2P x P) is left out, and the report says so
CASES = 8               # cases a batch: the N over which a train-mode batch norm takes its statistics
SHOWN = 8               # directions printed with their witness; the rest are summarized
STEP = 1e-3             # the finite step of the witness, relative to |theta|
EPS64 = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Spectrum:
    """The numerical rank of a matrix, with the threshold and the gap around it."""

    rows: int
    columns: int
    rank: int
    threshold: float              # relative to sigma_max
    last_kept: float | None       # relative to sigma_max
    first_dropped: float | None   # relative to sigma_max

    @property
    def dimension(self) -> int:
        return self.columns - self.rank

    def margin(self) -> str:
        if self.first_dropped is None and self.last_kept is not None:
            return (f"singular values below max({self.rows}, {self.columns}) eps64 sigma_max = "
                    f"{self.threshold:.2g} sigma_max count as zero; margin: none dropped, the last kept "
                    f"{self.last_kept:.2g} sigma_max, {self.last_kept / self.threshold:.2g} times the threshold")
        kept = "-" if self.last_kept is None else f"{self.last_kept:.2g}"
        dropped = "-" if self.first_dropped is None else f"{self.first_dropped:.2g}"
        gap = (f", a gap of {self.last_kept / max(self.first_dropped, 1e-300):.2g}"
               if self.last_kept is not None and self.first_dropped is not None else "")
        return (f"singular values below max({self.rows}, {self.columns}) eps64 sigma_max = "
                f"{self.threshold:.2g} sigma_max count as zero; margin: last kept {kept}, first dropped "
                f"{dropped} (x sigma_max){gap}")


def _spectrum(J: np.ndarray):
    """(Spectrum, orthonormal null basis (columns x dimension)) of J.

    The rank threshold: a singular value below max(M, P) * eps64 * sigma_max counts as zero.
    J is computed in float64, each entry with a relative rounding error of a few eps64 (2.2e-16)
    from the forward and backward passes; the SVD is backward stable, so the computed singular
    values are those of J + E with ||E||_2 of order eps64 ||J||_2, and max(M, P) bounds how the
    entries' errors add up in the 2-norm (numpy.linalg.matrix_rank's default, after Golub and
    Van Loan).  Below it a singular value cannot be told from zero in float64; the margin printed
    is the gap between the last kept and the first dropped one, so a reader sees how clear the
    dimension is (here the dropped ones sit near 1e-16 and the kept ones many orders above).
    """
    M, P = J.shape
    _, s, Vt = np.linalg.svd(J, full_matrices=M < P)
    top = float(s[0]) if s.size and s[0] > 0 else 0.0
    threshold = max(M, P) * EPS64
    rank = int((s > threshold * top).sum()) if top else 0
    rel = s / top if top else s
    spec = Spectrum(M, P, rank, threshold, float(rel[rank - 1]) if rank else None,
                    float(rel[rank]) if rank < s.size else (0.0 if rank < P else None))
    return spec, Vt[rank:].T


def _readable(N: np.ndarray):
    """The null basis N (P x k) rotated so that k pivot entries form the identity: each vector
    then has one entry 1 (its pivot) and 0 at the other pivots, which reads more easily."""
    R, piv = N.copy(), []
    for _ in range(N.shape[1]):
        norms = (R * R).sum(1)
        norms[piv] = -1.0
        i = int(np.argmax(norms))
        piv.append(i)
        q = R[i] / np.linalg.norm(R[i])
        R = R - np.outer(R @ q, q)
    return N @ np.linalg.inv(N[piv]) if piv else N


@dataclass(frozen=True)
class Direction:
    entries: tuple[tuple[str, float], ...]   # (name[index], value), largest first
    size: int                                # its non-zero entries
    residual: float                          # |J v| / (sigma_max |v|)
    step: float | None                       # max |f(theta + t v/|v|) - f(theta)| / max |f|, t = STEP |theta|

    def text(self, k: int) -> str:
        shown = ", ".join(f"{n} {v:+.3g}" for n, v in self.entries)
        more = f" (+{self.size - len(self.entries)} more)" if self.size > len(self.entries) else ""
        step = ("" if self.step is None else f"; a step of {STEP:g} |theta| along it moves the output by "
                f"{self.step:.2g} (relative)")
        return f"direction {k}: {shown}{more}; |J v| = {self.residual:.2g} sigma_max |v|{step}"


@dataclass(frozen=True)
class Symmetries:
    parameters: int
    outputs: int          # output values a batch
    batches: int
    cases: int
    spectrum: Spectrum
    half: int             # the dimension with half the batches
    directions: tuple[Direction, ...]
    touched: tuple[str, ...]      # the parameters the directions not shown involve
    inputs: dict | None = None    # with input_directions: per batch, joint, and witnesses

    @property
    def dimension(self) -> int:
        return self.spectrum.dimension

    def lines(self) -> list[str]:
        s = self.spectrum
        out = [f"symmetries, measured on the module as it is: the Jacobian of its {self.outputs} output values "
               f"a batch with respect to its {self.parameters} trainable parameters, stacked over "
               f"{self.batches} batches of N = {self.cases} random cases ({s.rows} x {s.columns}), in float64",
               f"  null space dimension {self.dimension} (rank {s.rank} of {s.columns}); {s.margin()}; with "
               f"half the batches: {self.half}" + (" (settled)" if self.half == self.dimension else
                                                   " (not settled: more batches may lower it)")]
        out += ["  " + d.text(k + 1) for k, d in enumerate(self.directions)]
        if self.dimension > len(self.directions):
            out.append(f"  ... and {self.dimension - len(self.directions)} more directions, in: "
                       + ", ".join(self.touched))
        if self.inputs:
            i = self.inputs
            out.append(f"  with the input as a variable too ({i['input_size']} values a batch): directions of the "
                       f"input alone {i['per_batch']} a batch (of N = {self.cases} cases); of the parameters and "
                       f"the input together, beyond each alone: {i['joint']}; {i['spectrum'].margin()}")
            out += ["  input " + d.text(k + 1) for k, d in enumerate(i["witnesses"])]
            out += ["  joint " + d.text(k + 1) for k, d in enumerate(i["joint_witnesses"])]
        return out


def _names(module) -> list[str]:
    names = []
    for name, p in module.named_parameters():
        if p.requires_grad:
            names += [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*p.shape)] if p.ndim else [name]
    return names


def _direction(v, names, J, top, f=None) -> Direction:
    big = np.flatnonzero(np.abs(v) > 1e-8 * np.abs(v).max())
    order = big[np.argsort(-np.abs(v[big]), kind="stable")]
    residual = float(np.linalg.norm(J @ v) / (top * np.linalg.norm(v))) if top else 0.0
    return Direction(tuple((names[k], float(v[k])) for k in order[:4]), int(big.size), residual,
                     None if f is None else f(v / np.linalg.norm(v)))


def measure(layer, input_directions: bool = False, seed: int = 0, cases: int = CASES):
    """The null space of the module's Jacobian (see the module docstring); ``layer`` is the probe's
    :class:`invariance.numeric.probe_layer.TorchLayer`.  Returns :class:`Symmetries`, or a str
    saying why it was not measured."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the module's warnings were reported with its row
        return _measure(layer, input_directions, seed, cases)


def _measure(layer, input_directions, seed, cases):
    import torch
    from torch.nn.utils import parameters_to_vector, vector_to_parameters
    module = copy.deepcopy(layer.pristine)
    params = [p for p in module.parameters() if p.requires_grad]
    P = sum(p.numel() for p in params)
    if P == 0:
        return "the module has no trainable parameter"
    if P > MAX_PARAMETERS:
        return (f"the module has {P} trainable parameters; the null space is measured up to "
                f"{MAX_PARAMETERS} (an SVD of about 2P x P in float64); probe a smaller module")
    rng = np.random.default_rng(seed)
    shape = (cases, layer.D_in) + (POSITIONS,) * bool(layer.weight.conv) + (1,) * (layer.weight.conv == 2)
    r = cases * layer.out_size
    B = max(3, math.ceil(2 * P / r))
    X = [rng.normal(size=shape) for _ in range(B)]

    def output(x):
        return select_output(module(x), layer.output).reshape(-1)

    J, Jx = _jacobian(X, output, params, input_directions)
    spec, null = _spectrum(J)
    half, _ = _spectrum(J[: math.ceil(B / 2) * r])
    names = _names(module)
    theta = parameters_to_vector(params).detach().clone()
    x0 = torch.as_tensor(X[0], dtype=torch.float64)
    with torch.no_grad():
        f0 = output(x0).numpy()

    def step(v):
        t = STEP * max(float(theta.norm()), 1.0)
        with torch.no_grad():
            vector_to_parameters(theta + t * torch.as_tensor(v), params)
            moved = output(x0).numpy()
            vector_to_parameters(theta, params)
        return float(np.abs(moved - f0).max() / max(np.abs(f0).max(), np.finfo(float).tiny))

    top = float(np.linalg.svd(J, compute_uv=False)[0]) if J.size else 0.0
    basis = _readable(null)
    shown = tuple(_direction(basis[:, k], names, J, top, step) for k in range(min(SHOWN, basis.shape[1])))
    rest = basis[:, len(shown):]
    touched = tuple(dict.fromkeys(n.split("[")[0] for n, used in zip(names, (np.abs(rest) > 1e-8).any(1)) if used))
    inputs = _inputs(J, Jx, B, r, spec, names, shape) if input_directions else None
    return Symmetries(P, r, B, cases, spec, half.dimension, shown, touched, inputs)


def _jacobian(X, output, params, with_input: bool):
    """d output / d parameters (and d output / d input), one row per output value, batch after batch."""
    import torch
    rows_p, rows_x = [], []
    for Xb in X:
        x = torch.as_tensor(Xb, dtype=torch.float64).requires_grad_(with_input)
        out = output(x)
        wrt = params + [x] * with_input
        for k in range(out.numel()):
            gs = torch.autograd.grad(out[k], wrt, retain_graph=True, allow_unused=True)
            flat = [torch.zeros(v.numel(), dtype=torch.float64) if g is None else g.reshape(-1)
                    for g, v in zip(gs, wrt)]
            rows_p.append(torch.cat(flat[:len(params)]))
            if with_input:
                rows_x.append(flat[-1])
    Jx = torch.stack(rows_x).detach().numpy() if with_input else None
    return torch.stack(rows_p).detach().numpy(), Jx


def _inputs(Jp, Jx, B, r, spec_p, names, shape) -> dict:
    """The directions of the input alone (each batch's own block) and of parameters and input
    together beyond those: dim null [Jp | blockdiag(Jx_b)] - dim null Jp - sum_b dim null Jx_b,
    since the two kinds of directions meet only in 0."""
    c = Jx.shape[1]
    blocks = [Jx[b * r:(b + 1) * r] for b in range(B)]
    per = [_spectrum(Jb)[0].dimension for b, Jb in enumerate(blocks)]
    full = np.zeros((Jp.shape[0], Jp.shape[1] + B * c))
    full[:, :Jp.shape[1]] = Jp
    for b, Jb in enumerate(blocks):
        full[b * r:(b + 1) * r, Jp.shape[1] + b * c: Jp.shape[1] + (b + 1) * c] = Jb
    spec, null = _spectrum(full)
    joint = spec.dimension - spec_p.dimension - sum(per)
    xnames = [f"x{b}[{','.join(map(str, i))}]" for b in range(B) for i in np.ndindex(*shape)]
    _, n0 = _spectrum(blocks[0])
    top0 = float(np.linalg.svd(blocks[0], compute_uv=False)[0]) if blocks[0].size else 0.0
    wit = [_direction(v, xnames[:c], blocks[0], top0) for v in _readable(n0).T[:3]]
    # the joint directions: the part of the whole null space outside parameters-alone and input-alone
    _, np_ = _spectrum(Jp)
    alone = np.vstack([np_, np.zeros((B * c, np_.shape[1]))])
    for b, Jb in enumerate(blocks):
        _, nb = _spectrum(Jb)
        pad = np.zeros((full.shape[1], nb.shape[1]))
        pad[Jp.shape[1] + b * c: Jp.shape[1] + (b + 1) * c] = nb
        alone = np.hstack([alone, pad])
    jw = []
    if joint > 0 and null.size:
        Q = np.linalg.qr(alone)[0] if alone.size else alone
        rest = null - Q @ (Q.T @ null) if alone.size else null
        U = np.linalg.svd(rest, full_matrices=False)[0][:, :joint]
        allnames = names + xnames
        top = float(np.linalg.svd(full, compute_uv=False)[0])
        jw = [_direction(v, allnames, full, top) for v in _readable(U).T[:3]]
    return {"per_batch": min(per) if min(per) == max(per) else f"{min(per)} to {max(per)}", "joint": joint,
            "spectrum": spec, "input_size": c, "witnesses": wit, "joint_witnesses": jw}
