"""The command line: formats, ids, errors and exit statuses."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import invariance
from invariance.__main__ import main
from invariance.report.table import render_table

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    """The command line in a fresh process, run from this checkout (so it imports this package)."""
    return subprocess.run([sys.executable, "-m", "invariance", *args], capture_output=True, text=True, cwd=ROOT)


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


@pytest.mark.parametrize("columns", [60, 80, 110])
def test_markdown_fits_the_terminal(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["table", "--all"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= columns


@pytest.mark.parametrize("columns", [None, "60"])
def test_piped_markdown_has_the_papers_layout_whatever_columns_says(capsys, monkeypatch, columns):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert main(["table"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert [h.strip() for h in header.strip("|").split("|")][1:] == \
        [t.title for t in invariance.TRANSFORMATIONS.values()]


def test_the_legend_of_numbered_columns_never_breaks_inside_an_entry():
    titles = invariance.titles()
    short = {k: v.short for k, v in invariance.TRANSFORMATIONS.items()}
    for width in (51, 60, 75):   # the numbered table is 51 wide
        text = render_table(invariance.table(), "markdown", titles, short, width=width)
        lines = text.splitlines()
        assert lines[0].startswith("|             | 1 "), "expected the numbered layout"
        for k, t in enumerate(invariance.TRANSFORMATIONS.values(), 1):
            assert any(f"{k} = {t.title}" in line for line in lines), (width, k, text)
        assert all(len(line) <= width for line in lines)


def test_numeric_json_carries_the_numeric_objects(capsys):
    assert main(["table", "--numeric", "--format", "json", "--seed", "3"]) == 0
    for c in json.loads(capsys.readouterr().out)["cells"]:
        assert c["numeric"]["verdict"] == c["verdict"]
        assert c["numeric"]["instances"] == 1000 and c["numeric"]["seed"] == 3


def test_instances_are_used_exactly_not_rounded(capsys):
    assert main(["table", "--numeric", "--instances", "7", "--format", "json"]) == 0
    assert {c["numeric"]["instances"] for c in json.loads(capsys.readouterr().out)["cells"]} == {7}


def test_format_is_case_insensitive(capsys):
    assert main(["table", "--format", "JSON"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["check", "layer-norm", "dataset-rescaling", "--format", "Json"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"][0]["verdict"] == "invariant"


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
    assert "INVARIANT" in out and "Conditions: " in out and "0 (the proof" in out
    assert "[negative-scale]" in out and "[eps]" in out and "[degenerate]" in out


def test_check_counterexample_and_numeric(capsys):
    assert main(["check", "weight-norm", "dataset-rescaling", "--numeric"]) == 0
    out = capsys.readouterr().out
    assert "NOT INVARIANT" in out and "Counterexample" in out and "replayed in float64 differs" in out


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


# --- bad input: one line on stderr naming what is valid, exit 2, never a traceback ---------------
_HEAD = "import numpy as np, sympy as sp, invariance\nfrom invariance import Normalizer, DENSE\n"
_LINEAR = "lambda c, at: c.g(at) * c.a(at) + c.b(at)"
PLUGINS = {  # name -> source of a --load file with one mistake
    "syntax": "def broken(:\n",
    "import": "import a_module_that_does_not_exist\n",
    "nothing": _HEAD + "x = 1\n",
    "bad-id": _HEAD + f"invariance.register(Normalizer('My Norm, v2', 'Mine', DENSE, (), output={_LINEAR},\n"
                      "    numeric=lambda a, W, eps=0.0: a))\n",
    "no-stats": _HEAD + "invariance.register(Normalizer('no-stats', 'No stats', DENSE, (),\n"
                        "    numeric=lambda a, W, eps=0.0: a))\n",
    "output-raises": _HEAD + "def out(c, at):\n    raise RuntimeError('boom')\n"
                             "invariance.register(Normalizer('out-raises', 'O', DENSE, (), output=out,\n"
                             "    numeric=lambda a, W, eps=0.0: a))\n",
    "output-none": _HEAD + "invariance.register(Normalizer('out-none', 'O', DENSE, (), output=lambda c, at: None,\n"
                           "    numeric=lambda a, W, eps=0.0: a))\n",
    "op-raises": _HEAD + "def op(a, W, eps=0.0):\n    raise ZeroDivisionError('nope')\n"
                         f"invariance.register(Normalizer('op-raises', 'O', DENSE, (), output={_LINEAR}, numeric=op))\n",
    "op-none": _HEAD + f"invariance.register(Normalizer('op-none', 'O', DENSE, (), output={_LINEAR},\n"
                       "    numeric=lambda a, W, eps=0.0: None))\n",
    "op-shape": _HEAD + f"invariance.register(Normalizer('op-shape', 'O', DENSE, (), output={_LINEAR},\n"
                        "    numeric=lambda a, W, eps=0.0: a[..., :1, :1]))\n",
    "op-nan": _HEAD + f"invariance.register(Normalizer('op-nan', 'O', DENSE, (), output={_LINEAR},\n"
                      "    numeric=lambda a, W, eps=0.0: a * np.nan))\n",
}


@pytest.fixture
def registry():
    """The registry as it was before the test (a --load run in-process registers into it)."""
    saved = dict(invariance.NORMALIZERS)
    yield invariance.NORMALIZERS
    invariance.NORMALIZERS.clear()
    invariance.NORMALIZERS.update(saved)


def outcome(capsys, args):
    """(exit status, stdout, stderr) of the command line run in this process."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:   # argparse's own errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *says: str):
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("python -m invariance"), err
    for s in says:
        assert s in err, (s, err)


