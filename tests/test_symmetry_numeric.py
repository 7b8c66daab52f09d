"""symmetries --numeric: the dimension measured on the NumPy and PyTorch layers agrees with the
exact one, and a wrong exact dimension, a wrong derivative or a broken op is caught."""
from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from unittest import mock

import numpy as np
import pytest

import invariance
from invariance.__main__ import main
from invariance.catalogue.normalizers import NORMALIZERS as BUILTIN, with_linear_bias
from invariance.catalogue.registry import NORMALIZERS, normalizer
from invariance.core.model import DENSE
from invariance.derive import symmetries as derive_symmetries
from invariance.derive.symmetries import Certificate, symmetries
from invariance.numeric import symmetry_measure as sm

LAYERS = [n.id for n in BUILTIN] + [f"{n.id}-linear-bias" for n in BUILTIN if n.model is DENSE]
KINDS = ("parameter", "data")


@lru_cache(maxsize=None)
def _analysis(norm_id: str, kind: str):
    """The exact analysis (its degenerate sizes left out: nothing here reads them, and they are a
    third of its time)."""
    with mock.patch.object(derive_symmetries, "_degenerate", lambda *args: []):
        return symmetries(_norm(norm_id), kind)


def _norm(norm_id: str):
    if norm_id.endswith("-linear-bias"):
        return with_linear_bias(NORMALIZERS[norm_id.removesuffix("-linear-bias")])
    return normalizer(norm_id)


def _expected(s) -> list[int]:
    """The proved dimension at each certified set of sizes (the formula, from the analysis)."""
    return [c.expected for c in s.certificates if c.rank is not None]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("norm_id", LAYERS)
def test_every_layer_measured_on_numpy_agrees_with_the_exact_dimension(norm_id, kind):
    s = _analysis(norm_id, kind)
    check = sm.check_layer(_norm(norm_id), s, "numpy")
    assert s.complete and len(check.measurements) >= 3
    assert [m.dimension for m in check.measurements] == _expected(s), check.line()
    assert check.agrees and check.line().startswith("numeric (numpy, float64)")
    for m in check.measurements:
        assert m.method == "complex step"   # every built-in op is analytic: no fallback
        sp_ = m.spectrum
        # the dimension is clear: the kept and the dropped singular values lie far either side
        assert sp_.last_kept > 1e6 * sp_.threshold
        assert sp_.first_dropped is None or sp_.first_dropped < sp_.threshold / 10


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("norm_id", LAYERS)
def test_every_layer_measured_on_torch_agrees_or_says_it_has_no_counterpart(norm_id, kind):
    pytest.importorskip("torch", reason="the torch backend needs the [torch] extra: pip install '.[torch]'")
    norm, s = _norm(norm_id), _analysis(norm_id, kind)
    check = sm.check_layer(norm, s, "torch")
    if norm.torch is None:
        assert not check.measurements and "no PyTorch counterpart" in check.line() and check.agrees
        return
    assert [m.dimension for m in check.measurements] == _expected(s), check.line()
    assert check.agrees and all(m.method == "reverse mode" for m in check.measurements)


def test_weight_norm_with_a_linear_bias_has_no_torch_op_and_the_command_says_so(capsys):
    pytest.importorskip("torch", reason="the torch backend needs the [torch] extra: pip install '.[torch]'")
    assert main(["symmetries", "weight-norm", "--linear-bias", "--numeric", "--backend", "torch",
                 "--kind", "data"]) == 0
    out = capsys.readouterr().out
    assert "weight-norm-linear-bias data: not measured: weight-norm-linear-bias has no PyTorch counterpart" in out
    assert "numeric (torch, float64) weight-norm data: dimension 0 at N=4, H=5, D=3" in out


