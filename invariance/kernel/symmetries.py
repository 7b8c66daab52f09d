"""Checking a layer's symmetries (``invariance-symmetries/1``): untrusted, read without running it.

Re-derived here, never taken from the file:

- each basis family: from the registry (:data:`~invariance.catalogue.registry.FAMILIES`), of the
  kind stated, applicable to the normalizer; its proof is a cell certificate checked by
  :func:`invariance.kernel.cells.check_cell` (verdict invariant, this normalizer, this family);
  its number of directions from its generators (:func:`~invariance.catalogue.families.multiplicity`);
- the dimension: the sum of those numbers;
- completeness, at each of at least three sets of sizes (each axis 3 to 8, no two equal, the
  sets different): only the stacked points' exact rationals come from the file (shapes from the
  sizes, the shared tensors equal, small numerators and denominators).  Here the Jacobian of h
  is evaluated from the registry's definitions (:func:`invariance.core.jacobian.jacobian`), its
  rank is bounded below (:func:`~invariance.core.jacobian.rank_at_least`: exact over Q, or a
  submatrix shown nonsingular on the enclosure of its square roots), and so is the rank of the
  basis' tangents.  rank >= columns - dimension and tangents' rank >= dimension show that the
  proved directions are all the directions there, at almost every point.

Trusted beyond the cell kernel: Python's integers and fractions, ``math.isqrt``, and SymPy's
``DomainMatrix`` rank over QQ.  Floating point (numpy) only chooses which submatrix to test.
"""
from __future__ import annotations

import re
from fractions import Fraction

import sympy as sp

from ..core.jacobian import (KINDS, NotRational, columns_of, concrete, grouped_ok, jacobian, rank_at_least,
                             shapes_of, stacked, tangents)
from ..catalogue.families import applies, kind_of, multiplicity
from ..catalogue.registry import UnknownId, acting, normalizer
from .cells import check_cell
from .parse import CertificateError

__all__ = ["check_symmetries", "SIZE_RANGE", "MIN_SIZES"]

SIZE_RANGE = range(3, 9)   # each axis of a completeness certificate (bounds the work, and no +-1 case)
MIN_SIZES = 3              # sets of sizes a complete certificate needs
MAX_SETS = 6
MAX_BASIS = 16
_NUMBER = re.compile(r"-?\d{1,6}(/[1-9]\d{0,5})?")


def check_symmetries(doc) -> list[str]:
    """Problems with a symmetries document (empty when every claim holds)."""
    try:
        return _check(doc)
    except CertificateError as err:
        return [str(err)]
    except UnknownId as err:
        return [str(err)]


def _fields(obj, keys: set, what: str) -> dict:
    if not (isinstance(obj, dict) and set(obj) == keys):
        raise CertificateError(f"{what} must be an object with exactly: {', '.join(sorted(keys))}")
    return obj


def _check(doc) -> list[str]:
    _fields(doc, {"schema", "normalizer", "kinds"}, "a symmetries document")
    if not isinstance(doc["normalizer"], str):
        raise CertificateError("normalizer must be an id")
    norm = normalizer(doc["normalizer"])
    kinds = doc["kinds"]
    if not (isinstance(kinds, list) and 1 <= len(kinds) <= len(KINDS)):
        raise CertificateError(f"kinds must list 1 to {len(KINDS)} kinds")
    problems, seen = [], set()
    for entry in kinds:
        _fields(entry, {"kind", "dimension", "basis", "completeness"}, "a kind")
        kind = entry["kind"]
        if kind not in KINDS or kind in seen:
            raise CertificateError(f"kind {kind!r}: one of {', '.join(KINDS)}, each once")
        seen.add(kind)
        problems += [f"{kind} directions: {p}" for p in _check_kind(norm, kind, entry)]
    return problems


