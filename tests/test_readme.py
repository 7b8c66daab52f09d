"""The README's figures against the program's: each test fails when the program's figure changes
and the README does not (the message says what to write)."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import derived
from invariance.__main__ import main
from invariance.catalogue.normalizers import NORMALIZERS as BUILTIN
from invariance.catalogue.registry import TABLE1, TRANSFORMATIONS
from invariance.core.certificate import FORMAT
from invariance.core.records import INVARIANT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())   # the prose with its line breaks undone


def block_after(heading: str, starting: str = "|") -> str:
    """The first fenced block after ``heading`` whose text starts with ``starting``."""
    rest = README[README.index(heading):]
    for body in re.findall(r"```[a-z]*\n(.*?)```", rest, re.S):
        if body.startswith(starting):
            return body.rstrip("\n")
    raise AssertionError(f"no ``` block starting with {starting!r} after {heading!r}")


def figure(pattern: str) -> tuple[str, ...]:
    m = re.search(pattern, FLAT)
    assert m, f"the README no longer says {pattern!r}"
    return m.groups()


def test_quick_start_table_is_what_table_prints(capsys):
    assert main(["table"]) == 0   # piped: the paper's layout
    printed = capsys.readouterr().out.rstrip("\n")
    assert block_after("## Quick start") == printed, f"paste into the README's quick start:\n{printed}"


def test_linear_bias_table_is_what_the_command_prints():
    r = subprocess.run([sys.executable, "-m", "invariance", "table", "--all", "--linear-bias"],
                       capture_output=True, text=True, cwd=ROOT)   # a fresh registry: it registers rows
    assert r.returncode == 0, r.stderr
    printed = r.stdout.rstrip("\n")
    assert block_after("## A bias in the linear map") == printed, \
        f"paste into the README's 'A bias in the linear map':\n{printed}"


def test_the_cell_counts_are_the_derived_tables():
    from invariance.report.training_report import collect
    cells = derived.all_cells([n.id for n in BUILTIN])
    invariant = [c for c in cells if c.verdict == INVARIANT]
    consequences = collect(cells)
    found = tuple(map(int, figure(r"Of the (\d+) cells of the (\d+) registered rows, the (\d+) invariant cells "
                                  r"give (\d+) consequences; the (\d+) other cells")))
    program = (len(cells), len(BUILTIN), len(invariant), sum(c.applies for c in consequences),
               len(cells) - len(invariant))
    assert found == program, f"the README says (cells, rows, invariant, consequences, others) = {found}; " \
                             f"the program derives {program}"
    assert len(cells) == len(BUILTIN) * len(TRANSFORMATIONS)


def test_the_ids_are_the_registrys():
    normalizers = re.findall(r"`([a-z-]+)`", figure(r"Normalizers: (.*?)\. Transformations:")[0])
    transformations = re.findall(r"`([a-z-]+)`", figure(r"Transformations: (.*?)\. Exit status")[0])
    assert normalizers == [n.id for n in BUILTIN]
    assert normalizers[:len(TABLE1)] == list(TABLE1)
    assert transformations == list(TRANSFORMATIONS)


def test_the_page_limit_is_the_document_tests():
    (said,) = figure(r"reads like the paper's appendix \(at most (\d+) pages")
    (limit,) = re.search(r"assert pages <= (\d+)", (ROOT / "tests" / "test_docs.py").read_text()).groups()
    assert said == limit, f"the README says at most {said} pages; tests/test_docs.py allows {limit}"


KERNEL = {"parse.py": "the whitelist parser", "cells.py": "a cell's chains",
          "consequences.py": "the consequences", "symmetries.py": "a layer's symmetries",
          "rewrites.py": "a rewrite's chains and counterexample", "block_symmetries.py": "a block's symmetries",
          "files.py": "reading files"}


def test_the_kernels_line_counts_are_wc_l():
    lines = {p.name: len(p.read_bytes().splitlines()) for p in (ROOT / "invariance" / "kernel").glob("*.py")}
    for name, words in KERNEL.items():
        (said,) = figure(rf"`{re.escape(name)}` \({re.escape(words)}[^)]*?, (\d+) lines\)")
        assert int(said) == lines[name], f"the README says {said} lines for kernel/{name}; wc -l: {lines[name]}"
    (total,) = figure(r"(\d+) lines in all with `__init__.py`")
    assert set(lines) == {*KERNEL, "__init__.py"}, f"the README names the kernel's files; now: {sorted(lines)}"
    assert int(total) == sum(lines.values()), f"the README says {total} lines in all; wc -l: {sum(lines.values())}"


def test_the_caveat_bound_quoted_is_the_one_derived():
    from invariance.derive.caveats import eps_bound
    statement = eps_bound(derived.cell_of("layer-norm", "weight-matrix-rescaling")).plain
    bound = re.search(r"with epsilon > 0, (.*?)(?: \(the paper's|, which)", statement).group(1)
    quoted = re.findall(r"`(\|h'[^`]*)`", README)
    assert quoted and all(q == bound for q in quoted), f"the README quotes {quoted}; the caveat says {bound}"


def test_the_schema_named_is_the_current_one():
    named = set(re.findall(r'"schema": "(invariance-certificate/\d+)"', README))
    assert named == {FORMAT}, f"the README names {named}; the certificates are {FORMAT}"


def test_every_extra_has_its_install_line():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in extras:
        assert f"pip install '.[{extra}]'" in README, f"the README never says pip install '.[{extra}]'"


# --- CI on a bare Debian ----------------------------------------------------------------------

def _stub(path: Path, script: str) -> None:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _ci_sandbox(tmp_path: Path):
    """A copy of ``.ci/run`` in a repo of its own, a bin folder of stubs (TeX already there), a log."""
    repo, bin_ = tmp_path / "repo", tmp_path / "bin"
    (repo / ".ci").mkdir(parents=True)
    bin_.mkdir()
    (repo / ".ci" / "run").write_text((ROOT / ".ci" / "run").read_text())
    for tool in ("latexmk", "pdflatex"):
        _stub(bin_ / tool, "exit 0\n")
    return repo, bin_, tmp_path / "log"


def test_ci_installs_python3_venv_where_python3_cannot_make_a_venv(tmp_path):
    """``.ci/run`` with a python3 that cannot make a venv until python3-venv is installed (as on a
    bare Debian): it installs it with apt-get, makes the venv and runs the tests."""
    repo, bin_, log = _ci_sandbox(tmp_path)
    _stub(bin_ / "apt-get", f'echo "apt-get $*" >> {log}\n'
                            f'case "$*" in *python3-venv*) touch {tmp_path}/venv-installed;; esac\n')
    activate = (f'python() {{ echo "python $*" >> {log}; }}\n'
                f'pip() {{ echo "pip $*" >> {log}; }}\n')
    _stub(bin_ / "python3", f'[ "$1 $2" = "-m venv" ] || exit 1\n'
                            f'[ -e {tmp_path}/venv-installed ] || {{ echo "ensurepip is not available" >&2; exit 1; }}\n'
                            f'mkdir -p "$3/bin" && printf %s \'{activate}\' > "$3/bin/activate"\n')
    env = dict(os.environ, PATH=f"{bin_}:/usr/bin:/bin")
    r = subprocess.run(["bash", str(repo / ".ci" / "run")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    calls = log.read_text()
    assert "install -y -qq --no-install-recommends python3-venv" in calls
    assert calls.rstrip().endswith("python -m pytest")
    assert "texlive" not in calls, "TeX Live is there already"


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell")
def test_ci_leaves_apt_alone_where_python3_makes_a_venv(tmp_path):
    repo, bin_, log = _ci_sandbox(tmp_path)
    _stub(bin_ / "apt-get", f'echo "apt-get $*" >> {log}\n')
    _stub(bin_ / "python3", 'mkdir -p "$3/bin" && printf %s \'python() { :; }\npip() { :; }\n\' '
                            '> "$3/bin/activate"\n')
    env = dict(os.environ, PATH=f"{bin_}:/usr/bin:/bin")
    r = subprocess.run(["bash", str(repo / ".ci" / "run")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not log.exists(), log.read_text()


def test_the_symmetry_table_is_the_committed_certificates():
    """Each row of the README's symmetry table: the dimension and the basis' words of its layer's
    certificate in proofs/ (which a fresh run regenerates byte for byte, tests/test_certificates.py)."""
    import json
    from invariance.catalogue.registry import FAMILIES
    from invariance.report.commands import _symmetry_ids
    text = (ROOT / "README.md").read_text()
    for norm_id in _symmetry_ids(None, True, True):
        doc = json.loads((ROOT / "proofs" / f"symmetries__{norm_id}.json").read_text())
        cells = []
        for kind in doc["kinds"]:
            words = "; ".join(FAMILIES[b["family"]].words for b in kind["basis"])
            cells.append(f"`{kind['dimension']}`" + (f": {words}" if words else ""))
        row = f"| `{norm_id}` | {cells[0]} | {cells[1]} |"
        assert row in text, f"the README's symmetry table lacks or misstates: {row}"


def test_the_direction_counts_are_the_derived_consequences():
    """The consequences of the layers' symmetries beyond the table: cells, layers, applying."""
    import json
    from invariance.catalogue.registry import NORMALIZERS
    from invariance.derive.consequences import derive_consequences, direction_cells
    table = [(n, t) for n in NORMALIZERS for t in TRANSFORMATIONS]
    cells = direction_cells(list(NORMALIZERS), table, linear_bias=True)
    applying = sum(c.applies for n, t in cells for c in derive_consequences(n, t))
    found = tuple(map(int, figure(r"Of the (\d+) such cells of (\d+) layers \(those the table does not hold\), "
                                  r"(\d+)\s+consequences apply")))
    assert found == (len(cells), len({n for n, _ in cells}), applying), found
    doc = json.loads((ROOT / "proofs" / "consequences.json").read_text())
    assert {(e["normalizer"], e["transformation"]) for e in doc["consequences"]} >= set(cells)


