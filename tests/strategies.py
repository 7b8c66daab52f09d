"""Hypothesis strategies, and the numeric helpers they need, shared by the property tests.

Everything is drawn in the format the package takes: sizes as
``{"N", "H", "D"(, "P")}`` (H counts channels in the conv model), arrays for
:func:`invariance.catalogue.layers.layer`, and transformation parameters for
:func:`invariance.numeric.crosscheck.transform`, with the keys that ``trans.sample`` uses.

Floats are bounded (|W|, |X| <= 4; scale factors in [1/4, 4]; gains of
magnitude in [1/2, 2]) and entries below 2**-10 in magnitude are flushed to 0.
An instance is kept only if it is *well conditioned*: every sigma of the
normalizer, computed from its symbolic definition, is at least 1/100 of the
data scale max_ij sum_d |W_id| |x_jd| (an upper bound on |a|).  That keeps sigma
bounded away from zero and rejects the degenerate sizes (a statistic over
one value), whatever the numeric op under test does.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from invariance.catalogue import layers
from invariance.numeric.crosscheck import transform
from invariance.core.definition import Built, Normalizer
from invariance.core.model import EPS
from invariance.catalogue.transformations import Transformation

__all__ = [
    # numeric helpers: the symbolic definitions evaluated with NumPy, conditioning, rounding
    "U", "KAPPA_MAX", "AXIS_OF_SIZE", "built", "symbol_sizes", "index_sizes", "numpy_value",
    "evaluate_definitions", "statistics", "output_env", "on_output_grid", "conditioning",
    "rounding_bound", "well_conditioned", "Instance", "x_shape",
    # strategies
    "sizes", "entries", "weights", "data", "gains", "biases", "scale_factors", "shifts",
    "transformation_params", "epsilons", "instances", "rationals", "positive_rationals",
    "ExactPoint", "exact_points",
]

BOUND = 4.0                 # |W|, |X| entries
TINY = 2.0 ** -10           # smaller entries become 0
SCALE = (0.25, 4.0)         # positive scale factors, as in the package's own sampler
SHIFT = 2.0                 # |gamma| entries
GAIN = (0.5, 2.0)           # |g|, bounded away from 0
KAPPA_MAX = 100.0           # accepted: data scale / smallest sigma <= 100
U = 2.0 ** -53              # unit roundoff of float64

#: size name in the layers' format -> axis name of the symbolic model
AXIS_OF_SIZE = {"N": "case", "H": "unit", "P": "position", "D": "input"}


# ------------------------------------------- the symbolic definitions, in NumPy
_BUILT: dict = {}


def built(norm: Normalizer, eps=sp.S.Zero) -> Built:
    """``norm.build(eps)``, cached per normalizer (its id and its statistics)."""
    key = (norm.id, id(norm.stats), eps)
    if key not in _BUILT:
        _BUILT[key] = (norm.stats, norm.build(eps))   # holding stats keeps its id unique
    return _BUILT[key][1]


def symbol_sizes(norm: Normalizer, s: dict) -> dict:
    """Size symbols (N, H or C, D, P, and a group size S) -> the integers of ``s``."""
    m = norm.model
    out = {m.axis(name).size: s[key] for key, name in AXIS_OF_SIZE.items() if key in s}
    for extra in _size_symbols(norm) - set(out):   # the channels per group
        out[extra] = s["H"] // norm.groups
    return out


_SIZE_SYMBOLS: dict = {}


def _size_symbols(norm: Normalizer) -> set:
    b = built(norm)
    if id(b) not in _SIZE_SYMBOLS:
        _SIZE_SYMBOLS[id(b)] = b.size_symbols
    return _SIZE_SYMBOLS[id(b)]


def index_sizes(norm: Normalizer, s: dict) -> dict:
    """Free index symbols (n, i, p, j) -> the number of values they take."""
    m = norm.model
    return {m.axis(name).index: s[key] for key, name in AXIS_OF_SIZE.items() if key in s}


_FUNCTIONS = {sp.Abs: np.abs, sp.floor: np.floor, sp.sign: np.sign}


def _ints(v):
    return np.rint(np.asarray(v, dtype=float)).astype(int)


def numpy_value(e: sp.Expr, arrays: dict, env: dict):
    """Evaluate a SymPy expression of indexed symbols and sums with NumPy.

    Vectorised: an index symbol in ``env`` may be an integer array (1-based, as
    in the maths), and the result broadcasts accordingly.  ``arrays`` maps an
    IndexedBase to an array indexed from 0; ``env`` maps every plain symbol.
    Float64 throughout.  Each expression is compiled to closures once.
    """
    f = _COMPILED.get(e)
    if f is None:
        f = _COMPILED[e] = _compile(e)
    return f(arrays, env)


_COMPILED: dict = {}


def _compile(e):
    if isinstance(e, sp.Symbol):
        return lambda arrays, env: env[e]
    if e.is_Number:
        value = float(e)
        return lambda arrays, env: value
    if isinstance(e, sp.Indexed):
        base, idx = e.base, [_compile(i) for i in e.indices]
        return lambda arrays, env: np.asarray(arrays[base], dtype=float)[
            tuple(_ints(i(arrays, env)) - 1 for i in idx)]
    if isinstance(e, sp.Sum):
        *rest, (k, lo, hi) = e.limits   # SymPy lists limits innermost first
        body = _compile(sp.Sum(e.function, *rest) if rest else e.function)
        lo, hi = _compile(lo), _compile(hi)

        def total(arrays, env):
            low, high = _ints(lo(arrays, env)), _ints(hi(arrays, env))
            out, inner = 0.0, dict(env)
            for v in range(int(low.min()), int(high.max()) + 1):
                inner[k] = v
                out = out + np.where((low <= v) & (v <= high), body(arrays, inner), 0.0)
            return out
        return total
    args = [_compile(a) for a in e.args]
    if isinstance(e, sp.Add):
        return lambda arrays, env: sum((a(arrays, env) for a in args[1:]), args[0](arrays, env))
    if isinstance(e, sp.Mul):
        def product(arrays, env):
            out = args[0](arrays, env)
            for a in args[1:]:
                out = out * a(arrays, env)
            return out
        return product
    if isinstance(e, sp.Pow):
        return lambda arrays, env: np.asarray(args[0](arrays, env), dtype=float) ** args[1](arrays, env)
    if type(e) in _FUNCTIONS:
        fn = _FUNCTIONS[type(e)]
        return lambda arrays, env: fn(*(a(arrays, env) for a in args))
    raise TypeError(f"cannot evaluate {e!r} with NumPy")


def evaluate_definitions(equations, arrays: dict, env: dict, sizes_of_index: dict) -> dict:
    """Each definition (``lhs[indices] = rhs``, in order) as a full array over its indices."""
    arrays = dict(arrays)
    for e in equations:
        idx = e.lhs.indices
        grid = {s: _along(np.arange(1, sizes_of_index[s] + 1), r, len(idx)) for r, s in enumerate(idx)}
        value = numpy_value(e.rhs, arrays, {**env, **grid})
        arrays[e.lhs.base] = np.broadcast_to(value, tuple(sizes_of_index[s] for s in idx)).astype(float)
    return arrays


_STATISTICS: dict = {}


def statistics(norm: Normalizer, W, X, eps: float = 0.0) -> dict:
    """name -> array of each statistic (mu, sigma^2, sigma, ...) from its symbolic definition,
    plus 'a' (the summed inputs) and 'z' (the normalized output, gain 1 and bias 0)."""
    W, X = np.asarray(W, dtype=float), np.asarray(X, dtype=float)
    key = (id(norm.stats), W.shape, W.tobytes(), X.shape, X.tobytes(), float(eps))
    if key not in _STATISTICS:
        if len(_STATISTICS) > 256:
            _STATISTICS.clear()
        _STATISTICS[key] = _statistics(norm, W, X, eps)
    return _STATISTICS[key]


@np.errstate(divide="ignore", invalid="ignore")   # sigma = 0 gives z = inf: the caller rejects it
def _statistics(norm: Normalizer, W, X, eps: float) -> dict:
    s = sizes_of(W, X)
    b = built(norm, EPS)
    m = b.m
    a = layers.summed_inputs(W, X)
    # the normalizer's constants too (e.g. batch norm's running statistics at inference)
    env = {**symbol_sizes(norm, s), EPS: float(eps), **{k: float(v) for k, v in norm.constants.items()}}
    by_index = index_sizes(norm, s)
    H = s["H"]
    out = evaluate_definitions(b.stat_rules, {m.a: a, m.W: W}, env, by_index)
    z = evaluate_definitions([b.out_rule], {**out, m.g: np.ones(H), m.b: np.zeros(H)}, env, by_index)
    stats = {r.base.label.name: out[r.base] for r in b.stat_rules}
    return {**stats, "a": a, "z": z[b.out]}


def output_env(norm: Normalizer, s: dict) -> dict:
    """The output's free indices (n, i (, p)) as broadcastable 1-based grids."""
    by_index, axes = index_sizes(norm, s), norm.model.axes
    return {ax.index: _along(np.arange(1, by_index[ax.index] + 1), r, len(axes)) for r, ax in enumerate(axes)}


