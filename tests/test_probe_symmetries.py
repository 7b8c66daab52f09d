"""The probe's measured null space against the proved basis of the row it is compared with.

Every expected dimension below is derived by hand from what the layer computes (the comment
above each assertion), not read from `symmetries`; the probe derives its own from `symmetries`,
so each test checks one against the other.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from invariance import NORMALIZERS, probe

ROOT = Path(__file__).parent.parent
D, H = 3, 5


def _nn():
    return pytest.importorskip("torch").nn


def _compared(layer, against, **kw):
    r = probe(layer, against=against, instances=2, **kw)
    c = r.compared
    assert c is not None and not isinstance(c, str), c
    return r, c


def _status(c) -> dict:
    return {n.family: (n.status, n.value) for n in c.named}


def test_linear_then_layer_norm_contains_the_shifts_and_the_scaling_and_g_b_add_none():
    nn = _nn()
    # h = g (a - mu) / sigma + b, a = W x, eps = 0.  W -> W + 1 v^T (D: every unit shifted alike,
    # the centring removes it) and W -> s W (1: the division removes it); g and b act after the
    # normalization on an output that varies with x, so no change of them is compensated: D + 1.
    r, c = _compared(nn.Sequential(nn.Linear(D, H, bias=False), nn.LayerNorm(H, eps=0.0)), "layer-norm")
    assert c.expected == c.measured == D + 1 and c.agrees and r.agrees
    assert _status(c) == {"weight-matrix-recentering": ("contained", D), "weight-matrix-rescaling": ("contained", 1)}
    assert all(n.residual <= c.threshold for n in c.named) and c.extra_count == 0 and c.others == 0
    assert "g = 1.weight, b = 1.bias" in c.where
    out = r.table()
    assert "expected, from `symmetries layer-norm` (dimension D + 1) at H = 5, D = 3: 4; measured 4: agrees" in out
    assert "direction 1:" not in out          # the named directions replace the pivoted basis


def test_layer_norms_eps_breaks_the_scaling_as_proved():
    nn = _nn()
    # eps = 1e-5: sigma = sqrt(var + eps) no longer scales with W (relatively by eps / var, far above
    # float64's rounding), and the proof of the scaling needs eps = 0; the shifts hold for any eps: D
    r, c = _compared(nn.Sequential(nn.Linear(D, H, bias=False), nn.LayerNorm(H)), "layer-norm")
    assert c.expected == c.measured == D and c.agrees
    assert _status(c)["weight-matrix-rescaling"] == ("eps", 1)
    assert "(4 less 1 not expected, below)" in r.table() and "broken by the module's eps = 1e-05" in r.table()


def test_a_linear_bias_adds_the_shift_of_c_and_scales_c_with_w():
    nn = _nn()
    # a = W x + c: W -> W + 1 v^T (D), c -> c + t 1 (1), (W, c) -> s (W, c) (1): D + 2; c is the
    # Linear's bias, and the row is layer-norm-linear-bias
    r, c = _compared(nn.Sequential(nn.Linear(D, H), nn.LayerNorm(H, eps=0.0)), "layer-norm")
    assert c.row == "layer-norm-linear-bias" and c.expected == c.measured == D + 2 and c.agrees
    assert set(_status(c).values()) == {("contained", D), ("contained", 1)} and len(c.named) == 3
    assert "c = 0.bias" in c.where


def test_batch_norm_in_train_mode_rescales_each_row():
    nn = _nn()
    # batch statistics per unit over the N cases: w_i -> s_i w_i is removed unit by unit: H, at
    # eps = 0; train mode refuses eps = 0, and eps = 1e-30 is below float64's resolution of a variance
    _, c = _compared(nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H, eps=1e-30)), "batch-norm")
    assert c.expected == c.measured == H and c.agrees
    assert _status(c) == {"weight-vector-rescaling": ("contained", H)}
    # at the default eps = 1e-5 the scaling moves h by a relative eps / var: none left, as proved
    _, c = _compared(nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H)), "batch-norm")
    assert c.expected == c.measured == 0 and c.agrees and _status(c) == {"weight-vector-rescaling": ("eps", H)}


def test_batch_norm_in_eval_mode_trades_each_row_against_its_gain_at_its_own_running_statistics():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H))
    with torch.no_grad():   # statistics and affine as after training: not the registry's one m, v
        layer[1].running_mean.copy_(torch.randn(H))
        layer[1].running_var.copy_(torch.rand(H) + 0.5)
        layer[1].weight.copy_(torch.randn(H))
        layer[1].bias.copy_(torch.randn(H))
    # h_i = g_i (w_i x - m_i) / sqrt(v_i + eps) + b_i: (w_i, g_i, b_i) -> (s w_i, g_i / s,
    # b_i + g_i m_i (1/s - 1) / sqrt(v_i + eps)) for each unit: H, for any eps; the tangent's b_i entry
    # -g_i m_i / sqrt(v_i + eps) is the module's own, unit by unit
    _, c = _compared(layer.eval(), "batch-norm-inference")
    assert c.expected == c.measured == H and c.agrees
    assert _status(c) == {"row-against-gain": ("contained", H)}
    # without an affine the gain to trade against is not there: nothing expected, nothing measured
    bare = nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H, affine=False)).eval()
    _, c = _compared(bare, "batch-norm-inference")
    assert c.expected == c.measured == 0 and c.agrees and _status(c) == {"row-against-gain": ("absent", H)}


def test_weight_norm_rescales_each_direction_row():
    nn = _nn()
    from torch.nn.utils.parametrizations import weight_norm
    # weight = g_i v_i / ||v_i||: v_i -> s_i v_i for each row: H (the bias is added after: b)
    _, c = _compared(weight_norm(nn.Linear(D, H)), "weight-norm")
    assert c.expected == c.measured == H and c.agrees
    assert "g = parametrizations.weight.original0, b = bias (weight_norm)" in c.where


@pytest.fixture
def dense_group_norm():
    import runpy
    runpy.run_path(str(ROOT / "examples" / "dense_group_norm.py"))   # registers dense-group-norm
    yield NORMALIZERS["dense-group-norm"]
    NORMALIZERS.pop("dense-group-norm", None)


@pytest.mark.parametrize("groups, units", [(2, 6), (3, 9)])
def test_a_dense_group_norm_rescales_and_shifts_each_group(dense_group_norm, groups, units):
    nn = _nn()
    # statistics per case over each group's units: w_G -> w_G + 1 v^T (D a group) and s_G w_G (1 a
    # group): G (D + 1), at the module's own number of groups (the proofs hold for any group size)
    layer = nn.Sequential(nn.Linear(D, units, bias=False), nn.GroupNorm(groups, units, eps=0.0))
    _, c = _compared(layer, "dense-group-norm")
    assert c.expected == c.measured == groups * (D + 1) and c.agrees and f"G = {groups}" in c.sizes


def test_a_degenerate_size_is_said_and_not_asserted():
    nn = _nn()
    # H = 2: the centred units are +-(a_1 - a_2)/2, and h = +-1 whatever W is (away from a_1 = a_2):
    # every direction of W (H D = 6) leaves h unchanged, more than D + 1
    r, c = _compared(nn.Sequential(nn.Linear(D, 2, bias=False), nn.LayerNorm(2, eps=0.0)), "layer-norm")
    assert c.degenerate and c.agrees and "not asserted: unit = 2" in r.table()


def test_a_second_linear_after_the_norm_adds_extra_directions_and_is_a_disagreement():
    nn = _nn()
    K = 4
    # y = W2 (g * z + b), z = LN(W1 x), with P W1 = B (P the centring; rank D).  y depends on the
    # parameters only through C = W2 diag(g) B (K x D), Q = B^T B (D x D symmetric) up to the joint
    # scaling (C, Q) -> (t C, t^2 Q), and the offset W2 b (K): K D + D (D + 1) / 2 - 1 + K = 21 of
    # H D + 2 H + K H = 45 parameters; 45 - 21 = 24 directions, of which layer-norm names D + 1
    r, c = _compared(nn.Sequential(nn.Linear(D, H, bias=False), nn.LayerNorm(H, eps=0.0),
                                   nn.Linear(H, K, bias=False)), "layer-norm")
    parameters, rank = H * D + 2 * H + K * H, K * D + D * (D + 1) // 2 - 1 + K
    assert c.expected == D + 1 and c.measured == parameters - rank == 24
    assert c.extra_count == c.measured - (D + 1) and not c.missing and not c.agrees and not r.agrees
    assert c.others == K * H and all(d.residual <= c.threshold for d in c.extra)
    assert "DISAGREEMENT Sequential symmetries: measured null space dimension 24, expected 4" in r.table()


def test_cli_exit_status_follows_the_comparison(tmp_path, capsys):
    from invariance.__main__ import main
    pytest.importorskip("torch")
    f = tmp_path / "mods.py"
    f.write_text("import torch\nnn = torch.nn\n"
                 "def ln():\n    return nn.Sequential(nn.Linear(3, 5, bias=False), nn.LayerNorm(5, eps=0.0))\n"
                 "def mlp():\n    return nn.Sequential(nn.Linear(3, 5, bias=False), nn.LayerNorm(5, eps=0.0),"
                 " nn.Linear(5, 4, bias=False))\n"
                 "def gn():\n    return nn.Sequential(nn.Linear(3, 6, bias=False), nn.GroupNorm(2, 6, eps=0.0))\n")
    assert main(["probe", f"{f}:ln", "--against", "layer-norm", "--instances", "5"]) == 0
    assert main(["probe", f"{f}:mlp", "--against", "layer-norm", "--instances", "5"]) == 1
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("DISAGREEMENT")] == [
        line for line in out.splitlines() if line.startswith("DISAGREEMENT Sequential symmetries")]
    try:
        assert main(["probe", f"{f}:gn", "--load", str(ROOT / "examples" / "dense_group_norm.py"),
                     "--against", "dense-group-norm", "--instances", "5"]) == 0
    finally:
        NORMALIZERS.pop("dense-group-norm", None)
    assert "expected, from `symmetries dense-group-norm` (dimension D*G + G)" in capsys.readouterr().out
