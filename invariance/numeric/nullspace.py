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

:func:`compare` sets the measured null space against a registered row's proved
basis (:func:`invariance.derive.symmetries.symmetries`, parameter kind): each
family's tangents are evaluated exactly (:func:`invariance.core.jacobian.tangents`)
at the module's own W, g, b, c and running statistics, placed among all its
parameters (0 on those outside the row's tensors), and each is contained when
|J v| <= max(M, P) eps64 sigma_max |v|, the rank's own threshold.  The expected
dimension is the row's formula at the module's sizes, less the families proved
at eps = 0 only that the module's eps breaks, and those that move a tensor the
module does not have; measured directions outside the contained ones' span are
extra, each with a witness.
"""
from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .probe_layer import POSITIONS, select_output

__all__ = ["Symmetries", "measure", "compare", "Comparison", "MAX_PARAMETERS", "CASES", "Spectrum",
           "from_singular_values"]

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
    spec = from_singular_values(s, J.shape, max(M, P) * EPS64)
    return spec, Vt[spec.rank:].T


def from_singular_values(s: np.ndarray, shape: tuple, threshold: float) -> Spectrum:
    """The rank of a matrix of ``shape`` with singular values ``s`` (largest first): those above
    ``threshold`` sigma_max; and the last kept and first dropped, relative to sigma_max."""
    top = float(s[0]) if s.size and s[0] > 0 else 0.0
    rel = s / top if top else np.zeros_like(s)
    rank = int((rel > threshold).sum()) if top else 0
    return Spectrum(shape[0], shape[1], rank, float(threshold), float(rel[rank - 1]) if rank else None,
                    float(rel[rank]) if rank < s.size else (0.0 if rank < shape[1] else None))


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
    # for the comparison with a registered row (probe.py drops them after): J, its orthonormal
    # null basis, sigma_max, and each column's name
    jacobian: np.ndarray | None = field(default=None, repr=False, compare=False)
    null: np.ndarray | None = field(default=None, repr=False, compare=False)
    top: float = 0.0
    names: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def dimension(self) -> int:
        return self.spectrum.dimension

    def lines(self, directions: bool = True) -> list[str]:
        """What the probe prints; without ``directions`` the pivoted basis is left out (a comparison
        with a row names the directions instead)."""
        s = self.spectrum
        out = [f"symmetries, measured on the module as it is: the Jacobian of its {self.outputs} output values "
               f"a batch with respect to its {self.parameters} trainable parameters, stacked over "
               f"{self.batches} batches of N = {self.cases} random cases ({s.rows} x {s.columns}), in float64",
               f"  null space dimension {self.dimension} (rank {s.rank} of {s.columns}); {s.margin()}; with "
               f"half the batches: {self.half}" + (" (settled)" if self.half == self.dimension else
                                                   " (not settled: more batches may lower it)")]
        out += ["  " + d.text(k + 1) for k, d in enumerate(self.directions) if directions]
        if self.dimension > len(self.directions) and directions:
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
    return Symmetries(P, r, B, cases, spec, half.dimension, shown, touched, inputs, J, null, top, tuple(names))


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


# -- the comparison with a registered row -------------------------------------------------------
@dataclass(frozen=True)
class Named:
    """One family of the row's proved basis, measured on the module: its directions' worst witness."""

    family: str
    words: str
    count: str           # its number of directions, as the row's formula writes it
    value: int           # ... at the module's sizes
    residual: float      # the largest |J v| / (sigma_max |v|) over its directions here
    status: str          # contained, missing, eps (broken by the module's eps, as proved), absent
    why: str = ""

    def text(self) -> str:
        count = self.count if self.count == str(self.value) else f"{self.count} = {self.value}"
        word = {"contained": "contained", "missing": "MISSING", "eps": "eps = 0 only", "absent": "not here"}
        return (f"{word[self.status]:<13} {count:<7} {self.words}: |J v| "
                f"{'<=' if self.value > 1 else '='} {self.residual:.2g} sigma_max |v|"
                + (f" ({self.why})" if self.why else ""))


@dataclass(frozen=True)
class Comparison:
    """The measured null space against the named directions of a registered row."""

    row: str
    formula: str
    sizes: str
    expected: int
    measured: int
    threshold: float
    named: tuple[Named, ...]
    extra: tuple[Direction, ...]
    extra_count: int
    where: str
    others: int          # trainable parameters outside the row's tensors: the named directions are 0 there
    degenerate: str = "" # why the formula does not hold at the module's sizes (then nothing is asserted)
    full: int = 0        # the formula at the module's sizes (expected: less what the module's eps breaks)

    @property
    def missing(self) -> list[Named]:
        return [n for n in self.named if n.status == "missing"]

    @property
    def agrees(self) -> bool:
        return bool(self.degenerate) or (self.expected == self.measured and not self.missing and not self.extra_count)

    def lines(self, name: str) -> list[str]:
        less = ("" if self.full == self.expected else
                f" ({self.full} less {self.full - self.expected} not expected, below)")
        out = [f"  expected, from `symmetries {self.row}` (dimension {self.formula}) at {self.sizes}: {self.expected}"
               f"{less}; measured {self.measured}" + (f" (not asserted: {self.degenerate})" if self.degenerate else
                                                ": agrees" if self.agrees else ""),
               f"  the row's tensors: {self.where}; {self.others} other parameters (the named directions are 0 there)"]
        out += ["    " + n.text() for n in self.named]
        out += ["    EXTRA " + d.text(k + 1) for k, d in enumerate(self.extra)]
        if self.extra_count > len(self.extra):
            out.append(f"    ... and {self.extra_count - len(self.extra)} more extra directions")
        out.append(f"  a direction is in the null space when |J v| <= {self.threshold:.2g} sigma_max |v| (the rank's "
                   "threshold)")
        if not self.agrees:
            out.append(f"DISAGREEMENT {name} symmetries: measured null space dimension {self.measured}, expected "
                       f"{self.expected} from {self.row}'s proved basis ({len(self.missing)} named missing, "
                       f"{self.extra_count} extra)")
        return out


def compare(sym: Symmetries, layer, norm, eps: float | None, seed: int = 0) -> Comparison:
    """The measured null space of ``sym`` against the proved basis of ``norm`` (parameter kind),
    each family's tangents evaluated exactly at the module's own W, g, b, c (and running
    statistics), placed among all the module's parameters (0 outside the row's tensors).

    ``eps``: the module's epsilon (None: several).  A family proved at eps = 0 only is expected
    when the module's eps is 0, or when its directions measure within rounding (eps below
    float64's resolution); otherwise it is shown as broken by eps, as proved, and not expected.
    """
    import sympy as sp
    from ..core.jacobian import Ball, columns_of, concrete, shapes_of, tangents
    from ..core.model import EPS
    from ..catalogue.families import size_value
    from ..derive.symmetries import symmetries
    proved = symmetries(norm, "parameter", seed=seed)
    rt, w = layer.row_tensors(norm.model.c is not None), layer.weight
    axes = {"case": sym.cases, "unit": w.H, "input": w.D} | ({"position": POSITIONS} if w.conv else {})
    groups = (rt.groups or norm.groups) if norm.groups else None
    b = norm.build(sp.S.Zero)
    sizes = concrete(b, axes)
    for s in sizes:
        if str(s) == "S":                      # the group size: the module's own number of groups
            sizes[s] = w.H // groups
    cols = columns_of(b, sizes, "parameter")
    params = [(n, p) for n, p in layer.pristine.named_parameters() if p.requires_grad]
    start, offset = {}, 0
    for n, p in params:
        start[n], offset = offset, offset + p.numel()
    value = {n: p.detach().numpy().astype(float) for n, p in params}
    fill = {"W": None, "g": np.ones(w.H), "b": np.zeros(w.H), "c": np.zeros(w.H)}
    fill |= {t.name: np.array(float(norm.constants.get(t, 1))) for t in norm.trainable}   # a layer's own scalars
    rng = np.random.default_rng(seed)
    point = {}
    for k, shape in shapes_of(b, sizes).items():
        held = rt.names.get(k)
        a = value[held].reshape(shape) if held else fill[k] if k != "X" else rng.choice([-2, -1, 1, 2, 3], shape)
        point[k] = _fractions(np.asarray(a, dtype=float))
    vectors = _tangents_here(norm, b, rt, sizes, point, cols, tangents)

    def place(vec):
        out, absent = np.zeros(offset), set()
        for (k, idx), x in zip(cols, vec):
            x = float(x.m) if isinstance(x, Ball) else float(x)
            if x == 0:
                continue
            if rt.names.get(k) is None:
                absent.add(k)
                continue
            shape = value[rt.names[k]].shape
            flat = int(np.ravel_multi_index(tuple(i - 1 for i in idx), shape[:len(idx)]))
            out[start[rt.names[k]] + flat * int(np.prod(shape[len(idx):]))] = x
        return out, absent

    J, top, thr = sym.jacobian, sym.top, sym.spectrum.threshold
    named, kept = [], []
    for d in proved.basis:
        placed = [place(v) for v in vectors(d.family)]
        absent = sorted(set().union(*[a for _, a in placed]))
        res = max((float(np.linalg.norm(J @ v) / (top * np.linalg.norm(v))) if top and v.any() else 0.0)
                  for v, _ in placed)
        # thr is the rank's: |J v| of an exact null direction is |E v| <= ||E||_2 |v|, E the float64
        # rounding of J, whose norm that threshold bounds (see _spectrum)
        eps0 = sp.Eq(EPS, 0) in d.cell.conditions and eps != 0
        status, why = ("contained", "") if res <= thr else ("missing", "")
        if absent:
            status, why = "absent", f"it moves {', '.join(absent)}, which the module does not have"
        elif eps0 and res <= thr:
            why = f"proved at eps = 0; the module's eps = {_eps(eps)} is below float64's resolution here"
        elif eps0:
            status, why = "eps", f"proved at eps = 0 only; broken by the module's eps = {_eps(eps)}, not expected"
        named.append(Named(d.family.id, d.family.words, str(d.count), size_value(d.count, norm.model, axes, groups),
                           res, status, why))
        if status == "contained":
            kept += [v for v, _ in placed]
    expected = sum(n.value for n in named if n.status in ("contained", "missing"))
    extra, count = _extra(sym, kept)
    sizes_text = ", ".join(f"{k} = {v}" for k, v in (("H", w.H), ("D", w.D), ("G", groups)) if v) + (
        f", P = {POSITIONS}" if w.conv else "")
    held = sum(int(np.prod(value[n].shape)) for n in set(rt.names.values()) if n)
    return Comparison(norm.id, str(proved.dimension), sizes_text, expected, sym.dimension, thr, tuple(named),
                      extra, count, rt.where, offset - held, _degenerate(proved, norm, axes, groups),
                      size_value(proved.dimension, norm.model, axes, groups))


def _degenerate(proved, norm, axes: dict, groups) -> str:
    """Why the row's formula need not hold at the module's sizes: a statistic over fewer than 3
    values (over 2 it is +-1 and has more directions; `symmetries` certifies every axis >= 3 and
    lists the degenerate sizes it found)."""
    found = [f"{d.axis} = {d.size}" for d in proved.degenerate if axes.get(d.axis) == d.size]
    if groups and axes["unit"] // groups < 3:
        found.append(f"groups of {axes['unit'] // groups} units")
    return (", ".join(found) + f": a degenerate size of {norm.id}, where its formula need not hold") if found else ""


def _eps(eps) -> str:
    return "several" if eps is None else f"{eps:.3g}"


def _fractions(a: np.ndarray):
    """A float64 array as nested lists of exact Fractions (every float64 is a rational)."""
    from fractions import Fraction
    return [_fractions(x) for x in a] if a.ndim else Fraction(float(a))


def _tangents_here(norm, b, rt, sizes, point, cols, tangents):
    """family -> its tangent vectors at ``point``; where the row's constants are running statistics
    (m, v) and the module's batch norm holds its own per unit, unit i's entries are evaluated with
    unit i's (m_i, v_i + eps): the registry's constants are one value for every unit."""
    import dataclasses

    import sympy as sp
    from ..catalogue.normalizers import RUNNING_MEAN, RUNNING_VAR
    if rt.running is None or RUNNING_MEAN not in norm.constants:
        return lambda family: tangents(b, family, sizes, point, cols)
    mean, var = rt.running
    built = [dataclasses.replace(norm, constants={**norm.constants, RUNNING_MEAN: sp.Rational(float(m)),
                                                  RUNNING_VAR: sp.Rational(float(v))}).build(sp.S.Zero)
             for m, v in zip(mean, var)]

    def per_unit(family):
        out = None
        for i, bi in enumerate(built):
            vi = tangents(bi, family, sizes, point, cols)
            out = out or [list(v) for v in vi]
            for v, vv in zip(out, vi):
                for k, (_, idx) in enumerate(cols):
                    if idx[0] == i + 1:
                        v[k] = vv[k]
        return out
    return per_unit


def _extra(sym: Symmetries, kept: list) -> tuple[tuple[Direction, ...], int]:
    """The measured null directions outside the span of the contained named ones, with witnesses."""
    null, P = sym.null, len(sym.names)
    r, Q = 0, np.zeros((P, 0))
    if kept:
        E = np.array(kept).T
        U, s, _ = np.linalg.svd(E, full_matrices=False)
        # the named vectors are float64 roundings of exact values: rank by the same dtype threshold
        r = int((s > max(E.shape) * EPS64 * s[0]).sum())
        Q = U[:, :r]
    count = max(0, sym.dimension - r)
    if not count or null is None or not null.size:
        return (), count
    rest = null - Q @ (Q.T @ null)
    U = np.linalg.svd(rest, full_matrices=False)[0][:, :count]   # the part of the null space left over
    basis = _readable(U)
    return tuple(_direction(basis[:, k], list(sym.names), sym.jacobian, sym.top)
                 for k in range(min(3, count))), count