def _along(v, axis, ndim):
    """v as a grid along ``axis`` of ``ndim`` axes (for broadcasting)."""
    return v.reshape([-1 if q == axis else 1 for q in range(ndim)])


def on_output_grid(norm: Normalizer, s: dict, name: str, stats: dict) -> np.ndarray:
    """Statistic ``name`` (an array over its own indices) at every output entry."""
    rule = next(r for r in built(norm, EPS).stat_rules if r.base.label.name == name)
    value = numpy_value(rule.lhs, {rule.base: stats[name]}, output_env(norm, s))
    shape = tuple(len(v.ravel()) for v in output_env(norm, s).values())
    return np.broadcast_to(value, shape)


def sizes_of(W, X) -> dict:
    """Sizes in the layers' format read off the arrays (X.ndim == 3: conv)."""
    s = {"H": W.shape[-2], "D": W.shape[-1], "N": X.shape[0]}
    if X.ndim == 3:
        s["P"] = X.shape[2]
    return s


def conditioning(norm: Normalizer, W, X) -> float:
    """kappa = (data scale, max_ij sum_d |W_id||x_jd|) / (smallest sigma); inf if sigma = 0."""
    sigma = statistics(norm, W, X)["sigma"]
    scale = layers.summed_inputs(np.abs(W), np.abs(X)).max()
    smallest = float(np.min(sigma))
    return float(scale / smallest) if smallest > 0 and np.isfinite(smallest) else np.inf


