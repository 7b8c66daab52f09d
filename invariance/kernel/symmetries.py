"""Checking a layer's symmetries (``invariance-symmetries/1``): untrusted, read without running it.

Re-derived here, never taken from the file:

- each basis family: from the registry (:data:`~invariance.catalogue.registry.FAMILIES`), of the
  kind stated, applicable to the normalizer; its proof is a cell certificate checked by
  :func:`invariance.kernel.cells.check_cell` (verdict invariant, this normalizer, this family);
  its number of directions from its generators (:func:`~invariance.catalogue.families.multiplicity`);
- the dimension: the sum of those numbers;
- completeness, at each of three or four sets of sizes (each axis 3 to 8, no two equal, the
  sets different, at most 96 columns): only the stacked points' exact rationals come from the
  file (shapes from the sizes, the shared tensors equal, small numerators and denominators).
  Here the Jacobian of h is evaluated from the registry's definitions
  (:func:`invariance.core.jacobian.jacobian`), its rank is bounded below
  (:func:`~invariance.core.jacobian.rank_at_least`: exact over Q, or a submatrix shown
  nonsingular on the enclosure of its square roots), and so is the rank of the basis' tangents.
  rank >= columns - dimension and tangents' rank >= dimension show that the proved directions
  are all the directions there, at almost every point.  Each tangent must also not be shown
  outside the Jacobian's null space (a random combination of its rows, drawn here): a
  defence in depth, should a cell of a family that is no symmetry ever pass.

Every field's shape is checked before any evidence (whole numbers are ``int``, never ``bool`` or
``float``), then the cells, then the ranks; checking stops at the first cell or set of sizes with
a problem, so a forgery is refused at its first false claim.  The work is bounded by the sizes,
sets and columns above: a genuine document takes 1 to 4 s of CPU, the largest this admits
(four sets of 72 and of 96 columns, six-digit numbers) about 8 s, within the 30 s of a file.

Trusted beyond the cell kernel: Python's integers and fractions, ``math.isqrt``, and SymPy's
``DomainMatrix`` rank over QQ.  Floating point (numpy) only chooses which submatrix to test.
"""
from __future__ import annotations

import re
import secrets
from fractions import Fraction

import sympy as sp

from ..core.certificate import SYMMETRIES
from ..core.jacobian import (KINDS, NotRational, columns_of, concrete, grouped_ok, jacobian,
                             outside_null_space, rank_at_least, shapes_of, stacked, tangents)
from ..catalogue.families import applies, kind_of, multiplicity, size_value
from ..catalogue.registry import UnknownId, acting, normalizer
from .cells import check_cell
from .parse import CertificateError

__all__ = ["check_symmetries", "SIZE_RANGE", "MIN_SIZES", "MAX_SETS", "MAX_COLUMNS"]

SIZE_RANGE = range(3, 9)   # each axis of a completeness certificate (bounds the work, and no +-1 case)
MIN_SIZES = 3              # sets of sizes a complete certificate needs
MAX_SETS = 4
MAX_BASIS = 16
MAX_ID = 64
MAX_COLUMNS = 96           # of one set (the genuine: at most 90); the work grows as their cube
_NUMBER = re.compile(r"-?\d{1,6}(/[1-9]\d{0,5})?")


def check_symmetries(doc) -> list[str]:
    """Problems with a symmetries document (empty when every claim holds)."""
    try:
        return _check(doc)
    except CertificateError as err:
        return [str(err)]
    except UnknownId as err:
        return [str(err)]
    except Exception as err:   # anything unforeseen rejects the document, one line, never a traceback
        return [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]


def _fields(obj, keys: set, what: str) -> dict:
    if not (isinstance(obj, dict) and set(obj) == keys):
        raise CertificateError(f"{what} must be an object with exactly: {', '.join(sorted(keys))}")
    return obj


