"""What a person sees in the terminal: errors in one line, a missing optional package named
with its install command, and the maths of ``consequences`` and ``table --caveats`` typeset."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from invariance.__main__ import main
from invariance.core.training import CONSEQUENCES

ROOT = Path(__file__).resolve().parent.parent


def without(module: str, *args: str, path: Path | None = None) -> subprocess.CompletedProcess:
    """The command line in a fresh process where ``import module`` fails, as where it is not
    installed (``path``: a directory to import modules from)."""
    code = (f"import sys; sys.modules[{module!r}] = None; sys.path.append({str(path)!r})\n"
            "from invariance.__main__ import main\n"
            f"sys.exit(main({list(args)!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def one_line(err: str, *says: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for s in says:
        assert s in lines[0], (s, lines[0])
    assert "Traceback" not in err


# --- the order of the arguments, every bad id at once ---------------------------------------

@pytest.mark.parametrize("args, says", [
    (["check", "dataset-recentering", "layer-norm"],
     ["swapped", "the order is NORMALIZER TRANSFORMATION", "check layer-norm dataset-recentering"]),
    (["check", "dataset-recentring", "layer_norm"],
     ["swapped", "the order is NORMALIZER TRANSFORMATION", "check layer-norm dataset-recentering"]),
    (["consequences", "weight-vector-rescaling", "batch-norm"],
     ["the order is NORMALIZER TRANSFORMATION", "consequences batch-norm weight-vector-rescaling"]),
    (["check", "dataset-recentering", "dataset-rescaling"],
     ["'dataset-recentering' is a transformation, not a normalizer", "NORMALIZER TRANSFORMATION",
      "normalizers: batch-norm"]),
    (["check", "layer-norm", "batch-norm"],
     ["'batch-norm' is a normalizer, not a transformation", "NORMALIZER TRANSFORMATION",
      "transformations: weight-matrix-rescaling"]),
    (["table", "--normalizers", "layer_norm,batchnorm"],
     ["'layer_norm' (did you mean 'layer-norm'?)", "'batchnorm' (did you mean 'batch-norm'?)", "valid: "]),
    (["table", "--normalizers", "layer-norm,foo,rmsnorm"],
     ["unknown normalizers 'foo', 'rmsnorm' (did you mean 'rms-norm'?)"]),
])
def test_bad_ids_say_what_is_wrong_in_one_line(capsys, args, says):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line(err, *says)


# --- an optional package that is not installed ----------------------------------------------

def test_docs_without_matplotlib_names_the_docs_extra(tmp_path):
    r = without("matplotlib", "docs", "--out", str(tmp_path / "docs"))
    assert r.returncode == 2 and r.stdout == ""
    one_line(r.stderr, "matplotlib", "pip install '.[docs]'")
    assert "invariance[" not in r.stderr
    assert not (tmp_path / "docs" / "invariance.tex").exists(), "nothing is written without what it needs"


def test_probe_of_a_module_without_pytorch_names_the_torch_extra():
    r = without("torch", "probe", "examples/probe_wrong_axis.py:make_layer", "--against", "layer-norm")
    assert r.returncode == 2 and r.stdout == ""
    one_line(r.stderr, "PyTorch", "pip install '.[torch]'")
    assert "invariance[" not in r.stderr


def test_probe_of_a_module_by_name_without_pytorch_names_the_torch_extra(tmp_path):
    (tmp_path / "my_layers.py").write_text((ROOT / "examples" / "probe_wrong_axis.py").read_text())
    r = without("torch", "probe", "my_layers:make_layer", path=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    one_line(r.stderr, "PyTorch", "pip install '.[torch]'")


def test_torch_backend_without_pytorch_names_the_torch_extra():
    r = without("torch", "table", "--numeric", "--backend", "torch", "--instances", "1")
    assert r.returncode == 2 and r.stdout == ""
    one_line(r.stderr, "PyTorch", "pip install '.[torch]'")


def test_no_message_names_a_package_index_entry_that_does_not_exist():
    """``pip install 'invariance[...]'`` names nothing on a package index: the extras are this checkout's."""
    offenders = [str(p.relative_to(ROOT)) for p in (*ROOT.glob("invariance/**/*.py"), ROOT / "README.md")
                 if "invariance[" in p.read_text()]
    assert offenders == []


# --- maths for people: typeset, never code ----------------------------------------------------

#: What leaks when SymPy's own text or LaTeX source reaches a reader.
CODE = ("Abs(", "Sum(", "**", "sqrt(", "Eq(", "$", "\\", "[n, i]", "[i, j]", "(3/2)", "dL/dW[")


