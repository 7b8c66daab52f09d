"""A second red team's forgeries against the consequences checker: new classes, each refused
with one line, quickly, and genuine entries still accepted.

The forgeries are written by the toolkit's own serializer (:func:`forged`, from
``test_consequence_forgeries``): their steps are true; what is wrong with them is their cost.
"""
from __future__ import annotations

import itertools
import json
import time

import sympy as sp
from sympy import Sum, Symbol

import invariance
from invariance.core.training import ETA, LAM
from invariance.derive.consequences import direction_cells
from invariance.core.certificate import FORMAT
from invariance.kernel import consequences as kernel
from invariance.kernel.consequences import check_consequence, verify_document

from test_consequence_forgeries import ORTHOGONALITY, PROOFS, H, W, forged, genuine, proven, rejected


def _costly_sum(depth: int, terms: int, shift: int = 0):
    """A sum over ``depth`` nested indices (each over a layer size: 3^depth terms at the spot
    check's sizes) of a body of ``terms`` distinct products: cheap to the algebra (both sides
    of the step are the same), dear to the spot check (every term evaluates the whole body)."""
    idx = [Symbol(f"a{m}", integer=True) for m in range(depth)]
    pairs = list(itertools.permutations(idx, 2))
    body = sp.Add(*[ETA ** (t % 4 + 1) * W[pairs[t % len(pairs)]] * LAM ** ((t // len(pairs)) % 4 + 1)
                    for t in range(terms)]) + shift
    return Sum(body, *[(a, 1, H) for a in idx])


def test_a_step_whose_sums_have_costly_terms_is_refused_quickly():
    """3^9 terms of a body of 80 products: 20,000 terms (a fifth of what the spot check used to
    allow), 1.6 million products; it took 18 s (and 16 of them fit in one entry)."""
    e = _costly_sum(9, 80)
    assert len(sp.srepr(e)) < 16_000
    reason = rejected(forged(*ORTHOGONALITY, first=[(e, e, [])]), "step 1")
    assert "costs more than" in reason


def _document(entries) -> dict:
    return {"schema": FORMAT, "consequences": entries}


def _timed_problems(doc, limit: float):
    entry = genuine(*ORTHOGONALITY)
    start = time.perf_counter()
    problems = verify_document(doc, proven(entry))
    assert time.perf_counter() - start < limit, "not refused quickly"
    assert problems and all("\n" not in p for p in problems)
    return problems


def test_entries_that_repeat_costly_spot_checks_are_refused_within_the_document_s_budget():
    """Each step is within the bound of one step (0.9 s), but a file can hold as many entries of
    13 such steps as it likes, each entry's its own: 4 took 45 s, 30 would take 6 minutes."""
    entries = [forged(*ORTHOGONALITY, first=[(e, e, []) for e in (_costly_sum(6, 60, 13 * r + q + 1)
                                                                  for q in range(13))]) for r in range(4)]
    problems = _timed_problems(_document(entries), 10)
    assert any("the spot checks of the document evaluate more than" in p for p in problems), problems


def test_entries_that_repeat_costly_algebra_are_refused_within_the_document_s_budget():
    """(t + 1) P^4 = (t + 1) P^3 (eta P + lambda P) / (eta + lambda): 12,000 terms to expand,
    and a rational function to cancel, in each of 13 steps of each entry."""
    P = ETA + LAM + Symbol("v") + Symbol("c") + W[1, 1]
    steps = lambda r: [((t + 1) * P ** 4, (t + 1) * P ** 3 * (P * ETA + P * LAM) / (ETA + LAM), [])  # noqa: E731
                       for t in range(13 * r, 13 * r + 13)]
    entries = [forged(*ORTHOGONALITY, first=steps(r)) for r in range(3)]
    problems = _timed_problems(_document(entries), 10)
    assert any("the steps of the document expand to more than" in p for p in problems), problems


def test_the_document_s_budget_grows_with_the_cells_it_cites_not_with_its_entries():
    entry = genuine(*ORTHOGONALITY)
    fake = dict(entry, normalizer="no-such-normalizer")
    assert len(kernel._cells([entry] * 50 + [fake] * 50)) == 1
    doc = json.loads((PROOFS / "consequences.json").read_text())
    table = [(n, t) for n in invariance.NORMALIZERS for t in invariance.TRANSFORMATIONS]
    directions = direction_cells(list(invariance.NORMALIZERS), table, linear_bias=True)   # the layers' symmetries
    assert len(kernel._cells(doc["consequences"])) == len(table) + len(directions) == 54 + len(directions)


def test_a_step_the_spot_check_cannot_evaluate_is_refused_saying_so():
    """sqrt(eta) = sqrt(eta) holds; the spot check evaluates no roots (it used to call the general
    evaluator with an argument it does not take, and blame 'a symbol with no value')."""
    step = (sp.sqrt(ETA), sp.sqrt(ETA), [])
    reason = rejected(forged(*ORTHOGONALITY, first=[step]), "step 1")
    assert "Pow" in reason and "no value" not in reason


def test_every_genuine_entry_checked_alone_fits_one_entry_s_budget():
    doc = json.loads((PROOFS / "consequences.json").read_text())
    invariant = {(e["normalizer"], e["transformation"]): tuple(e["conditions"]) for e in doc["consequences"]
                 if e["applies"]}   # a cell with a consequence is invariant: one that does not apply says why
    for e in doc["consequences"][::7]:
        cell = invariant.get((e["normalizer"], e["transformation"]))
        assert check_consequence(e, (lambda n, t, c=cell: c) if cell is not None else None) == []
