"""The PyTorch backend: PyTorch's own modules, float32 and float64, against the derived table."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import derived
from invariance import NORMALIZERS, TRANSFORMATIONS
from invariance.core.definition import TorchOp
from invariance.numeric.crosscheck import Setup, cross_check
from invariance.numeric.values import compare_values

torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch: pip install '.[torch]'")
F = torch.nn.functional

CELLS = [(n, t) for n in NORMALIZERS for t in TRANSFORMATIONS]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm, trans", CELLS)
def test_torch_verdict_agrees_with_the_symbolic_one(norm, trans, dtype):
    cell = derived.cell_of(norm, trans)
    r = cross_check(NORMALIZERS[norm], TRANSFORMATIONS[trans], cell, setup=Setup("torch", dtype))
    assert r.verdict == cell.verdict and r.agrees(cell), r
    if cell.counterexample is not None:
        assert r.replay_differs
    else:
        assert r.max_tolerance_ratio < 1


# ---------------------------------------------- the catalogue's mapping to PyTorch modules
def _instance(conv, seed=0, H=4, N=5, D=3, P=3):
    rng = np.random.default_rng(seed)
    t = lambda *s: torch.tensor(rng.normal(size=s), dtype=torch.float64)  # noqa: E731
    return t(H, D), t(N, D, P) if conv else t(N, D), t(H), t(H)


def _conv(W, X):
    conv = torch.nn.Conv2d(W.shape[1], W.shape[0], 1, bias=False).double()
    conv.weight.data = W[:, :, None, None].clone()
    return conv(X[..., None])[..., 0]


def _linear(W, X):
    lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False).double()
    lin.weight.data = W.clone()
    return lin(X)


def _affine(module, g, b):
    module = module.double()
    module.weight.data, module.bias.data = g.clone(), b.clone()
    return module


def _weight_norm_module(W, X, g, b, conv):
    from torch.nn.utils.parametrizations import weight_norm
    base = (torch.nn.Conv2d(W.shape[1], W.shape[0], 1) if conv else torch.nn.Linear(W.shape[1], W.shape[0])).double()
    m = weight_norm(base)
    m.parametrizations.weight.original0.data = g.reshape(-1, *([1] * (3 if conv else 1))).clone()
    m.parametrizations.weight.original1.data = (W[:, :, None, None] if conv else W).clone()
    m.bias.data = b.clone()
    return m(X[..., None])[..., 0] if conv else m(X)


def _running(W, X, g, b):
    """nn.BatchNorm1d in eval mode, its running statistics set to the entry's m and v."""
    from invariance.catalogue.normalizers import RUNNING, RUNNING_MEAN, RUNNING_VAR
    m = _affine(torch.nn.BatchNorm1d(W.shape[0], eps=1e-3), g, b).eval()
    m.running_mean.fill_(float(RUNNING[RUNNING_MEAN]))
    m.running_var.fill_(float(RUNNING[RUNNING_VAR]))
    return m(_linear(W, X))


def _rms(W, X, g, b):
    m = torch.nn.RMSNorm(W.shape[0]).double()
    m.weight.data = g.clone()
    return m(_linear(W, X)) + b


MODULES = {   # the modules each entry's TorchOp.parameters names, built as a user would
    "batch-norm": lambda W, X, g, b: _affine(torch.nn.BatchNorm1d(W.shape[0], eps=1e-3), g, b).train()(_linear(W, X)),
    "weight-norm": lambda W, X, g, b: _weight_norm_module(W, X, g, b, conv=False),
    "layer-norm": lambda W, X, g, b: _affine(torch.nn.LayerNorm(W.shape[0], eps=1e-3), g, b)(_linear(W, X)),
    "rms-norm": _rms,
    "conv-batch-norm": lambda W, X, g, b: _affine(torch.nn.BatchNorm1d(W.shape[0], eps=1e-3), g, b).train()(_conv(W, X)),
    "conv-layer-norm": lambda W, X, g, b: _affine(torch.nn.GroupNorm(1, W.shape[0], eps=1e-3), g, b)(_conv(W, X)),
    "group-norm": lambda W, X, g, b: _affine(torch.nn.GroupNorm(2, W.shape[0], eps=1e-3), g, b)(_conv(W, X)),
    "instance-norm": lambda W, X, g, b: _affine(torch.nn.InstanceNorm1d(W.shape[0], eps=1e-3, affine=True), g, b)(_conv(W, X)),
    "batch-norm-inference": _running,
}


