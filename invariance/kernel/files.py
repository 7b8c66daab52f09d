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
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from ..core.certificate import BLOCK_SYMMETRIES, FORMAT, SYMMETRIES
from ..core.rewrite import REWRITE
from ..core.records import INVARIANT
from .cells import ANNOTATIONS, check_cell, unchecked
from .consequences import verify_document
from .rewrites import check_rewrite
from .symmetries import check_symmetries
from .block_symmetries import check_block_symmetries

__all__ = ["MAX_FILE", "MAX_LINE", "TIME_BUDGET", "read_text", "load", "document_problem", "verify",
           "verify_path", "Report", "Hooks", "one_line", "within", "OutOfTime"]


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


MAX_LINE = 2_000          # characters of one problem line (ids and values in it come from the file)


TIME_BUDGET = 30.0        # seconds to check one file (see within): a genuine one takes 0.1 s (a cell) to 6 s
                          # (every consequence), so a held-out forgery is refused well within a minute


def one_line(text: str, limit: int = MAX_LINE) -> str:
    r"""``text`` as one line that shows what it contains: every character Python would not print
    (line breaks, carriage returns, terminal escapes, bidi overrides, lone surrogates ...)
    escaped as in a string literal, and the middle of an overlong line elided.

    >>> print(one_line("an id\nverified 54 cells: 0 problems\x1b[2K\u2028"))
    an id\nverified 54 cells: 0 problems\x1b[2K\u2028
    """
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(text) > limit:
        text = f"{text[:limit // 2]} ...({len(text) - limit} characters)... {text[-limit // 2:]}"
    return text


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
    if _consequences_document(doc) or _symmetries_document(doc) or _rewrite_documents(doc):
        return None   # a document of consequences, symmetries or rewrites: its shape is checked entry by entry
    if isinstance(doc, dict) and doc.get("format") == "invariance-certificate/1":
        return ("an invariance-certificate/1 file, which verify no longer trusts: "
                "regenerate it with python -m invariance proofs")
    if isinstance(doc, dict) and doc.get("schema") == "invariance-certificate/2":
        return ("an invariance-certificate/2 file (a proof as steps, not the chains a reader sees), "
                "which verify no longer reads: regenerate it with python -m invariance proofs")
    if not (isinstance(doc, dict) and doc.get("schema") == FORMAT and isinstance(doc.get("cells"), list)
            and set(doc) == {"schema", "cells"}):
        what = "a JSON array" if isinstance(doc, list) else f"a JSON {type(doc).__name__}"
        return f'{what}, not a certificate: expected {{"schema": "{FORMAT}", "cells": [...]}}'
    if not doc["cells"]:
        return "a certificate with no cells"
    return None


def verify(doc, hooks: Hooks = Hooks(), markdown: str | None = None,
           budget: float | None = TIME_BUDGET) -> list[str]:
    """Problems found in one document (empty if every claim of every cell holds), within
    ``budget`` seconds (see :func:`within`)."""
    try:
        return within(budget, lambda: _verify(doc, hooks, markdown))
    except OutOfTime:
        return [_late(budget)]


def _verify(doc, hooks: Hooks, markdown: str | None) -> list[str]:
    why = document_problem(doc)
    if why:
        return [why]
    if _consequences_document(doc):
        return [one_line(p) for p in _measurements(doc) + verify_document(doc, hooks.derived)]
    if _symmetries_document(doc):
        return [one_line(p) for p in _check_symmetries(doc)]
    if _rewrite_documents(doc):
        return [one_line(p) for p in _check_rewrites(doc)]
    return [one_line(p) for _, found in _checked_cells(doc, hooks, markdown) for p in found]


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
    symmetries: int = 0   # documents of a layer's symmetries
    rewrites: int = 0     # documents of a rewrite's verdict
    blocks: int = 0       # documents of a block's symmetries


def _rewrite_documents(doc) -> list | None:
    """The rewrite documents of ``doc`` (one, or a list: ``rewrite --all --format json``), else None."""
    docs = doc if isinstance(doc, list) else [doc]
    if 0 < len(docs) <= MAX_LAYERS and all(isinstance(d, dict) and d.get("schema") == REWRITE for d in docs):
        return docs
    return None


