"""Property tests: the NumPy layers against the derived verdicts, caveats and proofs.

Every test is parametrised over the registry (all of NORMALIZERS, which holds
the paper's TABLE1 rows, times all TRANSFORMATIONS); the expected verdict of a
cell comes from :func:`invariance.derive`, never from this file.  Each
property takes the normalizer and the transformation as arguments, so
``tests/test_broken.py`` can run it against a broken numeric op.

Tolerances: :func:`strategies.rounding_bound` bounds the float64 rounding
error of a layer output from the instance's sizes and conditioning
(sigma >= data scale / 100 for every generated instance); it is about 1e-10,
while a violation must exceed 1e-6 * max|g|.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pytest
import sympy as sp

from invariance.core.proof import uneval
from hypothesis import Phase, assume, find, given, settings, strategies as st

from invariance import NORMALIZERS, TRANSFORMATIONS
from invariance.catalogue import layers
from invariance.numeric.crosscheck import transform
from invariance.derive import caveats as caveat_module
from invariance.core.algebra import Rule, evaluate, unfold
from invariance.core.cells import _memo as memoised
from invariance.derive.engine import bind_instance, definitions
from invariance.core.model import EPS
from invariance.numeric.crosscheck import cross_check
from invariance.core.records import INVARIANT, NOT_INVARIANT

from derived import cell_of
from strategies import (
    AXIS_OF_SIZE, Instance, biases, built, data as data_arrays, epsilons, evaluate_definitions,
    exact_points, gains, index_sizes, instances, numpy_value, on_output_grid, output_env,
    rounding_bound, scale_factors, sizes, statistics, symbol_sizes, weights, well_conditioned,
    x_shape,
)

#: a deviation counts as a violation above this many times max|g| (rounding is ~1e-10)
VIOLATION = 1e-6


# ------------------------------------------------------------------ the registry
@lru_cache(maxsize=None)
def caveat_of(norm_id: str, trans_id: str, kind: str):
    cell = cell_of(norm_id, trans_id)
    make = {"negative-scale": caveat_module.negative_scale, "eps": caveat_module.eps_bound,
            "degenerate": caveat_module.degenerate}[kind]
    return make(cell) if cell.verdict == INVARIANT or kind == "degenerate" else None


def cells(where=lambda cell: True):
    """pytest params (norm, trans) for every registered cell satisfying ``where``."""
    out = []
    for n in NORMALIZERS.values():
        for t in TRANSFORMATIONS.values():
            cell = cell_of(n.id, t.id)
            if where(cell):
                claim = "is-invariant-to" if cell.verdict == INVARIANT else "is-not-invariant-to"
                out.append(pytest.param(n, t, id=f"{n.id}-{claim}-{t.id}"))
    return out


def _flips(cell) -> bool:
    cav = caveat_of(cell.normalizer, cell.transformation, "negative-scale")
    return cav is not None and cav.expr is not None


def _has_eps_bound(cell) -> bool:
    return caveat_of(cell.normalizer, cell.transformation, "eps") is not None


INVARIANT_CELLS = cells(lambda c: c.verdict == INVARIANT)
NOT_INVARIANT_CELLS = cells(lambda c: c.verdict == NOT_INVARIANT)
ALL_CELLS = cells()


def examples(fraction: float) -> settings:
    """The loaded profile, with a fraction of its max_examples (for the slow exact tests)."""
    return settings(max_examples=max(3, int(settings().max_examples * fraction)))


# --------------------------------------------------- numeric forms of SymPy terms
def at_every_output(expr, norm, inst, h, eps=0.0) -> np.ndarray:
    """A caveat's expression (in h, b, g, a, the statistics, the transformation's symbols),
    evaluated with NumPy at every output entry of the instance."""
    arrays, env = arrays_for(expr, norm, inst, h, eps)
    return np.broadcast_to(numpy_value(expr, arrays, env), h.shape)


def arrays_for(expr, norm, inst, h, eps=0.0):
    """Arrays and env for ``expr``: h (given), b, g (bias, gain), a and the statistics
    (from their definitions, on the instance's W and X), and the transformation's own
    symbols (``trans.values``)."""
    named = {"h": h, "b": inst.bias, "g": inst.gain, **statistics(norm, inst.W, inst.X, eps)}
    trans = TRANSFORMATIONS[inst.trans]
    arrays, env = {}, {**symbol_sizes(norm, inst.sizes), EPS: eps}
    for sym, value in trans.values(inst.params, inst.sizes).items():
        if isinstance(sym, sp.IndexedBase):
            arrays[sym] = np.asarray(value, dtype=float)
        else:
            env[sym] = float(value)
    for base in expr.atoms(sp.IndexedBase):
        if base not in arrays:
            arrays[base] = named[base.label.name]
    return arrays, {**env, **output_env(norm, inst.sizes)}


# ============================================================ invariant cells
@pytest.mark.parametrize("norm, trans", INVARIANT_CELLS)
@given(data=st.data())
def test_invariant_cell_leaves_the_layer_output_unchanged(norm, trans, data):
    """h' = h for every well-conditioned instance, within the float64 rounding bound of h and h'."""
    inst = data.draw(instances(norm, trans), label="instance")
    assert inst.deviation(norm) <= inst.tolerance(norm)


# ======================================================== not-invariant cells
#: the search ranges, and the most a shrunk violating instance may have
SEARCH = {"N": (1, 6), "H": (1, 6), "D": (1, 4), "P": (1, 4), "S": (1, 3)}
SMALL = {"N": 3, "H": 3, "D": 2, "P": 3, "outputs": 8}


@st.composite
def seeded_instances(draw, norm, trans, **ranges):
    """Sizes from the shared strategy, then W and X (multiples of 1/4 in [-4, 4]) and
    the parameters (``trans.sample``) from a drawn seed, with g = 1 and b = 0 as in the
    symbolic search.  Shrinking then works on the sizes and the seed only: fast, and
    the sizes come out small."""
    s = draw(sizes(norm, **ranges))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1), label="seed"))
    W = np.round(rng.uniform(-4, 4, (s["H"], s["D"])) * 4) / 4
    X = np.round(rng.uniform(-4, 4, x_shape(s)) * 4) / 4
    params = {k: (int(rng.integers(1, s["N"] + 1)) if k == "case" else np.asarray(v)[0])
              for k, v in trans.sample(rng, 1, s).items()}
    inst = Instance(s, W, X, np.ones(s["H"]), np.zeros(s["H"]), trans.id, params)
    assume(well_conditioned(norm, W, X) and well_conditioned(norm, *inst.transformed))
    return inst


def find_violation(norm, trans):
    """Hypothesis searches for, and shrinks, an instance with |h' - h| > 1e-6 max|g|."""
    def violates(inst):
        try:
            return inst.deviation(norm) > VIOLATION * np.abs(inst.gain).max()
        except ValueError:   # a broken op may refuse an instance: no evidence
            return False
    budget = settings(max_examples=10 * settings().max_examples, database=None,
                      phases=[Phase.generate, Phase.shrink])
    return find(seeded_instances(norm, trans, **SEARCH), violates, settings=budget)


@pytest.mark.parametrize("norm, trans", NOT_INVARIANT_CELLS)
def test_hypothesis_finds_a_small_instance_violating_a_not_invariant_cell(norm, trans):
    """From sizes up to N = H = 6, D = P = 4 the search shrinks to at most 3 cases, 3 units
    (per group), 2 inputs, 3 positions and 8 outputs, with h' != h by > 1e-6 max|g|."""
    inst = find_violation(norm, trans)
    assert inst.deviation(norm) > VIOLATION * np.abs(inst.gain).max() > inst.tolerance(norm)
    s = dict(inst.sizes, H=inst.sizes["H"] // (norm.groups or 1))
    assert all(s[k] <= SMALL[k] for k in s), inst.sizes
    assert inst.sizes["N"] * inst.sizes["H"] * inst.sizes.get("P", 1) <= SMALL["outputs"], inst.sizes


# ==================================================== symbolic = numeric, per cell
def symbolic_outputs(norm, trans, inst):
    """h and h' from the cell's definitions (W', X', a, a', statistics, h, h'), in NumPy."""
    b = built(norm, EPS)
    m = b.m
    eqs = [e for e in definitions(b, trans) if e.is_definition]
    arrays = {m.W: inst.W, m.X: inst.X, m.g: inst.gain, m.b: inst.bias}
    env = {**symbol_sizes(norm, inst.sizes), EPS: inst.eps, **{k: float(v) for k, v in norm.constants.items()}}
    for sym, value in trans.values(inst.params, inst.sizes).items():
        if isinstance(sym, sp.IndexedBase):
            arrays[sym] = np.asarray(value, dtype=float)
        else:
            env[sym] = float(value)
    by_index = {**index_sizes(norm, inst.sizes), m.input.index: inst.sizes["D"]}
    out = evaluate_definitions(eqs, arrays, env, by_index)
    return out[b.out], out[b.out_p]


@pytest.mark.parametrize("norm, trans", ALL_CELLS)
@given(data=st.data())
def test_symbolic_definitions_and_numpy_layers_agree_on_every_instance(norm, trans, data):
    """The cell's definitions, evaluated in float64, give the numeric layer's h and h'
    (eps = 0 or eps > 0), each within twice the rounding bound of h."""
    inst = data.draw(instances(norm, trans, eps="any"), label="instance")
    h_sym, h_t_sym = symbolic_outputs(norm, trans, inst)
    h, h_t = inst.outputs(norm)
    Wt, Xt = inst.transformed
    assert np.abs(h - h_sym).max() <= 2 * rounding_bound(norm, inst.W, inst.X, inst.gain, inst.bias)
    assert np.abs(h_t - h_t_sym).max() <= 2 * rounding_bound(norm, Wt, Xt, inst.gain, inst.bias)


@pytest.mark.parametrize("norm, trans", ALL_CELLS)
@examples(0.12)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_numeric_cross_check_agrees_with_the_derived_verdict_for_any_seed(norm, trans, seed):
    """invariance.numeric.crosscheck.cross_check, over 100 random instances per seed, gives the derived verdict."""
    result = cross_check(norm, trans, instances=100, seed=seed)
    assert result.verdict == cell_of(norm.id, trans.id).verdict


# =================================================================== caveats
@pytest.mark.parametrize("norm, trans", cells(_flips))
@given(data=st.data())
def test_a_negative_scale_factor_flips_the_centred_output(norm, trans, data):
    """With every scale factor negative, h' equals the caveat's right side (2 b - h:
    h' - b = -(h - b)) instead of h.  The single-case re-scaling is applied to every
    case in turn, each with its own negative factor: the proof's per-case delta_n."""
    cav = caveat_of(norm.id, trans.id, "negative-scale")
    inst = data.draw(instances(norm, trans, negate_scales=True), label="instance")
    W, X = inst.transformed
    for m in range(1, inst.sizes["N"] + 1) if "case" in inst.params else ():
        if m != inst.params["case"]:
            delta = -data.draw(scale_factors(), label=f"delta_{m}")
            W, X = transform(trans.id, W, X, {**inst.params, "case": m, "delta": delta})
    h, h_t = inst.output(norm, inst.W, inst.X), inst.output(norm, W, X)
    expected = at_every_output(cav.expr, norm, inst, h)
    tol = rounding_bound(norm, inst.W, inst.X, inst.gain, inst.bias) + \
        rounding_bound(norm, W, X, inst.gain, inst.bias)
    assert np.abs(h_t - expected).max() <= tol
    # not unchanged: h' - h = -2 (h - b)
    assert np.abs(h_t - h).max() >= np.abs(h - inst.bias[(...,) + (None,) * (h.ndim - 2)]).max()


@pytest.mark.parametrize("norm, trans", cells(_has_eps_bound))
@given(data=st.data())
def test_with_eps_the_deviation_is_within_the_derived_bound_and_vanishes_as_eps_goes_to_0(norm, trans, data):
    """With eps > 0 the caveat's bound holds entrywise, e.g. for layer norm

        |h' - h| <= eps |g_i (a_ni - mu_n)| |1 - delta^-2| / (2 (sigma^2_n)^(3/2))

    (0 where the proof holds for every eps), evaluated with the instance's
    statistics, plus the rounding bound; checked at eps, eps/10^2, eps/10^4,
    eps/10^6, so the deviation goes to 0 with eps (linearly)."""
    cav = caveat_of(norm.id, trans.id, "eps")
    inst = data.draw(instances(norm, trans, eps="positive"), label="instance")
    tol = inst.tolerance(norm)
    first = None
    for eps in inst.eps * 10.0 ** -np.arange(0, 8, 2):
        h, h_t = inst.outputs(norm, eps)
        bound = at_every_output(cav.expr, norm, inst, h, eps)
        assert np.all(np.abs(h_t - h) <= bound + tol)
        first = bound.max() if first is None else first
    assert np.abs(h_t - h).max() <= first * 1e-6 + tol


def _zero_statistic_instance(norm, s, data):
    """W, X whose scale statistic is 0: a zero row of W if sigma is a norm of W;
    otherwise constant summed inputs (centring normalizers) or all-zero data."""
    b = built(norm)
    sigma = next(r for r in b.stat_rules if r.base.label.name == "sigma")
    full = unfold(sigma.rhs, list(reversed(b.stat_rules)))
    shape_x = x_shape(s)
    if full.has(b.m.W):
        W = data.draw(weights(s)).copy()
        W[data.draw(st.integers(0, s["H"] - 1))] = 0.0
        return W, data.draw(data_arrays(s))
    small = st.integers(-3, 3).filter(bool)
    if b.kept.get("mu") is not None:  # centres: a = c x D everywhere (integers: the mean is exact)
        return np.full((s["H"], s["D"]), float(data.draw(small))), np.full(shape_x, float(data.draw(small)))
    return data.draw(weights(s)), np.zeros(shape_x)


def _sigma_follows_the_layer(norm) -> bool:
    """Whether sigma is computed from the summed inputs or the weights (not fixed, like running
    statistics, which no input can make zero)."""
    b = built(norm)
    sigma = next(r for r in b.stat_rules if r.base.label.name == "sigma")
    full = unfold(sigma.rhs, list(reversed(b.stat_rules)))
    return full.has(b.m.a) or full.has(b.m.W)


_VANISHING = [n for n in NORMALIZERS.values() if _sigma_follows_the_layer(n)]


@pytest.mark.parametrize("norm", _VANISHING, ids=[n.id for n in _VANISHING])
@given(data=st.data())
def test_inputs_with_zero_variance_raise_the_documented_value_error(norm, data):
    """sigma = 0 with eps = 0 raises ValueError (h would be 0/0); with eps > 0 such
    entries give h = b exactly."""
    s = data.draw(sizes(norm, N=(2, 4), H=(2, 4), P=(2, 3)), label="sizes")
    W, X = _zero_statistic_instance(norm, s, data)
    g, bias = data.draw(gains(s["H"])), data.draw(biases(s["H"]))
    with pytest.raises(ValueError, match=r"is zero|zero weight vector"):
        layers.layer(W, X, g, bias, norm.numeric, 0.0, **norm.numeric_kwargs)
    h = layers.layer(W, X, g, bias, norm.numeric, data.draw(epsilons()), **norm.numeric_kwargs)
    b_full = np.broadcast_to(bias[(...,) + (None,) * (h.ndim - 2)], h.shape)
    zero = on_output_grid(norm, s, "sigma", statistics(norm, W, X)) == 0
    assert zero.any() and np.array_equal(h[zero], b_full[zero])


def _degenerate_sizes(norm):
    """The sizes (as layers keys) at which the degenerate caveat says sigma = 0 for every input."""
    text = caveat_of(norm.id, next(iter(TRANSFORMATIONS)), "degenerate").plain
    names = re.findall(r"(\w+) = 1", text.split(":")[0]) if text.startswith("when ") else []
    key_of = {norm.model.axis(name).size.name: key for key, name in AXIS_OF_SIZE.items()
              if name in {ax.name for ax in (*norm.model.axes, norm.model.input)}}
    return {key_of.get(n, "S"): 1 for n in names}


DEGENERATE = [pytest.param(n, id=n.id) for n in NORMALIZERS.values() if _degenerate_sizes(n)]


@pytest.mark.parametrize("norm", DEGENERATE)
@given(data=st.data())
def test_at_the_degenerate_sizes_every_input_raises_the_documented_value_error(norm, data):
    """At the sizes the degenerate caveat names (e.g. N = 1 for batch norm) sigma is a
    statistic of one value, 0 for every input: the layer refuses, also with eps > 0
    ("need at least 2 ..."), although the caveat says h = b there (see the report)."""
    s = data.draw(sizes(norm, **{k: (v, v) for k, v in _degenerate_sizes(norm).items()}), label="sizes")
    W, X = data.draw(weights(s)), data.draw(data_arrays(s))
    g, bias = data.draw(gains(s["H"])), data.draw(biases(s["H"]))
    for eps in (0.0, data.draw(epsilons())):
        with pytest.raises(ValueError, match="at least 2"):
            layers.layer(W, X, g, bias, norm.numeric, eps, **norm.numeric_kwargs)


# ============================================== exact counterexamples and proofs
def exact_zero(value) -> bool:
    """Exactly 0, for a closed-form algebraic number (its minimal polynomial is x)."""
    value = sp.sympify(value)
    if value.is_Rational:
        return value == 0
    x = sp.Dummy("x")
    return sp.minimal_polynomial(value, x) == x


def _scalars_and_arrays(values):
    arrays = {k: v for k, v in values.items() if isinstance(k, sp.IndexedBase)}
    env = {k: v for k, v in values.items() if not isinstance(k, sp.IndexedBase)}
    return arrays, env


@pytest.mark.parametrize("norm, trans", NOT_INVARIANT_CELLS)
def test_symbolic_counterexample_differs_in_exact_arithmetic_and_in_float64(norm, trans):
    """h and h' of the counterexample, evaluated exactly from the cell's definitions
    (W', X', a, a', statistics, h, h') at the recorded sizes and values, are the
    recorded outputs, and they differ (certified by the minimal polynomial of
    h' - h); run through the NumPy layers they differ too, by the same amount."""
    cell = cell_of(norm.id, trans.id)
    ce = cell.counterexample
    b = built(norm)
    m = b.m
    names = {s.name: s for s in (*m.sizes, *b.size_symbols)}
    sizes = {names[k]: v for k, v in ce.sizes.items()}
    arrays, env = _scalars_and_arrays(bind_instance(b, trans, ce.values, ce.parameters, sizes))
    env.update(sizes)
    for e in definitions(b, trans):   # each defined symbol: a memoised function of its indices
        arrays[e.lhs.base] = memoised(Rule(e.lhs, e.rhs), arrays, env)
    env.update({m.axis(ax).index: v for ax, v in ce.point.items()})
    h, h_t = evaluate(b.out_rule.lhs, arrays, env), evaluate(b.out_rule_p.lhs, arrays, env)
    assert exact_zero(h - ce.output) and exact_zero(h_t - ce.transformed_output)
    assert not exact_zero(h_t - h)
    # float64 replay
    as_float = lambda v: np.array(v, dtype=float)  # noqa: E731
    W, X, g, bias = (as_float(ce.values[k]) for k in ("W", "X", "g", "b"))
    params = {k: (v if isinstance(v, int) else as_float(v)) for k, v in ce.parameters.items()}
    Wt, Xt = transform(trans.id, W, X, params)
    run = lambda W, X: layers.layer(W, X, g, bias, norm.numeric, **norm.numeric_kwargs)  # noqa: E731
    point = tuple(ce.point[ax.name] - 1 for ax in m.axes)
    diff = run(Wt, Xt)[point] - run(W, X)[point]
    assert abs(diff - float(h_t - h)) <= 1e-9 * (1 + abs(float(h_t - h)))
    assert abs(diff) > VIOLATION


@pytest.mark.parametrize("norm, trans", INVARIANT_CELLS)
@examples(0.4)
@given(data=st.data())
def test_every_proof_step_holds_at_random_rational_points(norm, trans, data):
    """Each step evaluated exactly at a random point (N, H in 2..3, D in 1..3, P = 2,
    S in 1..2; rational W, X, g, b, gamma; positive rational deltas): both sides are
    equal (exact algebraic numbers).  Every symbol of a step is a defined quantity
    (a, mu', sigma ...), evaluated from its definition: this does not reuse the
    rewriting (unfold, sum normal form) that checked the step symbolically."""
    cell = cell_of(norm.id, trans.id)
    pt = data.draw(exact_points(norm, trans), label="point")
    eqs = cell.definitions
    arrays, env = _scalars_and_arrays(pt.values)
    env.update({**pt.sizes, **pt.point, EPS: pt.eps})
    for e in eqs:   # every defined symbol becomes a memoised function of its indices
        if e.is_definition:
            arrays[e.lhs.base] = memoised(Rule(e.lhs, e.rhs), arrays, env)
    for chain in cell.proof.chains:   # every link of every chain, as the certificate states it
        for prev, link in zip((chain.lhs,) + tuple(k.expr for k in chain.links), chain.links):
            lhs = evaluate(uneval(prev), arrays, env)
            rhs = evaluate(uneval(link.expr), arrays, env)
            assume(lhs.is_finite and rhs.is_finite)   # a statistic is 0 at this point: no evidence
            assert exact_zero(lhs - rhs), (chain.name, link.expr, lhs, rhs)

