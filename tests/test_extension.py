"""Your own normalizer: the README's Dynamic Tanh example and examples/dynamic_tanh.py."""
from __future__ import annotations

import dataclasses
import json
import re
import runpy
from pathlib import Path

import pytest

import invariance
from invariance.numeric.crosscheck import cross_check

ROOT = Path(__file__).parent.parent


def _readme_python_blocks():
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_python_example_runs_and_derives_a_full_row(capsys):
    blocks = _readme_python_blocks()
    assert blocks, "the README lost its worked example"
    namespace: dict = {}
    exec(blocks[0], namespace)  # noqa: S102 - our own README
    printed = capsys.readouterr().out.split()
    dyt = namespace["dyt"]
    assert printed[0::2] == list(invariance.TRANSFORMATIONS)
    for t, said in zip(invariance.TRANSFORMATIONS.values(), printed[1::2]):
        cell = invariance.derive(dyt, t)
        assert said == cell.verdict and cell.verdict != "unknown"
        assert (cell.proof is not None and cell.proof.steps()) or cell.counterexample is not None
        assert cross_check(dyt, t, cell).agrees(cell)


@pytest.fixture
def dynamic_tanh():
    ns = runpy.run_path(str(ROOT / "examples" / "dynamic_tanh.py"), run_name="example")
    yield ns["DYNAMIC_TANH"]
    invariance.NORMALIZERS.pop("dynamic-tanh", None)


def test_registered_example_appears_in_the_registry_and_its_row_has_evidence(dynamic_tanh):
    assert invariance.NORMALIZERS["dynamic-tanh"] is dynamic_tanh
    row = invariance.derive_row("dynamic-tanh")
    for c in row:
        assert c.verdict != "unknown"
        if c.counterexample is not None:   # no epsilon in Dynamic Tanh, so no epsilon condition
            assert c.conditions == ()


def test_registering_a_second_normalizer_with_a_taken_id_is_refused(dynamic_tanh):
    import dataclasses
    with pytest.raises(ValueError, match="already registered"):
        invariance.register(dataclasses.replace(dynamic_tanh))


def test_the_tests_import_this_checkout():
    """pyproject's pythonpath puts the checkout first, even when pytest runs from elsewhere."""
    assert Path(invariance.__file__).resolve().parent == ROOT.resolve() / "invariance"


def test_a_cell_reads_well_as_a_line_an_account_and_a_dict():
    cell = invariance.derive("layer-norm", "weight-matrix-recentering")
    assert str(cell) == ("Layer norm under weight matrix re-centering: invariant "
                         "(proof in 5 checked steps; given sigma[n] != 0)")
    text = cell.explain()
    assert text.startswith("Layer norm under weight matrix re-centering: INVARIANT")
    assert f"Proof ({len(cell.proof.steps())} steps" in text   # then each law as a chain of equalities
    assert sum(line.lstrip().startswith("[") for line in text.splitlines()) >= len(cell.proof.steps())
    assert "Caveat" not in text
    assert "Caveat [degenerate]" in cell.explain(caveats=True)
    d = cell.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert (d["normalizer"], d["transformation"], d["verdict"]) == (cell.normalizer, cell.transformation,
                                                                    "invariant")
    refuted = invariance.derive("weight-norm", "dataset-rescaling")
    assert str(refuted).startswith("Weight norm under dataset re-scaling: not-invariant (exact counterexample with N = ")
    text = refuted.explain()
    assert "Counterexample" in text and "h'\u2081\u2081 = " in text or "h'_11 = " in text


def test_an_unregistered_normalizers_cell_reads_with_its_id(dynamic_tanh):
    other = dataclasses.replace(dynamic_tanh, id="unregistered-tanh")
    cell = invariance.derive(other, "dataset-rescaling")
    assert str(cell).startswith("unregistered-tanh under dataset re-scaling: not-invariant")
    assert cell.explain().startswith("unregistered-tanh under dataset re-scaling: NOT INVARIANT")


@pytest.mark.parametrize("bad", ["My Norm, v2", "Layer-Norm", "-norm", "norm_v2", "", "norm/x"])
def test_register_refuses_an_id_that_cannot_name_a_file(dynamic_tanh, bad):
    with pytest.raises(invariance.InvalidNormalizer, match="lower-case letters, digits and hyphens"):
        invariance.register(dataclasses.replace(dynamic_tanh, id=bad))
    assert bad not in invariance.NORMALIZERS


def test_register_refuses_a_normalizer_whose_definitions_fail(dynamic_tanh):
    no_sigma = dataclasses.replace(dynamic_tanh, id="no-sigma", output=invariance.general_form)
    with pytest.raises(invariance.InvalidNormalizer, match="'sigma' is used but not defined"):
        invariance.register(no_sigma)
    assert "no-sigma" not in invariance.NORMALIZERS


def test_the_callbacks_of_a_user_normalizer_are_documented():
    from invariance.core.definition import Context
    for name in ("a", "W", "g", "b", "stat", "mean", "total", "has", "base"):
        assert getattr(Context, name).__doc__, name


@pytest.mark.parametrize("source", ["README.md", "examples/dynamic_tanh.py"])
def test_dynamic_tanh_states_alpha_once(source):
    text = (ROOT / source).read_text()
    if source == "README.md":
        text = _readme_python_blocks()[0]
    assert len(re.findall(r"Rational\(1, 2\)|\b0\.5\b|\b1 ?/ ?2\b", text)) == 1
