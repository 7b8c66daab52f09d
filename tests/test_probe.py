"""The probe: your own layer's row, numerically; the README's example catches a real bug."""
from __future__ import annotations

import re
from pathlib import Path

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import derived
from invariance import NORMALIZERS, TRANSFORMATIONS, derive, probe
from invariance.catalogue.normalizers import with_linear_bias
from invariance.core.model import EPS
from invariance.numeric.crosscheck import WITHIN_EPS_BOUND

ROOT = Path(__file__).parent.parent


def _differs(a, b):
    """Columns where two registered rows differ: derived, not typed."""
    return [t for t in TRANSFORMATIONS if derived.cell_of(a, t).verdict != derived.cell_of(b, t).verdict]


def _layer_norm(X, W):
    a = X @ W.T
    d = a - a.mean(-1, keepdims=True)
    return d / np.sqrt((d * d).mean(-1, keepdims=True))


def _layer_norm_over_the_cases(X, W):
    a = X @ W.T
    d = a - a.mean(0, keepdims=True)
    return d / np.sqrt((d * d).mean(0, keepdims=True))


def test_a_numpy_layer_norm_probes_as_layer_norm():
    r = probe(_layer_norm, weight=np.ones((5, 3)), against="layer-norm")
    assert r.agrees and r.values.points > 0 and set(r.verdicts) == set(TRANSFORMATIONS)
    assert "margins: invariant columns" in r.table()


def test_a_numpy_layer_norm_over_the_wrong_axis_is_reported():
    r = probe(_layer_norm_over_the_cases, weight=np.ones((5, 3)), against="layer-norm")
    assert r.disagreements == _differs("batch-norm", "layer-norm") != []


def test_a_function_without_a_weight_is_a_clear_error():
    with pytest.raises(ValueError, match="fn\\(X, W\\) with weight=W"):
        probe(_layer_norm)


# ---------------------------------------------------------------- torch
def _torch():
    return pytest.importorskip("torch", reason="probing a torch.nn.Module needs PyTorch: pip install '.[torch]'")


def test_readme_probe_example_catches_layer_norm_over_the_wrong_axis(capsys):
    _torch()
    block = next(b for b in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
                 if "invariance.probe(" in b)
    namespace: dict = {}
    exec(block, namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    wrong = _differs("batch-norm", "layer-norm")
    assert namespace["result"].disagreements == wrong
    assert not namespace["result"].values.agrees and "DISAGREEMENT MyLayerNorm values" in out
    assert [f"DISAGREEMENT MyLayerNorm x {t}:" in out for t in wrong] == [True] * len(wrong)


def test_pytorch_layer_norm_with_eps_0_probes_as_layer_norm():
    torch = _torch()
    layer = torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.LayerNorm(6, eps=0.0))
    r = probe(layer, against="layer-norm", symmetries=False)
    assert r.agrees and WITHIN_EPS_BOUND not in r.verdicts.values()


def test_pytorch_layer_norm_with_its_default_eps_is_checked_against_the_eps_bound():
    torch = _torch()
    # eps = 1e-5 moves the re-scaling columns off exact invariance (a real, small effect): the probe
    # measures it beyond rounding, and checks it against the bound proven for eps > 0
    r = probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.LayerNorm(6)),
              against="layer-norm", instances=50, symmetries=False)
    bound = [t for t, v in r.verdicts.items() if v == WITHIN_EPS_BOUND]
    assert r.agrees and "weight-matrix-rescaling" in bound
    assert all(sp.Eq(EPS, 0) in derived.cell_of("layer-norm", t).conditions for t in bound)
    assert "eps: 1 (LayerNorm): 1e-05" in r.table() and "eps 1e-05)" in r.table()   # values at its eps
    # without a row to compare with, the same columns measure as No, and the output says why
    alone = probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.LayerNorm(6)),
                  instances=50, symmetries=False)
    assert alone.verdicts["weight-matrix-rescaling"] == "not-invariant"
    assert "invariant only at eps = 0 measures as No" in alone.table()


