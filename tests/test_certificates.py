"""Certificates: committed = fresh, verifiable from the files alone, and tamper-evident."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import sympy as sp

import derived
import invariance
from invariance.__main__ import main
from invariance.certificates import verify, verify_path, write

PROOFS = Path(__file__).parent.parent / "proofs"
REFRESH = "run `python -m invariance proofs` to refresh the certificates"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("proofs")
    write(derived.all_cells(), out, invariance.titles())
    return out


def test_committed_certificates_match_a_fresh_generation(fresh):
    committed = sorted(p.name for p in PROOFS.iterdir())
    assert committed == sorted(p.name for p in fresh.iterdir()), REFRESH
    for name in committed:
        assert (PROOFS / name).read_text() == (fresh / name).read_text(), f"{name} differs: {REFRESH}"


def test_committed_certificates_verify():
    count, problems = verify_path(PROOFS)
    assert count == len(invariance.NORMALIZERS) * len(invariance.TRANSFORMATIONS)
    assert problems == []


def _first(pattern: str) -> Path:
    return sorted(PROOFS.glob(pattern))[0]


def test_tampering_with_one_proof_step_fails_verify(tmp_path, capsys):
    data = json.loads((PROOFS / "layer-norm__weight-matrix-recentering.json").read_text())
    step = next(e for e in data["equations"] if e["name"] == "mu' law")
    rhs = sp.sympify(step["rhs"])
    step["rhs"] = sp.srepr(rhs + sp.IndexedBase("X")[sp.Symbol("n", integer=True), 1])  # one extra term
    (tmp_path / "tampered.json").write_text(json.dumps(data))
    assert main(["verify", str(tmp_path)]) == 1
    assert "mu' law" in capsys.readouterr().err


def test_tampering_with_a_counterexample_fails_verify():
    data = json.loads((PROOFS / "layer-norm__dataset-recentering.json").read_text())
    assert verify(data) == []
    ce = data["counterexample"]
    ce["transformed_output"] = ce["output"]  # claim the outputs agree
    assert any("not what the definitions give" in p or "do not differ" in p for p in verify(data))


def test_a_step_that_uses_a_later_equation_is_rejected():
    data = json.loads((PROOFS / "batch-norm__weight-matrix-rescaling.json").read_text())
    step = next(e for e in data["equations"] if e["name"] == "a' law")
    step["uses"].append("sigma' law")
    assert any("not stated before it" in p for p in verify(data))


def test_verify_of_an_empty_directory_fails(tmp_path):
    assert main(["verify", str(tmp_path)]) == 1


def test_markdown_rendering_has_the_maths_and_the_verdict():
    text = (PROOFS / "weight-norm__dataset-rescaling.md").read_text()
    assert "**Verdict: not-invariant.**" in text and "## Counterexample (exact)" in text
    text = (PROOFS / "layer-norm__weight-matrix-recentering.md").read_text()
    assert "## Proof" in text and "$${h'}_{n,i} = {h}_{n,i}$$" in text


# --- forged certificates: each edit below must be caught -------------------------------

def _load(name: str) -> dict:
    return json.loads((PROOFS / name).read_text())


def _eq(data, name):
    return next(e for e in data["equations"] if e["name"] == name)


def test_a_refuted_cell_relabelled_invariant_with_an_extra_lemma_is_caught():
    data = _load("layer-norm__weight-vector-rescaling.json")
    h, hp = _eq(data, "h")["lhs"], _eq(data, "h'")["lhs"]
    data["verdict"], data["conditions"] = "invariant", []
    del data["counterexample"]
    data["equations"] += [
        {"name": "lemma", "lhs": hp, "rhs": h, "justification": "", "uses": []},
        {"name": "invariance", "lhs": hp, "rhs": h, "justification": "", "uses": ["lemma"]}]
    assert any("not the toolkit's definitions" in p for p in verify(data))


def test_an_edited_definition_is_caught():
    data = _load("layer-norm__weight-vector-rescaling.json")
    data["verdict"], data["conditions"] = "invariant", []
    del data["counterexample"]
    _eq(data, "h'")["rhs"] = _eq(data, "h")["lhs"]
    data["equations"].append({"name": "invariance", "lhs": _eq(data, "h'")["lhs"],
                              "rhs": _eq(data, "h")["lhs"], "justification": "", "uses": ["h'"]})
    assert any("not the toolkit's definitions" in p for p in verify(data))


def test_a_counterexample_with_an_inadmissible_parameter_is_caught():
    """delta = -1 flips layer norm's output, but the cell is about delta > 0."""
    data = _load("layer-norm__dataset-recentering.json")   # a genuine counterexample ...
    assert verify(data) == []
    rescale = _load("layer-norm__dataset-rescaling.json")  # ... moved onto an invariant cell
    ce = data["counterexample"]
    delta = sp.Symbol("delta", positive=True)
    ce["parameters"] = {"delta": "-1"}
    ce["symbols"] = {k: v for k, v in ce["symbols"].items() if "gamma" not in k} | {sp.srepr(delta): "-1"}
    forged = {**rescale, "verdict": "not-invariant", "conditions": ["epsilon = 0"], "counterexample": ce,
              "equations": [e for e in rescale["equations"] if not e["uses"]]}
    assert any("break the transformation's conditions" in p for p in verify(forged))


def test_a_dropped_condition_is_caught():
    data = _load("weight-norm__weight-matrix-rescaling.json")
    assert "epsilon = 0" in data["conditions"]
    data["conditions"] = [c for c in data["conditions"] if c != "epsilon = 0"]
    assert any("not those the proof uses" in p for p in verify(data))


def test_a_certificate_of_an_unregistered_normalizer_is_not_taken_on_trust():
    data = _load("layer-norm__weight-matrix-recentering.json")
    data["normalizer"] = "my-norm"
    assert any("unknown normalizer 'my-norm'" in p for p in verify(data))


def test_spot_check_evaluates_a_step_from_the_definitions_alone():
    """The random-point check is independent of the rewriting: a false step fails it."""
    from invariance.certificates import _load_equations, _matching_definitions, _spot_check
    data = _load("layer-norm__weight-matrix-rescaling.json")
    eqs = _load_equations(data)
    built = _matching_definitions(invariance.NORMALIZERS["layer-norm"],
                                  invariance.TRANSFORMATIONS["weight-matrix-rescaling"],
                                  [e for e in eqs if e.is_definition])
    t = invariance.TRANSFORMATIONS["weight-matrix-rescaling"]
    step = next(e for e in eqs if e.name == "mu' law")
    assert _spot_check(eqs, step, built, t, seed=0)
    wrong = dataclasses.replace(step, rhs=2 * step.rhs)
    assert not _spot_check(eqs, wrong, built, t, seed=0)
