"""Tests for invariance.catalogue.layers.

Tolerances: float64 has unit roundoff u = 2**-53 ~ 1.1e-16 (ulp 2.2e-16).  A sum
of n terms, a mean, a variance and a sqrt each carry a relative error of a few
ulps times n, so for the tiny hand examples (n <= 8 terms, a handful of
operations) we allow rtol = 16 * n * ulp.  float32 (ulp 1.19e-7) gets the same
rule against a float64 reference, times a conditioning factor stated in place.
"""
import math
import re
from fractions import Fraction

import numpy as np
import pytest

from invariance.catalogue.layers import (
    batch_norm, conv_batch_norm, conv_layer_norm, conv_rms_norm,
    conv_weight_norm, group_norm, instance_norm, layer, layer_norm, rms_norm,
    summed_inputs, weight_norm,
)
from invariance.numeric.crosscheck import transform

ULP64 = np.finfo(np.float64).eps  # 2.22e-16
ULP32 = np.finfo(np.float32).eps  # 1.19e-7
DENSE_OPS = [batch_norm, layer_norm, rms_norm, weight_norm]
CONV_OPS = [conv_batch_norm, conv_layer_norm, instance_norm, group_norm,
            conv_weight_norm, conv_rms_norm]


def rtol64(n):
    """A few ulps per summed term (see module docstring)."""
    return 16 * n * ULP64


# --------------------------------------------------------------- seed notes
def test_seed001_layer_norm_of_1_2_3():
    # mu = 2, var = (1 + 0 + 1)/3 = 2/3, so LN = [-1, 0, 1]/sqrt(2/3) = [-sqrt(3/2), 0, sqrt(3/2)].
    # The note writes std = 0.81 (exact sqrt(2/3) = 0.8165 -> 0.82) and hence [-1.23, 0, 1.23];
    # the exact value -1.2247... rounds to -1.22, so the note's second decimal is wrong.
    W, X = np.eye(3), np.array([[1.0, 2.0, 3.0]])
    out = layer_norm(summed_inputs(W, X), W)
    s = math.sqrt(Fraction(3, 2))
    np.testing.assert_allclose(out, [[-s, 0.0, s]], rtol=rtol64(3), atol=0)
    assert out[0, 1] == 0.0  # 2 - mean, with mean = 6/3 computed exactly
    assert round(out[0, 0], 2) == -1.22 and round(out[0, 0], 2) != -1.23


def test_seed001_padded_token_layer_norm_is_0_over_0():
    # The note says the padded token [0, 0, 0] has mean 0, var 0 "so padding will not
    # affect" LN; with eps = 0 it is 0/0, which we refuse; with eps > 0 it maps to 0.
    W, X = np.eye(3), np.zeros((1, 3))
    with pytest.raises(ValueError, match="layer norm: the variance over the units is zero for case 0"):
        layer_norm(summed_inputs(W, X), W)
    assert np.array_equal(layer_norm(summed_inputs(W, X), W, eps=1e-5), np.zeros((1, 3)))


def test_seed001_batch_norm_of_padded_first_feature():
    # Feature 1 over all 8 tokens: 1..7 and the pad 0. mu = 28/8 = 7/2, var = 42/8 = 21/4,
    # std = sqrt(21)/2 = 2.2913 (note: 2.29, fine).  "I": (1 - 7/2)/std = -5/sqrt(21) = -1.0911
    # (note -1.09, right).  "powerful": (7 - 7/2)/std = 7/sqrt(21) = 1.5275, which rounds to
    # 1.53; the note's 1.52 comes from dividing by the rounded 2.29.
    vals = [1, 2, 3, 4, 5, 6, 7, 0]
    mu = Fraction(sum(vals), len(vals))
    var = sum((Fraction(v) - mu) ** 2 for v in vals) / len(vals)
    assert (mu, var) == (Fraction(7, 2), Fraction(21, 4))
    exact = [float(v - mu) / math.sqrt(var) for v in vals]
    W, X = np.array([[1.0]]), np.array(vals, dtype=float)[:, None]
    out = batch_norm(summed_inputs(W, X), W)[:, 0]
    np.testing.assert_allclose(out, exact, rtol=rtol64(8), atol=0)
    assert round(out[0], 2) == -1.09
    assert round(out[6], 2) == 1.53 and abs(out[6] - 7 / math.sqrt(21)) < rtol64(8) * 2