def _check_rewrites(doc) -> list[str]:
    docs = _rewrite_documents(doc)
    return [f"{d.get('recipe')}: {p}" if isinstance(doc, list) else p for d in docs for p in check_rewrite(d)]


def _symmetries_document(doc) -> bool:
    """A layer's symmetries, or a list of them (``symmetries --all --format json``)."""
    if isinstance(doc, list):
        return 0 < len(doc) <= MAX_LAYERS and all(_symmetries_document(d) for d in doc if not isinstance(d, list))\
            and not any(isinstance(d, list) for d in doc)
    return isinstance(doc, dict) and doc.get("schema") in (SYMMETRIES, BLOCK_SYMMETRIES)   # a layer's, or a block's


MAX_LAYERS = 64   # symmetry documents in one file


def _check_symmetries(doc) -> list[str]:
    """Problems of one symmetries document, or of each of a list (prefixed with its normalizer)."""
    def check(d):
        return check_block_symmetries(d) if d.get("schema") == BLOCK_SYMMETRIES else check_symmetries(d)
    if isinstance(doc, dict):
        return check(doc)
    return [f"{d.get('normalizer') or d.get('block')}: {p}" for d in doc for p in check(d)]


def _consequences_document(doc) -> bool:
    return isinstance(doc, dict) and "consequences" in doc and "cells" not in doc


def _measurements(doc) -> list[str]:
    """A consequence entry's fields that are measurements (``consequences --numeric``), which
    the consequences' checker does not check: refused, as in a cell."""
    entries = doc.get("consequences") if isinstance(doc, dict) else None
    return [f"{' x '.join(str(e.get(f)) for f in ('normalizer', 'transformation', 'consequence'))}: {unchecked(k)}"
            for e in (entries if isinstance(entries, list) else ()) if isinstance(e, dict)
            for k in sorted(ANNOTATIONS & set(e))]


