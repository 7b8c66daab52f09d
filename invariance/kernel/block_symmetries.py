"""Checking a block's symmetries (``invariance-block-symmetries/1``): untrusted, read, never run.

Re-derived here, never taken from the file:

- each basis family from the registry (:data:`~invariance.catalogue.blocks.BLOCKS`: one of the
  block's candidates), its conditions and number of directions from its generators, its claim
  (block(params') = block(params)) from :func:`~invariance.catalogue.blocks.recipe_of`; its
  proof's chains are checked step by step by the rewrite kernel
  (:func:`invariance.kernel.rewrites.check_proof`) under the family's conditions only;
- the dimension: the sum of the basis' counts;
- completeness at each of 3 or 4 sets of sizes (each 3 to 8, no two equal, at most 96
  columns, at most the tokens the search stacks): only the parameters' and tokens' rationals
  come from the file.  Here the basis' tangents are evaluated (:func:`invariance.core.block_jacobian.tangents`) and shown
  independent, each is tested against the Jacobian's null space (a random combination of its
  rows, drawn here: a defence in depth), and the Jacobian's rank is bounded below
  (:func:`invariance.core.jacobian.rank_at_least`): rank >= columns - dimension.

Shapes first, then the proofs, then the ranks; the first problem refuses the document.
"""
from __future__ import annotations

import math
import re
import secrets
from fractions import Fraction

import sympy as sp

from ..catalogue.block_families import candidates
from ..catalogue.blocks import BLOCKS, FORMULA, formula_block, recipe_of
from ..core.syntax import BlockError
from ..core.block_jacobian import MAX_COLUMNS, columns, jacobian, shape_at, stacked, tangents
from ..core.certificate import BLOCK_SYMMETRIES
from ..core.jacobian import outside_null_space, rank_at_least
from ..core.rules import closure
from ..core.terms import NotExact, shape
from .rewrites import check_proof

__all__ = ["check_block_symmetries", "SIZE_RANGE", "MAX_COLUMNS"]

SIZE_RANGE = range(3, 9)
MIN_SETS, MAX_SETS = 3, 4
MAX_ID = 64
MAX_BASIS = 32
_NUMBER = re.compile(r"-?\d{1,6}(/[1-9]\d{0,5})?")


class _Bad(ValueError):
    pass


def _fields(obj, keys: set, what: str) -> dict:
    if not (isinstance(obj, dict) and set(obj) == keys):
        raise _Bad(f"{what} must be an object with exactly: {', '.join(sorted(keys))}")
    return obj


def _whole(v) -> bool:
    return type(v) is int


