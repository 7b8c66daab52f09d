"""The house is one-way: imports point down, the kernel depends on nothing it checks,
no module imports its way back to itself, no room is too big to read in one sitting.

The layers are import-linter contracts in ``pyproject.toml`` (``[tool.importlinter]``);
imports inside functions count, as they do at run time.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "invariance"
MAX_LINES = 600


def _lint(where: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("importlinter", reason="import-linter is in the test extra: pip install '.[test]'")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml'))")
    return subprocess.run([sys.executable, "-c", code], cwd=where, capture_output=True, text=True,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_the_import_contracts_are_kept():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 kept, 0 broken" in run.stdout


@pytest.mark.parametrize("importer, imported", [
    ("kernel/cells.py", "from ..derive import engine"),          # the kernel reaching for the search
    ("core/records.py", "from ..report import explain"),         # a record importing what renders it
])
def test_an_upward_import_inside_a_function_breaks_the_contracts(tmp_path, importer, imported):
    shutil.copytree(PACKAGE, tmp_path / "invariance", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "invariance" / importer, "a") as f:
        f.write(f"\n\ndef _upward():\n    {imported}\n    return engine if False else None\n")
    run = _lint(tmp_path)
    assert run.returncode != 0 and "BROKEN" in run.stdout, run.stdout[-2000:]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module level and inside functions alike)."""
    mods = {_module_name(p): p for p in package.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{target}.{a.name}" for a in node.names] + [target]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m and t != "invariance":
                    edges[m].add(t)
                    break
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_its_way_back_to_itself():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_kernel_imports_only_core_catalogue_and_itself():
    edges = import_graph()
    kernel = {m: e for m, e in edges.items() if m.startswith("invariance.kernel")}
    assert kernel, "no kernel subpackage"
    for m, e in kernel.items():
        outside = {t for t in e if not t.startswith(("invariance.core", "invariance.catalogue", "invariance.kernel"))}
        assert not outside, f"{m} imports {sorted(outside)}"


def test_every_room_can_be_read_in_one_sitting():
    big = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"


def test_the_subpackages_say_what_they_are():
    rooms = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert rooms == ["catalogue", "core", "derive", "kernel", "numeric", "report"]
    for room in rooms:
        doc = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 8, f"invariance/{room}/__init__.py says not what it holds"