def test_weight_norm_module_is_probed_through_original1():
    """A fresh weight_norm(nn.Linear) has g = ||W_init|| and a random bias: the values check sets its
    gain to 1 and bias to 0 (the definition's instance) and says so, rather than blaming a correct layer."""
    torch = _torch()
    from torch.nn.utils.parametrizations import weight_norm
    layer = weight_norm(torch.nn.Linear(3, 4))
    r = probe(layer, against="weight-norm")
    assert r.disagreements == [] and r.values.agrees and r.agrees
    assert any("original0 (the gain) set to 1" in n for n in r.notes)
    with torch.no_grad():
        layer.parametrizations.weight.original0.fill_(1.0)
        layer.bias.zero_()
    r = probe(layer, against="weight-norm")
    assert r.agrees and not any("set to 1" in n for n in r.notes)   # already the definition's: nothing set


def test_cli_probe_exits_1_on_the_examples_bug_and_2_on_bad_input(capsys):
    _torch()
    from invariance.__main__ import main
    spec = str(ROOT / "examples" / "probe_wrong_axis.py") + ":make_layer"
    assert main(["probe", spec, "--against", "layer-norm", "--instances", "50"]) == 1
    assert "DISAGREEMENT MyLayerNorm" in capsys.readouterr().out
    assert main(["probe", spec.replace("make_layer", "nope")]) == 2
    assert "has no function 'nope'" in capsys.readouterr().err


# ---------------------------------------------------------------- the module as it is (issue 18)
def _row(norm_id):
    return {t: derived.cell_of(norm_id, t).verdict for t in TRANSFORMATIONS}


def _measured(r):
    """The probe's row, with a column within the proven eps bound read as invariant at eps = 0."""
    return {t: "invariant" if v == WITHIN_EPS_BOUND else v for t, v in r.verdicts.items()}


def test_batch_norm_in_train_mode_agrees_with_the_batch_norm_row():
    torch = _torch()
    # the example: nn.BatchNorm1d as constructed (train mode, eps = 1e-5, which train mode
    # cannot drop: F.batch_norm refuses eps = 0 there)
    layer = torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.BatchNorm1d(6))
    r = probe(layer, against="batch-norm", instances=100, symmetries=False)
    out = r.table()
    assert r.agrees and r.disagreements == [] and "DISAGREEMENT" not in out
    assert r.values.agrees and r.values.points > 0
    assert _measured(r) == _row("batch-norm")
    assert "in train mode (as given)" in out and "N = 2 to 5" in out and "1 (BatchNorm1d)" in out
    assert layer.training   # the user's module is not touched


def test_batch_norm_in_eval_mode_is_batch_norm_inference_and_the_mismatch_says_so():
    torch = _torch()
    layer = torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.BatchNorm1d(6))
    r = probe(layer, against="batch-norm-inference", mode="eval", instances=50, symmetries=False)
    assert r.agrees and "in eval mode (--mode eval)" in r.table()
    assert "running statistics of 1 (BatchNorm1d) set to the definition's" not in r.table()   # names only
    assert "running statistics of 1 set to the definition's m = 1/2, v = 2" in r.table()
    wrong = probe(layer.eval(), against="batch-norm", instances=50, symmetries=False)
    assert not wrong.agrees and "hint: 1 (BatchNorm1d) runs in eval mode" in wrong.table()


def test_a_linear_with_a_bias_is_compared_with_the_linear_bias_row():
    torch = _torch()
    r = probe(torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6, eps=0.0)),
              against="layer-norm", instances=50, symmetries=False)
    assert r.against == "layer-norm-linear-bias" and r.agrees and r.values.points > 0
    variant = with_linear_bias(NORMALIZERS["layer-norm"])
    assert _measured(r) == {t: derive(variant, t).verdict for t in TRANSFORMATIONS} != _row("layer-norm")
    assert "values check: the linear bias c of 0 set to the definition's" in r.table()


def test_probing_leaves_the_registry_as_it_was():
    torch = _torch()
    before = list(NORMALIZERS)
    probe(torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6)), against="rms-norm", instances=5,
          symmetries=False)
    assert list(NORMALIZERS) == before


def test_rms_norm_probes_as_rms_norm():
    torch = _torch()
    r = probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.RMSNorm(6)),
              against="rms-norm", instances=50, symmetries=False)
    assert r.agrees and "eps: 1 (RMSNorm): 2.22e-16 (1.19e-07 in float32)" in r.table()


