"""Certificates: the one JSON schema of the toolkit, and files that can be re-checked alone.

Every JSON document the toolkit writes (``table --format json``, ``check
--format json``, the files in ``proofs/``) is ``{"schema":
"invariance-certificate/2", "cells": [...]}``; each cell states its verdict
with its evidence, every expression both as SymPy ``srepr`` (read back by the
whitelist parser of :mod:`invariance.checker`, never evaluated) and as text
and LaTeX for people.  :func:`verify_path` checks documents with
:func:`invariance.checker.check_cell`; it never re-runs the search.  A
Markdown rendering with LaTeX maths sits beside each file in ``proofs/``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import sympy as sp

from .notation import plain, tex
from .records import INVARIANT, Cell, Equation

__all__ = ["FORMAT", "cell_json", "document", "document_problem", "equation_json", "load", "read_text", "to_json", "verify", "verify_path",
           "render_markdown", "write", "write_consequences", "filename", "Report"]

FORMAT = "invariance-certificate/2"
MAX_FILE = 8 * 2 ** 20    # bytes: a certificate is a few kB; a table of every cell well under this


def filename(cell: Cell) -> str:
    return f"{cell.normalizer}__{cell.transformation}"


def _num(v):
    return [_num(x) for x in v] if isinstance(v, (list, tuple)) else v if isinstance(v, int) else str(v)


def equation_json(e: Equation) -> dict:
    """A definition: its name, what it is, the equation as text, LaTeX and ``srepr``."""
    return {"name": e.name, "meaning": e.justification, "statement": plain(sp.Eq(e.lhs, e.rhs, evaluate=False)),
            "latex": f"{tex(e.lhs)} = {tex(e.rhs)}", "lhs": sp.srepr(e.lhs), "rhs": sp.srepr(e.rhs)}


def _step_json(e: Equation) -> dict:
    return {"name": e.name, "statement": plain(sp.Eq(e.lhs, e.rhs, evaluate=False)),
            "latex": f"{tex(e.lhs)} = {tex(e.rhs)}", "justification": e.justification,
            "uses": list(e.uses), "lhs": sp.srepr(e.lhs), "rhs": sp.srepr(e.rhs)}


def cell_json(cell: Cell, definitions: bool = True) -> dict:
    """One cell of the schema: verdict, conditions, definitions (optional: the
    registry's, so a checker never needs them), proof steps or counterexample."""
    out = {"normalizer": cell.normalizer, "transformation": cell.transformation,
           "verdict": cell.verdict, "conditions": [plain(c) for c in cell.conditions]}
    if definitions:
        out["definitions"] = [equation_json(e) for e in cell.definitions]
    out["proof"] = [_step_json(e) for e in cell.proof.steps()] if cell.verdict == INVARIANT else None
    ce = cell.counterexample
    out["counterexample"] = None if ce is None else {
        "sizes": dict(ce.sizes), "values": {k: _num(v) for k, v in ce.values.items()},
        "parameters": {k: _num(v) for k, v in ce.parameters.items()}, "point": dict(ce.point),
        "output": str(ce.output), "transformed_output": str(ce.transformed_output)}
    return out


to_json = cell_json


def document(cells, definitions: bool = True, annotations: dict | None = None) -> dict:
    """The schema's document: ``{"schema": FORMAT, "cells": [...]}``; ``annotations``
    maps (normalizer, transformation) to extra fields (``numeric``, ``caveats``)."""
    items = []
    for c in cells:
        d = cell_json(c, definitions)
        d.update((annotations or {}).get((c.normalizer, c.transformation), {}))
        items.append(d)
    return {"schema": FORMAT, "cells": items}


def read_text(path: Path, limit: int = MAX_FILE) -> str:
    """A regular file's text, at most ``limit`` bytes (never a FIFO, a device, /dev/zero)."""
    if not path.is_file():
        raise ValueError("not a regular file")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data.decode("utf-8")


def _strict_object(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def load(text: str):
    """JSON as a reader sees it: no duplicate keys, no NaN or Infinity."""
    return json.loads(text, object_pairs_hook=_strict_object, parse_constant=_no_constant)


def document_problem(doc) -> str | None:
    """Why ``doc`` (parsed JSON) is not a document of the schema; None if it is one."""
    if _consequences_document(doc):
        return None   # a document of consequences (issue 12): its shape is checked entry by entry
    if isinstance(doc, dict) and doc.get("format") == "invariance-certificate/1":
        return ("an invariance-certificate/1 file, which verify no longer trusts: "
                "regenerate it with python -m invariance proofs")
    if not (isinstance(doc, dict) and doc.get("schema") == FORMAT and isinstance(doc.get("cells"), list)
            and set(doc) == {"schema", "cells"}):
        what = "a JSON array" if isinstance(doc, list) else f"a JSON {type(doc).__name__}"
        return f'{what}, not a certificate: expected {{"schema": "{FORMAT}", "cells": [...]}}'
    if not doc["cells"]:
        return "a certificate with no cells"
    return None


def verify(doc, titles: dict[str, str] | None = None, markdown: str | None = None) -> list[str]:
    """Problems found in one document (empty if every claim of every cell holds)."""
    from . import titles as all_titles
    why = document_problem(doc)
    if why:
        return [why]
    if _consequences_document(doc):
        from .consequences import verify_document
        return verify_document(doc)
    return [p for _, found in _checked_cells(doc, titles or all_titles(), markdown) for p in found]


def _checked_cells(doc: dict, titles, markdown) -> list[tuple[object, list[str]]]:
    """(cell, its problems, each prefixed with where it is) for every cell of a document."""
    from .checker import check_cell
    out = []
    for k, cell in enumerate(doc["cells"], 1):
        where = f"{cell.get('normalizer')} x {cell.get('transformation')}" if isinstance(cell, dict) \
            else f"cell {k}"
        try:
            found = check_cell(cell, titles, markdown if len(doc["cells"]) == 1 else None)
        except Exception as err:   # anything unforeseen rejects the cell, never the whole run
            found = [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
        out.append((cell, [f"{where}: {p}" for p in found]))
    return out


class Report(NamedTuple):
    """What :func:`verify_path` checked, and the problems it found (one line each)."""

    cells: int
    consequences: int
    problems: list[str]


def _consequences_document(doc) -> bool:
    return isinstance(doc, dict) and "consequences" in doc and "cells" not in doc


def verify_path(path: Path) -> Report:
    """Verify every ``*.json`` under ``path`` (or the one file).

    Cell documents first; then documents of consequences (issue 12), each
    resting on the invariance certificate of its cell: one verified in this
    run when the folder holds it, else derived and checked afresh.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    from . import titles
    cells, problems, proven, present, later = 0, [], {}, set(), []
    for f in files:
        try:
            doc = load(read_text(f))
        except (OSError, ValueError, RecursionError, MemoryError) as err:
            problems.append(f"{f.name}: unreadable ({type(err).__name__}: {str(err)[:200]})")
            continue
        if _consequences_document(doc):
            later.append((f, doc))
            continue
        md, markdown = f.with_suffix(".md"), None
        if md.exists() or md.is_symlink():
            try:
                markdown = read_text(md)
            except (OSError, ValueError, MemoryError) as err:
                problems.append(f"{f.name}: the Markdown beside it is unreadable ({type(err).__name__}: "
                                f"{str(err)[:200]})")
            if isinstance(doc, dict) and isinstance(doc.get("cells"), list) and len(doc["cells"]) != 1:
                problems.append(f"{f.name}: a Markdown rendering beside a document of "
                                f"{len(doc['cells'])} cells (it renders one cell): remove it or split the document")
                markdown = None
        why = document_problem(doc)
        results = [] if why else _checked_cells(doc, titles(), markdown)
        cells += len(results)
        for cell, found in results:   # a cell counts as proven only when it verified on its own
            ids = (cell.get("normalizer"), cell.get("transformation")) if isinstance(cell, dict) else ()
            if len(ids) == 2 and all(isinstance(x, str) for x in ids):
                present.add(ids)
                if not found and cell.get("verdict") == INVARIANT:
                    proven[ids] = tuple(cell["conditions"])
        problems += [f"{f.name}: {p}" for p in ([why] if why else [p for _, found in results for p in found])]

    def invariant(n: str, t: str):
        """A cell's conditions if it is proven invariant: by its certificate here, when the
        folder holds one (rejected: not proven), else derived and checked afresh."""
        if (n, t) in present:
            return proven.get((n, t))
        from .consequences import _default_invariant
        return _default_invariant(n, t)

    consequences = 0
    for f, doc in later:
        from .consequences import verify_document
        try:
            found = verify_document(doc, invariant)
        except Exception as err:   # anything unforeseen rejects the file, never the whole run
            found = [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
        consequences += len(doc["consequences"]) if isinstance(doc.get("consequences"), list) else 0
        problems += [f"{f.name}: {p}" for p in found]
    return Report(cells, consequences, problems)


def write_consequences(consequences, directory: Path) -> Path:
    """``consequences.json``: what invariance implies for training, one checked entry each."""
    from .consequences import document as consequences_document
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "consequences.json"
    path.write_text(json.dumps(consequences_document(consequences), indent=1, ensure_ascii=False) + "\n")
    return path


def render_markdown(cell: Cell, titles: dict[str, str]) -> str:
    """A human-readable certificate: Markdown with $...$ maths."""
    lines = [f"# {titles[cell.normalizer]} under {titles[cell.transformation].lower()}", "",
             "*Generated by `python -m invariance proofs`; do not edit.*", "",
             f"**Verdict: {cell.verdict}.**"]
    if cell.conditions:
        lines += ["", "Conditions: " + ", ".join(f"${tex(c)}$" for c in cell.conditions) + "."]
    lines += ["", "## Definitions", ""]
    for e in cell.definitions:
        lines += [f"- {e.justification}:", "", f"  $${tex(e.lhs)} = {tex(e.rhs)}$$", ""]
    if cell.verdict == INVARIANT:
        lines += ["## Proof", "", "Each step is checked by unfolding the equations it uses, "
                  "linearity of the sum, and expansion to literally zero.", ""]
        for k, e in enumerate(cell.proof.steps(), 1):
            lines += [f"{k}. {e.justification} (uses {', '.join(e.uses)}):", "",
                      f"   $${tex(e.lhs)} = {tex(e.rhs)}$$", ""]
    if cell.counterexample is not None:
        ce = cell.counterexample
        lines += ["## Counterexample (exact)", "", "Sizes: " + ", ".join(f"${k} = {v}$" for k, v in ce.sizes.items())
                  + ", $\\epsilon = 0$.", ""]
        for k, v in ce.values.items():
            lines.append(f"- ${k} = {_matrix_tex(v)}$")
        for k, v in ce.parameters.items():
            lines.append(f"- ${_PARAMETER_TEX.get(k, k)} = {_matrix_tex(v)}$")
        point = ", ".join(str(v) for v in ce.point.values())
        lines += ["", f"At entry $({point})$: $h = {sp.latex(ce.output)}$ but $h' = {sp.latex(ce.transformed_output)}$.", ""]
    return "\n".join(lines).rstrip() + "\n"


_PARAMETER_TEX = {"delta": r"\delta", "gamma": r"\gamma", "case": r"\text{re-scaled case } m"}


def _matrix_tex(v) -> str:
    if not isinstance(v, (list, tuple)):
        return sp.latex(v)
    if v and isinstance(v[0], (list, tuple)):
        return r"\left[" + ", ".join(_matrix_tex(r) for r in v) + r"\right]"
    return r"\left[" + ", ".join(sp.latex(x) for x in v) + r"\right]"


def write(cells, directory: Path, titles: dict[str, str]) -> list[Path]:
    """Write ``<normalizer>__<transformation>.json`` and ``.md`` for each cell."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in cells:
        base = directory / filename(cell)
        base.with_suffix(".json").write_text(json.dumps(document([cell]), indent=1, ensure_ascii=False) + "\n")
        base.with_suffix(".md").write_text(render_markdown(cell, titles))
        written += [base.with_suffix(".json"), base.with_suffix(".md")]
    return written