def _check_kind(norm, kind: str, entry: dict) -> list[str]:
    basis = entry["basis"]
    if not (isinstance(basis, list) and len(basis) <= MAX_BASIS):
        raise CertificateError(f"basis must be a list of at most {MAX_BASIS} families")
    families, problems = [], []
    for k, item in enumerate(basis, 1):
        _fields(item, {"family", "count", "cell"}, f"basis entry {k}")
        t = acting(item["family"]) if isinstance(item["family"], str) else None
        if t is None or kind_of(t) != kind or not applies(t, norm):
            raise CertificateError(f"basis entry {k}: {item['family']!r} is not a family of {kind} directions "
                                   f"that can be written for {norm.id}")
        if t in families:
            raise CertificateError(f"basis entry {k}: {t.id} is listed twice")
        cell = item["cell"]
        if not (isinstance(cell, dict) and cell.get("normalizer") == norm.id and cell.get("transformation") == t.id
                and cell.get("verdict") == "invariant"):
            raise CertificateError(f"basis entry {k}: its cell must prove {norm.id} invariant under {t.id}")
        problems += [f"{t.id}: {p}" for p in check_cell(cell)]
        count = str(multiplicity(t, norm.model))
        if item["count"] != count:
            raise CertificateError(f"basis entry {k}: {t.id} has {count} directions, not {item['count']!r}")
        families.append(t)
    dimension = sp.Add(*[multiplicity(t, norm.model) for t in families])
    if entry["dimension"] != str(dimension):
        raise CertificateError(f"the dimension is {dimension}, the sum of the basis' counts, not {entry['dimension']!r}")
    sets = entry["completeness"]
    if not (isinstance(sets, list) and MIN_SIZES <= len(sets) <= MAX_SETS):
        raise CertificateError(f"completeness must give {MIN_SIZES} to {MAX_SETS} sets of sizes")
    labels = []
    for k, c in enumerate(sets, 1):
        problems += [f"completeness {k}: {p}" for p in _check_sizes(norm, kind, families, dimension, c, labels)]
    return problems


def _check_sizes(norm, kind, families, dimension, c, labels: list) -> list[str]:
    _fields(c, {"sizes", "columns", "rank", "proved", "points"}, "a completeness entry")
    m, b = norm.model, norm.build(sp.S.Zero)
    names = [ax.name for ax in (*m.axes, m.input)]
    want = set(names) | ({"groups"} if norm.groups else set())
    sizes = _fields(c["sizes"], want, "sizes")
    if norm.groups and sizes["groups"] != norm.groups:
        raise CertificateError(f"groups must be {norm.groups}, the normalizer's")
    axes = {n: sizes[n] for n in names}
    if not all(type(v) is int and v in SIZE_RANGE for v in axes.values()) or len(set(axes.values())) != len(axes):
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
    expected = int(dimension.xreplace({ax.size: axes[ax.name] for ax in (*m.axes, m.input)} |
                                      ({sp.Symbol("G", integer=True, positive=True): norm.groups} if norm.groups else {})))
    if (c["columns"], c["rank"], c["proved"]) != (len(cols), len(cols) - expected, expected):
        raise CertificateError(f"columns, rank and proved must be {len(cols)}, {len(cols) - expected} and {expected} "
                               f"(the dimension {dimension} at these sizes)")
    try:
        J = jacobian(b, values, parsed, kind)
        vecs = [v for t in families for v in tangents(b, t, values, parsed[0], cols)]
    except (NotRational, ZeroDivisionError, IndexError) as err:
        raise CertificateError(f"the layer is not defined at these points ({err})") from None
    rank, _ = rank_at_least(J, len(cols))
    proved, _ = rank_at_least(vecs, len(cols))
    problems = []
    if rank < len(cols) - expected:
        problems.append(f"the Jacobian's rank is shown to be at least {rank}, not {len(cols) - expected}: "
                        "completeness is not shown")
    if proved < expected:
        problems.append(f"the basis' directions are shown independent only {proved} times of {expected}")
    return problems


def _tensor(value, shape, name: str):
    if not shape:
        if isinstance(value, bool) or not (isinstance(value, int) and abs(value) < 10 ** 6
                                           or isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise CertificateError(f"{name}: {str(value)[:40]!r} is not an exact rational such as -3/4")
        return Fraction(value)
    if not (isinstance(value, list) and len(value) == shape[0]):
        raise CertificateError(f"{name} must have shape {tuple(shape)}")
    return [_tensor(v, shape[1:], name) for v in value]