def test_the_rewrite_table_is_the_derived_verdicts():
    """The README's recipes table: every registered recipe once, in the registry's order, with
    its verdict, the conditions of its proof or of its repair and its correction, derived afresh."""
    from invariance.catalogue.rewrites import RECIPES
    from invariance.report.rewrite_commands import rewrite_documents

    def verdict(doc):
        if doc["verdict"] == "proved":
            return "proved" + (" when " + "; ".join(doc["conditions_text"]) if doc["conditions_text"] else "")
        out = doc["verdict"]
        if "repair" in doc:
            out += "; holds when additionally " + "; ".join(doc["repair"]["conditions_text"])
        if "correction" in doc:
            out += f"; corrected: `{doc['correction']}`"
        return out

    want = [f"| `{rid}` | {RECIPES[rid].title} | {verdict(doc)} |" for rid, doc in rewrite_documents(list(RECIPES))]
    rest = README[README.index("| recipe | what it does | verdict |"):]
    shown = rest[:rest.index("\n\n")].splitlines()[2:]
    assert shown == want, "the README's recipes table should read:\n" + "\n".join(want)


def test_the_rewrite_cross_checks_depth_is_the_codes():
    from invariance.numeric.rewrite_check import DEPTH
    (said,) = figure(r"a model stacked (\w+) blocks? deep")
    assert said == {1: "one", 2: "two", 3: "three", 4: "four"}[DEPTH], \
        f"the README says {said} blocks; numeric/rewrite_check.py stacks {DEPTH}"
