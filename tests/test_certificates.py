"""Certificates: committed = fresh, verifiable from the files alone, one schema for every JSON output.

Forged certificates, one class of attack at a time, are in ``test_forgeries.py``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import derived
import invariance
from invariance.__main__ import main
from invariance.core.certificate import FORMAT
from invariance.report.certificates import verify, verify_path, write, write_consequences
from invariance.report.training_report import every_consequence

PROOFS = Path(__file__).parent.parent / "proofs"
REFRESH = "run `python -m invariance proofs` to refresh the certificates"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("proofs")
    cells = derived.all_cells()
    write(cells, out, invariance.titles())
    write_consequences(every_consequence(cells), out)
    from invariance.report.commands import write_rewrites, write_symmetries
    write_symmetries(out)
    write_rewrites(out)
    from invariance.report.block_symmetries_text import write_blocks
    write_blocks(out)
    return out


def test_committed_certificates_match_a_fresh_generation_byte_for_byte(fresh):
    committed = sorted(p.name for p in PROOFS.iterdir())
    assert committed == sorted(p.name for p in fresh.iterdir()), REFRESH
    for name in committed:
        assert (PROOFS / name).read_bytes() == (fresh / name).read_bytes(), f"{name} differs: {REFRESH}"


def test_committed_certificates_verify():
    cells, consequences, problems, layers, rewrites, blocks = verify_path(PROOFS)
    assert cells == len(invariance.NORMALIZERS) * len(invariance.TRANSFORMATIONS)
    assert consequences == len(json.loads((PROOFS / "consequences.json").read_text())["consequences"]) > cells
    assert problems == []
    from invariance.catalogue.blocks import BLOCKS
    assert layers == len(invariance.NORMALIZERS) + 5   # and the five dense rows with a linear bias
    assert blocks == len(BLOCKS)
    from invariance.catalogue.rewrites import RECIPES
    assert rewrites == len(RECIPES)


def test_verify_of_an_empty_directory_fails(tmp_path):
    assert main(["verify", str(tmp_path)]) == 1


def test_markdown_rendering_has_the_maths_and_the_verdict():
    text = (PROOFS / "weight-norm__dataset-rescaling.md").read_text()
    assert "**Verdict: not-invariant.**" in text and "## Counterexample (exact)" in text
    text = (PROOFS / "layer-norm__weight-matrix-recentering.md").read_text()
    assert "## Proof" in text
    last = text.split("**invariance.**")[1].strip().splitlines()   # the chain concluding h' = h
    assert last[0].startswith("- ${h'}_{n,i} = ") and last[-1].startswith("- $= {h}_{n,i}$")


# --- one schema: table, check and the certificates ------------------------------------

def _json_of(*args) -> dict:
    r = subprocess.run([sys.executable, "-m", "invariance", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _assert_chain(chain: dict) -> None:
    assert set(chain) == {"name", "lhs", "statement", "latex", "links"} and chain["links"]
    for link in chain["links"]:
        assert set(link) == {"rhs", "uses", "statement", "latex", "reason"} and link["reason"]
        assert all(isinstance(u, str) for u in link["uses"])


def _assert_schema(doc: dict) -> None:
    """The schema documented in the README, field by field."""
    assert set(doc) == {"schema", "cells"} and doc["schema"] == FORMAT and doc["cells"]
    for c in doc["cells"]:
        assert {"normalizer", "transformation", "verdict", "conditions", "proof", "counterexample"} <= set(c)
        assert set(c) <= {"normalizer", "transformation", "verdict", "conditions", "definitions", "proof",
                          "counterexample", "numeric", "caveats"}
        assert all(isinstance(k, str) for k in c) and all(isinstance(x, str) for x in c["conditions"])
        assert (c["proof"] is None) != (c["counterexample"] is None)
        for chain in c["proof"] or ():
            _assert_chain(chain)
        ce = c["counterexample"]
        if ce is not None:
            assert set(ce) == {"sizes", "values", "parameters", "point", "output", "transformed_output", "breaks"}
            if ce["breaks"] is not None:
                assert set(ce["breaks"]) == {"chains", "wanted"}
                for chain in ce["breaks"]["chains"]:
                    _assert_chain(chain)
            assert set(ce["values"]) == {"W", "X", "g", "b"}
            assert all(1 <= v <= ce["sizes"].get({"case": "N", "unit": "H"}.get(ax, ""), 99)
                       for ax, v in ce["point"].items())   # 1-based, as the paper
            if "case" in ce["parameters"]:
                assert 1 <= ce["parameters"]["case"] <= ce["sizes"]["N"]


def test_table_check_and_certificates_share_one_schema_and_all_verify(tmp_path):
    table = _json_of("table", "--format", "json")
    check = _json_of("check", "layer-norm", "dataset-recentering", "--format", "json")
    cert = json.loads((PROOFS / "layer-norm__weight-matrix-recentering.json").read_text())
    for doc in (table, check, cert):
        _assert_schema(doc)
        assert verify(doc) == []
    assert len(table["cells"]) == len(invariance.TABLE1) * len(invariance.TRANSFORMATIONS)
    (tmp_path / "check.json").write_text(json.dumps(check))
    assert main(["verify", str(tmp_path / "check.json")]) == 0


def test_a_version_1_certificate_is_refused_with_the_command_that_regenerates_it(tmp_path, capsys):
    (tmp_path / "old.json").write_text(json.dumps({"format": "invariance-certificate/1", "verdict": "invariant"}))
    assert main(["verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("old.json: ") and "python -m invariance proofs" in err[0]


def test_a_version_2_certificate_is_refused_with_the_command_that_regenerates_it(tmp_path, capsys):
    """Format 2 stored a proof as steps that no reader saw; format 3 stores the chains."""
    doc = json.loads((PROOFS / "layer-norm__weight-matrix-recentering.json").read_text())
    doc["schema"] = "invariance-certificate/2"
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert main(["verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("old.json: ") and "python -m invariance proofs" in err[0]
