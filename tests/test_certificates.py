"""Certificates: committed = fresh, verifiable from the files alone, and tamper-evident."""
from __future__ import annotations

import json
import shutil
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
