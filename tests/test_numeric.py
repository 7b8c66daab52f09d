"""The numeric cross-check agrees with every derived verdict, and catches broken layers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

import derived
from invariance import NORMALIZERS, TRANSFORMATIONS, InvalidNormalizer
from invariance.core.model import EPS
from invariance.numeric.crosscheck import cross_check, replay

CELLS = [(n, t) for n in NORMALIZERS for t in TRANSFORMATIONS]


@pytest.fixture(scope="module")
def cells():
    return {(c.normalizer, c.transformation): c for c in derived.all_cells()}


@pytest.mark.parametrize("norm, trans", CELLS)
def test_numeric_verdict_agrees_with_the_symbolic_one(cells, norm, trans):
    cell = cells[norm, trans]
    r = cross_check(NORMALIZERS[norm], TRANSFORMATIONS[trans], cell, instances=1000, seed=0)
    assert r.instances == 1000
    assert r.verdict == cell.verdict
    if cell.counterexample is not None:
        assert r.replay_differs
    else:
        # invariant: deviations sit well inside the rounding tolerance, not at its edge
        assert r.max_tolerance_ratio < 0.5


def test_the_seed_changes_the_instances_and_is_reproducible():
    n, t = NORMALIZERS["layer-norm"], TRANSFORMATIONS["weight-vector-rescaling"]
    a, b, c = (cross_check(n, t, seed=s) for s in (1, 1, 2))
    assert a.max_relative_deviation == b.max_relative_deviation != c.max_relative_deviation


def _unbiased_layer_norm(a, W, eps=0.0):
    d = a - a.mean(-1, keepdims=True)
    return d / np.sqrt((d * d).sum(-1, keepdims=True) / (a.shape[-1] - 1) + eps)


def _uncentred_layer_norm(a, W, eps=0.0):
    """Forgets to subtract the mean (but divides by the standard deviation)."""
    d = a - a.mean(-1, keepdims=True)
    return a / np.sqrt((d * d).mean(-1, keepdims=True) + eps)


def test_layer_norm_with_unbiased_variance_is_still_invariant(cells):
    """A constant factor sqrt(H / (H - 1)) changes no verdict: the cross-check agrees everywhere."""
    broken = dataclasses.replace(NORMALIZERS["layer-norm"], numeric=_unbiased_layer_norm)
    for t in TRANSFORMATIONS.values():
        assert cross_check(broken, t, cells["layer-norm", t.id]).agrees(cells["layer-norm", t.id])


def test_layer_norm_that_forgets_the_mean_is_reported(cells):
    """Not subtracting the mean breaks the invariance to weight-matrix re-centering: disagreement."""
    broken = dataclasses.replace(NORMALIZERS["layer-norm"], numeric=_uncentred_layer_norm)
    t = TRANSFORMATIONS["weight-matrix-recentering"]
    r = cross_check(broken, t, cells["layer-norm", t.id])
    assert r.verdict == "not-invariant" and not r.agrees(cells["layer-norm", t.id])


def test_cli_reports_a_disagreement_and_exits_1(tmp_path, capsys):
    from invariance.__main__ import main
    plugin = tmp_path / "broken.py"
    plugin.write_text(
        "import dataclasses, numpy as np, invariance\n"
        "ln = invariance.NORMALIZERS['layer-norm']\n"
        "def op(a, W, eps=0.0):\n"
        "    d = a - a.mean(-1, keepdims=True)\n"
        "    return a / np.sqrt((d * d).mean(-1, keepdims=True) + eps)\n"
        "invariance.register(dataclasses.replace(ln, id='broken-layer-norm', numeric=op))\n")
    try:
        assert main(["table", "--load", str(plugin), "--normalizers", "broken-layer-norm", "--numeric"]) == 1
        out = capsys.readouterr().out
        assert "DISAGREEMENT broken-layer-norm x weight-matrix-recentering" in out
    finally:
        NORMALIZERS.pop("broken-layer-norm", None)


def test_counterexample_replay_detects_a_wrong_counterexample(cells):
    """Replaying a counterexample whose transformation does nothing must report no difference."""
    cell = cells["weight-norm", "dataset-rescaling"]
    ce = dataclasses.replace(cell.counterexample, parameters={"delta": 1})
    fake = dataclasses.replace(cell, counterexample=ce)
    _, differs = replay(NORMALIZERS["weight-norm"], TRANSFORMATIONS["dataset-rescaling"], fake)
    assert not differs


@pytest.mark.parametrize("instances", [1, 7, 13, 999])
def test_the_number_of_instances_is_the_number_asked_for(instances):
    r = cross_check(NORMALIZERS["layer-norm"], TRANSFORMATIONS["dataset-rescaling"], instances=instances)
    assert r.instances == instances


@pytest.mark.parametrize("kw, says", [({"seed": -1}, "seed"), ({"instances": 0}, "instances")])
def test_a_negative_seed_or_no_instances_is_refused(kw, says):
    with pytest.raises(ValueError, match=f"{says} must be a whole number"):
        cross_check(NORMALIZERS["layer-norm"], TRANSFORMATIONS["dataset-rescaling"], **kw)


def test_a_layer_that_produces_nan_says_so():
    """NaN only for inputs beyond 3 (rarely in one small batch, surely in a thousand instances)."""
    nan_above_3 = lambda a, W, eps=0.0: np.where(np.abs(a) > 3, np.nan, a)  # noqa: E731
    odd = dataclasses.replace(NORMALIZERS["layer-norm"], id="nan-above-3", numeric=nan_above_3)
    with pytest.raises(InvalidNormalizer, match="the NumPy layer of normalizer 'nan-above-3' produced NaN"):
        cross_check(odd, TRANSFORMATIONS["dataset-rescaling"])


# ------------------------------------------------------ dtypes, epsilon, backends
from invariance.numeric.crosscheck import WITHIN_EPS_BOUND, Setup, measured_tolerance  # noqa: E402


@pytest.mark.parametrize("norm, trans", CELLS)
def test_numpy_float32_verdict_agrees_with_the_symbolic_one(cells, norm, trans):
    cell = cells[norm, trans]
    r = cross_check(NORMALIZERS[norm], TRANSFORMATIONS[trans], cell, setup=Setup("numpy", "float32"))
    assert r.verdict == cell.verdict and r.agrees(cell)


def test_measured_tolerance_is_the_triangle_inequality_plus_the_wide_types_share():
    """Doubling the measured errors and adding M u: zero errors leave only M u."""
    err = np.array([0.0, 1e-7])
    tol = measured_tolerance(err, err, 10, "float32")
    assert tol[0] == 10 * np.finfo(np.float32).eps / 2 and tol[1] == pytest.approx(4e-7 + tol[0])


def test_float32_tolerance_is_not_the_float64_one(cells):
    """float32 rounding is ~2**29 times float64's; a float64 tolerance would call float32 noise a change."""
    n, t = NORMALIZERS["layer-norm"], TRANSFORMATIONS["weight-matrix-rescaling"]
    r32 = cross_check(n, t, setup=Setup("numpy", "float32"))
    r64 = cross_check(n, t)
    assert r32.verdict == r64.verdict == "invariant"
    assert r32.max_relative_deviation > 1e6 * r64.max_relative_deviation