def test_seed004_batch_norm_4_6_8_10_gain_2():
    # mu = 7, var = (9 + 1 + 1 + 9)/4 = 5, so g * (a - mu)/sigma = 2 * [-3, -1, 1, 3]/sqrt(5).
    # 2 * (-3)/sqrt(5) = -2.68328 -> -2.683; the note says -2.684 because it rounded
    # (4 - 7)/2.236 to -1.342 before doubling.  2 * (-1)/sqrt(5) = -0.894427 (note right).
    # The note names the bias b = -1 but then leaves it out; we check both.
    W, X = np.array([[1.0]]), np.array([[4.0], [6.0], [8.0], [10.0]])
    exact = [2 * d / math.sqrt(5) for d in (-3, -1, 1, 3)]
    h = layer(W, X, gain=[2.0], bias=[0.0], op=batch_norm)[:, 0]
    np.testing.assert_allclose(h, exact, rtol=rtol64(4), atol=0)
    assert round(h[0], 3) == -2.683 and round(h[0], 3) != -2.684
    assert round(h[1], 3) == -0.894
    h1 = layer(W, X, gain=[2.0], bias=[-1.0], op=batch_norm)[:, 0]
    np.testing.assert_allclose(h1, [e - 1 for e in exact], rtol=rtol64(4), atol=0)


def test_seed004_batch_norm_with_eps():
    # Feature [1, 2, 3, 4]: mu = 5/2, var = 5/4; with eps = 0.001: (1 - 2.5)/sqrt(1.251) = -1.3411
    # (note -1.34, right).  The constant feature [2, 2, 2, 2] has var 0: fine with eps, error without.
    W, X = np.eye(2), np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0], [4.0, 2.0]])
    out = batch_norm(summed_inputs(W, X), W, eps=0.001)
    exact = [(v - 2.5) / math.sqrt(1.25 + 0.001) for v in (1, 2, 3, 4)]
    np.testing.assert_allclose(out[:, 0], exact, rtol=rtol64(4), atol=0)
    assert np.array_equal(out[:, 1], np.zeros(4))
    with pytest.raises(ValueError, match=re.escape(
            "batch norm: the variance over the cases is zero for unit 1; sigma = 0 with eps = 0")):
        batch_norm(summed_inputs(W, X), W)


# ----------------------------------------------------------- definitions
def test_summed_inputs_dense_and_conv():
    W = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])        # H = 3, D = 2
    X = np.array([[1.0, 1.0], [2.0, 0.0]])                      # N = 2
    assert np.array_equal(summed_inputs(W, X), [[3, -1, 4], [2, 0, 6]])
    Xc = np.arange(12.0).reshape(2, 2, 3)                       # N = 2, D = 2, P = 3
    ref = np.array([[[sum(W[c, d] * Xc[n, d, p] for d in range(2)) for p in range(3)]
                     for c in range(3)] for n in range(2)])
    assert np.array_equal(summed_inputs(W, Xc), ref)  # small integers: exact


