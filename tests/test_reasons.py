"""Evidence for people: the reasons in words, the chains of equalities, `check` in a terminal."""
from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

import derived
import invariance
from invariance import derive, standardize
from invariance.report.explain import explain
from invariance.core.certificate import cell_json
from invariance.core.proof import uneval
from invariance.derive.reasons import action, averaged_axes, built, intermediates, reason
from invariance.kernel.cells import check_cell
from invariance.core.records import INVARIANT, NOT_INVARIANT

CELLS = [(n, t) for n in invariance.NORMALIZERS for t in invariance.TRANSFORMATIONS]
TITLES = {**{k: v.title for k, v in invariance.NORMALIZERS.items()},
          **{k: v.title for k, v in invariance.TRANSFORMATIONS.items()}}


def _text(parts) -> str:
    return "".join(p if isinstance(p, str) else str(p) for p in parts)


@pytest.mark.parametrize("norm, trans", CELLS)
def test_every_link_of_every_chain_holds(norm, trans):
    """The proof for people is the proof the kernel checks: each '= ...' follows from the one before."""
    cell = derived.cell_of(norm, trans)
    found = cell.proof.chains if cell.proof else ()
    assert bool(found) == (cell.verdict == INVARIANT)
    assert check_cell(cell_json(cell)) == []
    if found:   # ends with h' = h, and the law of the mean (if any) is stated
        assert str(found[-1].lhs).startswith("h'") and str(found[-1].links[-1].expr).startswith("h[")


def test_a_wrong_link_is_caught():
    cell = derived.cell_of("layer-norm", "weight-matrix-recentering")
    data = cell_json(cell)
    mu = data["proof"][1]            # mu'_n = ... = beta_n + mu_n
    assert mu["name"] == "mu' law" and check_cell(data) == []
    link = cell.proof.chains[1].links[-1]
    mu["links"][-1]["rhs"] = sp.srepr(dataclasses.replace(link, expr=link.expr * 2).expr)
    assert any("does not hold" in p for p in check_cell(data))


@pytest.mark.parametrize("norm, trans", CELLS)
def test_each_no_says_where_the_rule_breaks(norm, trans):
    """A 'No' names an axis along which alpha or beta varies and which a statistic averages
    over, or says that nothing can absorb the change; the axis is the derived one."""
    cell = derived.cell_of(norm, trans)
    if cell.verdict != NOT_INVARIANT:
        return
    text = _text(reason(cell))
    b = built(norm, True)
    act = action(b, invariance.TRANSFORMATIONS[trans])
    avg = averaged_axes(b)
    if "varies with" in text:
        said = [ax for ax in b.m.axes if f"the {ax.title} {ax.index}" in text]
        moving = act.beta_axes if text.startswith("The shift") else act.alpha_axes
        assert said and all(ax in moving for ax in said), (norm, trans, text)
        assert any(ax in (avg.get("mu") or ()) + (avg.get("sigma") or ()) for ax in said), (norm, trans, text)
    else:
        assert any(w in text for w in ("subtracts no mean", "computed from the weights alone", "is fixed")), \
            (norm, trans, text)


def test_the_reason_follows_the_definition_not_the_name():
    """Layer norm redefined over the cases: its reason under dataset re-centering changes with it."""
    ln = invariance.NORMALIZERS["layer-norm"]
    assert "unit i" in _text(reason(derive(ln, "dataset-recentering")))
    over_batch = dataclasses.replace(ln, id="ln-over-batch", stats=standardize(("case",)))
    invariance.register(over_batch)
    try:
        built.cache_clear()
        cell = derive(over_batch, "weight-matrix-recentering")
        assert cell.verdict == NOT_INVARIANT and "the case n" in _text(reason(cell))
    finally:
        invariance.NORMALIZERS.pop("ln-over-batch", None)
        built.cache_clear()


@pytest.mark.parametrize("norm, trans", CELLS)
@pytest.mark.parametrize("unicode", [True, False])
def test_check_fits_80_columns(norm, trans, unicode):
    cell = derived.cell_of(norm, trans)
    text = explain(cell, TITLES, width=80, unicode=unicode)
    assert max(len(line) for line in text.splitlines()) <= 80, (norm, trans)
    if not unicode:
        assert text.isascii()


def test_check_shows_the_transformation_its_symbols_and_the_intermediate_values():
    cell = derived.cell_of("layer-norm", "dataset-recentering")
    text = explain(cell, TITLES, width=80, unicode=True)
    for needed in ("x\u2099 \u2192 x\u2099 + \u03b3", "\u03b3\u2c7c: a number per input j", "\u03b2\u1d62 =",
                   "varies with the unit i", "a'\u2081\u2081 =", "\u03bc'\u2081 =", "\u03c3'\u2081 =", "\u2248"):
        assert needed in text, needed
    names = [row[0] for row in intermediates(cell)]
    assert names[:2] == ["a", "mu"] and "sigma" in names and names[-1] == "h"


def test_fixed_statistics_absorb_nothing():
    """Statistics that follow neither the inputs nor the weights (running statistics) are named
    as such, whatever the transformation."""
    cell = derived.cell_of("batch-norm-inference", "dataset-recentering")
    assert cell.verdict == NOT_INVARIANT and "is fixed" in _text(reason(cell))
    cell = derived.cell_of("batch-norm-inference", "dataset-rescaling")
    assert "is fixed" in _text(reason(cell))


@pytest.mark.parametrize("norm, trans", CELLS)
def test_where_a_no_breaks_is_checked_too(norm, trans):
    """A 'No' shows where the derivation breaks; every link of that chain holds, and what the
    rule would need there is a different expression."""
    cell = derived.cell_of(norm, trans)
    found = cell.counterexample.breaks if cell.counterexample else None
    assert (found is not None) == (cell.verdict == NOT_INVARIANT)
    if found:
        assert check_cell(cell_json(cell)) == []
        assert uneval(found.chains[-1].links[-1].expr) != found.wanted