EPS_CELLS = [(n, t) for n, t in CELLS if derived.cell_of(n, t).verdict == "invariant"
             and sp.Eq(EPS, 0) in derived.cell_of(n, t).conditions]   # proofs that needed eps = 0


@pytest.mark.parametrize("norm, trans", EPS_CELLS)
def test_with_eps_an_eps_zero_invariance_stays_within_its_proven_bound(cells, norm, trans):
    """eps = 0.01 << sigma^2 ~ 1: h' != h beyond rounding, within the mean-value bound, which is
    tight to first order in eps / sigma^2 (its derivative is taken at e = 0): median ratio near 1."""
    cell = cells[norm, trans]
    r = cross_check(NORMALIZERS[norm], TRANSFORMATIONS[trans], cell, setup=Setup(eps="0.01"))
    assert r.verdict == WITHIN_EPS_BOUND and r.agrees(cell)
    median, worst = r.eps_bound_ratio
    assert 0.9 < median <= worst <= 1 + 1e-9


def test_cells_proven_for_every_eps_stay_invariant_with_eps(cells):
    cell = cells["layer-norm", "weight-matrix-recentering"]
    r = cross_check(NORMALIZERS["layer-norm"], TRANSFORMATIONS["weight-matrix-recentering"], cell,
                    setup=Setup(eps="0.01"))
    assert r.verdict == "invariant" and r.agrees(cell) and r.eps_bound_ratio is None