def test_dense_ops_match_formulas():
    rng = np.random.default_rng(0)
    W, X = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    a = X @ W.T
    mu_b, sd_b = a.mean(0), a.std(0)
    mu_l, sd_l = a.mean(1, keepdims=True), a.std(1, keepdims=True)
    tol = rtol64(5) * 10  # 5 terms per statistic; |a - mu|/sigma <= sqrt(n) amplifies by < 10
    np.testing.assert_allclose(batch_norm(a, W), (a - mu_b) / sd_b, rtol=tol)
    np.testing.assert_allclose(layer_norm(a, W), (a - mu_l) / sd_l, rtol=tol)
    np.testing.assert_allclose(rms_norm(a, W), a / np.sqrt((a ** 2).mean(1, keepdims=True)), rtol=tol)
    np.testing.assert_allclose(weight_norm(a, W), a / np.linalg.norm(W, axis=1), rtol=tol)
    np.testing.assert_allclose(layer_norm(a, W, eps=0.5), (a - mu_l) / np.sqrt(sd_l ** 2 + 0.5), rtol=tol)


def test_conv_ops_match_formulas():
    rng = np.random.default_rng(1)
    W, X = rng.normal(size=(4, 3)), rng.normal(size=(2, 3, 5))  # C = 4, N = 2, P = 5
    a = summed_inputs(W, X)
    tol = rtol64(20) * 10  # at most N*C*P = 40 / 20 terms per statistic, amplification < 10

    def std(axes):
        m = a.mean(axes, keepdims=True)
        return (a - m) / a.std(axes, keepdims=True)
    np.testing.assert_allclose(conv_batch_norm(a, W), std((0, 2)), rtol=tol)
    np.testing.assert_allclose(conv_layer_norm(a, W), std((1, 2)), rtol=tol)
    np.testing.assert_allclose(instance_norm(a, W), std((2,)), rtol=tol)
    np.testing.assert_allclose(conv_rms_norm(a, W), a / np.sqrt((a ** 2).mean((1, 2), keepdims=True)), rtol=tol)
    np.testing.assert_allclose(conv_weight_norm(a, W), a / np.linalg.norm(W, axis=1)[:, None], rtol=tol)
    # group norm: groups = 1 is layer norm over channels, groups = C is instance norm
    np.testing.assert_allclose(group_norm(a, W, groups=1), conv_layer_norm(a, W), rtol=tol)
    np.testing.assert_allclose(group_norm(a, W, groups=4), instance_norm(a, W), rtol=tol)
    g = group_norm(a, W)  # groups=2: channels {0,1} and {2,3}
    for lo in (0, 2):
        blk = a[:, lo:lo + 2]
        ref = (blk - blk.mean((1, 2), keepdims=True)) / blk.std((1, 2), keepdims=True)
        np.testing.assert_allclose(g[:, lo:lo + 2], ref, rtol=tol)


def test_layer_gain_bias_and_nonlinearity():
    W, X = np.eye(2), np.array([[1.0, 3.0], [3.0, 1.0]])  # LN rows: [-1, 1], [1, -1] exactly
    h = layer(W, X, [2.0, 3.0], [0.5, -0.5], layer_norm, f=np.tanh)
    assert np.allclose(h, np.tanh([[-1.5, 2.5], [2.5, -3.5]]), rtol=rtol64(4), atol=0)
    Xc = np.array([[[1.0, 3.0], [3.0, 1.0]]])          # conv: N=1, D=C=2, P=2; per channel gain
    hc = layer(W, Xc, [2.0, 3.0], [0.0, 1.0], instance_norm)
    np.testing.assert_allclose(hc, [[[-2.0, 2.0], [4.0, -2.0]]], rtol=rtol64(2), atol=0)
    h2 = layer(W, Xc, [1.0, 1.0], [0.0, 0.0], group_norm, groups=1)  # **op_kwargs reach the op
    np.testing.assert_allclose(h2, conv_layer_norm(summed_inputs(W, Xc), W), rtol=0, atol=0)