def rounding_bound(norm: Normalizer, W, X, gain, bias) -> float:
    """A bound on the float64 rounding error of every entry of h = g z + b.

    With u = 2**-53, D inputs, M summed inputs and A the data scale: a = W x is
    off by at most D u A (Higham, Accuracy and Stability, Sec. 3.1), a mean of
    at most M values by M u A, so the centred d = a - mu by (D + M + 2) u A
    (doubled: 2 (D + M + 2) u A).  sigma^2 is a mean of d^2, so
    |dsigma|/sigma <= |z|max |dd|/sigma + (M + 2) u, and
    |dz| <= |dd|/sigma (1 + |z|max^2) + |z|max (M + 2) u, with |dd|/sigma <=
    2 (D + M + 2) u kappa.  (Weight norm: d = a, sigma = ||w||, the same form.)
    h = g z + b adds 2 u (|g||z| + |b|).  Times 4 for safety.  At kappa <= 100
    and the sizes drawn here this is about 1e-10, far below 1e-6.
    """
    st_ = statistics(norm, W, X)
    D, M = W.shape[-1], st_["a"].size
    kappa = conditioning(norm, W, X)
    zmax = float(np.abs(st_["z"]).max())
    dd = 2 * (D + M + 2) * U * kappa
    dz = dd * (1 + zmax ** 2) + zmax * (M + 2) * U
    g, b = float(np.abs(gain).max()), float(np.abs(bias).max())
    return 4 * (g * dz + 2 * U * (g * zmax + b))


