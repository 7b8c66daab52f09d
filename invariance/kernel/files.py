"""Reading certificates: untrusted files, read within bounds and checked cell by cell.

:func:`verify_path` reads every ``*.json`` of a folder (or one file) and
checks each document with :func:`invariance.kernel.cells.check_cell`, and
each document of consequences with
:func:`invariance.kernel.consequences.verify_document`; it never re-runs the
search (a cell a consequence cites and the folder does not hold is derived
through the ``derived`` hook the layers above hand it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from ..core.certificate import FORMAT
from ..core.records import INVARIANT
from .cells import check_cell
from .consequences import verify_document

__all__ = ["MAX_FILE", "read_text", "load", "document_problem", "verify", "verify_path", "Report", "Hooks"]


@dataclass(frozen=True)
class Hooks:
    """What the layers above hand the kernel (it imports none of them).

    ``display(data, cell, markdown)``: problems with what a person reads of a
    checked cell that the kernel does not derive (its ``caveats``, the Markdown
    beside the file); without it such fields are refused.
    ``derived(normalizer, transformation)``: the conditions of a cell proven
    invariant (None if it is not) whose certificate is not in the folder,
    derived and checked afresh: a consequence rests on it.  Without it, only
    the cells of the folder are proven.
    """

    display: Callable | None = None
    derived: Callable | None = None


MAX_FILE = 8 * 2 ** 20    # bytes: a certificate is a few kB; a table of every cell well under this


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


def verify(doc, hooks: Hooks = Hooks(), markdown: str | None = None) -> list[str]:
    """Problems found in one document (empty if every claim of every cell holds)."""
    why = document_problem(doc)
    if why:
        return [why]
    if _consequences_document(doc):
        return verify_document(doc, hooks.derived)
    return [p for _, found in _checked_cells(doc, hooks, markdown) for p in found]


def _checked_cells(doc: dict, hooks: Hooks, markdown) -> list[tuple[object, list[str]]]:
    """(cell, its problems, each prefixed with where it is) for every cell of a document."""
    out = []
    for k, cell in enumerate(doc["cells"], 1):
        where = f"{cell.get('normalizer')} x {cell.get('transformation')}" if isinstance(cell, dict) \
            else f"cell {k}"
        try:
            found = check_cell(cell, hooks.display, markdown if len(doc["cells"]) == 1 else None)
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


def verify_path(path: Path, hooks: Hooks = Hooks()) -> Report:
    """Verify every ``*.json`` under ``path`` (or the one file).

    Cell documents first; then documents of consequences (issue 12), each
    resting on the invariance certificate of its cell: one verified in this
    run when the folder holds it, else derived and checked afresh.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
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
        results = [] if why else _checked_cells(doc, hooks, markdown)
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
        return hooks.derived(n, t) if hooks.derived else None

    consequences = 0
    for f, doc in later:
        try:
            found = verify_document(doc, invariant)
        except Exception as err:   # anything unforeseen rejects the file, never the whole run
            found = [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
        consequences += len(doc["consequences"]) if isinstance(doc.get("consequences"), list) else 0
        problems += [f"{f.name}: {p}" for p in found]
    return Report(cells, consequences, problems)

