"""The one JSON schema of the toolkit: a checked cell as data.

Every JSON document the toolkit writes (``table --format json``, ``check
--format json``, the files in ``proofs/``) is ``{"schema": FORMAT, "cells":
[...]}``; each cell states its verdict with its evidence, every expression
both as SymPy ``srepr`` (read back by the kernel's whitelist parser, never
evaluated) and as text and LaTeX for people.  The writer (:mod:`invariance.report`)
and the kernel, which regenerates every display field of a checked cell and
compares, share this one serializer.
"""
from __future__ import annotations

import sympy as sp

from .notation import plain, tex
from .records import INVARIANT, Cell, Chain, Equation, reads

__all__ = ["FORMAT", "SYMMETRIES", "BLOCK_SYMMETRIES", "symmetries_json", "fraction_text", "cell_json", "chain_json", "document", "equation_json", "to_json", "filename", "words", "words_tex"]


FORMAT = "invariance-certificate/3"   # 3: a proof is chains of equalities, each link with its reason


def filename(cell: Cell) -> str:
    return f"{cell.normalizer}__{cell.transformation}"


def _num(v):
    return [_num(x) for x in v] if isinstance(v, (list, tuple)) else v if isinstance(v, int) else str(v)


def equation_json(e: Equation) -> dict:
    """A definition: its name, what it is, the equation as text, LaTeX and ``srepr``."""
    return {"name": e.name, "meaning": e.justification, "statement": plain(sp.Eq(e.lhs, e.rhs, evaluate=False)),
            "latex": f"{tex(e.lhs)} = {tex(e.rhs)}", "lhs": sp.srepr(e.lhs), "rhs": sp.srepr(e.rhs)}


def words(parts) -> str:
    """A reason (words and SymPy expressions) as plain text."""
    return "".join(p if isinstance(p, str) else plain(p) for p in parts)


def words_tex(parts) -> str:
    """A reason as Markdown/LaTeX text: the words as they are, the maths in ``$...$``."""
    return "".join(p if isinstance(p, str) else f"${tex(p)}$" for p in parts)


def chain_json(c: Chain) -> dict:
    """A chain: what it states, then each link (``= rhs``), the equations it unfolds and its reason."""
    return {"name": c.name, "lhs": sp.srepr(c.lhs), "statement": plain(c.lhs), "latex": tex(c.lhs),
            "links": [{"rhs": sp.srepr(k.expr), "uses": list(k.uses), "statement": "= " + plain(k.expr),
                       "latex": "= " + tex(k.expr), "reason": words(k.why)} for k in c.links]}


def cell_json(cell: Cell, definitions: bool = True) -> dict:
    """One cell of the schema: verdict, conditions, definitions (optional: the
    registry's, so a checker never needs them), proof steps or counterexample."""
    out = {"normalizer": cell.normalizer, "transformation": cell.transformation,
           "verdict": cell.verdict, "conditions": [plain(c) for c in cell.conditions]}
    if definitions:
        out["definitions"] = [equation_json(e) for e in cell.definitions]
    out["proof"] = [chain_json(c) for c in cell.proof.chains] if cell.verdict == INVARIANT else None
    ce = cell.counterexample
    out["counterexample"] = None if ce is None else {
        "sizes": dict(ce.sizes), "values": {k: _num(v) for k, v in ce.values.items()},
        "parameters": {k: _num(v) for k, v in ce.parameters.items()}, "point": dict(ce.point),
        "output": str(ce.output), "transformed_output": str(ce.transformed_output),
        "breaks": None if ce.breaks is None else {
            "chains": [chain_json(c) for c in ce.breaks.chains],
            "wanted": plain(sp.Eq(ce.breaks.chains[-1].lhs, ce.breaks.wanted, evaluate=False))}}
    return out


to_json = reads("json")(cell_json)


def document(cells, definitions: bool = True, annotations: dict | None = None) -> dict:
    """The schema's document: ``{"schema": FORMAT, "cells": [...]}``; ``annotations``
    maps (normalizer, transformation) to extra fields (``numeric``, ``caveats``)."""
    items = []
    for c in cells:
        d = cell_json(c, definitions)
        d.update((annotations or {}).get((c.normalizer, c.transformation), {}))
        items.append(d)
    return {"schema": FORMAT, "cells": items}



SYMMETRIES = "invariance-symmetries/1"   # a layer's symmetries: proved basis, completeness by rank
BLOCK_SYMMETRIES = "invariance-block-symmetries/1"   # a block's: families proved by rewriting, the same rank


def fraction_text(v) -> object:
    """An exact rational as JSON: an int, or the string ``p/q``; nested lists alike."""
    if isinstance(v, (list, tuple)):
        return [fraction_text(x) for x in v]
    return int(v) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def symmetries_json(norm_id: str, analyses) -> dict:
    """A layer's symmetries as one document: for each kind, the basis (each family with the
    certificate of its proof and its number of directions), the dimension, and the points at
    which the Jacobian's rank shows there are no other directions."""
    kinds = []
    for s in analyses:
        kinds.append({
            "kind": s.kind, "dimension": str(s.dimension),
            "basis": [{"family": d.family.id, "count": str(d.count), "cell": cell_json(d.cell, definitions=False)}
                      for d in s.basis],
            "completeness": [{"sizes": dict(c.sizes), "columns": c.columns, "rank": c.rank, "proved": c.proved,
                              "points": [{k: fraction_text(v) for k, v in p.items()} for p in c.points]}
                             for c in s.certificates if c.complete]})
    return {"schema": SYMMETRIES, "normalizer": norm_id, "kinds": kinds}
