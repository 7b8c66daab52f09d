"""The command line: formats, ids, errors and exit statuses."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import invariance
from invariance.__main__ import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "invariance", *args], capture_output=True, text=True)


def test_table_json_has_every_cell_with_its_evidence(capsys):
    assert main(["table", "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)["cells"]
    assert len(cells) == len(invariance.TABLE1) * len(invariance.TRANSFORMATIONS)
    for c in cells:
        assert {"normalizer", "transformation", "verdict", "conditions"} <= set(c)
        assert (c["proof"] is None) != (c["counterexample"] is None)
        if c["counterexample"] is not None:
            assert c["counterexample"]["output"] != c["counterexample"]["transformed_output"]


@pytest.mark.parametrize("fmt, marker", [("markdown", "| Batch norm "), ("latex", r"\toprule"),
                                         ("csv", "normalizer,weight-matrix-rescaling")])
def test_table_formats(capsys, fmt, marker):
    assert main(["table", "--format", fmt]) == 0
    assert marker in capsys.readouterr().out


@pytest.mark.parametrize("columns", [80, 110])
def test_markdown_fits_the_terminal(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["table", "--all"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= columns


def test_piped_markdown_has_the_papers_layout(capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["table"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert [h.strip() for h in header.strip("|").split("|")][1:] == \
        [t.title for t in invariance.TRANSFORMATIONS.values()]


def test_numeric_json_carries_the_numeric_objects(capsys):
    assert main(["table", "--numeric", "--format", "json", "--seed", "3"]) == 0
    for c in json.loads(capsys.readouterr().out)["cells"]:
        assert c["numeric"]["verdict"] == c["verdict"]
        assert c["numeric"]["instances"] >= 1000 and c["numeric"]["seed"] == 3


@pytest.mark.parametrize("args, names", [
    (["check", "layer-nrom", "dataset-rescaling"], "batch-norm, weight-norm, layer-norm"),
    (["check", "layer-norm", "data-rescaling"], "weight-matrix-rescaling"),
    (["table", "--normalizers", "batch-norm,foo"], "layer-norm"),
    (["table", "--format", "xml"], "markdown, latex, csv, json"),
])
def test_bad_input_is_one_line_naming_the_valid_choices_and_exit_2(args, names):
    r = run(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and names in r.stderr
    assert r.stdout == ""


def test_check_text_shows_proof_and_caveats(capsys):
    assert main(["check", "layer-norm", "weight-matrix-rescaling"]) == 0
    out = capsys.readouterr().out
    assert "INVARIANT" in out and "conditions: delta > 0, epsilon = 0, sigma[n] != 0" in out
    assert "[negative-scale]" in out and "[eps]" in out and "[degenerate]" in out


def test_check_counterexample_and_numeric(capsys):
    assert main(["check", "weight-norm", "dataset-rescaling", "--numeric"]) == 0
    out = capsys.readouterr().out
    assert "NOT INVARIANT" in out and "counterexample" in out and "replayed in float64 differs" in out


def test_unknown_verdict_exits_non_zero(tmp_path):
    plugin = tmp_path / "cube.py"
    plugin.write_text(
        "import invariance\n"
        "from invariance import Normalizer, Statistic, DENSE\n"
        "invariance.register(Normalizer('cube-norm', 'Cube norm', DENSE,\n"
        "    (Statistic('kappa', lambda c, at: c.mean(lambda t: c.a(t) ** 3, at, ('unit',))),),\n"
        "    numeric=lambda a, W, eps=0.0: a ** 3 / (a ** 3).mean(-1, keepdims=True),\n"
        "    output=lambda c, at: c.g(at) * c.a(at) ** 3 / c.stat('kappa', at) + c.b(at)))\n")
    r = run("check", "cube-norm", "dataset-rescaling", "--load", str(plugin))
    assert r.returncode == 1 and "UNKNOWN" in r.stdout


def test_help_lists_the_registered_ids():
    r = run("check", "--help")
    assert r.returncode == 0
    for i in (*invariance.NORMALIZERS, *invariance.TRANSFORMATIONS):
        assert i in r.stdout.replace("\n", " ").replace("- ", "-")