def test_a_dense_group_norm_against_the_conv_row_is_one_line_not_a_disagreement():
    torch = _torch()
    layer = torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.GroupNorm(2, 6))
    with pytest.raises(ValueError) as err:
        probe(layer, against="group-norm")
    line = str(err.value)
    assert "\n" not in line and "registered row is for a conv layer" in line and "no dense group-norm row" in line
    # without --against, its row is measured: group norm over the units of each group
    r = probe(layer, instances=50, symmetries=False)
    assert r.verdicts["weight-matrix-recentering"] == "invariant"   # shifts every unit of every group alike


def test_a_conv_group_norm_agrees_with_the_group_norm_row():
    torch = _torch()
    layer = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1, bias=False), torch.nn.GroupNorm(2, 4, eps=0.0))
    r = probe(layer, against="group-norm", instances=50, symmetries=False)
    assert r.agrees and r.values.points > 0 and "a 1x1 convolution's" in r.table()


def test_instance_norm_after_a_linear_normalizes_each_case_over_its_units():
    torch = _torch()
    # nn.InstanceNorm1d on (N, H) reads it as one unbatched (C = N, L = H) input: each case is
    # normalized over its units (PyTorch warns; the probe reports the warning in one line)
    r = probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.InstanceNorm1d(6, eps=0.0)),
              instances=50, symmetries=False)
    assert r.verdicts == _row("layer-norm")
    assert "note: the module warned: UserWarning: input's size at dim=0" in r.table()
    with pytest.raises(ValueError, match="registered row is for a conv layer"):
        probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.InstanceNorm1d(6)),
              against="instance-norm")


def _scale_norm(H):
    """A hand-written ScaleNorm (Nguyen and Salazar 2019): h = g a / ||a||, one scalar gain."""
    torch = _torch()

    class ScaleNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.g = torch.nn.Parameter(torch.tensor(float(H) ** 0.5))

        def forward(self, a):
            return self.g * a / a.norm(dim=-1, keepdim=True)
    return ScaleNorm()


def test_a_hand_written_scale_norm_has_rms_norms_row():
    torch = _torch()
    r = probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), _scale_norm(6)), instances=50,
              symmetries=False)
    assert r.verdicts == _row("rms-norm")


def test_transformer_encoder_layer_probes_a_named_weight(capsys):
    torch = _torch()
    torch.manual_seed(0)   # the layer's initialisation: the same whatever the tests before ran
    for norm_first in (False, True):
        layer = torch.nn.TransformerEncoderLayer(4, 2, 8, norm_first=norm_first)   # dropout 0.1, train mode
        with pytest.raises(ValueError, match="output is random in train mode.*dropout1.*--mode eval"):
            probe(layer, weight="linear1.weight")
        r = probe(layer, weight="linear1.weight", mode="eval", instances=20)
        out = r.table()
        assert "weight: linear1.weight, 8 x 4, of linear1 (Linear, bias) (named with --weight)" in out
        assert "candidates: self_attn.in_proj_weight (12 x 4)" in out and "linear2.weight (4 x 8)" in out
        assert "input: N cases x 4 features" in out and set(r.verdicts) == set(TRANSFORMATIONS)
        # measured, and said to be settled only when half the batches give the same dimension (a random
        # initialisation may sit near the rank threshold: about 1 in 8 of pre-norm layers here)
        assert r.symmetries.dimension > 0
        assert ("(settled)" in out) == (r.symmetries.dimension == r.symmetries.half)
        inner = probe(layer, weight="linear2.weight", mode="eval", instances=5, symmetries=False)
        assert "weight: linear2.weight, 4 x 8" in inner.table()   # 8 columns, from the feed-forward
        with pytest.raises(ValueError, match="does not enter it directly"):
            probe(layer, weight="linear2.weight", mode="eval", against="layer-norm")