def _shown(value) -> str:
    """A value of the file in a problem: its first characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _id(value):
    """An id of the file, if it may be one (short: a long one would go through the registry's
    did-you-mean, which costs a second a megabyte)."""
    return value if isinstance(value, str) and len(value) <= MAX_ID else None


def _whole(value) -> bool:
    return type(value) is int   # not bool, not float


def _check(doc) -> list[str]:
    _fields(doc, {"schema", "normalizer", "kinds"}, "a symmetries document")
    if doc["schema"] != SYMMETRIES:
        raise CertificateError(f"schema must be {SYMMETRIES}")
    if _id(doc["normalizer"]) is None:
        raise CertificateError(f"normalizer must be an id of at most {MAX_ID} characters")
    norm = normalizer(doc["normalizer"])
    kinds = doc["kinds"]
    if not (isinstance(kinds, list) and 1 <= len(kinds) <= len(KINDS)):
        raise CertificateError(f"kinds must list 1 to {len(KINDS)} kinds")
    read, seen = [], set()
    for entry in kinds:   # every field's shape first: nothing is evaluated yet
        _fields(entry, {"kind", "dimension", "basis", "completeness"}, "a kind")
        kind = entry["kind"]
        if kind not in KINDS or kind in seen:
            raise CertificateError(f"kind {_shown(kind)}: one of {', '.join(KINDS)}, each once")
        seen.add(kind)
        try:
            read.append((kind, _read_kind(norm, kind, entry)))
        except CertificateError as err:
            raise CertificateError(f"{kind} directions: {err}") from None
    for kind, (families, cells, _, _) in read:   # then the proofs of the basis, to the first that fails
        for t, cell in zip(families, cells):
            problems = check_cell(cell)
            if problems:
                return [f"{kind} directions: {t.id}: {p}" for p in problems]
    for kind, (families, _, dimension, sets) in read:   # then the ranks, set by set
        for k, c in enumerate(sets, 1):
            try:
                problems = _check_sizes(norm, kind, families, c)
            except CertificateError as err:
                problems = [str(err)]
            if problems:
                return [f"{kind} directions: completeness {k}: {p}" for p in problems]
    return []


def _read_kind(norm, kind: str, entry: dict):
    """(families, their cells, the dimension, each set of sizes read) of one kind, every field's
    shape checked; the cells are not checked yet."""
    basis = entry["basis"]
    if not (isinstance(basis, list) and len(basis) <= MAX_BASIS):
        raise CertificateError(f"basis must be a list of at most {MAX_BASIS} families")
    families, cells = [], []
    for k, item in enumerate(basis, 1):
        _fields(item, {"family", "count", "cell"}, f"basis entry {k}")
        t = acting(item["family"]) if _id(item["family"]) else None
        if t is None or kind_of(t) != kind or not applies(t, norm):
            raise CertificateError(f"basis entry {k}: {_shown(item['family'])} is not a family of {kind} directions "
                                   f"that can be written for {norm.id}")
        if t in families:
            raise CertificateError(f"basis entry {k}: {t.id} is listed twice")
        cell = item["cell"]
        if not (isinstance(cell, dict) and cell.get("normalizer") == norm.id and cell.get("transformation") == t.id
                and cell.get("verdict") == "invariant"):
            raise CertificateError(f"basis entry {k}: its cell must prove {norm.id} invariant under {t.id}")
        count = str(multiplicity(t, norm.model))
        if item["count"] != count:
            raise CertificateError(f"basis entry {k}: {t.id} has {count} directions, not {_shown(item['count'])}")
        families.append(t)
        cells.append(cell)
    dimension = sp.Add(*[multiplicity(t, norm.model) for t in families])
    if entry["dimension"] != str(dimension):
        raise CertificateError(f"the dimension is {dimension}, the sum of the basis' counts, not {_shown(entry['dimension'])}")
    sets = entry["completeness"]
    if not (isinstance(sets, list) and MIN_SIZES <= len(sets) <= MAX_SETS):
        raise CertificateError(f"completeness must give {MIN_SIZES} to {MAX_SETS} sets of sizes")
    labels, read = [], []
    for k, c in enumerate(sets, 1):
        try:
            read.append(_read_sizes(norm, kind, dimension, c, labels))
        except CertificateError as err:
            raise CertificateError(f"completeness {k}: {err}") from None
    return families, cells, dimension, read


def _read_sizes(norm, kind, dimension, c, labels: list) -> dict:
    """One set of sizes and its stacked points, read: shapes, whole numbers, the counts stated."""
    _fields(c, {"sizes", "columns", "rank", "proved", "points"}, "a completeness entry")
    m, b = norm.model, norm.build(sp.S.Zero)
    names = [ax.name for ax in (*m.axes, m.input)]
    want = set(names) | ({"groups"} if norm.groups else set())
    sizes = _fields(c["sizes"], want, "sizes")
    if norm.groups and not (_whole(sizes["groups"]) and sizes["groups"] == norm.groups):
        raise CertificateError(f"groups must be {norm.groups}, the normalizer's")
    axes = {n: sizes[n] for n in names}
    if not all(_whole(v) and v in SIZE_RANGE for v in axes.values()) or len(set(axes.values())) != len(axes):
        raise CertificateError(f"sizes must be whole numbers from {SIZE_RANGE.start} to {SIZE_RANGE.stop - 1}, "
                               "no two equal")
    if not grouped_ok(norm, axes):
        raise CertificateError(f"the units must split into {norm.groups} groups whose statistic runs over "
                               "at least 3 values")
    if axes in labels:
        raise CertificateError("a set of sizes is given twice")
    labels.append(axes)
    values = concrete(b, axes)
    cols = columns_of(b, values, kind)
    if len(cols) > MAX_COLUMNS:
        raise CertificateError(f"{len(cols)} columns at these sizes, more than {MAX_COLUMNS} "
                               "(the work grows as their cube): choose smaller sizes")
    expected = size_value(dimension, m, axes, norm.groups)
    stated = (c["columns"], c["rank"], c["proved"])
    if not (all(_whole(v) for v in stated) and stated == (len(cols), len(cols) - expected, expected)):
        raise CertificateError(f"columns, rank and proved must be the whole numbers {len(cols)}, "
                               f"{len(cols) - expected} and {expected} (the dimension {dimension} at these sizes)")
    count = stacked(b, values, kind)
    points = c["points"]
    if not (isinstance(points, list) and len(points) == count):
        raise CertificateError(f"points must stack {count} points at these sizes")
    shapes = shapes_of(b, values)
    parsed = [{k: _tensor(_fields(p, set(shapes), "a point")[k], s, k) for k, s in shapes.items()} for p in points]
    for p in parsed[1:]:
        for k in shapes:
            if ((k == "X") == (kind == "data")) and p[k] != parsed[0][k]:
                raise CertificateError(f"every stacked point must share {k} (it is held fixed for {kind} directions)")
    return {"build": b, "values": values, "columns": cols, "expected": expected, "points": parsed}


def _check_sizes(norm, kind, families, c: dict) -> list[str]:
    """The ranks at one set of sizes (read by :func:`_read_sizes`): the basis' tangents first (a
    few vectors), then the Jacobian (the work)."""
    b, values, cols, expected, parsed = c["build"], c["values"], c["columns"], c["expected"], c["points"]
    try:
        vecs, owner = [], []
        for t in families:
            tv = tangents(b, t, values, parsed[0], cols)
            vecs += tv
            owner += [t.id] * len(tv)
        proved, _ = rank_at_least(vecs, len(cols), need=expected)
        if proved < expected:
            return [f"the basis' directions are shown independent only {proved} times of {expected}"]
        J = jacobian(b, values, parsed, kind)
    except (NotRational, ZeroDivisionError, IndexError) as err:
        raise CertificateError(f"the layer is not defined at these points ({err})") from None
    outside = outside_null_space(J, vecs, secrets.randbits(64))
    if outside is not None:
        return [f"a direction of {owner[outside]} changes h at these points: it is not in the Jacobian's "
                "null space, so no symmetry"]
    rank, _ = rank_at_least(J, len(cols), need=len(cols) - expected)
    if rank < len(cols) - expected:
        return [f"the Jacobian's rank is shown to be at least {rank}, not {len(cols) - expected}: "
                "completeness is not shown"]
    return []


def _tensor(value, shape, name: str):
    if not shape:
        if isinstance(value, bool) or not (isinstance(value, int) and abs(value) < 10 ** 6
                                           or isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise CertificateError(f"{name}: {str(value)[:40]!r} is not an exact rational such as -3/4")
        return Fraction(value)
    if not (isinstance(value, list) and len(value) == shape[0]):
        raise CertificateError(f"{name} must have shape {tuple(shape)}")
    return [_tensor(v, shape[1:], name) for v in value]