def check_block_symmetries(doc) -> list[str]:
    """Problems with a block-symmetries document (empty when every claim holds)."""
    try:
        _check(doc)
    except _Bad as err:
        return [str(err)]
    except Exception as err:   # anything unforeseen refuses the document, in one line
        return [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
    return []


def _check(doc) -> None:
    formula = isinstance(doc, dict) and doc.get("block") == FORMULA   # a block given as a formula: it says which
    _fields(doc, {"schema", "block", "dimension", "basis", "completeness"} | ({"formula"} if formula else set()),
            "a block-symmetries document")
    if doc["schema"] != BLOCK_SYMMETRIES:
        raise _Bad(f"schema must be {BLOCK_SYMMETRIES}")
    bid = doc["block"]
    if formula:
        try:
            b = formula_block(doc["formula"])
        except (BlockError, TypeError) as err:
            raise _Bad(f"formula: {err}") from None
    elif isinstance(bid, str) and len(bid) <= MAX_ID and bid in BLOCKS and bid != FORMULA:
        b = BLOCKS[bid]
    else:
        raise _Bad(f"block: not a registered block; valid: {', '.join(k for k in BLOCKS if k != FORMULA)}, "
                   f"or {FORMULA} with its formula")
    basis = doc["basis"]
    if not (isinstance(basis, list) and len(basis) <= MAX_BASIS):
        raise _Bad(f"basis must list at most {MAX_BASIS} families")
    known = {f.id: f for f in candidates(b)}
    families, proofs = [], []
    for k, item in enumerate(basis, 1):
        _fields(item, {"family", "count", "conditions", "proof"}, f"basis entry {k}")
        f = known.get(item["family"]) if isinstance(item["family"], str) else None
        if f is None or f in families:
            raise _Bad(f"basis entry {k}: not a family of {bid} (its own: {', '.join(f.id for f in b.families)}; "
                       "or one read off its shapes), or listed twice")
        if item["count"] != str(f.count()):
            raise _Bad(f"basis entry {k}: {f.id} has {f.count()} directions")
        if item["conditions"] != [list(c) for c in f.conditions()]:
            raise _Bad(f"basis entry {k}: the conditions are not {f.id}'s")
        families.append(f)
        proofs.append(item["proof"])
    dimension = sp.Add(*[f.count() for f in families])
    if doc["dimension"] != str(dimension):
        raise _Bad(f"the dimension is {dimension}, the sum of the basis' counts")
    sets = doc["completeness"]
    if not (isinstance(sets, list) and MIN_SETS <= len(sets) <= MAX_SETS):
        raise _Bad(f"completeness must give {MIN_SETS} to {MAX_SETS} sets of sizes")
    read, seen = [], []
    for k, c in enumerate(sets, 1):
        try:
            read.append(_read(b, dimension, c, seen))
        except _Bad as err:
            raise _Bad(f"completeness {k}: {err}") from None
    for f, proof in zip(families, proofs):   # the proofs: every step one rule, under the family's conditions
        r = recipe_of(b, f)
        try:
            check_proof(proof, r, closure(r.assumptions), f.id)
        except ValueError as err:
            raise _Bad(f"basis: {err}") from None
    for k, c in enumerate(read, 1):
        problem = _ranks(b, families, c)
        if problem:
            raise _Bad(f"completeness {k}: {problem}")


def _rows(value, r: int, c: int, what: str) -> list:
    if not (isinstance(value, list) and len(value) == r
            and all(isinstance(row, list) and len(row) == c for row in value)):
        raise _Bad(f"{what} must be {r} x {c}")
    if any(not isinstance(q, str) or not _NUMBER.fullmatch(q) for row in value for q in row):
        raise _Bad(f"{what}: each entry an exact rational such as -3/4 (at most six digits each)")
    return [[Fraction(q) for q in row] for row in value]


def _read(b, dimension, c, seen: list) -> dict:
    _fields(c, {"sizes", "columns", "rank", "proved", "values", "tokens"}, "a completeness entry")
    sizes = _fields(c["sizes"], set(b.sizes), "sizes")
    if not all(_whole(v) and v in SIZE_RANGE for v in sizes.values()) or len(set(sizes.values())) != len(sizes):
        raise _Bad(f"sizes must be whole numbers {SIZE_RANGE.start} to {SIZE_RANGE.stop - 1}, no two equal")
    if sizes in seen:
        raise _Bad("a set of sizes is given twice")
    seen.append(sizes)
    cols = len(columns(b.params, b.decl, sizes))
    if cols > MAX_COLUMNS:
        raise _Bad(f"{cols} columns, more than {MAX_COLUMNS}: choose smaller sizes")
    expected = int(dimension.subs({sp.Symbol(k): v for k, v in sizes.items()}))
    stated = (c["columns"], c["rank"], c["proved"])
    if not (all(_whole(v) for v in stated) and stated == (cols, cols - expected, expected)):
        raise _Bad(f"columns, rank and proved must be {cols}, {cols - expected} and {expected} "
                   f"(the dimension {dimension} at these sizes)")
    values = _fields(c["values"], set(b.params), "values")
    parsed = {p: _rows(values[p], *shape_at(b.decl[p], sizes), p) for p in b.params}
    outputs = math.prod(shape_at(shape(b.output, b.decl), sizes))
    tokens = c["tokens"]
    most = stacked(b.output, b.params, b.decl, sizes)   # what the search stacks: no more work than that
    if not (isinstance(tokens, list) and -(-cols // outputs) <= len(tokens) <= most):
        raise _Bad(f"tokens must stack {-(-cols // outputs)} to {most} tokens")
    toks = _rows(tokens, len(tokens), shape_at(b.decl[b.token], sizes)[1], "tokens")
    return {"sizes": sizes, "columns": cols, "expected": expected, "values": parsed, "tokens": toks}


def _ranks(b, families, c) -> str | None:
    sizes, cols, expected = c["sizes"], c["columns"], c["expected"]
    vecs, owner = [], []
    for f in families:
        tv = tangents(f, b.params, b.decl, sizes, c["values"])
        vecs += tv
        owner += [f.id] * len(tv)
    if rank_at_least(vecs, cols, need=expected)[0] < expected:
        return f"the basis' directions are not shown independent ({expected} needed)"
    try:
        J = jacobian(b.output, b.token, b.params, b.decl, sizes, c["values"], c["tokens"])
    except (NotExact, ZeroDivisionError) as err:
        return f"the block is not differentiable at these points ({err})"
    outside = outside_null_space(J, vecs, secrets.randbits(64))
    if outside is not None:
        return f"a direction of {owner[outside]} changes the output at these points: no symmetry"
    rank, _ = rank_at_least(J, cols, need=cols - expected)
    if rank < cols - expected:
        return f"the Jacobian's rank is shown to be at least {rank}, not {cols - expected}: completeness not shown"
    return None
