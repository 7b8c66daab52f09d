"""The consequences of invariance, measured through the NumPy layers.

Gradients of a loss through the real layer (:mod:`invariance.catalogue.layers`) by
*complex-step differentiation*: :math:`\\partial f/\\partial x_k =
\\operatorname{Im} f(x + i h e_k) / h + O(h^2)`.  Unlike a finite difference
it subtracts nothing, so with :math:`h = 10^{-30}` the truncation error
(:math:`h^2 f'''/6`) is far below rounding and the derivative is as accurate
as the evaluation of f itself.  It needs every operation to be analytic: the
layers use ``d * d`` (never ``abs``), ``sqrt`` of a variance with positive
real part, ``tanh``; :func:`invariance.catalogue.layers.complex_step` lets them take
complex arrays.  The loss is a small network on top of the layer,
:math:`L(h) = \\tfrac12 \\sum_n \\lVert R \\tanh(h_n) - y_n \\rVert^2`.

Every claim is then evaluated *exactly* (Python fractions of the float64
values) from the derived expression itself (the constraint c, the law for
Q^+ ...), so the only error is that of the float64 gradients.  Tolerance:
the same gradients are computed again in extended precision
(``np.clongdouble``, 64-bit significand on x86-64), whose difference from
float64 is the float64 error to within :math:`2^{-11}` of it; the residual is
linear in the gradients, so its error is at most the residual's terms in
absolute value evaluated at :math:`|\\Delta G|` (times 2, for the extended
result's own error and slack), plus one unit roundoff of each term (a floor
where the two precisions happen to agree).
"""
from __future__ import annotations

import itertools
import random
import zlib
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy import Indexed, IndexedBase, Sum

from ..catalogue import layers
from ..catalogue.normalizers import LINEAR_BIAS
from ..core.algebra import Rule, evaluate, unfold
from ..core.consequence import Consequence
from ..core.training import C, ETA, GRAD, GRAD_T, LAM, Q, QDOT, XI
from ..derive.consequences import _derivation
from ..core.model import EPS
from .crosscheck import EXTENDED, U as UNIT_ROUNDOFF, random_sizes, transform
from ..catalogue.registry import TRANSFORMATIONS, acting as _transformation, normalizer as _normalizer

__all__ = ["gradients", "check_numeric", "sgd_run", "attach_numeric"]

LINEAR = np.array([float(v) for v in LINEAR_BIAS])   # the linear bias c the layer's op adds
STEP = 1e-30            # complex step: h^2 = 1e-60 relative truncation, far below rounding
ETA_VALUE, LAMBDA_VALUE, STEPS = 0.3, 0.1, 25


def _seed(*parts) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(str(p).encode()) for p in parts])


def _grid(x, bits: int):
    """x rounded to a multiple of 2^-bits, away from 0 (a scale factor stays positive)."""
    q = np.round(np.asarray(x, dtype=float) * 2.0 ** bits)
    return np.where(q == 0, np.sign(x) + (x == 0), q) / 2.0 ** bits


