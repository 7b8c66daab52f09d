"""Rewrites of blocks (issue 20): each recipe proved for every size or refuted exactly.

The expected verdicts are mathematics worked by hand:
- RMS(x Q) = RMS(x) Q for orthogonal Q (||x Q|| = ||x||), so the rotated RMSNorm model with
  gains folded computes the same function; with a gain left in place it needs
  Q diag(g) Q^T = diag(g), false for a Hadamard Q and a generic g.
- LN(x Q) = RMS(x Q C) and LN(x) Q = RMS(x C Q): equal when Q C = C Q, i.e. Q 1^T = 1^T; the
  Hadamard matrix maps 1^T to (2, 0, 0, 0)^T, so the rotation breaks layer norm; after the
  mean is absorbed (every residual write times C) the stack is RMSNorm of centred rows.
- BN at inference is affine per unit; a gain is diag(g); both fold into a linear map exactly.
- ReLU(t s) = ReLU(t) s needs s > 0; tanh(t s) = tanh(t) s fails for s != 1.
- Post-norm: N((x + f(x)) Q) = N(x + f(x)) Q for RMSNorm (any orthogonal Q) and for layer norm
  only when Q fixes 1^T, as above.
"""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from invariance.__main__ import main
from invariance.catalogue.rewrites import RECIPES
from invariance.core import rules
from invariance.core.rewrite import PROVED, REFUTED, UNKNOWN, document
from invariance.core.terms import Exact, differ, evaluate
from invariance.derive.rewrite import counterexample, rewrite
from invariance.kernel.rewrites import check_rewrite

EXPECTED = {   # recipe: (verdict, conditions of the proof, extra conditions of the repair)
    "fold-gain": (PROVED, set(), None),
    "fold-rms-gain": (PROVED, set(), None),
    "fold-batch-norm": (PROVED, set(), None),
    "absorb-mean": (PROVED, set(), None),
    "rotate-rms": (PROVED, {("orthogonal", "Q")}, None),
    "rotate-rms-unfolded": (REFUTED, set(), None),
    "rotate-layer-norm": (REFUTED, set(), {("fixes-ones", "Q")}),
    "absorb-mean-rotate": (PROVED, {("orthogonal", "Q")}, None),
    "rotate-post-rms": (PROVED, {("orthogonal", "Q")}, None),
    "rotate-post-layer-norm": (REFUTED, set(), {("fixes-ones", "Q")}),
    "smoothquant": (PROVED, {("nonzero", "s")}, None),
    "migrate-scale-relu": (REFUTED, set(), {("positive", "s")}),
    "migrate-scale-tanh": (REFUTED, set(), None),
}


def _doc(rid):
    return json.loads(json.dumps(document(rewrite(rid), RECIPES[rid])))


def test_every_recipe_has_an_expected_verdict():
    assert set(EXPECTED) == set(RECIPES)


@pytest.mark.parametrize("rid", sorted(EXPECTED))
def test_recipe_verdict_conditions_and_repair_are_derived(rid):
    verdict, conds, repair = EXPECTED[rid]
    doc = _doc(rid)
    assert doc["verdict"] == verdict
    assert {tuple(c) for c in doc["conditions"]} == conds
    assert ({tuple(c) for c in doc["repair"]["conditions"]} if "repair" in doc else None) == repair
    assert check_rewrite(doc) == []


def test_layer_norm_is_refuted_under_the_hadamard_rotation_and_the_corrected_recipe_is_proved():
    doc = _doc("rotate-layer-norm")
    q = [[Fraction(v) for v in row] for row in doc["counterexample"]["values"]["Q"]]
    assert all(abs(v) == Fraction(1, 2) for row in q for v in row)          # Sylvester's Hadamard / 2
    assert [sum(row) for row in q] != [1, 1, 1, 1]                            # it does not fix 1^T
    assert doc["correction"] == "absorb-mean-rotate"
    assert _doc("absorb-mean-rotate")["verdict"] == PROVED


def test_the_counterexample_is_not_a_special_case():
    """Random rationals: no parameter is all zeros or constant (a disguised special case)."""
    cx = counterexample(RECIPES["rotate-layer-norm"])
    for name, rows in cx.values.items():
        if name != "Q":
            assert len({v for row in rows for v in row}) > 1, name


def test_migrate_scale_relu_counterexample_has_a_negative_scale():
    s = _doc("migrate-scale-relu")["counterexample"]["values"]["s"][0]
    assert any(Fraction(v) < 0 for v in s)


def test_without_the_rms_rotation_rule_a_true_rewrite_is_unknown_not_refuted(monkeypatch):
    """A missing rule must not turn a true rewrite into a "No": no counterexample exists."""
    monkeypatch.setattr(rules, "RULES", {k: v for k, v in rules.RULES.items() if k != "rms-rotation"})
    import importlib
    search = importlib.import_module("invariance.derive.rewrite")
    monkeypatch.setattr(search, "RULES", rules.RULES)
    assert rewrite("rotate-rms").verdict == UNKNOWN


