"""The derived tables: the paper's Table 1, the RMSNorm row, and rows that follow the definitions."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import sympy as sp

from invariance.core.proof import uneval

import derived
import invariance
from invariance import CONV, DENSE, Group, Normalizer, derive, derive_row, standardize
from invariance.core.algebra import exact_nonzero
from invariance.core.records import INVARIANT, NOT_INVARIANT, UNKNOWN

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "reference"


def reference(name: str) -> dict:
    return json.loads((HERE / "reference" / name).read_text())


@pytest.mark.parametrize("name", ["table1.json", "rmsnorm_table.json"])
def test_reference_copies_match_the_shared_ones(name):
    if not SHARED.is_dir():
        pytest.skip("../shared/reference is not beside this checkout")
    assert (HERE / "reference" / name).read_text() == (SHARED / name).read_text()


def _rows(table: dict):
    return [(norm, t, want) for norm, row in table["rows"].items()
            for t, want in zip(table["transformations"], row)]


@pytest.fixture(scope="module")
def all_cells():
    return {(c.normalizer, c.transformation): c for c in derived.all_cells()}


@pytest.mark.parametrize("norm, trans, want", _rows(reference("table1.json")) + _rows(reference("rmsnorm_table.json")))
def test_derived_cell_matches_the_paper(all_cells, norm, trans, want):
    assert all_cells[norm, trans].verdict == want


def test_default_table_is_exactly_the_papers_rows_and_columns():
    """invariance.table() derives afresh; its rows and columns are the paper's."""
    ref = reference("table1.json")
    cells = invariance.table()
    assert [c.normalizer for c in cells[::6]] == list(ref["rows"])
    assert [c.transformation for c in cells[:6]] == ref["transformations"]


def test_every_registered_cell_has_evidence(all_cells):
    for cell in all_cells.values():
        assert cell.verdict != UNKNOWN, cell
        if cell.verdict == INVARIANT:
            assert cell.proof.steps()[-1].name == "invariance"
        else:
            ce = cell.counterexample
            assert exact_nonzero(ce.transformed_output - ce.output)


def test_proofs_hold_for_symbolic_sizes(all_cells):
    """No proof fixes a size: every sum in every equation runs to a symbolic bound (N, H, D,
    P, a group size), and the averages divide by symbols, not numbers."""
    for cell in all_cells.values():
        if cell.verdict != INVARIANT:
            continue
        shown = [(e.name, e.rhs) for e in cell.definitions]
        shown += [(c.name, uneval(link.expr)) for c in cell.proof.chains for link in c.links]
        for name, rhs in shown:
            for s in rhs.atoms(sp.Sum):
                for _, lo, hi in s.limits:
                    assert (hi - lo).free_symbols, (cell.normalizer, name, s)
            coefficients = [m.as_coeff_Mul()[0] for m in rhs.atoms(sp.Mul)]
            assert all(c.is_integer for c in coefficients), (cell.normalizer, name, coefficients)


def test_counterexamples_are_small(all_cells):
    for cell in all_cells.values():
        if cell.counterexample is not None:
            assert max(cell.counterexample.sizes.values()) <= 4, cell.counterexample.sizes


def _verdicts(row):
    return [c.verdict for c in row]


def _row(norm_id):
    return derived.all_cells([norm_id])


def test_layer_norm_over_the_batch_gets_batch_norms_row():
    """Change layer norm's definition (statistics over the cases, not the units): the derived
    row changes to what that definition implies, which is batch norm's."""
    ln = invariance.NORMALIZERS["layer-norm"]
    over_batch = dataclasses.replace(ln, id="layer-norm-over-batch", stats=standardize(("case",)))
    assert _verdicts(derive_row(over_batch)) == _verdicts(_row("batch-norm"))
    assert _verdicts(derive_row(over_batch)) != _verdicts(_row("layer-norm"))


def test_layer_norm_without_centring_gets_rmsnorms_row():
    ln = invariance.NORMALIZERS["layer-norm"]
    uncentred = dataclasses.replace(ln, id="ln-uncentred", stats=invariance.rms(("unit",)))
    assert _verdicts(derive_row(uncentred)) == reference("rmsnorm_table.json")["rows"]["rms-norm"]


