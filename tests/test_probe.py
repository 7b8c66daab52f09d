"""The probe: your own layer's row, numerically; the README's example catches a real bug."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import derived
from invariance import TRANSFORMATIONS, probe

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
    assert probe(layer, against="layer-norm").agrees
    # PyTorch's default eps = 1e-5: verdicts of re-scaling and values both move off the definition
    default = probe(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.LayerNorm(6)),
                    against="layer-norm")
    assert not default.values.agrees and "weight-matrix-rescaling" in default.disagreements


def test_weight_norm_module_is_probed_through_original1():
    torch = _torch()
    from torch.nn.utils.parametrizations import weight_norm
    layer = weight_norm(torch.nn.Linear(3, 4))
    r = probe(layer, against="weight-norm")
    assert r.disagreements == [] and not r.values.agrees     # g = ||W_init||, a random bias: not g = 1, b = 0
    with torch.no_grad():
        layer.parametrizations.weight.original0.fill_(1.0)
        layer.bias.zero_()
    assert probe(layer, against="weight-norm").agrees


def test_cli_probe_exits_1_on_the_examples_bug_and_2_on_bad_input(capsys):
    _torch()
    from invariance.__main__ import main
    spec = str(ROOT / "examples" / "probe_wrong_axis.py") + ":make_layer"
    assert main(["probe", spec, "--against", "layer-norm", "--instances", "50"]) == 1
    assert "DISAGREEMENT MyLayerNorm" in capsys.readouterr().out
    assert main(["probe", spec.replace("make_layer", "nope")]) == 2
    assert "has no function 'nope'" in capsys.readouterr().err
