"""Every symmetry of a layer: the families that are proved, a basis of them, and the certified
rank that shows there are no others.

For a normalizer and a kind (``parameter``: directions in W, g, b, c and its trainable scalars
that leave h unchanged for every input; ``data``: directions in X that leave it unchanged for
every parameter value):

1. each family of the catalogue (:data:`invariance.catalogue.registry.FAMILIES`) that moves
   only that kind is tried with the table's proof tactic, for symbolic sizes (epsilon
   symbolic, else 0);
2. the proved ones are taken in turn (most directions first, then fewest tensors moved) and
   kept when their tangents at a point add their full number of directions: a basis; the
   dimension is the sum of the kept families' numbers of directions, a formula in the sizes;
3. at three sets of concrete sizes (every axis at least 3, no two equal), random small
   rationals are drawn and the rank of the Jacobian of h, stacked over several inputs (or
   parameter values), is bounded below with a certificate (:mod:`invariance.core.jacobian`):
   rank >= columns - dimension shows there is no other direction.  A gap is reported, with a
   float64 witness where the numerical null space has a direction outside the proved span
   (found, not proved);
4. each axis at 1 and 2 is measured too (degenerate sizes: a statistic over one or two values).
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ..core.jacobian import (KINDS, NotRational, columns_of, concrete, grouped_ok, jacobian, rank_at_least,
                             shapes_of, stacked, tangents)
from ..core.model import EPS
from ..catalogue.families import applies, kind_of, multiplicity, size_value
from ..catalogue.registry import FAMILIES, normalizer as _normalizer
from .engine import proved_cell

__all__ = ["Direction", "Certificate", "Degenerate", "Symmetries", "symmetries", "KINDS", "SIZES",
           "DEGENERATE", "concrete", "random_points", "stacked", "size_value"]

#: Concrete sizes for the completeness certificate, by layer shape, in order (the first three
#: that certify are kept).  Every axis is at least 3 (a statistic over two values gives +-1 and
#: has more directions: see DEGENERATE), and within a set no two sizes are equal.
SIZES = {
    "dense": ({"case": 4, "unit": 5, "input": 3}, {"case": 5, "unit": 4, "input": 6},
              {"case": 6, "unit": 7, "input": 4}, {"case": 7, "unit": 6, "input": 5},
              {"case": 5, "unit": 8, "input": 3}, {"case": 3, "unit": 10, "input": 4}),
    "conv": ({"case": 3, "unit": 6, "position": 4, "input": 5}, {"case": 4, "unit": 8, "position": 3, "input": 5},
             {"case": 5, "unit": 4, "position": 6, "input": 3}, {"case": 3, "unit": 4, "position": 5, "input": 6}),
}
#: The degenerate sizes reported as their own case: one axis at 1 or 2, the others as in SIZES' first.
DEGENERATE = (1, 2)
POINTS = 3   # random points tried at one set of sizes before the bound found is reported


@dataclass
class Direction:
    """A proved family: its cell (proof and conditions) and its number of directions (a formula)."""

    family: object
    cell: object
    count: sp.Expr


@dataclass
class Certificate:
    """At concrete sizes: the stacked points, and what the Jacobian's rank shows there."""

    sizes: dict                  # axis name -> int (and "groups")
    points: list                 # stacked points: tensor name -> nested lists of Fractions
    columns: int
    rank: int | None             # a certified lower bound on the rank (None: nothing evaluated)
    how: str                     # how the rank was certified
    proved: int                  # independent proved directions at the point
    expected: int                # the dimension formula at these sizes

    @property
    def complete(self) -> bool:
        return self.rank is not None and self.columns - self.rank == self.proved == self.expected

    @property
    def unproved(self) -> int:
        """At most this many directions beyond the proved ones (found, not proved)."""
        return 0 if self.rank is None else self.columns - self.rank - self.proved


@dataclass
class Degenerate:
    """A degenerate size: one axis at 1 or 2.  ``bound`` is columns - (rank lower bound), an
    upper bound on the number of directions there (exact when the Jacobian is rational)."""

    axis: str
    size: int
    sizes: dict
    bound: int | None
    exact: bool
    formula: int
    note: str = ""


@dataclass
class Symmetries:
    normalizer: str
    kind: str
    basis: list                  # [Direction], independent
    dependent: list              # proved families in the span of the basis
    dimension: sp.Expr           # the number of directions: the sum of the basis' counts
    certificates: list = field(default_factory=list)
    degenerate: list = field(default_factory=list)
    witnesses: list = field(default_factory=list)   # found, not proved: (sizes, [(column, value)])

    @property
    def complete(self) -> bool:
        """Certified at three sets of sizes, the formula fitting each."""
        return len([c for c in self.certificates if c.complete]) >= 3

    @property
    def eps_zero(self) -> bool:
        return any(sp.Eq(EPS, 0) in d.cell.conditions for d in self.basis)


