"""The properties can fail: run them against plausible broken numeric ops.

Each broken op replaces a normalizer's NumPy op (``dataclasses.replace(norm,
numeric=op)``) while its symbolic definition, and so every expected verdict,
stays the real one.  Beside each op sits a *symbolic model* of what it computes,
a Normalizer built from the same Statistic catalogue: the engine derives the
verdicts of the broken op too, so which verdict properties must fail is
derived, not typed: exactly the transformations where the two rows differ.

Verdict-preserving bugs (an unbiased variance, eps outside the square root)
change no verdict; the property that catches them is the agreement of the
numeric layer with the symbolic definitions (and, for eps, the derived bound).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp
from hypothesis import Phase, given, settings, strategies as st
from hypothesis.errors import NoSuchExample

from invariance import NORMALIZERS, TRANSFORMATIONS, Statistic, derive
from invariance.core.records import INVARIANT, UNKNOWN

import test_properties as props

FAILED = (AssertionError, NoSuchExample)


# ------------------------------------------------------------ the broken ops
@np.errstate(divide="ignore", invalid="ignore")
def layer_norm_over_the_cases(a, W, eps=0.0):
    """Layer norm with its statistics over axis -2 (the cases) instead of -1 (the units)."""
    d = a - a.mean(axis=-2, keepdims=True)
    return d / np.sqrt((d * d).mean(axis=-2, keepdims=True) + eps)


def weight_norm_without_the_norm(a, W, eps=0.0):
    """Weight norm that forgets to divide by ||w_i||."""
    return a


def batch_norm_variance_before_centring(a, W, eps=0.0):
    """Batch norm whose variance is E[a^2], taken before subtracting the mean."""
    return (a - a.mean(axis=-2, keepdims=True)) / np.sqrt((a * a).mean(axis=-2, keepdims=True) + eps)


def batch_norm_unbiased_variance(a, W, eps=0.0):
    """Batch norm that normalizes with the unbiased variance (divides by N - 1)."""
    d = a - a.mean(axis=-2, keepdims=True)
    return d / np.sqrt((d * d).sum(axis=-2, keepdims=True) / (a.shape[-2] - 1) + eps)


def batch_norm_eps_outside_the_root(a, W, eps=0.0):
    """Batch norm computing (a - mu) / (sigma + eps) instead of / sqrt(sigma^2 + eps)."""
    d = a - a.mean(axis=-2, keepdims=True)
    return d / (np.sqrt((d * d).mean(axis=-2, keepdims=True)) + eps)


# ------------------------------------------- symbolic models of the broken ops
def _over_cases(c, f, at):
    return c.mean(f, at, ("case",))


def _model(norm_id, *stats):
    return dataclasses.replace(NORMALIZERS[norm_id], id=f"model-of-broken-{norm_id}", stats=stats)


_N = NORMALIZERS["batch-norm"].model.axis("case").size
MU = Statistic("mu", lambda c, at: _over_cases(c, c.a, at))
MODELS = {
    layer_norm_over_the_cases: NORMALIZERS["batch-norm"],
    weight_norm_without_the_norm: _model("weight-norm", Statistic("sigma", lambda c, at: sp.S.One)),
    batch_norm_variance_before_centring: _model(
        "batch-norm", MU, Statistic("nu^2", lambda c, at: _over_cases(c, lambda t: c.a(t) ** 2, at)),
        Statistic("sigma", lambda c, at: sp.sqrt(c.stat("nu^2", at) + c.eps))),
    batch_norm_unbiased_variance: _model(
        "batch-norm", MU,
        Statistic("sigma^2", lambda c, at: c.total(lambda t: (c.a(t) - c.stat("mu", t)) ** 2, at, ("case",))
                  / (_N - 1)),
        Statistic("sigma", lambda c, at: sp.sqrt(c.stat("sigma^2", at) + c.eps))),
    batch_norm_eps_outside_the_root: _model(
        "batch-norm", MU,
        Statistic("sigma^2", lambda c, at: _over_cases(c, lambda t: (c.a(t) - c.stat("mu", t)) ** 2, at)),
        Statistic("sigma", lambda c, at: sp.sqrt(c.stat("sigma^2", at)) + c.eps)),
}
#: which normalizer each op pretends to implement
OF = {layer_norm_over_the_cases: "layer-norm", weight_norm_without_the_norm: "weight-norm",
      batch_norm_variance_before_centring: "batch-norm", batch_norm_unbiased_variance: "batch-norm",
      batch_norm_eps_outside_the_root: "batch-norm"}


def broken(op):
    return dataclasses.replace(NORMALIZERS[OF[op]], numeric=op)


def quick(prop):
    """A @given(data=st.data()) property with shrinking off: a failure is reported at once."""
    inner = prop.hypothesis.inner_test

    def run(norm, trans, data):   # a fresh function: settings attach to it, not to the original
        return inner(norm, trans, data)
    return given(data=st.data())(settings(settings(), phases=[Phase.generate])(run))


def verdict_property(norm, trans):
    """The property that checks the derived verdict: unchanged output, or a violation found."""
    if props.cell_of(norm.id, trans.id).verdict == INVARIANT:
        return lambda: quick(props.test_invariant_cell_leaves_the_layer_output_unchanged)(norm, trans)
    return lambda: props.test_hypothesis_finds_a_small_instance_violating_a_not_invariant_cell(norm, trans)


def _verdict(norm, trans):
    cell = derive(norm, trans)
    assert cell.verdict != UNKNOWN, (norm.id, trans.id)
    return cell.verdict


# ------------------------------------------------------------------- the tests
CASES = [pytest.param(op, t, id=f"{op.__name__}-{t.id}") for op in MODELS for t in TRANSFORMATIONS.values()]


@pytest.mark.parametrize("op, trans", CASES)
def test_verdict_properties_fail_exactly_where_the_broken_op_changes_the_verdict(op, trans):
    """Against the broken op, the verdict property of a cell fails where the op's own
    (derived) verdict differs from the normalizer's; where they agree it holds, on the
    instances where the op's own statistics are well conditioned (layer norm over the
    cases gives 0/0 for one case, where a layer norm is defined)."""
    real, model = NORMALIZERS[OF[op]], MODELS[op]
    if _verdict(model, trans) != _verdict(real, trans):
        with pytest.raises(FAILED):
            verdict_property(broken(op), trans)()
    else:
        verdict_property(dataclasses.replace(broken(op), stats=model.stats), trans)()


@pytest.mark.parametrize("op", list(MODELS), ids=lambda op: op.__name__)
def test_definitions_agreement_fails_against_every_broken_op(op):
    """Every broken op, verdict-preserving or not, disagrees with the symbolic definitions
    (for eps outside the root: once eps > 0)."""
    trans = TRANSFORMATIONS["dataset-rescaling"]
    with pytest.raises(AssertionError):
        quick(props.test_symbolic_definitions_and_numpy_layers_agree_on_every_instance)(broken(op), trans)


def test_eps_outside_the_root_breaks_the_derived_eps_bound():
    """(a - mu) / (sigma + eps) deviates more than the bound derived for sqrt(sigma^2 + eps)."""
    with pytest.raises(AssertionError):
        quick(props.test_with_eps_the_deviation_is_within_the_derived_bound_and_vanishes_as_eps_goes_to_0)(
            broken(batch_norm_eps_outside_the_root), TRANSFORMATIONS["weight-matrix-rescaling"])


def test_weight_norm_without_the_norm_does_not_flip_under_a_negative_scale():
    """h' = delta g a + b, not 2 b - h: the negative-scale property fails."""
    with pytest.raises(AssertionError):
        quick(props.test_a_negative_scale_factor_flips_the_centred_output)(
            broken(weight_norm_without_the_norm), TRANSFORMATIONS["weight-matrix-rescaling"])


def test_unbiased_variance_changes_no_verdict():
    """A constant factor sqrt(N / (N - 1)): the symbolic model's row equals batch norm's."""
    model, real = MODELS[batch_norm_unbiased_variance], NORMALIZERS["batch-norm"]
    assert [_verdict(model, t) for t in TRANSFORMATIONS.values()] == \
        [_verdict(real, t) for t in TRANSFORMATIONS.values()]
