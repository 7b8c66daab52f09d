"""Every symmetry of a block: the families proved for every size, a basis of them, and the
certified rank that shows there are no others.

1. Each candidate family of the block (:data:`invariance.catalogue.blocks.BLOCKS`) is proved by
   normalizing block(params') and block(params) with the rewrite rules
   (:func:`invariance.derive.rewrite.prove`), under the family's own conditions only; a family
   whose two sides do not meet is refused (not a symmetry as far as the rules show).
2. At the first set of sizes, the proved families are kept in order when their tangents at a
   random point add their full number of directions (a basis); the dimension is the sum of the
   kept families' counts, a formula in the sizes.
3. At three sets of concrete sizes (distinct, at least 3), random small rationals are drawn for
   the parameters and for enough tokens, and the rank of the exact Jacobian of the output with
   respect to every parameter, stacked over the tokens, is bounded below with a certificate
   (:func:`invariance.core.jacobian.rank_at_least`): rank >= columns - dimension, with the basis'
   tangents independent, shows the proved directions are all there are at that point, and at
   almost every point near it.  With ReLU the output is analytic only within an activation
   pattern (no pre-activation is 0 at a point drawn, each unit on and off at a fifth of the
   tokens at least: :func:`covered`); a point where a unit is dead for every token has more
   directions, and the certificate says nothing about it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ..catalogue.block_families import candidates
from ..catalogue.blocks import Block, as_block, recipe_of
from ..core.block_jacobian import MAX_COLUMNS, columns, jacobian, shape_at, stacked as _stacked, tangents
from ..core.jacobian import rank_at_least
from ..core.rules import closure
from ..core.terms import Exact, NotExact, evaluate, shape, subterms
from .rewrite import prove

__all__ = ["BlockSymmetries", "Proved", "BlockCertificate", "block_symmetries", "SIZE_SETS", "stacked",
           "size_value", "proved_families", "covered", "BALANCE"]

#: Concrete sizes, in the order of a block's size names (a model's v first: at least d), tried in
#: turn until three certify.  Within a set no two sizes are equal; every size is at least 3.
SIZE_SETS = {1: ((4,), (3,), (5,), (6,)),
             2: ((4, 3), (3, 5), (5, 4), (6, 3)),
             3: ((4, 3, 5), (3, 5, 4), (5, 4, 3), (3, 4, 6)),
             4: ((5, 4, 3, 6), (4, 3, 5, 6), (6, 5, 3, 4), (5, 3, 4, 6), (4, 3, 6, 5)),
             5: ((3, 4, 5, 6, 7), (4, 3, 6, 5, 7), (5, 6, 3, 4, 7), (3, 5, 4, 7, 6))}
POINTS = 12   # random points tried at one set of sizes


@dataclass
class Proved:
    family: object
    proof: object            # core.rewrite.Proof
    count: sp.Expr


@dataclass
class BlockCertificate:
    sizes: dict
    values: dict             # parameter -> rows of Fractions
    tokens: list             # rows of Fractions
    columns: int
    rank: int | None
    how: str
    proved: int              # independent tangents of the basis at the point
    expected: int            # the dimension formula at these sizes

    @property
    def complete(self) -> bool:
        return self.rank is not None and self.columns - self.rank == self.proved == self.expected


@dataclass
class BlockSymmetries:
    block: str
    basis: list
    dependent: list
    refused: list            # candidate families the rules do not prove
    dimension: sp.Expr
    certificates: list = field(default_factory=list)
    spec: Block | None = None   # the block itself (a registered one, or one given as a formula)

    @property
    def complete(self) -> bool:
        return len([c for c in self.certificates if c.complete]) >= 3


def size_value(expr, sizes: dict) -> int:
    return int(sp.sympify(expr).subs({sp.Symbol(k): v for k, v in sizes.items()}))


def stacked(b: Block, sizes: dict) -> int:
    return _stacked(b.output, b.params, b.decl, sizes)


def proved_families(b: Block) -> tuple[list, list]:
    """(proved, refused): each candidate family proved under its own conditions, or not."""
    proved, refused = [], []
    for f in candidates(b):
        r = recipe_of(b, f)
        proof = prove(r, closure(r.assumptions))
        (proved.append(Proved(f, proof, f.count())) if proof is not None else refused.append(f))
    return proved, refused


def _draw(rng: random.Random, rows: int, cols: int) -> list:
    return [[Fraction(rng.choice([-7, -5, -3, -2, -1, 1, 2, 3, 5, 7]), rng.choice([2, 3, 4, 5, 7]))
             for _ in range(cols)] for _ in range(rows)]


def _point(b: Block, sizes: dict, rng: random.Random):
    values = {p: _draw(rng, *shape_at(b.decl[p], sizes)) for p in b.params}
    width = shape_at(b.decl[b.token], sizes)[1]
    return values, [_draw(rng, 1, width)[0] for _ in range(stacked(b, sizes))]


BALANCE = 5   # each ReLU unit on at a fifth of the tokens at least, and off at a fifth


def covered(b: Block, sizes: dict, values: dict, tokens: list) -> bool:
    """Every ReLU unit is on at :data:`BALANCE`'s share of the tokens and off at as many (a unit
    on everywhere is linear there, one off everywhere is dead, one seen on a few tokens only is
    not pinned down by them: each has directions a generic point has not)."""
    args = [u for _, (op, *rest) in subterms(b.output) if op == "relu" for u in rest]
    for u in args:
        on = [0] * shape_at(shape(u, b.decl), sizes)[1]
        for tok in tokens:
            row = evaluate(u, {**values, b.token: [tok]}, sizes, Exact)[0]
            for j, y in enumerate(row):
                on[j] += (y.M > 0) if hasattr(y, "M") else (y > 0)
        if any(min(n, len(tokens) - n) < len(tokens) // BALANCE for n in on):
            return False
    return True


def block_symmetries(id: str, seed: int = 0) -> BlockSymmetries:
    """The symmetries of the block ``id``: proved basis, dimension formula, completeness at three
    sets of sizes."""
    b = as_block(id)
    proved, refused = proved_families(b)
    out = BlockSymmetries(b.id, [], [], refused, sp.S.Zero, spec=b)
    rng = random.Random(seed)
    for tup in SIZE_SETS[len(b.sizes)]:
        if len([c for c in out.certificates if c.complete]) >= 3:
            break
        sizes = dict(zip(b.sizes, tup))
        if len(columns(b.params, b.decl, sizes)) <= MAX_COLUMNS:   # what the kernel admits
            out.certificates.append(_certify(b, sizes, proved, out, rng))
    out.dimension = sp.Add(*[d.count for d in out.basis])
    return out


def _certify(b: Block, sizes: dict, proved: list, out: BlockSymmetries, rng) -> BlockCertificate:
    cols = len(columns(b.params, b.decl, sizes))
    cert = BlockCertificate(sizes, {}, [], cols, None, "no point at which the block is differentiable was found", 0, 0)
    for _ in range(POINTS):
        values, tokens = _point(b, sizes, rng)
        try:
            if not covered(b, sizes, values, tokens):
                continue
            J = jacobian(b.output, b.token, b.params, b.decl, sizes, values, tokens)
        except (NotExact, ZeroDivisionError):
            continue
        if not out.basis and not out.dependent:
            _basis(b, sizes, values, proved, out)
        vecs = [v for d in out.basis for v in tangents(d.family, b.params, b.decl, sizes, values)]
        expected = size_value(sp.Add(*[d.count for d in out.basis]), sizes)
        r, how = rank_at_least(J, cols, need=cols - expected)
        cert = BlockCertificate(sizes, values, tokens, cols, r, how, rank_at_least(vecs, cols)[0], expected)
        if cert.complete:
            return cert
    return cert


def _basis(b, sizes, values, proved, out: BlockSymmetries) -> None:
    """Keep each proved family whose tangents add their full count to those kept before it."""
    vecs: list = []
    cols = len(columns(b.params, b.decl, sizes))
    for d in proved:
        tv = tangents(d.family, b.params, b.decl, sizes, values)
        if rank_at_least(vecs + tv, cols)[0] == len(vecs) + len(tv):
            vecs += tv
            out.basis.append(d)
        else:
            out.dependent.append(d)


def document(s: BlockSymmetries) -> dict:
    """The certificate ``verify`` re-checks: the basis (each family with its proof's chains), the
    dimension, and at each certified set of sizes the point and tokens."""
    from ..core.certificate import BLOCK_SYMMETRIES
    from ..core.rewrite import fraction_text, proof_json

    def rows(m):
        return [[fraction_text(v) for v in row] for row in m]
    from ..catalogue.blocks import FORMULA
    head = {"schema": BLOCK_SYMMETRIES, "block": s.block}
    if s.block == FORMULA:   # a block given as a formula: the checker parses it again
        head["formula"] = s.spec.words
    return {**head, "dimension": str(s.dimension),
            "basis": [{"family": d.family.id, "count": str(d.count),
                       "conditions": [list(c) for c in d.family.conditions()], "proof": proof_json(d.proof)}
                      for d in s.basis],
            "completeness": [{"sizes": dict(c.sizes), "columns": c.columns, "rank": c.rank, "proved": c.proved,
                              "values": {p: rows(v) for p, v in c.values.items()}, "tokens": rows(c.tokens)}
                             for c in s.certificates if c.complete]}


__all__ += ["document"]