# ------------------------------------------------------------------- instances
@dataclass(frozen=True)
class Instance:
    """One layer instance and the parameters of one transformation."""

    sizes: dict
    W: np.ndarray
    X: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    trans: str
    params: dict = field(default_factory=dict)
    eps: float = 0.0

    @property
    def transformed(self) -> tuple[np.ndarray, np.ndarray]:
        """(W', X') by :func:`invariance.numeric.crosscheck.transform`."""
        return transform(self.trans, self.W, self.X, self.params)

    def output(self, norm: Normalizer, W, X, eps: float | None = None) -> np.ndarray:
        """h = g op(W x) + b with the normalizer's numeric op (f = identity)."""
        return layers.layer(W, X, self.gain, self.bias, norm.numeric, self.eps if eps is None else eps,
                            **norm.numeric_kwargs)

    def outputs(self, norm: Normalizer, eps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(h, h'): the layer before and after the transformation."""
        return self.output(norm, self.W, self.X, eps), self.output(norm, *self.transformed, eps)

    def deviation(self, norm: Normalizer, eps: float | None = None) -> float:
        """max |h' - h|."""
        h, h_t = self.outputs(norm, eps)
        return float(np.abs(h_t - h).max())

    def tolerance(self, norm: Normalizer) -> float:
        """Rounding bound on h' - h: the bounds on h and on h' added (see rounding_bound)."""
        return (rounding_bound(norm, self.W, self.X, self.gain, self.bias)
                + rounding_bound(norm, *self.transformed, self.gain, self.bias))


def well_conditioned(norm: Normalizer, W, X) -> bool:
    return conditioning(norm, W, X) <= KAPPA_MAX


# ----------------------------------------------------------------------- sizes
@st.composite
def sizes(draw, norm: Normalizer, N=(1, 4), H=(1, 4), D=(1, 3), P=(1, 3), S=(1, 2)) -> dict:
    """Layer sizes, 1 included: N cases, H units (channels), D inputs, P positions.

    For a normalizer with groups, H = groups * S with S channels per group.
    """
    axes = {ax.name for ax in norm.model.axes}
    out = {"N": draw(st.integers(*N)), "D": draw(st.integers(*D))}
    out["H"] = norm.groups * draw(st.integers(*S)) if norm.groups else draw(st.integers(*H))
    if "position" in axes:
        out["P"] = draw(st.integers(*P))
    return out


# ---------------------------------------------------------------------- arrays
def entries(bound: float = BOUND) -> st.SearchStrategy[float]:
    """Bounded floats; tiny magnitudes are flushed to 0 (no subnormals, no underflow)."""
    return st.floats(-bound, bound, allow_nan=False, allow_subnormal=False).map(
        lambda v: 0.0 if abs(v) < TINY else v)


def _array(shape, elements):
    # fill=nothing(): every entry is drawn, so arrays are not mostly one repeated value
    return arrays(np.float64, shape, elements=elements, fill=st.nothing())


def weights(s: dict) -> st.SearchStrategy[np.ndarray]:
    """W of shape (H, D)."""
    return _array((s["H"], s["D"]), entries())


def data(s: dict) -> st.SearchStrategy[np.ndarray]:
    """X of shape (N, D) (dense) or (N, D, P) (conv)."""
    return _array(x_shape(s), entries())


def x_shape(s: dict) -> tuple:
    return (s["N"], s["D"]) + ((s["P"],) if "P" in s else ())


def gains(H: int) -> st.SearchStrategy[np.ndarray]:
    """Per-unit gains of either sign, |g| in [1/2, 2]."""
    return _array((H,), st.floats(*GAIN) | st.floats(-GAIN[1], -GAIN[0]))


def biases(H: int) -> st.SearchStrategy[np.ndarray]:
    return _array((H,), entries(2.0))


# -------------------------------------------------------- transformation params
def scale_factors() -> st.SearchStrategy[float]:
    """delta > 0 from [1/4, 4]."""
    return st.floats(*SCALE)


def shifts() -> st.SearchStrategy[float]:
    return entries(SHIFT)


def transformation_params(trans: Transformation, s: dict) -> st.SearchStrategy[dict]:
    """Parameters in the format of ``transform``; keys and shapes from ``trans.sample``.

    ``delta*`` keys are scale factors (a scalar, or one per unit), ``gamma``
    a shift vector, ``case`` the index (1-based) of the re-scaled case.
    """
    template = trans.sample(np.random.default_rng(0), 1, s)
    parts = {}
    for key, value in template.items():
        if key == "case":
            parts[key] = st.integers(1, s["N"])
            continue
        shape = np.shape(value)[1:]          # drop the instance axis (K = 1)
        elements = scale_factors() if key.startswith("delta") else shifts()
        parts[key] = _array(shape, elements) if shape else elements
    return st.fixed_dictionaries(parts)


def epsilons(lo: float = 1e-6, hi: float = 1e-1) -> st.SearchStrategy[float]:
    """eps > 0, uniform in log10 between lo and hi."""
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: float(10.0 ** e))


_INSTANCES: dict = {}


def instances(norm: Normalizer, trans: Transformation, eps: str | None = None,
              negate_scales: bool = False, **size_ranges) -> st.SearchStrategy[Instance]:
    """Well-conditioned instances (before and after the transformation): sizes
    first, then W, X, gains, biases and the transformation's parameters.

    ``eps``: None (eps = 0), "positive" (``epsilons()``) or "any" (0 or positive);
    ``negate_scales`` makes every scale factor negative (the negative-scale caveat).
    Strategies are built once per arguments and sizes (building them is slow).
    """
    key = (id(norm), norm.id, trans.id, eps, negate_scales, tuple(sorted(size_ranges.items())))
    if key not in _INSTANCES:
        eps_strategy = {None: st.just(0.0), "positive": epsilons(), "any": st.just(0.0) | epsilons()}[eps]
        at_sizes = {}

        def parts(s):
            k = tuple(sorted(s.items()))
            if k not in at_sizes:
                at_sizes[k] = st.fixed_dictionaries({
                    "W": weights(s), "X": data(s), "g": gains(s["H"]), "b": biases(s["H"]),
                    "params": transformation_params(trans, s), "eps": eps_strategy,
                }).map(lambda p: Instance(s, p["W"], p["X"], p["g"], p["b"], trans.id,
                                          _negated(p["params"]) if negate_scales else p["params"], p["eps"]))
            return at_sizes[k]

        strategy = sizes(norm, **size_ranges).flatmap(parts).filter(
            lambda inst: well_conditioned(norm, inst.W, inst.X) and well_conditioned(norm, *inst.transformed))
        _INSTANCES[key] = (norm, strategy)   # holding norm keeps its id unique
    return _INSTANCES[key][1]


def _negated(params: dict) -> dict:
    return {k: (-v if k.startswith("delta") else v) for k, v in params.items()}


# -------------------------------------------------------- exact rational points
def rationals(lo=-5, hi=5, den=4) -> st.SearchStrategy[sp.Rational]:
    """Exact p/q with lo <= p/q <= hi and q <= den."""
    return st.fractions(lo, hi, max_denominator=den).map(lambda f: sp.Rational(f.numerator, f.denominator))


def positive_rationals(lo=Fraction(1, 4), hi=4, den=4) -> st.SearchStrategy[sp.Rational]:
    return rationals(lo, hi, den)


def _nested(draw, shape, elements):
    if not shape:
        return draw(elements)
    return [_nested(draw, shape[1:], elements) for _ in range(shape[0])]


@dataclass(frozen=True)
class ExactPoint:
    """Concrete sizes, exact values of every input symbol, one output index, eps."""

    sizes: dict            # size symbol -> int
    values: dict           # IndexedBase or Symbol -> exact value(s), nested lists
    point: dict            # free index symbol -> int (1-based)
    eps: sp.Rational


@st.composite
def exact_points(draw, norm: Normalizer, trans: Transformation, N=(2, 3), H=(2, 3), D=(1, 3), P=(2, 2),
                 S=(1, 2)) -> ExactPoint:
    """Sizes N=2..3, H=2..3, D=1..3, P=2, S=1..2 (C = groups * S); exact random
    rationals for W, X, g, b and the shifts gamma, positive ones for the deltas (a
    factor per unit, or per case: the proofs' delta_i, delta_n); eps >= 0 (it appears
    only in proofs made with a symbolic eps)."""
    m = norm.model
    s = draw(sizes(norm, N=N, H=H, D=D, P=P, S=S))
    H, D, N = s["H"], s["D"], s["N"]
    rest = (s["P"],) if "P" in s else ()
    values = {m.W: _nested(draw, (H, D), rationals()), m.X: _nested(draw, (N, D, *rest), rationals()),
              m.g: _nested(draw, (H,), rationals()), m.b: _nested(draw, (H,), rationals())}
    params = {}
    for key, value in trans.exact(random.Random(0), s).items():   # only the keys and shapes
        if key == "case":
            params[key] = draw(st.integers(1, N))
            continue
        elements = positive_rationals() if key.startswith("delta") else rationals()
        params[key] = _nested(draw, (len(value),), elements) if isinstance(value, list) else draw(elements)
    for sym, value in trans.values(params, s).items():
        if isinstance(sym, sp.IndexedBase) and sym.label.is_positive:   # per unit or per case:
            value = _nested(draw, (len(value),), positive_rationals())    # a factor each
        values[sym] = value
    by_index = index_sizes(norm, s)
    point = {ax.index: draw(st.integers(1, by_index[ax.index])) for ax in m.axes}
    return ExactPoint(symbol_sizes(norm, s), values, point, draw(rationals(0, 1)))