@pytest.mark.parametrize("args, says", [
    (["table", "--numeric", "--seed", "-1"], ["--seed", "whole number >= 0", "'-1'"]),
    (["check", "layer-norm", "dataset-rescaling", "--numeric", "--seed", "-3"], ["--seed", ">= 0"]),
    (["table", "--numeric", "--instances", "0"], ["--instances", ">= 1"]),
    (["table", "--numeric", "--instances", "ten"], ["--instances", "'ten'"]),
    (["table", "--seed", "3"], ["--seed is for the numeric cross-check only", "--numeric"]),
    (["table", "--instances", "50", "--seed", "1"], ["--instances and --seed", "--numeric"]),
    (["check", "layer-norm", "dataset-rescaling", "--instances", "5"], ["--instances", "--numeric"]),
    (["table", "--numeric", "--format", "csv"], ["--numeric", "csv", "markdown or json"]),
    (["table", "--caveats", "--format", "latex"], ["--caveats", "latex", "markdown or json"]),
    (["table", "--normalizers", ""], ["names no normalizer", "batch-norm, weight-norm, layer-norm"]),
    (["table", "--normalizers", " , "], ["names no normalizer"]),
    (["table", "--normalizers", "layer-norm,layer-norm"], ["layer-norm more than once"]),
    (["check", "layernorm", "dataset-rescaling"], ["did you mean 'layer-norm'?", "valid: batch-norm"]),
    (["check", "layer_norm", "dataset-rescaling"], ["did you mean 'layer-norm'?"]),
    (["check", "rmsnorm", "dataset-rescaling"], ["did you mean 'rms-norm'?"]),
    (["table", "--normalizers", "batch-norm,rmsnorm"], ["did you mean 'rms-norm'?"]),
    (["check", "layer-norm", "weight-matrix-recentring"], ["did you mean 'weight-matrix-recentering'?"]),
    (["tabel"], ["unknown command 'tabel'", "did you mean 'table'?", "valid: table, check"]),
    (["table", "--format", "jsn"], ["did you mean 'json'?", "markdown, latex, csv, json"]),
    (["check", "layer-norm", "dataset-rescaling", "--format", "markdown"], ["valid: text, json"]),
    (["table", "--load", "/nonexistent/plugin.py"], ["no such file"]),
    (["docs", "--out", "/proc/invariance-docs"], ["cannot create the directory"]),
])
def test_bad_option_values_are_one_line_and_exit_2(capsys, args, says):
    code, out, err = outcome(capsys, args)
    assert code == 2 and out == ""
    assert_one_line(err, *says)


def test_an_output_directory_that_is_a_file_is_refused(capsys, tmp_path):
    existing = tmp_path / "existing"
    existing.write_text("not a directory")
    for args in (["docs", "--out", existing], ["proofs", "--out", existing / "x"]):
        code, out, err = outcome(capsys, args)
        assert code == 2 and out == ""
        assert_one_line(err, f"{existing} is a file, not a directory")
    assert existing.read_text() == "not a directory"