def test_several_candidates_are_listed_and_the_one_taken_is_said():
    torch = _torch()
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6), torch.nn.LayerNorm(6))
    out = probe(mlp, instances=5, symmetries=False).table()
    assert "weight: 0.weight, 8 x 4, of 0 (Linear, bias) (taken: the first whose 4 columns take the input; " \
           "choose with --weight NAME); candidates: 0.weight (8 x 4), 2.weight (6 x 8)" in out
    assert "weight: 2.weight, 6 x 8" in probe(mlp, weight="2.weight", instances=5, symmetries=False).table()
    with pytest.raises(ValueError, match=r"--weight 3.weight has shape \(6,\).*matrices here: 0.weight, 2.weight"):
        probe(mlp, weight="3.weight")
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        probe(mlp, weight="nope")


def test_tuple_and_dict_outputs_are_chosen_with_output():
    torch = _torch()

    class Both(torch.nn.Module):
        def __init__(self, as_dict):
            super().__init__()
            self.linear, self.norm, self.as_dict = torch.nn.Linear(4, 6, bias=False), torch.nn.LayerNorm(6, eps=0.0), as_dict

        def forward(self, x):
            a = self.linear(x)
            return {"h": self.norm(a), "a": a} if self.as_dict else (self.norm(a), a)

    with pytest.raises(ValueError, match=r"returns a tuple of 2; choose one entry with --output INDEX \(0 to 1"):
        probe(Both(False))
    with pytest.raises(ValueError, match="returns a dict with keys h, a; choose one with --output KEY"):
        probe(Both(True))
    assert probe(Both(False), output=0, against="layer-norm", instances=20, symmetries=False).agrees
    assert probe(Both(True), output="h", against="layer-norm", instances=20, symmetries=False).agrees
    a = probe(Both(True), output="a", instances=20, symmetries=False)      # the summed inputs: linear
    assert a.verdicts["weight-matrix-recentering"] == "not-invariant"
    with pytest.raises(ValueError, match="give an index from 0 to 1"):
        probe(Both(False), output=2)


def test_a_numpy_function_has_no_mode_and_says_its_symmetries_are_not_measured():
    with pytest.raises(ValueError, match="a NumPy function has no train or eval mode"):
        probe(_layer_norm, weight=np.ones((5, 3)), mode="train")
    r = probe(lambda X, W: (_layer_norm(X, W), X), weight=np.ones((5, 3)), output=0, instances=20)
    assert r.verdicts == _row("layer-norm") and "symmetries: not measured: a NumPy function" in r.table()


# ---------------------------------------------------------------- the symmetries, measured
def _dimension(layer, **kw) -> int:
    s = probe(layer, instances=2, **kw).symmetries
    assert s.half == s.dimension            # settled: half the batches give the same dimension
    assert s.spectrum.last_kept > 1e3 * s.spectrum.threshold   # a clear gap above the rank threshold
    return s.dimension


D, H = 3, 5


def test_the_null_space_of_linear_then_layer_norm_is_d_plus_1():
    torch = _torch()
    # h = LN(W x), gain g and bias b over H units, W of H x D, eps = 0.  For every input,
    #   W -> W + 1 v^T (v in R^D) adds v.x to every unit alike, which LN's centring removes: D directions;
    #   W -> s W scales a, which LN's division removes: 1 direction.
    # Nothing else: g and b act after the normalization, and z = LN(a) varies with the input (H = 5 >= 3
    # units, so z is not pinned to +-1 as for H = 2), so no change of g, b is compensated for every input.
    # Stacked over enough batches of generic inputs the null space has dimension D + 1 = 4 (of 25 parameters).
    layer = torch.nn.Sequential(torch.nn.Linear(D, H, bias=False), torch.nn.LayerNorm(H, eps=0.0))
    s = probe(layer, instances=2).symmetries
    assert s.parameters == H * D + 2 * H and s.dimension == D + 1 == s.half
    assert s.spectrum.first_dropped < 1e-14 and s.spectrum.last_kept > 1e-3
    assert all(d.residual < s.spectrum.threshold and d.step < 1e-12 for d in s.directions)   # lines of symmetry
    assert all(n.startswith("0.weight[") for d in s.directions for n, _ in d.entries)
    out = probe(layer, instances=2).table()
    assert "null space dimension 4 (rank 21 of 25)" in out and "margin: last kept" in out
    assert "--against a registered row compares them with its proved symmetries" in out