def test_a_counterexample_is_checked_exactly_not_by_a_lenient_tolerance():
    """The instance's two sides agree exactly at a proved recipe's random values."""
    r = RECIPES["rotate-rms"]
    import random
    from invariance.derive.rewrite import SIZES, _draw
    sizes = {k: SIZES[k] for k in r.sizes}
    env = _draw(r, sizes, random.Random(1))
    for name, term in r.definitions.items():
        env[name] = evaluate(term, env, sizes, Exact)
    lhs, rhs = (evaluate(t, env, sizes, Exact)[0] for t in (r.instance.lhs, r.instance.rhs))
    assert not any(differ(a, b) for a, b in zip(lhs, rhs))


def test_a_tampered_step_is_refused():
    doc = _doc("rotate-rms")
    step = doc["proof"][1]["lhs"][-1]
    step["rule"] = "identity" if step["rule"] != "identity" else "orthogonal"
    step["reason"] = rules.RULES[step["rule"]].words
    assert check_rewrite(doc)


def test_a_proved_verdict_may_not_hide_a_condition():
    doc = _doc("rotate-rms")
    doc["conditions"], doc["conditions_text"] = [], []
    assert any("conditions" in p for p in check_rewrite(doc))


def test_cli_rewrite_exit_codes(capsys):
    assert main(["rewrite", "rotate-rms"]) == 0
    out = capsys.readouterr().out
    assert "PROVED for every size" in out and "RMS(u Q) = RMS(u) Q" in out
    assert main(["rewrite", "rotate-layer-norm"]) == 0
    assert "certainly different" in capsys.readouterr().out
    assert main(["rewrite", "rotate-lay"]) == 2
    err = capsys.readouterr().err
    assert "rotate-layer-norm" in err and err.count("\n") == 1
    assert main(["rewrite"]) == 2


def test_verify_reads_a_list_of_rewrite_documents(tmp_path, capsys):
    f = tmp_path / "all.json"
    assert main(["rewrite", "--all", "--format", "json"]) == 0
    f.write_text(capsys.readouterr().out)
    assert main(["verify", str(f)]) == 0
    assert f"{len(RECIPES)} rewrites: 0 problems" in capsys.readouterr().out


# --- your own claim ---------------------------------------------------------------------------
def test_a_claim_on_the_command_line_is_proved_and_its_document_verifies(tmp_path, capsys):
    args = ["rewrite", "--claim", "ReLU(x W1 + b1) W2 = ReLU(x W1' + b1') W2'", "--define", "W1' = W1 diag(s)",
            "--define", "b1' = b1 diag(s)", "--define", "W2' = diag(1/s) W2", "--assume", "s positive"]
    assert main(args + ["--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == PROVED and doc["conditions"] == [["nonzero", "s"], ["positive", "s"]]
    f = tmp_path / "claim.json"
    f.write_text(json.dumps(doc))
    assert main(["verify", str(f)]) == 0


def test_a_claim_whose_statement_is_edited_after_the_proof_is_refused():
    from invariance.catalogue.rewrites import claim
    from invariance.derive.rewrite import verdict
    r = claim("RMS(x Q) Q^T W", "RMS(x) W", [], ["Q orthogonal"])
    doc = json.loads(json.dumps(document(verdict(r), r)))
    assert check_rewrite(doc) == []
    doc["statement"]["rewritten"] = "RMS(x) W + W"   # ill-shaped: refused, never a traceback
    assert check_rewrite(doc)
    doc["statement"]["rewritten"] = "LN(x) W"        # another claim: the chains do not prove it
    assert check_rewrite(doc)
    doc["statement"]["assumptions"] = []             # the proof used what is no longer assumed
    doc["statement"]["rewritten"] = "RMS(x) W"
    assert check_rewrite(doc)                        # Q is no longer even square


def test_a_false_claim_is_refuted_and_a_claim_with_no_evidence_is_unknown(capsys):
    assert main(["rewrite", "--claim", "LN(x Q) Q^T W = LN(x) W", "--assume", "Q orthogonal"]) == 0
    assert "REFUTED" in capsys.readouterr().out
    # GELU has no exact enclosure and no rule opens it: neither proved nor refuted
    assert main(["rewrite", "--claim", "GELU(x diag(s)) = GELU(x) diag(s)", "--assume", "s positive"]) == 1
    assert "unknown" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    (["--claim", "RMS(x Q)"], "ORIGINAL = REWRITTEN"),
    (["--claim", "x W' = x W"], "used but not defined"),
    (["--claim", "x W = x W", "--assume", "W unitary"], "an assumption reads"),
    (["--claim", "x W = x W", "--define", "W = W"], "a definition reads"),
    (["--claim", "x W = x W + W"], "inconsistent shapes"),
    (["rotate-rms", "--claim", "x = x"], "give one of"),
    (["rotate-rms", "--assume", "Q orthogonal"], "go with --claim"),
])
def test_a_bad_claim_is_one_line_and_exit_2(args, words, capsys):
    assert main(["rewrite"] + args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