# --- sizes and points -----------------------------------------------------------------------

def shape_of(m) -> str:
    """``conv`` for a model with positions, else ``dense`` (with or without a linear bias)."""
    return "conv" if any(ax.name == "position" for ax in m.axes) else "dense"


def _draw(rng: random.Random, shape):
    """Small non-zero rationals (|v| <= 3/2): a saturating output (tanh) keeps a Jacobian
    far from zero, which a rank certificate needs."""
    if not shape:
        return Fraction(rng.choice([-3, -2, -1, 1, 2, 3]), rng.choice([2, 3, 4]))
    return [_draw(rng, shape[1:]) for _ in range(shape[0])]


def random_points(b, sizes: dict, kind: str, count: int, rng: random.Random) -> list:
    """``count`` stacked points at random small rationals (none zero): the parameters shared
    (parameter kind: one W, g, b, c and ``count`` inputs) or the data (data kind)."""
    shapes = shapes_of(b, sizes)
    shared = {k: _draw(rng, s) for k, s in shapes.items()}
    return [{name: (shared[name] if (name == "X") == (kind == "data") else _draw(rng, s))
             for name, s in shapes.items()} for _ in range(count)]


# --- the analysis ---------------------------------------------------------------------------

def _proved(norm, kind: str) -> list[Direction]:
    """The families of this kind that the tactic proves for ``norm`` (epsilon symbolic, else 0)."""
    out = []
    for t in FAMILIES.values():
        if kind_of(t) != kind or not applies(t, norm):
            continue
        cell = proved_cell(norm, t)
        if cell is not None:
            out.append(Direction(t, cell, multiplicity(t, norm.model)))
    return out


def _order(norm, proved: list[Direction]) -> list[Direction]:
    """Most directions first (at the first sizes), then fewest tensors moved, then catalogue order."""
    m, first = norm.model, SIZES[shape_of(norm.model)][0]
    i, j = m.point["unit"], m.input.index

    def moved(d):
        t = d.family
        return len(t.moves) + (t.w(m, i, j) != m.W[i, j])
    return sorted(proved, key=lambda d: (-size_value(d.count, m, first, norm.groups), moved(d)))


def symmetries(norm, kind: str = "parameter", seed: int = 0, degenerate: bool = True) -> Symmetries:
    """The symmetries of ``norm`` of one kind: a proved basis, its dimension formula, completeness
    certificates at three sets of sizes, and (unless ``degenerate`` is False) the degenerate sizes."""
    norm = _normalizer(norm) if isinstance(norm, str) else norm
    proved = _order(norm, _proved(norm, kind))
    b = norm.build(sp.S.Zero)
    rng = random.Random(seed)
    out = Symmetries(norm.id, kind, [], [], sp.S.Zero)
    for axes in SIZES[shape_of(norm.model)]:
        if len([c for c in out.certificates if c.complete]) >= 3:
            break
        if not grouped_ok(norm, axes):
            continue
        out.certificates.append(_certify(b, norm, kind, axes, proved, out, rng))
    out.dimension = sp.Add(*[d.count for d in out.basis])
    out.degenerate = _degenerate(b, norm, kind, out, rng) if degenerate else []
    return out


def _basis(b, sizes, point, cols, proved, out: Symmetries) -> None:
    """Keep each proved family whose tangents add their full count to those kept before it."""
    vecs: list = []
    for d in proved:
        tv = tangents(b, d.family, sizes, point, cols)
        if rank_at_least(vecs + tv, len(cols))[0] == len(vecs) + len(tv):   # vecs are independent
            vecs += tv
            out.basis.append(d)
        else:
            out.dependent.append(d)


def _certify(b, norm, kind, axes, proved, out: Symmetries, rng) -> Certificate:
    sizes, label = concrete(b, axes), dict(axes) | ({"groups": norm.groups} if norm.groups else {})
    cols = columns_of(b, sizes, kind)
    cert = Certificate(label, [], len(cols), None, "no point at which the layer is defined was found", 0, 0)
    for _ in range(POINTS):
        points = random_points(b, sizes, kind, stacked(b, sizes, kind), rng)
        try:
            J = jacobian(b, sizes, points, kind)
            if not out.basis and not out.dependent:
                _basis(b, sizes, points[0], cols, proved, out)
            vecs = [v for d in out.basis for v in tangents(b, d.family, sizes, points[0], cols)]
        except (NotRational, ZeroDivisionError):
            continue   # a statistic is zero at this point: draw again
        r, how = rank_at_least(J, len(cols))
        expected = size_value(sp.Add(*[d.count for d in out.basis]), norm.model, axes, norm.groups)
        cert = Certificate(label, points, len(cols), r, how, rank_at_least(vecs, len(cols))[0], expected)
        if cert.complete:
            return cert
    if cert.unproved > 0:
        witness = _witness(J, vecs, cols)
        if witness:
            out.witnesses.append((label, witness))
    return cert