def test_the_null_space_with_a_linear_bias_and_with_eps_is_derived_by_hand():
    torch = _torch()
    nn = torch.nn
    # a = W x + c: W -> W + 1 v^T (D), c -> c + t 1 (1), (W, c) -> s (W, c) (1): D + 2
    assert _dimension(nn.Sequential(nn.Linear(D, H), nn.LayerNorm(H, eps=0.0))) == D + 2
    # eps = 1e-5 breaks the scaling (by a relative 1e-5, far above rounding); the shifts stay: D
    assert _dimension(nn.Sequential(nn.Linear(D, H, bias=False), nn.LayerNorm(H))) == D


def test_the_null_space_of_other_normalizers_is_derived_by_hand():
    torch = _torch()
    nn = torch.nn
    from torch.nn.utils.parametrizations import weight_norm
    G, C = 2, 6
    # RMSNorm, eps = 0: W -> s W only (no centring): 1
    assert _dimension(nn.Sequential(nn.Linear(D, H, bias=False), nn.RMSNorm(H, eps=0.0))) == 1
    # ScaleNorm g a / ||a||: W -> s W: 1
    assert _dimension(nn.Sequential(nn.Linear(D, H, bias=False), _scale_norm(H))) == 1
    # GroupNorm(G, C) on a dense layer, eps = 0: per group, W_group -> W_group + 1 v^T (D) and s W_group (1)
    assert _dimension(nn.Sequential(nn.Linear(D, C, bias=False), nn.GroupNorm(G, C, eps=0.0))) == G * (D + 1)
    # InstanceNorm1d on (N, H), no affine, eps = 0: a layer norm without g, b: D + 1
    assert _dimension(nn.Sequential(nn.Linear(D, H, bias=False), nn.InstanceNorm1d(H, eps=0.0))) == D + 1
    # BatchNorm1d in train mode: w_i -> s_i w_i per unit (H), exact only at eps = 0; eps = 1e-30 is
    # below float64's resolution of the variance (train mode refuses eps = 0), eps = 1e-5 is not
    bn = nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H, eps=1e-30))
    assert _dimension(bn) == H
    assert probe(nn.Sequential(nn.Linear(D, H, bias=False), nn.BatchNorm1d(H)), instances=2).symmetries.dimension == 0
    # BatchNorm1d in eval mode: h_i = g_i (w_i x - m_i) / sqrt(v_i + eps) + b_i, so (g_i, w_i, b_i) ->
    # (t g_i, w_i / t, b_i + (t - 1) g_i m_i / sqrt(v_i + eps)) for each unit: H (curved, not lines)
    assert _dimension(bn, mode="eval") == H
    # weight_norm: v_i -> s v_i per row (the bias is after): H
    assert _dimension(weight_norm(nn.Linear(D, H))) == H


def test_input_directions_are_counted_alone_and_with_the_parameters():
    torch = _torch()
    nn = torch.nn
    layer = nn.Sequential(nn.Linear(D, H, bias=False), nn.LayerNorm(H, eps=0.0))
    s = probe(layer, instances=2, input_directions=True).symmetries
    # The input alone: LN(a) is unchanged by a -> a + t 1 and a -> (1 + t) a, so d x_n is a direction
    # when W d x_n lies in span(1, W x_n); 1 is not in the range of a generic 5 x 3 W, so d x_n = x_n only:
    # one direction per case, N a batch.
    # Together: f(W A^-1, A x) = f(W, x) for A in GL(D), i.e. d W = -W E, d x_n = E x_n for every case of
    # every batch: D^2 directions, of which E = I is W's own scaling plus each case's (already counted
    # alone); no other E gives -W E = 1 v^T + s W (1 is not in W's range) or E x_n || x_n for all n.
    # So D^2 - 1 = 8 beyond the directions of each alone.
    assert s.inputs["per_batch"] == s.cases == 8
    assert s.inputs["joint"] == D * D - 1
    assert "with the input as a variable too" in "\n".join(s.lines())


# ---------------------------------------------------------------- the command line
def _factory(tmp_path, body: str) -> str:
    f = tmp_path / "layer.py"
    f.write_text("import torch\nnn = torch.nn\n\n" + body)
    return str(f)