def test_group_norm_with_one_group_reproduces_layer_norms_row():
    """With one group, every channel's group is all C channels, so group norm's statistics run
    over the same values as layer norm's on the same (conv) model: channels and positions."""
    C = CONV.axis("unit").size
    one_group = Normalizer("group-norm-1", "Group norm, one group", CONV,
                           standardize((Group("unit", size=C), "position")),
                           invariance.NORMALIZERS["group-norm"].numeric, numeric_kwargs={"groups": 1},
                           groups=1)
    assert _verdicts(derive_row(one_group)) == _verdicts(_row("conv-layer-norm"))


def test_group_norm_with_one_channel_per_group_reproduces_instance_norms_row():
    one_per_group = Normalizer("group-norm-c", "Group norm, C groups", CONV,
                               standardize((Group("unit", size=sp.Integer(1)), "position")),
                               invariance.NORMALIZERS["group-norm"].numeric, groups=None)
    assert _verdicts(derive_row(one_per_group)) == _verdicts(_row("instance-norm"))


def test_no_proof_and_no_counterexample_is_unknown_not_a_guess():
    """An output that is invariant to re-scaling, through a statistic whose law (alpha^3 s) is not
    among the tactic's candidates: no proof, no counterexample, so the verdict is unknown."""
    from invariance import Statistic

    cube = Normalizer(
        "cube-norm", "Cube norm", DENSE,
        (Statistic("kappa", lambda c, at: c.mean(lambda t: c.a(t) ** 3, at, ("unit",))),),
        numeric=lambda a, W, eps=0.0: a ** 3 / (a ** 3).mean(-1, keepdims=True),
        output=lambda c, at: c.g(at) * c.a(at) ** 3 / c.stat("kappa", at) + c.b(at))
    cell = derive(cube, "dataset-rescaling")
    assert cell.verdict == UNKNOWN
    assert cell.proof is None and cell.counterexample is None
    assert derive(cube, "dataset-recentering").verdict == NOT_INVARIANT


def _summed_inputs(cell):
    """a and a' of the cell's counterexample at every point, exactly, from the definitions."""
    import itertools
    from invariance.derive.engine import bind_definitions, definitions
    b = invariance.NORMALIZERS[cell.normalizer].build(sp.S.Zero)
    t = invariance.TRANSFORMATIONS[cell.transformation]
    eqs = definitions(b, t)
    names = {str(s): s for s in (*b.m.sizes, *b.size_symbols)}
    sizes = {names[k]: v for k, v in cell.counterexample.sizes.items()}
    from invariance.core.cells import counterexample_symbols
    arrays, _ = bind_definitions(eqs, counterexample_symbols(b, t, cell.counterexample), sizes)
    byname = {e.name: e.lhs.base for e in eqs}
    points = itertools.product(*[range(1, sizes[ax.size] + 1) for ax in b.m.axes])
    return [(arrays[byname["a"]](*p), arrays[byname["a'"]](*p)) for p in points], sizes[b.m.input.size]


def test_no_counterexample_looks_like_the_sign_flip_caveat(all_cells):
    """At the reported point h' is none of h, -h, 2b - h: a reader cannot dismiss the
    counterexample as the negative-scale caveat of an invariant cell (gain 1, bias 0)."""
    for cell in all_cells.values():
        ce = cell.counterexample
        if ce is None:
            continue
        h, h_t = ce.output, ce.transformed_output
        for other in (h, -h):
            assert exact_nonzero(h_t - other), (cell.normalizer, cell.transformation, h, h_t)


def test_no_counterexample_is_a_negative_rescaling_in_disguise(all_cells):
    """With one input (D = 1) every transformation re-scales the summed inputs, a' = (a'/a) a:
    a counterexample there must have every such factor positive."""
    checked = 0
    for cell in all_cells.values():
        if cell.counterexample is None:
            continue
        pairs, D = _summed_inputs(cell)
        if D == 1:
            checked += 1
            assert all(a != 0 and (a_t / a).is_positive for a, a_t in pairs), \
                (cell.normalizer, cell.transformation, pairs)
    assert checked  # some counterexamples do have D = 1 (weight norm's, for one)