@pytest.mark.parametrize("norm", list(NORMALIZERS))
def test_each_torch_op_is_the_module_its_entry_names(norm):
    """The entry's TorchOp (functional, vmapped) equals the nn.Module with W, g, b mapped as documented."""
    n = NORMALIZERS[norm]
    W, X, g, b = _instance(n.model.id == "conv")
    eps = 1e-3 if n.torch.has_eps else 0.0
    if norm == "rms-norm":
        eps = torch.finfo(torch.float64).eps    # nn.RMSNorm's default, which _rms uses
    with torch.no_grad():
        want = MODULES[norm](W, X, g, b)
        got = n.torch.layer(W, X, g, b, eps)
    # the same formulas in float64, only the order of operations may differ: a few ulps of O(1) values
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_functional_batch_norm_refuses_eps_0_in_training_so_the_raw_op_is_used():
    a = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="eps must be positive"):
        F.batch_norm(a, None, None, training=True, eps=0.0)
    W = torch.eye(3, dtype=torch.float64)
    h = NORMALIZERS["batch-norm"].torch.layer(W, a, torch.ones(3, dtype=torch.float64),
                                              torch.zeros(3, dtype=torch.float64), 0.0)
    d = a - a.mean(0)
    torch.testing.assert_close(h, d / d.pow(2).mean(0).sqrt(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rms_norm_default_eps_is_the_machine_epsilon_and_it_has_no_bias(dtype):
    assert NORMALIZERS["rms-norm"].torch.default_eps(dtype) == torch.finfo(getattr(torch, dtype)).eps
    assert getattr(torch.nn.RMSNorm(3), "bias", None) is None


# ---------------------------------------------- broken PyTorch layers are reported
def _layer_norm_over_the_cases(W, X, g, b, eps):
    """A layer norm module applied to the transposed summed inputs: statistics over the batch."""
    a = F.linear(X, W)
    return F.layer_norm(a.T, a.T.shape[-1:], None, None, eps).T * g + b


def test_layer_norm_over_the_wrong_axis_in_torch_is_reported():
    ln = NORMALIZERS["layer-norm"]
    broken = dataclasses.replace(ln, torch=dataclasses.replace(ln.torch, layer=_layer_norm_over_the_cases))
    wrong = []
    for t in TRANSFORMATIONS.values():
        cell = derived.cell_of("layer-norm", t.id)
        if not cross_check(broken, t, cell, setup=Setup("torch", "float32")).agrees(cell):
            wrong.append(t.id)
    # it computes batch norm: the cells where batch norm and layer norm differ
    expect = [t for t in TRANSFORMATIONS if derived.cell_of("batch-norm", t).verdict
              != derived.cell_of("layer-norm", t).verdict]
    assert wrong == expect and expect
    assert not compare_values(broken, backend="torch").agrees


def test_identity_torch_op_beside_layer_norm_is_caught_by_its_values():
    ln = NORMALIZERS["layer-norm"]
    ident = TorchOp("identity", "none", lambda W, X, g, b, eps: F.linear(X, W) * g + b)
    assert not compare_values(dataclasses.replace(ln, torch=ident), backend="torch").agrees
    assert compare_values(ln, backend="torch").agrees


def test_cli_torch_float32_table_exits_0(capsys):
    from invariance.__main__ import main
    assert main(["table", "--numeric", "--backend", "torch", "--dtype", "float32", "--instances", "200"]) == 0
    assert "margins (torch, float32, eps 0)" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present, so --device cuda is valid")
def test_cuda_without_a_device_is_a_one_line_usage_error(capsys):
    from invariance.__main__ import main
    assert main(["table", "--numeric", "--backend", "torch", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no CUDA device" in err


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_with_pytorchs_default_eps_stays_within_the_proven_bounds(dtype, capsys):
    from invariance.__main__ import main
    assert main(["table", "--all", "--numeric", "--backend", "torch", "--dtype", dtype, "--eps", "default",
                 "--instances", "200"]) == 0
    out = capsys.readouterr().out
    assert "within-eps-bound" in out and "DISAGREEMENT" not in out