@pytest.mark.parametrize("plugin, says", [
    ("syntax", ["syntax error at line 1"]),
    ("import", ["line 1", "ModuleNotFoundError", "a_module_that_does_not_exist"]),
    ("nothing", ["registered no normalizer", "invariance.register"]),
    ("bad-id", ["'My Norm, v2' is not valid", "lower-case letters, digits and hyphens", "'my-norm-v2'"]),
    ("no-stats", ["'no-stats'", "default output", "'sigma' is used but not defined"]),
    ("output-raises", ["'out-raises'", "output raised RuntimeError: boom"]),
    ("output-none", ["'out-none'", "output returned None", "SymPy expression"]),
    ("op-raises", ["'op-raises'", "NumPy op", "raised ZeroDivisionError: nope"]),
    ("op-none", ["'op-none'", "NumPy op", "returned NoneType", "summed inputs' shape"]),
    ("op-shape", ["'op-shape'", "returned an array of shape", "summed inputs' shape"]),
    ("op-nan", ["'op-nan'", "layer", "produced NaN"]),
])
def test_a_load_file_with_a_mistake_is_one_line_and_exit_2(capsys, tmp_path, registry, plugin, says):
    f = tmp_path / f"{plugin}.py"
    f.write_text(PLUGINS[plugin])
    before = dict(registry)
    code, out, err = outcome(capsys, ["table", "--all", "--load", f])
    assert code == 2 and out == ""
    assert_one_line(err, f"--load {f}", *says)
    assert registry == before, "a normalizer that fails its checks must not be registered"


def test_loading_the_same_file_twice_is_a_duplicate_id(capsys, registry):
    example = ROOT / "examples" / "dynamic_tanh.py"
    code, out, err = outcome(capsys, ["table", "--load", example, "--load", example])
    assert code == 2 and out == ""
    assert_one_line(err, "'dynamic-tanh' is already registered", "its own id")


def test_verify_refuses_a_file_that_is_not_a_certificate(capsys, tmp_path):
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    code, out, err = outcome(capsys, ["verify", array])
    assert code == 2 and out == ""
    assert_one_line(err, f"{array} is not a certificate", "a JSON array", "invariance-certificate/3")


def test_verify_reports_a_stray_file_in_a_folder_and_checks_the_others(capsys, tmp_path):
    good = ROOT / "proofs" / "layer-norm__dataset-recentering.json"
    (tmp_path / good.name).write_text(good.read_text())
    (tmp_path / "table.json").write_text("[1, 2]")
    code, out, err = outcome(capsys, ["verify", tmp_path])
    assert code == 1
    assert err.strip().splitlines() == ['table.json: a JSON array, not a certificate: expected '
                                        '{"schema": "invariance-certificate/3", "cells": [...]}']
    assert "verified 1 cell: 1 problem" in out


def test_a_bad_command_in_a_fresh_process_is_one_line_without_a_traceback():
    r = run("tabel")
    assert r.returncode == 2 and r.stdout == ""
    from invariance.__main__ import COMMANDS
    assert r.stderr.strip() == ("python -m invariance: unknown command 'tabel' (did you mean 'table'?); "
                                f"valid: {', '.join(COMMANDS)} (see --help)")


# --- disagreements read as disagreements -------------------------------------------------------
FLAT = ("import dataclasses, numpy as np, invariance\n"
        "wn = invariance.NORMALIZERS['weight-norm']\n"
        "invariance.register(dataclasses.replace(wn, id='flat-norm', numeric=lambda a, W, eps=0.0: np.zeros_like(a)))\n")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_numeric_says_disagreement_when_it_exits_1(capsys, tmp_path, registry, fmt):
    """A NumPy op that ignores its input: the exact counterexample of weight norm under dataset
    re-scaling does not change its output, so the two sides disagree, and the message says how."""
    f = tmp_path / "flat.py"
    f.write_text(FLAT)
    code, out, err = outcome(capsys, ["check", "flat-norm", "dataset-rescaling", "--numeric", "--load", f,
                                      "--format", fmt])
    assert code == 1
    said = " ".join((out if fmt == "text" else err).split())   # check wraps to the terminal's width
    assert "DISAGREEMENT" in said
    assert "refuted by an exact counterexample, but the NumPy layers left the output unchanged" in said
    assert "does not change the output" in said
    assert "None" not in said and "False" not in said