def _layer_norm_leaking_eps(a, W, eps=0.0):
    """Exact at eps = 0, but eps > 0 adds eps * a, which re-scales with the weights."""
    d = a - a.mean(-1, keepdims=True)
    return d / np.sqrt((d * d).mean(-1, keepdims=True) + eps) + eps * a


def test_an_eps_effect_beyond_the_proven_bound_is_not_invariant(cells):
    """Register the broken op (the bound is looked up by id), run at eps > 0: beyond the bound."""
    from invariance import register
    broken = register(dataclasses.replace(NORMALIZERS["layer-norm"], id="leaky-layer-norm",
                                          numeric=_layer_norm_leaking_eps))
    try:
        t = TRANSFORMATIONS["weight-matrix-rescaling"]
        cell = dataclasses.replace(cells["layer-norm", t.id], normalizer=broken.id)
        assert cross_check(broken, t, cell).agrees(cell)              # eps = 0: nothing to see
        r = cross_check(broken, t, cell, setup=Setup(eps="0.01"))
        assert r.verdict == "not-invariant" and not r.agrees(cell)
    finally:
        NORMALIZERS.pop("leaky-layer-norm", None)


@pytest.mark.parametrize("kw, word", [({"backend": "jax"}, "valid: numpy, torch"),
                                      ({"dtype": "float16"}, "valid: float32, float64"),
                                      ({"eps": "-1"}, "0, default or a finite number"),
                                      ({"device": "cuda"}, "needs --backend torch")])
def test_bad_setup_names_what_is_valid(kw, word):
    with pytest.raises(ValueError, match=word):
        Setup(**kw)


def test_torch_backend_without_torch_says_how_to_install_it(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", None)     # import torch now raises ImportError
    with pytest.raises(ValueError, match=r"pip install '\.\[torch\]'"):
        Setup("torch")


def test_instances_run_in_chunks_that_fit_the_memory_budget(monkeypatch, cells):
    """A budget of a few instances a call: same verdict, every instance counted, progress per chunk."""
    import invariance.numeric.crosscheck as numeric
    n, t = NORMALIZERS["layer-norm"], TRANSFORMATIONS["dataset-rescaling"]
    sizes = numeric.random_sizes(n, np.random.default_rng(0))
    monkeypatch.setattr(numeric, "MEMORY_BUDGET", 3 * 16 * numeric.LIVE_COPIES * (6 * 5 + 5 * 5 + 5 * 6))
    assert numeric.chunk_size({"N": 5, "H": 6, "D": 5}) < 10 and numeric.chunk_size(sizes) >= 1
    done = []
    r = cross_check(n, t, cells["layer-norm", t.id], instances=200, progress=done.append)
    assert r.instances == sum(done) == 200 and len(done) > numeric.GROUPS_OF_SIZES
    assert r.verdict == "invariant"


def test_progress_bar_writes_to_stderr_only_on_a_terminal(capsys):
    from invariance.numeric.crosscheck import progress_bar
    bar = progress_bar(10, "numeric")
    bar.update(10)
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""      # pytest's stderr is not a terminal