class Problem:
    """One random instance: the layer's inputs, a readout R and targets y (the loss)."""

    def __init__(self, norm_id: str, t_id: str, seed: int = 0, op=None):
        self.norm, self.t = _normalizer(norm_id), _transformation(t_id)
        self.op = op or self.norm.numeric
        rng = _seed(seed, norm_id, t_id)
        s = {k: max(v, 3) for k, v in random_sizes(self.norm, rng).items()}
        groups = self.norm.groups or 1     # at least 3 values under every statistic: none is constant
        s["H"] = groups * -(-s["H"] // groups)
        self.sizes = s
        # W, X on the grid 2^-20 and the parameters on the grid 1/16 (|values| < 16): then
        # W' and X' (a product of <= 30 significant bits, or a sum on one grid) are exact in
        # float64, and the only rounding left is the layer's, which the tolerance measures
        self.W = _grid(rng.normal(size=(s["H"], s["D"])), 20)
        self.X = _grid(rng.normal(size=(s["N"], s["D"]) + ((s["P"],) if "P" in s else ())), 20)
        self.g = rng.uniform(0.5, 2.0, size=s["H"])
        self.b = rng.normal(size=s["H"])
        features = s["H"] * s.get("P", 1)
        self.R = rng.normal(size=(3, features)) / np.sqrt(features)
        self.y = rng.normal(size=(s["N"], 3))
        # the linear bias c is a variable here (the layer's own, LINEAR_BIAS, is its value): the op adds
        # that constant, so c - LINEAR_BIAS is added to the summed inputs before it
        self.c = LINEAR[:s["H"]].copy() if self.norm.model.c is not None else None
        if self.t.id in TRANSFORMATIONS:
            self.params = {k: (_grid(v[0], 4) if isinstance(v, np.ndarray) else v)
                           for k, v in self.t.sample(rng, 1, s).items()}
        else:   # a family of directions: exact parameters (factors in {1/2, 3/2, 2, 3}, shifts rational)
            dims = {**s, "S": s["H"] // (self.norm.groups or 1)}
            self.params = self.t.values(self.t.exact(random.Random(seed), dims), dims)

    @property
    def point(self) -> dict:
        """The layer's tensors: W, X, g, b (and c)."""
        return {"W": self.W, "X": self.X, "g": self.g, "b": self.b} | ({"c": self.c} if self.c is not None else {})

    def loss(self, W, X, g=None, b=None, c=None, dtype=np.complex128):
        """L for a batch of (W, X, g, b, c) along a leading axis: 1/2 sum ||R tanh(h_n) - y_n||^2."""
        g, b = (self.g if g is None else g), (self.b if b is None else b)
        op = self.op
        if c is not None:
            shift = np.asarray(c) - LINEAR[:np.shape(c)[-1]]
            op = (lambda a, W, eps=0.0, **kw: self.op(a + shift[..., None, :], W, eps, **kw))
        with layers.complex_step():
            h = layers.layer(W, X, g, b, op, **self.norm.numeric_kwargs)   # cast to a's dtype
        z = np.tanh(h.reshape(h.shape[:h.ndim - 2 - (np.ndim(X) - np.ndim(W))] + (self.sizes["N"], -1)))
        r = z @ self.R.T.astype(dtype) - self.y.astype(dtype)
        return 0.5 * np.sum(r * r, axis=(-2, -1))

    def transformed(self) -> dict:
        """The point moved by the transformation: the table's by its NumPy form, a family's by its
        definitions evaluated exactly at the exact parameters."""
        if self.t.id in TRANSFORMATIONS:
            lead = {k: (np.asarray(v)[None] if not isinstance(v, int) else v) for k, v in self.params.items()}
            Wt, Xt = transform(self.t.id, self.W[None], self.X[None], lead)
            return self.point | {"W": Wt[0], "X": Xt[0]}
        from ..core.family import _entry, _primed, tensors
        m, out = self.norm.model, dict(self.point)
        arrays = {getattr(m, k): _fraction(v) for k, v in self.point.items()}
        scalars = {k: v for k, v in self.params.items() if not isinstance(k, IndexedBase)}
        arrays |= {k: _fraction(v) for k, v in self.params.items() if isinstance(k, IndexedBase)}
        env = {ax.size: self.sizes[{"case": "N", "unit": "H", "input": "D", "position": "P"}[ax.name]]
               for ax in (*m.axes, m.input)} | {sp.Symbol("S", integer=True, positive=True):
                                                 self.sizes["H"] // (self.norm.groups or 1)} | scalars
        for k in tensors(m):
            expr, idx, _ = _entry(m, k)
            moved = _primed(m, self.t, k)
            if moved == expr:
                continue
            shape = np.shape(self.point[k])
            out[k] = np.array([float(evaluate(moved, arrays, env | dict(zip(idx, [x + 1 for x in at]))))
                               for at in itertools.product(*map(range, shape))]).reshape(shape)
        return out


def gradients(p: Problem, W, X, dtype=np.complex128, **others) -> dict[str, np.ndarray]:
    """dL/dW, dL/dX, dL/dg, dL/db (and dL/dc) by complex steps at (W, X, and g, b, c as given, else the
    problem's), all entries of a tensor at once (one batch per tensor)."""
    real = np.float64 if dtype == np.complex128 else np.longdouble
    point = p.point | {"W": W, "X": X} | others
    out = {}
    for name, base in point.items():
        base = np.asarray(base)
        k = base.size
        eye = np.eye(k).reshape((k,) + base.shape)
        args = {n: np.asarray(v).astype(dtype)[None] for n, v in point.items()}
        args[name] = base.astype(dtype)[None] + 1j * dtype(STEP) * eye.astype(dtype)
        value = p.loss(**args, dtype=dtype)
        out[name] = (value.imag / real(STEP)).reshape(base.shape).astype(real)
    return out


# --- exact evaluation of derived expressions ------------------------------------------

def _fraction(x):
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_fraction(v) for v in x]
    if isinstance(x, (Fraction, int)) and not isinstance(x, bool):
        return Fraction(x)
    if isinstance(x, sp.Basic):
        return Fraction(int(x.p), int(x.q))
    return Fraction(*np.longdouble(x).as_integer_ratio()) if isinstance(x, np.longdouble) else Fraction(float(x))


def abs_bound(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every coefficient made non-negative: evaluated at |values| it bounds |expr|."""
    if isinstance(expr, (sp.Add, sp.Mul)):
        return expr.func(*[abs_bound(a) for a in expr.args])
    if isinstance(expr, Sum):
        return Sum(abs_bound(expr.function), *expr.limits)
    if isinstance(expr, sp.Pow):
        return sp.Pow(abs_bound(expr.base), expr.exp)
    if expr.is_Number:
        return abs(expr)
    return expr


class _Binding:
    """Symbols of a cell bound to the values of one instance (exact fractions): the sizes (S, a
    group's, too), the transformation's parameters, the layer's constants that a family's
    definitions name (running statistics mu_i, sigma_i: their values in the NumPy layer), ``values``."""

    def __init__(self, p: Problem, d, values: dict):
        m = d.m
        self.m, self.d = m, d
        s = p.sizes
        unit = m.axis("unit").size
        self.env = {m.axis("case").size: s["N"], unit: s["H"], m.input.size: s["D"],
                    sp.Symbol("S", integer=True, positive=True): s["H"] // (p.norm.groups or 1)}
        if "P" in s:
            self.env[m.axis("position").size] = s["P"]
        self.dims = {ax.index: self.env[ax.size] for ax in (*m.axes, m.input)} | \
            {sp.Symbol("u", integer=True): p.norm.groups or 1}
        bound = p.t.values(p.params, {"N": s["N"], "H": s["H"], "D": s["D"], **({"P": s["P"]} if "P" in s else {})}) \
            if p.t.id in TRANSFORMATIONS else p.params
        self.arrays, self.scalars = _constants(p, d), {}
        for k, v in {**bound, **values}.items():
            (self.arrays if isinstance(k, IndexedBase) else self.scalars)[k] = _fraction(v)

    def at_every(self, expr: sp.Expr, free: tuple) -> list[Fraction]:
        """``expr`` at every value of its free indices ``free``."""
        out = []
        for point in itertools.product(*[range(1, self.dims[k] + 1) for k in free]):
            env = {**self.env, **self.scalars, **dict(zip(free, point))}
            value = evaluate(expr, self.arrays, env)
            out.append(Fraction(int(value.p), int(value.q)))
        return out


def _constants(p: Problem, d) -> dict:
    """Per-unit quantities of the layer that a family's generator names (batch norm at inference's
    running mu_i, sigma_i; weight norm's sigma_i = ||w_i||): their cell definitions at the
    normalizer's constants and the problem's point, in float64, as the NumPy layer computes them
    (so that the layer's own function is the one whose symmetry is checked)."""
    from ..core.training import tensors
    m = d.m
    own = {getattr(m, k) for k in tensors(m)}
    named = {b for k, e in d.defs.items() if k.startswith("xi") for b in e.rhs.atoms(IndexedBase)} - own - {
        IndexedBase("v")}
    rules = [Rule(e.lhs, e.rhs) for e in d.cell_defs if isinstance(e.lhs, Indexed) and "'" not in e.name]
    arrays = {getattr(m, k): _fraction(v) for k, v in p.point.items()}
    env = {m.axis("case").size: p.sizes["N"], m.axis("unit").size: p.sizes["H"], m.input.size: p.sizes["D"]}
    out = {}
    for e in d.cell_defs:
        if isinstance(e.lhs, Indexed) and e.lhs.base in named:
            expr = e.rhs
            for _ in range(len(rules)):
                expr = unfold(expr, rules)
            expr = expr.xreplace(dict(p.norm.constants)).xreplace({EPS: 0})
            i = m.axis("unit").index
            out[e.lhs.base] = [_fraction(float(evaluate(expr, arrays, env | {i: k + 1})))
                               for k in range(p.sizes["H"])]
    return out


def _values(p: Problem, d, point: dict, grads: dict) -> dict:
    """Symbol -> array: the layer's tensors and their gradients."""
    return {getattr(d.m, k): v for k, v in point.items()} | {GRAD[k]: v for k, v in grads.items()}


def _abs_values(values: dict) -> dict:
    return {k: np.abs(np.asarray(v, dtype=np.longdouble if isinstance(v, np.ndarray) and v.dtype == np.longdouble
                                 else float)) for k, v in values.items()}


def _free(expr) -> tuple:
    """The free indices of ``expr``: integer symbols that are not sizes (in an entry, or in a
    sum's bounds, as a group's number u)."""
    return tuple(sorted((x for x in expr.free_symbols if x.is_integer and not x.is_positive), key=str))


def _residual_check(p: Problem, d, residual: sp.Expr, values: dict, errors: dict) -> dict:
    """|residual| against its tolerance, at every free index: the worst ratio and size."""
    free = _free(residual)
    exact = _Binding(p, d, values).at_every(residual, free)
    bound = abs_bound(residual)
    propagated = _Binding(p, d, {**_abs_values(values), **{k: np.abs(v) for k, v in errors.items()}}).at_every(bound, free)
    scale = _Binding(p, d, _abs_values(values)).at_every(bound, free)
    ratios, relative = [], []
    for r, e, s in zip(exact, propagated, scale):
        tol = 2 * e + Fraction(UNIT_ROUNDOFF) * s
        ratios.append(float(abs(r) / tol) if tol else (0.0 if r == 0 else float("inf")))
        relative.append(float(abs(r) / s) if s else 0.0)
    return {"max_ratio": max(ratios), "max_relative_residual": max(relative), "points": len(exact)}


def _extended_note() -> str:
    return "extended precision (longdouble)" if EXTENDED else "no wider longdouble here: unit-roundoff floor only"


def check_numeric(c: Consequence, seed: int = 0, op=None) -> dict:
    """Confirm one consequence on a random instance through the NumPy layer (``op`` to break it)."""
    if not c.applies:
        return {}
    d = _derivation(c.normalizer, c.transformation, any(x == sp.Eq(EPS, 0) for x in c.conditions))
    p = Problem(c.normalizer, c.transformation, seed, op)
    if c.consequence in ("sgd-norm-growth", "weight-decay-law"):
        return sgd_run(c, seed, op)["numeric"]
    if c.consequence == "hessian-scaling":
        return _hessian_check(c, d, p, seed)
    if c.consequence == "hessian-identity":
        return _identity_check(c, d, p, seed)
    G = gradients(p, p.W, p.X)
    Gx = gradients(p, p.W, p.X, np.clongdouble) if EXTENDED else G
    values = _values(p, d, p.point, G)
    errors = {GRAD[k]: G[k] - Gx[k].astype(float) for k in G}
    if c.consequence == "gradient-orthogonality":
        residual = d.defs[C].rhs
    elif c.consequence == "conserved-quantity":
        residual = d.defs[QDOT].rhs
    else:   # gradient-scaling, effective-learning-rate: the gradient at the transformed point
        moved = p.transformed()
        Gt = gradients(p, **moved)
        Gtx = gradients(p, **moved, dtype=np.clongdouble) if EXTENDED else Gt
        values |= {GRAD_T[k]: Gt[k] for k in Gt}
        errors |= {GRAD_T[k]: Gt[k] - Gtx[k].astype(float) for k in Gt}
        residual = c.conclusion.lhs - c.conclusion.rhs
        if c.consequence == "effective-learning-rate":   # W^+ and W' by their definitions, exactly
            residual = sp.expand(unfold(residual, [Rule(d.defs[k].lhs, d.defs[k].rhs) for k in ("W^+", "W'")]))
            values[ETA] = ETA_VALUE
    out = _residual_check(p, d, residual, values, errors)
    return {"method": "complex-step, residual evaluated exactly", "sizes": p.sizes, "seed": seed,
            "passed": out["max_ratio"] <= 1, **out, "tolerance": _extended_note()}


HVP_STEP = 1e-3   # central difference of the gradient: truncation ~ h^2 |L'''| / 6, rounding ~ |dG| / h


def _hvp(p: Problem, point: dict, var: str, direction: dict, h: float, dtype=np.complex128, exact: bool = False):
    """The Hessian's ``var`` rows times ``direction`` (tensor name -> array): central difference of
    complex-step gradients.

    Its truncation error is O(h^2): the value at h/2 is returned, with the change
    from h to h/2 divided by 3 as the estimate of that error (Richardson).  With ``exact``, the
    rounding of each moved point to float64 (e = fl(P + s d) - (P + s d), computed in fractions),
    which the difference would divide by h, is removed to first order: the gradient there, minus
    the Hessian times e (a difference along e itself, whose own error is e times rounding)."""
    def at(step):
        moved = {k: v + step * direction[k] if k in direction else v for k, v in point.items()}
        g = gradients(p, **moved, dtype=dtype)[var]
        if exact:
            err = {k: _float_error(point[k], step, direction[k], moved[k]) for k in direction}
            scale = max(float(np.abs(e).max()) for e in err.values())
            if scale:
                unit = {k: e / scale for k, e in err.items()}
                g = g - scale * (gradients(p, **{k: v + HVP_STEP * unit[k] if k in unit else v
                                                 for k, v in point.items()}, dtype=dtype)[var]
                                 - gradients(p, **{k: v - HVP_STEP * unit[k] if k in unit else v
                                                   for k, v in point.items()}, dtype=dtype)[var]) / (2 * HVP_STEP)
        return g
    full, half = (at(h) - at(-h)) / (2 * h), (at(h / 2) - at(-h / 2)) / h
    return half, np.abs(full - half) / 3


def _float_error(base, step, direction, moved) -> np.ndarray:
    """fl(base + step * direction) - (base + step * direction), exactly, entry by entry."""
    flat = [float(Fraction(float(m)) - (Fraction(float(b)) + Fraction(step) * Fraction(float(d))))
            for b, d, m in zip(np.ravel(base), np.ravel(direction), np.ravel(moved))]
    return np.array(flat).reshape(np.shape(base))


def _rounding(p: Problem, point: dict, var: str) -> float:
    """The float64 error of the gradient in ``var`` at ``point``, measured against extended precision
    (times 2, plus one unit roundoff of its largest entry), over the difference step HVP_STEP."""
    g64 = gradients(p, **point)[var]
    delta = np.abs(g64 - gradients(p, **point, dtype=np.clongdouble)[var].astype(float)).max() if EXTENDED else 0.0
    return 2 * (delta + UNIT_ROUNDOFF * np.abs(g64).max()) / HVP_STEP


def _hessian_check(c: Consequence, d, p: Problem, seed: int) -> dict:
    """The Hessian law contracted with a random direction U2:
    (d2L/dW2 U2)[idx] = f(idx) (d2L/dW2' (f U2))[idx], f the entrywise factor of W'."""
    var = d.var
    base = p.point[var]
    rng = _seed(seed, "hessian", c.normalizer, c.transformation)
    U2 = _grid(rng.normal(size=base.shape), 10)
    f = np.array([float(x) for x in _Binding(p, d, {}).at_every(d.factor, _free_of(d.factor, d.idx))])
    f = np.broadcast_to(f.reshape([base.shape[k] if i in d.factor.free_symbols else 1
                                   for k, i in enumerate(d.idx)]), base.shape) if f.size > 1 else f
    moved = p.transformed()
    here, here_err = _hvp(p, p.point, var, {var: U2}, HVP_STEP)
    there, there_err = _hvp(p, moved, var, {var: f * U2}, HVP_STEP)
    rounding = [_rounding(p, pt, var) for pt in (p.point, moved)]
    residual = np.abs(here - f * there)
    tol = 2 * (here_err + rounding[0] + np.abs(f) * (there_err + rounding[1]))
    scale = np.abs(here) + np.abs(f * there)
    return {"method": "Hessian-vector products by central differences of complex-step gradients "
                      f"(h = {HVP_STEP}), truncation estimated by halving h", "sizes": p.sizes, "seed": seed,
            "passed": bool(np.all(residual <= tol)), "max_ratio": _worst(residual, tol),
            "max_relative_residual": float((residual / np.maximum(scale, 1e-300)).max()),
            "points": int(residual.size), "tolerance": _extended_note()}


def _identity_check(c: Consequence, d, p: Problem, seed: int) -> dict:
    """H xi + (D xi)^T dL/dP = 0, row by row, at a random direction v: H xi by central differences of
    complex-step gradients along xi (all moved tensors together), the rest evaluated exactly from the
    gradients.  Tolerance: the difference's truncation (halving h) and rounding (the gradients'
    float64 error over h), plus the exact part's propagated gradient error (as :func:`_residual_check`)."""
    rng = _seed(seed, "identity", c.normalizer, c.transformation)
    if d.f.indices:   # v: one entry per unit, input or group
        v = {d.v.base: _grid(rng.normal(size=_Binding(p, d, {}).dims[d.f.indices[0]]), 4)}
    else:
        v = {d.v: float(_grid(rng.normal(), 4))}
    G = gradients(p, p.W, p.X)
    Gx = gradients(p, p.W, p.X, np.clongdouble) if EXTENDED else G
    values = _values(p, d, p.point, G) | v
    errors = {GRAD[k]: G[k] - Gx[k].astype(float) for k in G}
    xi = {}
    for k in d.f.acts_on:
        e = d.defs[XI[k].label.name]
        flat = _Binding(p, d, values).at_every(e.rhs, tuple(i for i in e.lhs.indices))
        xi[k] = np.array([float(x) for x in flat]).reshape(np.shape(p.point[k]))
    ratios, residuals, scales, points = [], [], [], 0
    for R, UR, ridx, rsizes, dd, K in d.rows:
        hv, trunc = _hvp(p, p.point, R, xi, HVP_STEP, exact=True)
        wide = _hvp(p, p.point, R, xi, HVP_STEP, np.clongdouble, True)[0].astype(float) if EXTENDED else hv
        rounding = 2 * np.abs(hv - wide) + UNIT_ROUNDOFF * np.abs(G[R]).max() / HVP_STEP
        rest = sp.expand(K - d.hterms[R])
        exact = np.array([float(x) for x in _Binding(p, d, values).at_every(rest, ridx)]).reshape(hv.shape) \
            if rest != 0 else np.zeros(hv.shape)
        bound = abs_bound(rest)
        prop = np.array([float(x) for x in _Binding(p, d, {**_abs_values(values), **{k: np.abs(e) for k, e in
                                                                                     errors.items()}}).at_every(
            bound, ridx)]).reshape(hv.shape) if rest != 0 else 0.0
        residual = np.abs(hv + exact)
        tol = 2 * (trunc + rounding) + 2 * prop \
            + UNIT_ROUNDOFF * np.abs(exact)
        ratios.append(_worst(residual, tol))
        residuals.append(float(residual.max()))
        scales.append(float((np.abs(hv) + np.abs(exact)).max()))
        points += int(residual.size)
    relative = [max(residuals) / max(max(scales), 1e-300)]   # a row that is 0 term by term has no scale of its own
    return {"method": "Hessian times the generator by central differences of complex-step gradients "
                      f"(h = {HVP_STEP}), truncation estimated by halving h; (D xi)^T dL/dP evaluated exactly",
            "sizes": p.sizes, "seed": seed, "passed": max(ratios) <= 1, "max_ratio": max(ratios),
            "max_relative_residual": max(relative), "points": points, "tolerance": _extended_note()}


def _worst(residual, tol) -> float:
    """max residual / tolerance, where a residual of exactly 0 counts 0 (a gradient that is 0 by
    the layer's structure, as dL/dc under batch norm, has no rounding to measure)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(residual == 0, 0.0, residual / tol).max())


def _axis(d, index) -> str:
    return next(ax.name for ax in (*d.m.axes, d.m.input) if ax.index == index)


def _free_of(expr, idx) -> tuple:
    return tuple(i for i in idx if i in expr.free_symbols)


def sgd_run(c: Consequence, seed: int = 0, op=None, steps: int = STEPS, eta: float = ETA_VALUE,
            lam: float | None = None) -> dict:
    """Train the parameters Q depends on by SGD (with weight decay for ``weight-decay-law``) and
    follow Q against its law.

    The prediction is the law alone, iterated from Q_0 with the measured
    gradients: P_{t+1} = a P_t + rest_t (a = 1 or (1 - eta lambda)^2, rest the law's
    eta^2 Q(dL/dP) or 0).  The tolerance accumulates the same way: per step, the
    constraint's float64 residual times its coefficient in the law before c = 0, plus the
    rounding of the update P - eta G (two roundings per entry, first order through Q).
    """
    d = _derivation(c.normalizer, c.transformation, any(x == sp.Eq(EPS, 0) for x in c.conditions))
    p = Problem(c.normalizer, c.transformation, seed, op)
    decay = c.consequence == "weight-decay-law"
    lam = (LAMBDA_VALUE if decay else 0.0) if lam is None else lam
    name = "Q^wd" if decay else "Q^+"
    exact = {ETA: sp.Rational(*_fraction(eta).as_integer_ratio()), LAM: sp.Rational(*_fraction(lam).as_integer_ratio())}
    law = sp.expand(d.step_law(name).xreplace(exact))    # a Q + b c + rest, before c = 0
    a, b = law.coeff(d.Q), law.coeff(d.c)
    rest_expr = sp.expand(law - a * d.Q - b * d.c)
    if not (a.is_Rational and b.is_Rational) or rest_expr.has(d.Q) or rest_expr.has(d.c):
        raise ValueError(f"the law {law} is not a Q + b c + rest")
    a_val, bval = Fraction(int(a.p), int(a.q)), abs(Fraction(int(b.p), int(b.q)))
    q_def = d.defs[Q].rhs
    qdot_bound = abs_bound(d.defs[QDOT].rhs)
    free = _free(q_def)
    point = dict(p.point)
    actual, predicted, tolerance, eff = [], [], [], []
    ratio_max, rel_max = 0.0, 0.0
    for t in range(steps + 1):
        q = _Binding(p, d, _values(p, d, point, {})).at_every(q_def, free)
        actual.append(q)
        if t == 0:
            predicted.append(q)
            tolerance.append([Fraction(0)] * len(q))
        else:
            dev = [abs(x - y) for x, y in zip(q, predicted[-1])]
            ratio = max(float(e / tol) if tol else (0.0 if e == 0 else float("inf")) for e, tol in zip(dev, tolerance[-1]))
            ratio_max = max(ratio_max, ratio)
            rel_max = max(rel_max, max(float(e / abs(x)) if x else 0.0 for e, x in zip(dev, q)))
        eff.append([eta / float(x) if x else float("inf") for x in q])
        if t == steps:
            break
        G = gradients(p, **point)
        Gx = gradients(p, **point, dtype=np.clongdouble) if EXTENDED else G
        gain = _Binding(p, d, _values(p, d, point, G)).at_every(rest_expr, free)
        nxt = [a_val * x + r for x, r in zip(predicted[-1], gain)]
        # tolerance of this step: |b| |c(G64)| bound, plus the update's rounding through Q
        c_err = _Binding(p, d, _values(p, d, {k: np.abs(v) for k, v in point.items()}, {
            k: 2 * np.abs(G[k] - Gx[k].astype(float)) + UNIT_ROUNDOFF * np.abs(G[k]) for k in G})).at_every(
            abs_bound(d.defs[C].rhs), free)
        new = {k: (1 - eta * lam) * point[k] - eta * G[k] for k in d.stepped}
        rounding = {k: 2 * UNIT_ROUNDOFF * (np.abs((1 - eta * lam) * point[k]) + eta * np.abs(G[k]) + np.abs(new[k]))
                    for k in d.stepped}
        # first order: |Q(P + e) - Q(P)| <= |D_e Q| <= qdot's terms at |P|, |e| (qdot is D_{-G} Q); doubled
        up = _Binding(p, d, _values(p, d, {k: np.abs(v) for k, v in (point | new).items()}, rounding)).at_every(
            qdot_bound, free)
        tolerance.append([abs(a_val) * tl + bval * ce + 2 * u for tl, ce, u in zip(tolerance[-1], c_err, up)])
        predicted.append(nxt)
        point |= new
    numeric = {"method": "SGD on the real layer, gradients by complex steps, Q evaluated exactly",
               "steps": steps, "eta": eta, "lambda": lam, "sizes": p.sizes, "seed": seed,
               "passed": ratio_max <= 1, "max_ratio": ratio_max, "max_relative_residual": rel_max,
               "tolerance": _extended_note()}
    return {"numeric": numeric, "actual": [[float(x) for x in q] for q in actual],
            "predicted": [[float(x) for x in q] for q in predicted],
            "effective_rate": eff}


def attach_numeric(consequences, seed: int = 0) -> list[Consequence]:
    """The same consequences with their numeric results."""
    from dataclasses import replace
    return [replace(c, numeric=check_numeric(c, seed)) if c.applies else c for c in consequences]