# --- the command ------------------------------------------------------------------------------------
def test_the_text_has_one_measured_line_per_kind_and_the_json_stays_a_certificate(capsys, tmp_path):
    assert main(["symmetries", "rms-norm", "--numeric"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("numeric (numpy, float64) rms-norm")]
    s = _analysis("rms-norm", "data")
    sizes = [c.sizes for c in s.certificates if c.complete][0]
    assert len(lines) == 2 and all("(agrees;" in line for line in lines)
    assert f"dimension {sizes['case']} at N={sizes['case']}, H={sizes['unit']}, D={sizes['input']}" in lines[1]
    assert main(["symmetries", "rms-norm", "--numeric", "--format", "json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)                                  # the document alone on stdout
    assert "numeric" not in json.dumps(doc)
    assert captured.err.count("numeric (numpy, float64) rms-norm") == 2
    path = tmp_path / "symmetries__rms-norm.json"
    path.write_text(captured.out)
    assert main(["verify", str(path)]) == 0


def test_backend_without_numeric_and_a_misspelled_backend_are_bad_input(capsys):
    assert main(["symmetries", "rms-norm", "--backend", "torch"]) == 2
    assert "add --numeric" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:   # argparse's one line
        main(["symmetries", "rms-norm", "--numeric", "--backend", "tourch"])
    assert exit_.value.code == 2 and "did you mean 'torch'" in capsys.readouterr().err


def test_without_torch_the_torch_backend_is_one_line_naming_the_install_and_exit_2(capsys, monkeypatch):
    from invariance.numeric import torch_backend
    monkeypatch.setattr(torch_backend, "available", lambda: False)
    assert main(["symmetries", "rms-norm", "--numeric", "--backend", "torch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install '.[torch]'" in err


def test_a_planted_wrong_exact_dimension_is_reported_by_the_measurement_and_exits_1(capsys, monkeypatch):
    """Drop a proved family (layer norm's W re-centering, D directions) and make the exact side
    believe itself complete: without --numeric the command is fooled (exit 0); the measurement is not."""
    proved = derive_symmetries._proved

    def dropped(norm, kind):
        return [d for d in proved(norm, kind) if d.family.id != "weight-matrix-recentering"]
    monkeypatch.setattr(derive_symmetries, "_proved", dropped)
    monkeypatch.setattr(Certificate, "complete", property(lambda self: self.rank is not None))
    argv = ["symmetries", "layer-norm", "--kind", "parameter", "--jobs", "1"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv + ["--numeric"]) == 1
    captured = capsys.readouterr()
    line = next(line for line in captured.out.splitlines() if "numeric (numpy" in line)
    # at N=4, H=5, D=3: D + 1 = 4 directions, 1 proved once the D re-centerings are dropped
    assert line.startswith("DISAGREEMENT") and "measured 4, proved 1, exact rank leaves 4 at N=4, H=5, D=3" in line
    assert "numeric disagreement: layer-norm" in captured.err


# --- the threshold and the derivative ----------------------------------------------------------------
SIZES = {"case": 4, "unit": 5, "input": 3}


def test_a_wrong_derivative_is_misclassified_by_the_threshold_of_an_exact_one():
    """Central differences are off by ~1e-10: judged by the complex step's threshold (~1e-14) every
    direction looks broken; by the threshold derived from their step and error, none does."""
    norm = normalizer("layer-norm")
    shapes, names, free, fixed, K = sm._point(norm, SIZES, "parameter", np.random.default_rng(0))
    J, err = sm._central(norm, free, fixed, names)
    assert sm.spectrum(J, max(J.shape) * sm.EPS64).dimension == 0
    fd = sm.measure(norm, "parameter", SIZES, method="central differences")
    assert fd.method == "central differences" and fd.spectrum.dimension == SIZES["input"] + 1
    cs = sm.measure(norm, "parameter", SIZES)
    assert cs.method == "complex step" and cs.spectrum.threshold < fd.spectrum.threshold / 1e3


@pytest.mark.parametrize("size", [1e-8, 1e-11])
def test_an_op_whose_symmetry_is_broken_slightly_is_measured_with_fewer_directions(size):
    """Layer norm's op plus size * a: W re-scaling and re-centering are broken at that size, far
    above rounding; the measurement drops them and disagrees with the proof."""
    base = normalizer("layer-norm")
    broken = dataclasses.replace(base, numeric=lambda a, W, eps=0.0: base.numeric(a, W, eps) + size * a)
    check = sm.check_layer(broken, _analysis("layer-norm", "parameter"), "numpy")
    assert not check.agrees and check.line().startswith("DISAGREEMENT")
    assert all(m.dimension == 0 for m in check.measurements), check.line()


def test_an_op_that_is_not_analytic_falls_back_to_central_differences_and_still_agrees():
    """|d|^2 instead of d * d: the complex step sees the modulus (no derivative in Im), so it differs
    from central differences by O(1) and is not used."""
    base = normalizer("rms-norm")

    def op(a, W, eps=0.0):
        return a / np.sqrt(np.mean(np.abs(a) ** 2, axis=-1, keepdims=True) + eps)
    check = sm.check_layer(dataclasses.replace(base, numeric=op), _analysis("rms-norm", "data"), "numpy")
    assert check.agrees, check.line()
    assert all(m.method == "central differences" and "not analytic" in m.note for m in check.measurements)
    assert "central differences: the complex step differs from them" in check.line()


def test_an_op_that_fails_at_the_certified_sizes_is_a_failure_not_a_silence():
    def op(a, W, eps=0.0):
        raise ValueError("no more than 3 units")
    check = sm.check_layer(dataclasses.replace(normalizer("rms-norm"), numeric=op),
                           _analysis("rms-norm", "data"), "numpy")
    assert not check.agrees and "not measured: the numpy layer raised ValueError" in check.line()
    assert check.line().startswith("DISAGREEMENT")


# --- your own normalizer, with a symmetry the catalogue does not hold ---------------------------------
COUPLED = '''"""h = g a / ||w_i||^2 + b: a row's scale traded against its gain, (w_i, g_i) -> (delta w_i, delta g_i),
a symmetry that no family of the catalogue names."""
import invariance
from invariance.core.model import DENSE

j = DENSE.input.index


def op(a, W, eps=0.0):
    return a / ((W * W).sum(-1)[..., None, :] + eps)


invariance.register(invariance.Normalizer(
    "gain-coupled-norm", "Gain-coupled weight norm", DENSE,
    (invariance.Statistic("sigma", lambda c, at: c.total(lambda t: c.W(t["unit"], j) ** 2, at, ("input",)) + c.eps),),
    op))
'''


@pytest.fixture
def coupled(tmp_path):
    path = tmp_path / "coupled.py"
    path.write_text(COUPLED)
    yield path
    invariance.NORMALIZERS.pop("gain-coupled-norm", None)


def test_a_symmetry_outside_the_catalogue_is_found_not_proved_and_measured(coupled, capsys):
    status = main(["symmetries", "gain-coupled-norm", "--load", str(coupled), "--kind", "parameter",
                   "--numeric", "--jobs", "1"])
    captured = capsys.readouterr()
    assert status == 1
    out = captured.out
    assert "dimension 0" in out and "found, not proved" in out
    assert "proved for every size" not in out and "complete:" not in out   # never called proved
    s = _analysis("gain-coupled-norm", "parameter")
    assert not s.complete and not s.basis and s.witnesses
    line = next(line for line in out.splitlines() if "numeric (numpy" in line)
    H = [c.sizes["unit"] for c in s.certificates if c.rank is not None]
    # one direction per unit, (w_i, g_i) -> (delta w_i, delta g_i): the measurement sees all H
    assert line.startswith("DISAGREEMENT") and all(f"measured {h}, proved 0, exact rank leaves {h}" in line for h in H)
    assert "not shown complete: gain-coupled-norm" in captured.err