def leaks(text: str, allowed=()) -> list[str]:
    return [c for c in CODE if c in text and c not in allowed]


@pytest.mark.parametrize("unicode", [True, False])
def test_table_caveats_typeset_the_bounds_in_the_papers_notation(capsys, monkeypatch, unicode):
    import invariance.report.explain as explain
    monkeypatch.setattr(explain, "supports_unicode", lambda stream=None: unicode)
    assert main(["table", "--all", "--caveats"]) == 0
    out = capsys.readouterr().out
    notes = out[out.index("caveat "):]
    assert leaks(notes, allowed=("sqrt(",) if not unicode else ()) == []
    assert ("2\u22c5\u03c3\u00b3\u1d62" if unicode else "2*sigma^3_i") in notes      # batch norm's sigma_i^3
    assert ("\u2016w\u1d62\u2016\u00b3" if unicode else "|w_i|^3") in notes          # weight norm's ||w_i||^3
    assert all(len(line) <= 80 for line in notes.splitlines())


def test_caveat_json_statements_read_as_maths_too(capsys):
    import json
    assert main(["table", "--caveats", "--format", "json"]) == 0
    statements = [k["statement"] for c in json.loads(capsys.readouterr().out)["cells"] for k in c.get("caveats", [])]
    assert statements and all(leaks(s, allowed=("sqrt(",)) == [] for s in statements), statements
    assert any("|h'_ni - h_ni| <= epsilon*|g_i*(a_ni - mu_n)|*|1 - 1/delta^2|/(2*sigma^3_n)" in s
               for s in statements)


@pytest.fixture(scope="module")
def every_consequence():
    from invariance.catalogue.registry import NORMALIZERS, TRANSFORMATIONS
    from invariance.report.training_report import collect
    return collect([(n, t) for n in NORMALIZERS for t in TRANSFORMATIONS])


@pytest.mark.parametrize("unicode", [True, False])
def test_consequences_print_only_typeset_maths_within_the_width(every_consequence, unicode):
    from invariance.report.training_text import render_text
    text = render_text(every_consequence, width=80, unicode=unicode)
    # SymPy's ASCII art draws a sum with backslashes; nothing else may look like code
    assert leaks(text, allowed=() if unicode else ("\\",)) == []
    for code in ("xi^W", "phi(s) = L(h(W'(s)", "<xi(W), W>", "because", "step 1:"):
        assert code not in text or not unicode, code
    assert all(len(line) <= 80 for line in text.splitlines())
    assert ("\u2202L/\u2202W'\u1d62\u2c7c" if unicode else "dL/dW'_ij") in text   # the paper's gradient


def test_consequences_say_each_step_once(capsys):
    """The gradient constraint's steps are printed once per cell; the conserved quantity and the
    SGD laws that start from them refer to them; the premise is stated once among the definitions."""
    assert main(["consequences", "layer-norm", "weight-matrix-recentering"]) == 0
    out = capsys.readouterr().out
    assert out.count("Steps (1.1) to (1.3), shown above, then:") == 3
    assert out.count("Steps (2.1) to (2.4)") == 0   # the effective rate does not apply to a re-centering
    assert out.count("(1.2) ") == 1 and "(4.2)" not in out and "(5.1)" not in out
    assert " ".join(out.split()).count("every consequence below rests on the cell's invariance certificate") == 1
    assert main(["consequences", "batch-norm", "weight-matrix-rescaling"]) == 0
    assert "Steps (2.1) to (2.4), shown above, then:" in capsys.readouterr().out


def test_consequences_that_do_not_apply_are_grouped_by_reason(every_consequence):
    from invariance.report.training_text import render_text
    text = render_text(every_consequence, width=100, unicode=True)
    assert text.count("there is no symmetry to differentiate") == 1
    grouped = "Not applicable (the family moves the data X, which training does not update):"
    assert text.count(grouped) > 0 and text.count("which training does not update") == text.count(grouped)


def test_consequences_markdown_writes_the_maths_in_latex(capsys):
    assert main(["consequences", "batch-norm", "weight-vector-rescaling", "--format", "markdown"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == len(CONSEQUENCES)   # every consequence applies to a re-scaled row
    for row in rows:
        statement = row.split(" | ")[3]
        assert statement.startswith("$") and "`" not in statement
        assert [c for c in ("Sum(", "**", "Abs(", "dL/dW[") if c in statement] == []
    # the effective rate in the norm the direction preserves: its Q, per row here
    assert r"\frac{\eta}{{Q}_{i}}" in rows[3] and r"{Q}_{i} = \sum_{j=1}^{D} {W}_{i,j}^{2}" in rows[3]