def verify_path(path: Path, hooks: Hooks = Hooks(), budget: float | None = TIME_BUDGET) -> Report:
    """Verify every ``*.json`` under ``path`` (or the one file).

    Cell documents first; then documents of consequences (issue 12), each
    resting on the invariance certificate of its cell: one verified in this
    run when the folder holds it, else derived and checked afresh.  Each file
    is checked within ``budget`` seconds (see :func:`within`); one that is not
    is one problem, and none of its cells counts as proven.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    cells, problems, proven, present, later, symmetries, rewrites, blocks = 0, [], {}, set(), [], 0, 0, 0
    for f in files:
        seen: dict = {}
        try:
            results, found = within(budget, lambda: _cell_file(f, hooks, seen))
        except OutOfTime:
            found = [_late(budget)]
            doc = seen.get("doc")
            results = [(c, found) for c in doc["cells"]] if isinstance(doc, dict) and "cells" in doc \
                and not document_problem(doc) and not _consequences_document(doc) else []   # (a rewrite or
            # symmetries document has no cells: one that ran out of time raised KeyError out of verify)
        if "later" in seen:
            later.append((f, seen["later"]))
        symmetries += seen.get("symmetries", 0)
        rewrites += seen.get("rewrites", 0)
        blocks += seen.get("blocks", 0)
        for n, t, conditions in seen.get("proven", ()):   # the basis cells of a layer's symmetries
            if (n, t) not in present:
                present.add((n, t))
                proven[(n, t)] = conditions
        cells += len(results)
        for cell, bad in results:   # a cell counts as proven only when it verified on its own
            ids = (cell.get("normalizer"), cell.get("transformation")) if isinstance(cell, dict) else ()
            if len(ids) == 2 and all(isinstance(x, str) for x in ids):
                present.add(ids)
                if not bad and cell.get("verdict") == INVARIANT:
                    proven[ids] = tuple(cell["conditions"])
        problems += [f"{f.name}: {p}" for p in found]

    def invariant(n: str, t: str):
        """A cell's conditions if it is proven invariant: by its certificate here, when the
        folder holds one (rejected: not proven), else derived and checked afresh."""
        if (n, t) in present:
            return proven.get((n, t))
        return hooks.derived(n, t) if hooks.derived else None

    consequences = 0
    for f, doc in later:
        try:
            found = within(budget, lambda: _consequences_file(doc, invariant))
        except OutOfTime:
            found = [_late(budget)]
        consequences += len(doc["consequences"]) if isinstance(doc.get("consequences"), list) else 0
        problems += [f"{f.name}: {p}" for p in found]
    return Report(cells, consequences, [one_line(p) for p in problems], symmetries, rewrites, blocks)   # the one place problems leave


def _cell_file(f: Path, hooks: Hooks, seen: dict) -> tuple[list, list[str]]:
    """(each cell with its problems, the file's problems) of one file of cells; the document
    goes to ``seen["doc"]`` as soon as it is read, to ``seen["later"]`` if it is one of consequences."""
    try:
        doc = seen["doc"] = load(read_text(f))
    except (OSError, ValueError, RecursionError, MemoryError) as err:
        return [], [f"unreadable ({type(err).__name__}: {str(err)[:200]})"]
    if _consequences_document(doc):
        seen["later"] = doc
        return [], []
    if _rewrite_documents(doc):
        seen["rewrites"] = len(_rewrite_documents(doc))
        try:
            return [], _check_rewrites(doc)
        except Exception as err:   # anything unforeseen rejects the file, never the whole run
            return [], [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
    if _symmetries_document(doc):
        docs = [doc] if isinstance(doc, dict) else doc
        seen["blocks"] = sum(d.get("schema") == BLOCK_SYMMETRIES for d in docs)
        seen["symmetries"] = len(docs) - seen["blocks"]
        try:
            found = _check_symmetries(doc)
        except Exception as err:   # anything unforeseen rejects the file, never the whole run
            return [], [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
        if not found:   # every basis cell verified: a consequence of that direction rests on it
            seen["proven"] = [(entry["cell"]["normalizer"], entry["cell"]["transformation"],
                               tuple(entry["cell"]["conditions"])) for d in (doc if isinstance(doc, list) else [doc])
                              if d["schema"] == SYMMETRIES for kind in d["kinds"] for entry in kind["basis"]]
        return [], found
    problems, md, markdown = [], f.with_suffix(".md"), None
    if md.exists() or md.is_symlink():
        try:
            markdown = read_text(md)
        except (OSError, ValueError, MemoryError) as err:
            problems.append(f"the Markdown beside it is unreadable ({type(err).__name__}: {str(err)[:200]})")
        if isinstance(doc, dict) and isinstance(doc.get("cells"), list) and len(doc["cells"]) != 1:
            problems.append(f"a Markdown rendering beside a document of {len(doc['cells'])} cells "
                            "(it renders one cell): remove it or split the document")
            markdown = None
    why = document_problem(doc)
    if why:
        return [], problems + [why]
    results = _checked_cells(doc, hooks, markdown)
    return results, problems + [p for _, found in results for p in found]


def _consequences_file(doc, invariant) -> list[str]:
    try:
        return _measurements(doc) + verify_document(doc, invariant)
    except Exception as err:   # anything unforeseen rejects the file, never the whole run
        return [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]


# --- a time budget per file ----------------------------------------------------------------

class OutOfTime(BaseException):
    """A file's time budget ran out.  A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way (in the kernel, in SymPy) swallows it."""


def _late(budget) -> str:
    return (f"not checked within {budget:g} s, the time budget of one file: nothing in it is accepted "
            "(a genuine certificate takes a second or two)")


def within(seconds: float | None, work: Callable):
    """``work()``, interrupted by :class:`OutOfTime` after ``seconds``.

    A SIGALRM timer (``signal.setitimer``) interrupts whatever Python code runs
    (SymPy included; the resource bounds keep single C-level operations, such
    as one multiplication of big integers, short).  Signals reach only the main
    thread: off it, on a platform without ``setitimer`` (Windows), or while
    another real-time timer is armed (a test runner's, which this defers to),
    no timer is armed and the resource bounds alone limit the time.  Should
    something swallow the interruption, it comes again every quarter second.
    """
    if seconds is None or not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        return work()
    armed = [True]

    def ring(signum, frame):
        if armed[0]:
            signal.setitimer(signal.ITIMER_REAL, 0.25)
            raise OutOfTime(seconds)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return work()
    finally:
        while True:   # a last ring may interrupt the disarming itself: disarm again
            try:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                break
            except OutOfTime:
                continue
