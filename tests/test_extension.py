"""Your own normalizer: the README's Dynamic Tanh example and examples/dynamic_tanh.py."""
from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

import invariance
from invariance.numeric import cross_check

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