def _witness(J, vecs, cols) -> list:
    """A direction of the Jacobian's numerical null space outside the proved span, or [] if there
    is none: float64 SVD of the midpoints (each within 2^-150 of the exact entry), a singular value
    counting as zero below max(rows, columns) * eps64 * sigma_max (the SVD's backward error).  A
    witness to look at, never a proof; [] means only that the rank was not certified."""
    import numpy as np
    from ..core.jacobian import Ball
    f = lambda v: float(v.m) if isinstance(v, Ball) else float(v)   # noqa: E731
    A = np.array([[f(v) for v in r] for r in J])
    _, s, vt = np.linalg.svd(A)
    s = np.concatenate([s, np.zeros(A.shape[1] - len(s))])
    null = vt[s <= max(A.shape) * np.finfo(float).eps * s[0]]
    if vecs and len(null):
        q, _ = np.linalg.qr(np.array([[f(v) for v in r] for r in vecs]).T)
        null = null - (null @ q) @ q.T
    if not len(null) or np.linalg.norm(null, axis=1).max() < 0.5:
        return []
    v = null[int(np.argmax(np.linalg.norm(null, axis=1)))]
    v = v / np.abs(v).max()
    top = np.argsort(-np.abs(v))[:6]
    return [(f"{cols[k][0]}[{', '.join(map(str, cols[k][1]))}]", round(float(v[k]), 4)) for k in top if abs(v[k]) > 1e-6]


def _degenerate(b, norm, kind, out: Symmetries, rng) -> list[Degenerate]:
    """Each axis of the statistics at 1 and at 2, the other sizes as in the first set that the
    groups divide (the certificates' own choice: a dense layer's first H = 5 has no 2 groups)."""
    first = next(a for a in SIZES[shape_of(norm.model)] if grouped_ok(norm, a))
    found = []
    for ax in norm.model.axes:
        for n in DEGENERATE:
            axes = dict(first) | {ax.name: n}
            if norm.groups and ax.name == "unit":
                if n % norm.groups:
                    continue
            sizes = concrete(b, axes)
            cols = columns_of(b, sizes, kind)
            formula = size_value(out.dimension, norm.model, axes, norm.groups)
            note, bound, exact = "", None, False
            try:   # one point: a degenerate size is described, not certified
                J = jacobian(b, sizes, random_points(b, sizes, kind, stacked(b, sizes, kind), rng), kind)
                r, how = rank_at_least(J, len(cols))
                bound, exact = len(cols) - r, how.startswith("exact")
            except ZeroDivisionError:
                note = "h is not defined: a statistic is zero at the point drawn"
            if bound != formula or note:
                found.append(Degenerate(ax.name, n, axes, bound, exact, formula, note))
    return found


@functools.lru_cache(maxsize=None)
def basis(norm_id: str, kind: str = "parameter", seed: int = 0) -> tuple:
    """The families of :func:`symmetries`' basis, chosen as it chooses them (proved, ordered, kept
    when their tangents add their full count at a random point of the first sizes) without the
    completeness certificates: what the training consequences are derived for."""
    norm = _normalizer(norm_id)
    proved = _order(norm, _proved(norm, kind))
    b, rng = norm.build(sp.S.Zero), random.Random(seed)
    out = Symmetries(norm.id, kind, [], [], sp.S.Zero)
    for axes in SIZES[shape_of(norm.model)]:
        if not grouped_ok(norm, axes):   # as symmetries skips them
            continue
        sizes, cols = concrete(b, axes), columns_of(b, concrete(b, axes), kind)
        for _ in range(POINTS):
            points = random_points(b, sizes, kind, stacked(b, sizes, kind), rng)
            try:
                jacobian(b, sizes, points, kind)   # as symmetries: a point where the layer is defined
                _basis(b, sizes, points[0], cols, proved, out)
            except (NotRational, ZeroDivisionError):
                out.basis.clear(), out.dependent.clear()
                continue
            return tuple(d.family for d in out.basis)
    return ()