# ------------------------------------------------------------- dtypes
@pytest.mark.parametrize("op", DENSE_OPS + CONV_OPS, ids=lambda o: o.__name__)
def test_float32_and_float64_keep_dtype(op):
    rng = np.random.default_rng(2)
    conv = op in CONV_OPS
    W = rng.normal(size=(4, 3))
    X = rng.normal(size=(6, 3, 5) if conv else (6, 3))
    ref = op(summed_inputs(W, X), W)
    assert ref.dtype == np.float64
    W32, X32 = W.astype(np.float32), X.astype(np.float32)
    out = op(summed_inputs(W32, X32), W32, eps=0.0)
    assert out.dtype == np.float32
    # float32 inputs are rounded (1 ulp) and each statistic sums <= 30 terms; random O(1)
    # data is well conditioned (x100 margin for |a - mu|/sigma and cancellation in a).
    np.testing.assert_allclose(out, ref, rtol=100 * 30 * ULP32, atol=100 * 30 * ULP32)
    h = layer(W32, X32, np.ones(4), np.zeros(4), op)
    assert h.dtype == np.float32


# ------------------------------------------------------------- batching
@pytest.mark.parametrize("op", DENSE_OPS + CONV_OPS, ids=lambda o: o.__name__)
def test_batched_equals_separate_calls(op):
    rng = np.random.default_rng(3)
    conv, K = op in CONV_OPS, 5
    W = rng.normal(size=(K, 4, 3))
    X = rng.normal(size=(K, 6, 3, 2) if conv else (K, 6, 3))
    g, b = rng.normal(size=(K, 4)), rng.normal(size=(K, 4))
    batched = layer(W, X, g, b, op, eps=1e-3, f=np.tanh)
    single = np.stack([layer(W[k], X[k], g[k], b[k], op, eps=1e-3, f=np.tanh) for k in range(K)])
    # Same formulas, only BLAS summation order may differ: a few ulps x D = 3 terms in a,
    # amplified by < 10 through the normalization, i.e. far below 1e-13.
    np.testing.assert_allclose(batched, single, rtol=1e-13, atol=1e-13)
    # broadcasting instance axes: one W shared by K data sets
    shared = layer(W[:1], X, g[0], b[0], op, eps=1e-3)
    single = np.stack([layer(W[0], X[k], g[0], b[0], op, eps=1e-3) for k in range(K)])
    np.testing.assert_allclose(shared, single, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ["W", "X", "gain", "bias"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_inputs(name, bad):
    args = dict(W=np.eye(2), X=np.ones((3, 2)), gain=np.ones(2), bias=np.zeros(2))
    args[name] = args[name].copy()
    args[name].flat[0] = bad
    with pytest.raises(ValueError, match=f"^{name} contains NaN or infinite values"):
        layer(op=layer_norm, **args)


def test_shape_errors():
    with pytest.raises(ValueError, match=re.escape(
            "W has shape (3, 4) but X has shape (2, 5): the last axis of X must equal W's D = 4")):
        summed_inputs(np.ones((3, 4)), np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"W has shape \(3, 4\) but X has shape \(2, 5, 7\): "
                                         r"the second-to-last axis of X must equal W's D = 4"):
        summed_inputs(np.ones((3, 4)), np.ones((2, 5, 7)))
    with pytest.raises(ValueError, match="leading instance axes do not broadcast"):
        summed_inputs(np.ones((2, 3, 4)), np.ones((5, 2, 4)))
    with pytest.raises(ValueError, match="X.ndim == W.ndim"):
        summed_inputs(np.ones((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match="the last axis of gain must equal H = 2"):
        layer(np.eye(2), np.eye(2), np.ones(3), np.zeros(2), layer_norm)
    with pytest.raises(ValueError, match="divisible by groups = 2"):
        group_norm(np.ones((2, 3, 4)), np.ones((3, 1)))


def test_batch_of_one_case():
    W = np.eye(2)
    with pytest.raises(ValueError, match="batch statistics need at least 2 cases"):
        batch_norm(summed_inputs(W, np.array([[1.0, 2.0]])), W, eps=1e-5)
    with pytest.raises(ValueError, match="batch statistics need at least 2 cases"):
        conv_batch_norm(np.ones((1, 2, 1)), W, eps=1e-5)
    # one case but several positions is a valid conv batch
    out = conv_batch_norm(np.array([[[1.0, 3.0], [2.0, 0.0]]]), W)
    assert np.array_equal(out, [[[-1.0, 1.0], [1.0, -1.0]]])


def test_layer_norm_of_one_unit_is_rejected():
    W = np.array([[1.0, 1.0]])  # H = 1
    with pytest.raises(ValueError, match="need at least 2 units, got a layer of one unit"):
        layer_norm(summed_inputs(W, np.ones((3, 2))), W, eps=1e-5)


def test_rms_norm_of_one_unit_is_its_sign():
    """RMS of a single value is |a| != 0, so RMSNorm of one unit is sign(a), not an error."""
    W = np.array([[1.0, 1.0]])
    out = rms_norm(summed_inputs(W, np.array([[1.0, 2.0], [-3.0, 1.0]])), W)
    assert np.array_equal(out, [[1.0], [-1.0]])


@pytest.mark.parametrize("op", [instance_norm, conv_layer_norm])
def test_conv_single_value_statistics(op):
    with pytest.raises(ValueError, match="at least 2"):
        op(np.ones((2, 1, 1)), np.ones((1, 3)), eps=1e-5)


def test_zero_weight_vector():
    W = np.array([[1.0, 0.0], [0.0, 0.0]])
    a = summed_inputs(W, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"weight norm: row 1 of W is a zero weight vector"):
        weight_norm(a, W)
    assert np.array_equal(weight_norm(a, W, eps=0.25), a / np.array([math.sqrt(1.25), 0.5]))
    ac = summed_inputs(W, np.ones((3, 2, 4)))
    with pytest.raises(ValueError, match=r"conv weight norm: row 1 of W is a zero weight vector"):
        conv_weight_norm(ac, W)


def test_zero_statistics_messages():
    W = np.eye(3)
    a = np.array([[1.0, 5.0, 2.0], [2.0, 5.0, 2.0]])
    with pytest.raises(ValueError, match=re.escape(
            "batch norm: the variance over the cases is zero for unit 1; sigma = 0 with eps = 0")):
        batch_norm(a, W)
    with pytest.raises(ValueError, match=r"layer norm: the variance over the units is zero for case 1"):
        layer_norm(np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]]), W)
    with pytest.raises(ValueError, match=r"rms norm: the mean square \(RMS\) over the units is zero for case 0"):
        rms_norm(np.zeros((2, 3)), W)
    with pytest.raises(ValueError, match=r"zero for case 0, channel 1; sigma = 0"):
        instance_norm(np.array([[[1.0, 2.0], [3.0, 3.0]]]), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"group norm: .* zero for case 0, group 1"):
        group_norm(np.array([[[1.0], [2.0], [3.0], [3.0]]]), np.ones((4, 1)))
    # batched: the message names the instance
    ab = np.array([[[1.0, 2.0], [2.0, 3.0]], [[5.0, 2.0], [5.0, 3.0]]])  # K=2, N=2, H=2
    with pytest.raises(ValueError, match=r"zero for unit 0 \(instance \(1,\)\)"):
        batch_norm(ab, np.ones((2, 2, 1)))
    # values that are all equal count as zero variance even if the computed mean rounds
    with pytest.raises(ValueError, match="variance over the units is zero"):
        layer_norm(np.full((1, 3), 0.1), W)


def test_tiny_nonzero_variance_is_legal():
    # variance (ulp/2)^2 ~ 1.2e-32 > 0: exact check, no threshold.  The computed mean rounds
    # to 1.0 (a tie to even), so this also checks the corrected two-pass re-centring.
    x = 1.0 + ULP64
    out = batch_norm(np.array([[1.0], [x]]), np.ones((1, 1)))
    assert np.array_equal(out[:, 0], [-1.0, 1.0])


def test_negative_eps():
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        layer_norm(np.ones((1, 3)), np.eye(3), eps=-1e-5)


# ------------------------------------------------------------- transformations
W0 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # H = 3, D = 2
X0 = np.array([[1.0, -1.0], [2.0, 0.5]])              # N = 2


def test_weight_transformations():
    W, X = transform("weight-matrix-rescaling", W0, X0, {"delta": 2.0})
    assert np.array_equal(W, [[2, 4], [6, 8], [10, 12]]) and X is X0
    W, _ = transform("weight-matrix-recentering", W0, X0, {"gamma": [10.0, -1.0]})
    assert np.array_equal(W, [[11, 1], [13, 3], [15, 5]])
    W, _ = transform("weight-vector-rescaling", W0, X0, {"delta": [1.0, 0.5, -1.0]})
    assert np.array_equal(W, [[1, 2], [1.5, 2], [-5, -6]])


def test_dataset_transformations():
    _, X = transform("dataset-rescaling", W0, X0, {"delta": 3.0})
    assert np.array_equal(X, [[3, -3], [6, 1.5]])
    _, X = transform("dataset-recentering", W0, X0, {"gamma": [1.0, 2.0]})
    assert np.array_equal(X, [[2, 1], [3, 2.5]])
    _, X = transform("single-case-rescaling", W0, X0, {"delta": -2.0, "case": 2})   # 1-based, as the paper
    assert np.array_equal(X, [[1, -1], [-4, -1]])
    _, X = transform("single-case-rescaling", W0, X0, {"delta": 4.0})  # case defaults to 1
    assert np.array_equal(X, [[4, -4], [2, 0.5]])


def test_conv_dataset_transformations():
    Xc = np.arange(8.0).reshape(2, 2, 2)  # N = 2, D = 2, P = 2
    _, X = transform("dataset-recentering", W0, Xc, {"gamma": [10.0, 20.0]})
    assert np.array_equal(X, [[[10, 11], [22, 23]], [[14, 15], [26, 27]]])  # same at every p
    _, X = transform("single-case-rescaling", W0, Xc, {"delta": 2.0, "case": 2})
    assert np.array_equal(X, [[[0, 1], [2, 3]], [[8, 10], [12, 14]]])


def test_batched_transformations():
    K = 3
    W, X = np.stack([W0] * K), np.stack([X0] * K)
    delta = np.array([1.0, 2.0, -1.0])
    Wt, _ = transform("weight-matrix-rescaling", W, X, {"delta": delta})
    assert np.array_equal(Wt, delta[:, None, None] * W0)
    _, Xt = transform("single-case-rescaling", W, X, {"delta": delta, "case": 1})
    assert np.array_equal(Xt[:, 0], delta[:, None] * X0[0]) and np.array_equal(Xt[:, 1], X[:, 1])
    gam = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    Wt, _ = transform("weight-matrix-recentering", W, X, {"gamma": gam})
    assert np.array_equal(Wt[2], W0 + 2.0)
    with pytest.raises(ValueError, match=r"params\['delta'\] has shape \(3,\)"):
        transform("dataset-rescaling", W0, X0, {"delta": delta})  # no instance axis to match
    with pytest.raises(ValueError, match="unknown transformation"):
        transform("dataset-shuffle", W0, X0, {})
    with pytest.raises(ValueError, match="case must be an int"):
        transform("single-case-rescaling", W0, X0, {"delta": 2.0, "case": 3})
    with pytest.raises(ValueError, match="case must be an int"):
        transform("single-case-rescaling", W0, X0, {"delta": 2.0, "case": 0})


def test_overflow_is_an_error_not_a_silent_result():
    with pytest.raises(ValueError, match="summed inputs a = W x overflow"):
        summed_inputs(np.array([[1e200, 1e200]]), np.array([[1e200, 1.0]]))
    with pytest.raises(ValueError, match="layer norm: the statistics overflow"):
        layer_norm(np.array([[1e300, -1e300, 1e300]]), None)
