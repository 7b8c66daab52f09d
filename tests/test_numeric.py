"""The numeric cross-check agrees with every derived verdict, and catches broken layers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import derived
from invariance import NORMALIZERS, TRANSFORMATIONS, InvalidNormalizer
from invariance.numeric import cross_check, replay

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
