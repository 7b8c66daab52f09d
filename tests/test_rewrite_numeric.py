"""The numeric cross-check of the rewrites (issue 20): every verdict against float64 runs of the
original and the rewritten computation, on the terms (numpy) and on torch.nn modules (torch)."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from invariance.catalogue.rewrites import RECIPES
from invariance.core.rewrite import document
from invariance.core.terms import T, dot, var
from invariance.derive.rewrite import rewrite
from invariance.numeric import rewrite_check, rewrite_terms
from invariance.numeric.rewrite_check import FAR, check, compare, default_eps, replay
from invariance.numeric.rewrite_terms import Float, draw, run, sides

ROOT = Path(__file__).resolve().parents[1]
DOCS = {}


def doc(rid):
    if rid not in DOCS:
        DOCS[rid] = document(rewrite(rid), RECIPES[rid])
    return DOCS[rid]


def _torch():
    return pytest.importorskip("torch", reason="the torch backend needs PyTorch: pip install '.[torch]'")


# --- every recipe agrees --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("rid", list(RECIPES))
def test_every_verdict_agrees(rid, backend):
    if backend == "torch":
        _torch()
    d = doc(rid)
    lines, ok = rewrite_check.check_recipe(rid, d, backend)
    assert ok, "\n".join(lines)
    assert d["verdict"] in ("proved", "refuted")
    text = "\n".join(lines)
    assert "DISAGREE" not in text and f"agrees with the verdict: {d['verdict']}" in text
    assert "eps=0" in text
    if default_eps(sides(RECIPES[rid])) > 0:
        assert "PyTorch's default" in text
    if any(k == "orthogonal" for k, _ in RECIPES[rid].assumptions):
        assert "Hadamard" in text and "QR" in text
    if d["verdict"] == "refuted":
        assert "the exact counterexample" in text


def test_the_figures_are_meaningful():
    """Proved: the deviation within a tolerance that is itself small (a tolerance of 1e-9 would let
    a wrong eps through) and the float64 errors far inside it; refuted: far outside it."""
    for rid, r in RECIPES.items():
        s = sides(r, 2)
        sizes = {k: rewrite_check.SIZES[k] for k in r.sizes}
        values = draw(s, r.assumptions, sizes, np.random.default_rng(3), 4)
        c = compare(s, values, sizes, 0.0, "numpy", "t")
        assert c.tolerance < 1e-10 and c.sound and max(c.errors) < c.tolerance / 100, (rid, c)
        if doc(rid)["verdict"] == "proved":
            assert c.deviation <= c.tolerance, (rid, c)
        else:
            assert c.deviation > FAR * c.tolerance, (rid, c)


def test_the_tolerance_sees_a_rewritten_norm_left_at_its_own_default_eps():
    """A LayerNorm replaced by an RMSNorm that keeps RMSNorm's default eps (finfo.eps) instead of
    the LayerNorm's 1e-5: the two computations differ by about 1e-5 / variance, which the
    tolerance must not absorb."""
    r = RECIPES["absorb-mean-rotate"]
    s = sides(r, 2)
    sizes = {k: rewrite_check.SIZES[k] for k in r.sizes}
    values = draw(s, r.assumptions, sizes, np.random.default_rng(0), 4)
    c = compare(s, values, sizes, 1e-5, "numpy", "t")
    y = run(s, values, sizes, Float, 1e-5)[0]
    y_wrong = run(s, values, sizes, Float, float(np.finfo(float).eps))[1]
    assert np.abs(y_wrong - y).max() / np.abs(y).max() > FAR * c.tolerance


# --- planted wrong rewrites -----------------------------------------------------------------------
def _planted(rid, name, term):
    r = RECIPES[rid]
    return dataclasses.replace(r, id=rid + "-planted", definitions={**r.definitions, name: term})


PLANTED = [
    ("rotate-rms", "W1'", var("W1")),                                   # forgot Q^T
    ("absorb-mean-rotate", "E'", dot(var("E"), var("Q"))),              # forgot the centring
    ("fold-gain", "c'", var("c")),                                      # forgot beta W
    ("fold-batch-norm", "W'", var("W")),                                # forgot the scale
    ("smoothquant", "W'", dot(("diag", ("recip", var("s"))), var("W"))),  # 1/s, not s
]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("rid, name, term", PLANTED)
def test_a_planted_wrong_rewrite_is_caught(rid, name, term, backend):
    if backend == "torch":
        _torch()
    lines, ok = check(_planted(rid, name, term), "proved", None, backend)
    assert not ok
    text = "\n".join(lines)
    assert "DISAGREE" in text and "DISAGREES with the verdict: proved" in text


def test_a_recipe_the_reader_cannot_build_is_said_not_crashed():
    """Two branches summed that are no residual (z W1' + tanh(z) W1'): no chain of modules."""
    _torch()
    r = RECIPES["migrate-scale-relu"]
    z, w1, w2 = var("z"), var("W1'"), var("W2'")
    rhs = dot(("relu", ("add", dot(z, w1), dot(("tanh", z), w1))), w2)
    odd = dataclasses.replace(r, id="odd", instance=dataclasses.replace(r.instance, rhs=rhs))
    lines, ok = check(odd, "proved", None, "torch")
    assert not ok and len(lines) == 1 and "cannot build" in lines[0] and "no residual" in lines[0], lines


def test_a_wrong_verdict_is_caught_both_ways():
    assert not check(RECIPES["rotate-layer-norm"], "proved", None, "numpy")[1]
    assert not check(RECIPES["rotate-rms"], "refuted", None, "numpy")[1]


def test_a_module_that_computes_another_function_is_caught_by_the_wide_reference(monkeypatch):
    """ReLU built as Tanh on both sides: rotate-rms still holds for the modules built (the hidden
    layer is not rotated), so the deviation alone would pass; the 200-bit evaluation of the
    terms shows the modules are not the terms."""
    _torch()
    from invariance.numeric import rewrite_modules
    monkeypatch.setitem(rewrite_modules.ACTIVATIONS, "relu", "Tanh")
    lines, ok = check(RECIPES["rotate-rms"], "proved", None, "torch")
    text = "\n".join(lines)
    assert not ok and "float64 is not the term" in text, text


def test_the_tolerance_is_the_documented_bound():
    """4u (sqrt(P) K kappa + 1), kappa measured (not 0, not huge for a well-conditioned block)."""
    r = RECIPES["fold-rms-gain"]
    s = sides(r)
    sizes = {"d": 8, "k": 3}
    c = compare(s, draw(s, r.assumptions, sizes, np.random.default_rng(0), 4), sizes, 0.0, "numpy", "t")
    assert 0.5 < c.kappa < 100 and c.tolerance == pytest.approx(
        4 * rewrite_check.U * (np.sqrt(c.values) * c.K * c.kappa + 1))


# --- the counterexample ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("rid", [r for r in RECIPES if r in ("rotate-rms-unfolded", "rotate-layer-norm",
                                                                 "migrate-scale-relu", "migrate-scale-tanh")])
def test_a_refuted_counterexample_replays_as_different(rid, backend):
    if backend == "torch":
        _torch()
    d = doc(rid)
    assert d["verdict"] == "refuted"
    c = replay(RECIPES[rid], d["counterexample"], backend)
    assert c.sound and c.deviation > FAR * c.tolerance and c.agrees("refuted"), c


def test_the_replay_reads_the_documents_values():
    """rotate-layer-norm's counterexample, run through its correction (same variables): the
    corrected rewrite computes the same function there, so the replay is not 'differs' by itself;
    and a value changed in the document changes the replayed difference."""
    cx = doc("rotate-layer-norm")["counterexample"]
    fixed = replay(RECIPES["absorb-mean-rotate"], cx)
    assert fixed.deviation <= fixed.tolerance and not fixed.agrees("refuted")
    wrong = replay(RECIPES["rotate-layer-norm"], cx)
    other = {**cx, "values": {**cx["values"], "t": [["1"] * len(cx["values"]["t"][0])]}}
    assert replay(RECIPES["rotate-layer-norm"], other).deviation != wrong.deviation


# --- what is built -------------------------------------------------------------------------------
def test_the_model_is_stacked_with_one_definition_per_block():
    s = sides(RECIPES["rotate-rms"], 3)
    assert {"W1'@1", "W1'@2", "W1'@3", "E'", "H'"} <= set(s.definitions)
    assert s.definitions["W1'@2"] == dot(T(var("Q")), var("W1@2"))
    assert s.input == "t" and "Q" in s.drawn and "Q@1" not in s.drawn
    assert sides(RECIPES["fold-gain"], 3).depth == 1


def test_the_hadamard_rotation_is_exact_and_the_qr_one_orthogonal():
    r = RECIPES["rotate-rms"]
    s = sides(r)
    q = draw(s, r.assumptions, {"v": 3, "d": 4, "m": 2, "k": 2}, np.random.default_rng(0), 1, hadamard=True)["Q"]
    assert set(np.abs(q).ravel()) == {0.5} and np.array_equal(q @ q.T, np.eye(4))
    q = draw(s, r.assumptions, {"v": 3, "d": 8, "m": 2, "k": 2}, np.random.default_rng(0), 1)["Q"]
    assert np.abs(q @ q.T - np.eye(8)).max() < 1e-14


def test_the_torch_modules_are_pytorchs_own_with_the_original_eps():
    torch = _torch()
    from invariance.numeric.rewrite_modules import build
    r = RECIPES["absorb-mean-rotate"]
    s = sides(r, 2)
    sizes = {"v": 5, "d": 8, "m": 12, "k": 3}
    values = draw(s, r.assumptions, sizes, np.random.default_rng(0), 5)
    eps = default_eps(s)
    assert eps == 1e-5
    env = rewrite_terms.definitions(s, values, sizes, Float, eps)
    orig, new = (build(t, s.input, env, sizes, s.decl, eps) for t in (s.original, s.rewritten))
    kinds = lambda m: [type(x).__name__ for x in m.modules()]  # noqa: E731
    assert kinds(orig).count("LayerNorm") == 3 and "RMSNorm" not in kinds(orig)
    assert kinds(new).count("RMSNorm") == 3 and "LayerNorm" not in kinds(new)
    assert kinds(orig).count("Residual") == 2
    assert all(m.eps == 1e-5 for m in new.modules() if isinstance(m, torch.nn.RMSNorm))
    x = torch.tensor(values["t"])
    with torch.no_grad():
        got = [m(x).numpy() for m in (orig, new)]
    want = run(s, values, sizes, Float, eps)       # the terms, evaluated in float64
    for g, w in zip(got, want):
        assert np.abs(g - w).max() < 1e-12 * np.abs(w).max()
    bn_recipe = RECIPES["fold-batch-norm"]
    s, sizes = sides(bn_recipe), {"n": 3, "d": 4}
    env = rewrite_terms.definitions(s, draw(s, (), sizes, np.random.default_rng(0), 2), sizes, Float, 1e-5)
    bn = build(s.original, s.input, env, sizes, s.decl, 1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm1d) and not m.training and m.eps == 1e-5 for m in bn.modules())


# --- the command ----------------------------------------------------------------------------------
def test_the_command_exits_0_on_torch():
    _torch()
    run_ = subprocess.run([sys.executable, "-m", "invariance", "rewrite", "rotate-rms", "--numeric",
                           "--backend", "torch"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run_.returncode == 0, run_.stdout[-2000:] + run_.stderr[-2000:]
    assert "torch.nn modules built from the terms" in run_.stdout
    assert "numeric agrees with the verdict: proved" in run_.stdout


def test_a_claim_of_your_own_is_checked_from_its_document():
    """rewrite --claim: the recipe is the one the document states (not the registry's)."""
    from invariance.catalogue.rewrites import claim
    from invariance.derive.rewrite import verdict
    good = claim("RMS(x Q) Q^T W", "RMS(x) W", [], ["Q orthogonal"])
    bad = claim("LN(x Q) Q^T W", "LN(x) W", [], ["Q orthogonal"])
    for r, expected in ((good, "proved"), (bad, "refuted")):
        d = document(verdict(r), r)
        assert d["verdict"] == expected
        lines, ok = rewrite_check.check_recipe(r.id, d, "numpy")
        assert ok and f"agrees with the verdict: {expected}" in "\n".join(lines), lines
    wrong = {**document(verdict(good), good), "verdict": "refuted"}
    assert not rewrite_check.check_recipe(good.id, wrong, "numpy")[1]


@pytest.mark.parametrize("rid", [r for r in RECIPES if "repair" in doc(r)])
def test_the_derived_repair_makes_the_refuted_rewrite_hold_numerically(rid):
    d = doc(rid)
    lines, ok = rewrite_check.check_recipe(rid, d, "numpy")
    text = "\n".join(lines)
    assert ok and "under the repair" in text, text
    if ["fixes-ones", "Q"] in d["repair"]["conditions"]:
        assert "fixing 1^T" in text


def test_a_repair_that_repairs_nothing_is_caught():
    lines, ok = check(RECIPES["rotate-layer-norm"], "refuted", None, "numpy",
                      repair={"conditions": [], "conditions_text": ["nothing"]})
    assert not ok and "under the repair (nothing)" in "\n".join(lines)


def test_a_rotation_fixing_ones_does():
    r = dataclasses.replace(RECIPES["rotate-layer-norm"], assumptions=(("orthogonal", "Q"), ("fixes-ones", "Q")))
    q = draw(sides(r), r.assumptions, {"v": 3, "d": 6, "m": 2, "k": 2}, np.random.default_rng(0), 1)["Q"]
    assert np.abs(q @ q.T - np.eye(6)).max() < 1e-14 and np.abs(q @ np.ones(6) - np.ones(6)).max() < 1e-14
    assert np.abs(q - np.eye(6)).max() > 0.1


def test_an_unknown_verdict_is_measured_not_judged():
    lines, ok = check(RECIPES["rotate-rms"], "unknown", None, "numpy")
    assert ok and "measured, not judged" in lines[-1] and "agree" not in "\n".join(lines[1:-2])


PROVED = [r for r in RECIPES if doc(r)["verdict"] == "proved"]


@settings(max_examples=15, deadline=None)
@given(rid=st.sampled_from(PROVED), seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 3),
       eps=st.sampled_from([0.0, 1e-5, 0.125]))
def test_a_proved_rewrite_agrees_at_any_seed_depth_and_eps(rid, seed, depth, eps):
    r = RECIPES[rid]
    s = sides(r, depth)
    sizes = {k: rewrite_check.SIZES[k] for k in r.sizes}
    c = compare(s, draw(s, r.assumptions, sizes, np.random.default_rng(seed), 3), sizes, eps, "numpy", "h", seed)
    assert c.sound and c.agrees("proved"), c