def test_cli_probe_train_mode_batch_norm_agrees_and_says_its_mode(tmp_path, capsys):
    _torch()
    from invariance.__main__ import main
    f = _factory(tmp_path, "def make():\n    return nn.Sequential(nn.Linear(4, 6, bias=False), nn.BatchNorm1d(6))\n")
    assert main(["probe", f + ":make", "--against", "batch-norm", "--instances", "30", "--no-symmetries"]) == 0
    out = capsys.readouterr().out
    assert "in train mode (as given)" in out and "DISAGREEMENT" not in out and "null space" not in out
    assert main(["probe", f + ":make", "--against", "batch-norm", "--instances", "30", "--mode", "eval",
                 "--no-symmetries"]) == 1
    assert "in eval mode (--mode eval)" in capsys.readouterr().out


@pytest.mark.parametrize("args, says", [
    (["--against", "group-norm"], "registered row is for a conv layer"),
    (["--weight", "1.weight"], "has shape (6,)"),
    (["--output", "0"], "returns a single array; leave --output out"),
    (["--mode", "test"], "unknown mode 'test'"),
])
def test_cli_probe_refusals_are_one_line_with_exit_2(tmp_path, capsys, args, says):
    _torch()
    from invariance.__main__ import main
    f = _factory(tmp_path, "def make():\n    return nn.Sequential(nn.Linear(4, 6, bias=False), nn.GroupNorm(2, 6))\n")
    try:
        status = main(["probe", f + ":make", *args])
    except SystemExit as err:   # the parser's own refusals exit from inside argparse
        status = err.code
    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == "" and says in captured.err and captured.err.count("\n") == 1


def test_cli_probe_of_a_factory_that_raises_is_one_line(tmp_path, capsys):
    from invariance.__main__ import main
    f = tmp_path / "bad.py"
    f.write_text("def make():\n    return 1 / 0\n")
    assert main(["probe", f"{f}:make"]) == 2
    err = capsys.readouterr().err
    assert f"{f}:make() line 2: ZeroDivisionError" in err and err.count("\n") == 1


def test_cli_probe_without_pytorch_is_one_line_naming_the_install_command(tmp_path):
    f = tmp_path / "layer.py"
    f.write_text("import torch\n\ndef make():\n    return torch.nn.Linear(3, 4)\n")
    code = ("import sys; sys.modules['torch'] = None\n"      # import torch now fails, as without PyTorch
            "from invariance.__main__ import main; sys.exit(main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "probe", f"{f}:make"], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 2 and run.stdout == "" and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1 and "pip install '.[torch]'" in run.stderr
    assert "invariance[torch]" not in run.stderr


def test_a_dense_group_norm_agrees_with_a_dense_row_registered_with_load(tmp_path, capsys):
    _torch()
    from invariance.__main__ import main
    f = _factory(tmp_path, "def make():\n    return nn.Sequential(nn.Linear(4, 6, bias=False), nn.GroupNorm(2, 6))\n")
    try:
        assert main(["probe", f + ":make", "--load", str(ROOT / "examples" / "dense_group_norm.py"),
                     "--against", "dense-group-norm", "--instances", "30", "--no-symmetries"]) == 0
        out = capsys.readouterr().out
        assert "compared with: dense-group-norm (fully connected layer)" in out and "DISAGREEMENT" not in out
        assert "values: against dense-group-norm's definition (gain 1, bias 0, eps 1e-05)" in out
    finally:
        NORMALIZERS.pop("dense-group-norm", None)


def test_a_trained_eval_mode_batch_norm_is_not_blamed_for_its_own_gain_bias_and_statistics():
    torch = _torch()
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 5, bias=False), torch.nn.BatchNorm1d(5))
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 2)
        m[1].bias.normal_()
        m[1].running_mean.normal_()
        m[1].running_var.uniform_(0.5, 2)
    r = probe(m.eval(), against="batch-norm-inference")
    assert r.values.agrees and r.agrees, r.notes
    assert any("(the gain) set to 1" in n for n in r.notes) and any("running statistics" in n for n in r.notes)
