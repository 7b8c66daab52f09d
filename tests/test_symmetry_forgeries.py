"""Forged documents of a layer's symmetries (``invariance-symmetries/1``), one class of attack at a
time, and the arithmetic the checker rests on (:mod:`invariance.core.jacobian`).

Each class tried, whether it held or not:

1. soundness of completeness: the Jacobian (against finite differences), the ball arithmetic's
   enclosures (every operation, on random members), Rump's test (never more than the true rank),
   an omitted direction, a dimension too small, the tangents' place in the null space;
2. the family cells: the group lemma of :func:`invariance.core.algebra._same_group` under a sum
   that binds its index again, a family that is no symmetry with a cell the kernel would accept;
3. resources: the columns of a completeness certificate, Rump's test tried once per matrix;
4. parsing and shape confusion: bools and floats for whole numbers, duplicate kinds, families of
   the wrong kind, non-string ids;
5. every problem on one line (``forgery.rejected``).
"""
from __future__ import annotations

import copy
import json
import random
import time
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from forgery import rejected
from invariance.core import jacobian as J
from invariance.core.algebra import holds
from invariance.core.jacobian import Ball, _sqrt_ball, rank_at_least
from invariance.catalogue.families import S
from invariance.catalogue.registry import normalizer
from invariance.kernel import symmetries as K
from invariance.kernel.symmetries import check_symmetries

PROOFS = Path(__file__).parent.parent / "proofs"


def genuine(nid: str) -> dict:
    return json.loads((PROOFS / f"symmetries__{nid}.json").read_text())


def one_kind(nid: str, kind: str) -> dict:
    doc = genuine(nid)
    doc["kinds"] = [e for e in doc["kinds"] if e["kind"] == kind]
    return doc


def text(v):
    if isinstance(v, list):
        return [text(x) for x in v]
    v = Fraction(v)
    return v.numerator if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def completeness(nid: str, kind: str, axes: dict, dimension: sp.Expr, seed: int = 0) -> dict:
    """A completeness entry at ``axes``, random small points, the counts the kernel expects."""
    from invariance.derive.symmetries import random_points
    norm = normalizer(nid)
    b, m = norm.build(sp.S.Zero), norm.model
    sizes = J.concrete(b, axes)
    cols = len(J.columns_of(b, sizes, kind))
    points = random_points(b, sizes, kind, J.stacked(b, sizes, kind), random.Random(seed))
    subs = {sp.Symbol(ax.size.name): axes[ax.name] for ax in (*m.axes, m.input)} | {sp.Symbol("G"): norm.groups}
    expected = int(sp.sympify(str(dimension)).xreplace(subs))
    return {"sizes": dict(axes) | ({"groups": norm.groups} if norm.groups else {}), "columns": cols,
            "rank": cols - expected, "proved": expected,
            "points": [{k: text(v) for k, v in p.items()} for p in points]}


# --- 1. soundness of completeness ---------------------------------------------------------------

def test_genuine_symmetry_documents_verify():
    for nid in ("layer-norm", "batch-norm-inference-linear-bias"):
        assert check_symmetries(genuine(nid)) == []


def test_a_basis_that_omits_a_true_direction_is_refused():
    """Layer norm's parameter directions are W re-centering (D) and W re-scaling (1): without the
    re-scaling, the dimension D is one too small, and the Jacobian's rank says so."""
    doc = one_kind("layer-norm", "parameter")
    entry = doc["kinds"][0]
    entry["basis"] = [b for b in entry["basis"] if b["family"] != "weight-matrix-rescaling"]
    entry["dimension"] = "D"
    for c in entry["completeness"]:
        c["rank"] += 1
        c["proved"] -= 1
    rejected(doc, "completeness is not shown")


def test_the_jacobian_is_the_derivative_of_the_outputs():
    """Forward mode against central differences of the exact outputs (square roots as balls)."""
    from invariance.derive.symmetries import random_points
    rng = random.Random(5)
    for nid in ("layer-norm-linear-bias", "batch-norm-inference"):
        b = normalizer(nid).build(sp.S.Zero)
        sizes = J.concrete(b, {"case": 4, "unit": 3, "input": 5})
        for kind in J.KINDS:
            point = random_points(b, sizes, kind, 1, rng)[0]
            jac, cols = J.jacobian(b, sizes, [point], kind), J.columns_of(b, sizes, kind)
            f = lambda v: float(v.m) if isinstance(v, Ball) else float(v)   # noqa: E731
            for c in rng.sample(range(len(cols)), 4):
                name, idx = cols[c]
                out = []
                for step in (Fraction(1, 10 ** 6), Fraction(-1, 10 ** 6)):
                    p = copy.deepcopy(point)
                    ref = p[name]
                    for k in idx[:-1]:
                        ref = ref[k - 1]
                    ref[idx[-1] - 1] += step
                    out.append(J.outputs(b, sizes, p))
                for r, key in enumerate(out[0]):
                    assert abs((f(out[0][key]) - f(out[1][key])) / 2e-6 - f(jac[r][c])) < 1e-6


RATIONALS = st.fractions(min_value=-50, max_value=50, max_denominator=10 ** 6)


def _contains(ball: Ball, x: Fraction) -> bool:
    return ball.m - ball.r <= x <= ball.m + ball.r


def _member(rng: random.Random, ball: Ball) -> Fraction:
    return ball.m + ball.r * Fraction(rng.randint(-1000, 1000), 1000)


def _random_ball(rng: random.Random, x: Fraction) -> Ball:
    return Ball.of(x) + Ball(0, rng.choice([0, 1, 3, 1 << 40, 1 << 150]))


@settings(max_examples=200, deadline=None)
@given(RATIONALS, RATIONALS, st.integers(0, 2 ** 32))
def test_every_ball_operation_encloses_its_results(x, y, seed):
    rng = random.Random(seed)
    a, b = _random_ball(rng, x), _random_ball(rng, y)
    for _ in range(5):
        u, v = _member(rng, a), _member(rng, b)
        assert _contains(a + b, u + v) and _contains(a - b, u - v) and _contains(a * b, u * v)
        assert _contains(a * y, u * y) and _contains(x - b, x - v)
        if abs(a.M) > a.R:
            assert _contains(a.inverse(), 1 / u) and _contains(a ** -2, u ** -2)
        assert _contains(a ** 3, u ** 3)
        if a.M - a.R > 0:
            s = _sqrt_ball(a)
            lo, hi = s.m - s.r, s.m + s.r
            assert lo * lo <= u <= hi * hi and (lo <= 0 or True)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 7), st.integers(1, 6), st.integers(0, 2 ** 32))
def test_rumps_test_never_claims_more_than_the_rank(n, r, seed):
    """A matrix of rank r < n (a product of n x r and r x n integer matrices), its entries
    balls (sqrt(2) folded in so none is exact): the certified rank is at most r."""
    rng = random.Random(seed)
    r = min(r, n - 1)
    A = [[rng.randint(-9, 9) for _ in range(r)] for _ in range(n)]
    B = [[rng.randint(-9, 9) for _ in range(n)] for _ in range(r)]
    root = _sqrt_ball(Fraction(2))
    rows = [[root * sum(A[i][k] * B[k][j] for k in range(r)) + Ball(0, rng.choice([1, 1 << 100]))
             for j in range(n)] for i in range(n)]
    assert rank_at_least(rows, n)[0] <= r
    assert rank_at_least(rows, n, need=n)[0] <= r


# --- 2. the family cells ------------------------------------------------------------------------

def test_the_group_lemma_does_not_reach_under_a_sum_that_binds_its_index_again():
    """Within k = Sq+1..Sq+S, floor((k-1)/S) = q; an inner sum over k = 1..2S is another k."""
    k, q = sp.Symbol("k", integer=True), sp.Symbol("q", integer=True)
    inner = sp.Sum(sp.floor((k - 1) / S), (k, 1, 2 * S))   # = S (0 for the first S, 1 for the next)
    outer = sp.Sum(inner, (k, S * q + 1, S * q + S))          # = S * S, whatever q
    assert not holds(outer, 2 * S ** 2 * q)
    assert holds(sp.Sum(sp.floor((k - 1) / S), (k, S * q + 1, S * q + S)), S * q)   # the lemma itself


def test_a_family_that_is_no_symmetry_is_refused_even_with_a_cell_the_kernel_accepted(monkeypatch):
    """Defence in depth: were a forged cell to pass, the tangents of a family that is no symmetry
    are not in the Jacobian's null space.  Layer norm is not invariant under re-scaling each row;
    claimed with W re-centering, D + H directions would pass the rank test."""
    monkeypatch.setattr(K, "check_cell", lambda cell: [])
    doc = one_kind("layer-norm", "parameter")
    entry = doc["kinds"][0]
    cell = dict(entry["basis"][0]["cell"], transformation="weight-vector-rescaling")
    entry["basis"] = [b for b in entry["basis"] if b["family"] == "weight-matrix-recentering"] + \
        [{"family": "weight-vector-rescaling", "count": "H", "cell": cell}]
    entry["dimension"] = "D + H"
    entry["completeness"] = [completeness("layer-norm", "parameter", axes, sp.sympify("D + H"), seed)
                             for seed, axes in enumerate(({"case": 4, "unit": 5, "input": 3},
                                                          {"case": 5, "unit": 4, "input": 6},
                                                          {"case": 6, "unit": 7, "input": 4}))]
    rejected(doc, "null space")


# --- 3. resources -------------------------------------------------------------------------------

def test_a_completeness_certificate_at_the_largest_sizes_is_refused_before_any_work():
    """Conv batch norm's data directions at 8 cases, 7 inputs, 6 positions: 336 columns, half a
    minute of exact arithmetic per set; the checker refuses it at once."""
    doc = one_kind("conv-batch-norm", "data")
    entry = doc["kinds"][0]
    big = completeness("conv-batch-norm", "data", {"case": 8, "unit": 5, "position": 6, "input": 7},
                       sp.sympify(entry["dimension"]))
    entry["completeness"][0] = big
    start = time.perf_counter()
    rejected(doc, "columns")
    assert time.perf_counter() - start < 5


def test_rumps_test_is_tried_once_for_the_rank_a_certificate_needs(monkeypatch):
    """An ill-conditioned matrix (Hilbert's) of balls, where the test fails at the full size: a
    certificate needs one rank, so one submatrix is tested, not every size down to one."""
    calls = []
    real = J._nonsingular
    monkeypatch.setattr(J, "_nonsingular", lambda A: calls.append(len(A)) or real(A))
    n = 14
    rows = [[Ball.of(Fraction(1, i + j + 1)) + Ball(0, 1 << 80) for j in range(n)] for i in range(n)]
    rank_at_least(rows, n, need=n)
    assert len(calls) == 1


# --- 4. parsing and shape confusion -------------------------------------------------------------

@pytest.mark.parametrize("nid, field, value", [("group-norm", "columns", 42.0), ("group-norm", "rank", 40.0),
                                                ("batch-norm-inference-linear-bias", "proved", False)])
def test_counts_must_be_whole_numbers_not_floats_or_bools(nid, field, value):
    kind = "parameter" if nid == "group-norm" else "data"   # the latter: dimension 0, so proved == False
    doc = one_kind(nid, kind)
    c = doc["kinds"][0]["completeness"][0]
    assert c[field] == value
    c[field] = value
    rejected(doc, "whole numbers")


@pytest.mark.parametrize("groups", [2.0, True, "2"])
def test_groups_must_be_the_whole_number(groups):
    doc = one_kind("group-norm", "parameter")
    doc["kinds"][0]["completeness"][0]["sizes"]["groups"] = groups
    rejected(doc, "groups")


def test_duplicate_kinds_and_foreign_families_are_refused():
    doc = one_kind("layer-norm", "data")
    doc["kinds"].append(copy.deepcopy(doc["kinds"][0]))
    rejected(doc, "each once")
    doc = one_kind("layer-norm", "parameter")
    doc["kinds"][0]["basis"][0]["family"] = "single-case-rescaling"   # a data family
    rejected(doc, "is not a family of parameter directions")
    doc = one_kind("layer-norm", "parameter")
    doc["kinds"][0]["basis"][0]["family"] = ["weight-matrix-rescaling"]
    rejected(doc, "is not a family")
    doc = one_kind("layer-norm", "parameter")
    doc["kinds"][0]["basis"][0]["family"] = "no-such-family"
    rejected(doc, "unknown transformation")
    doc = one_kind("layer-norm", "parameter")
    doc["normalizer"] = 7
    rejected(doc, "normalizer must be an id")


def test_the_schema_is_checked_by_the_symmetries_checker_itself():
    doc = one_kind("layer-norm", "data")
    doc["schema"] = "invariance-symmetries/0"
    assert check_symmetries(doc) == ["schema must be invariance-symmetries/1"]


@pytest.mark.parametrize("where", ["family", "normalizer", "kind", "count", "dimension"])
def test_a_huge_id_or_count_is_refused_at_once_and_not_echoed(where):
    """An id of 4 MB went through the registry's did-you-mean (difflib: seconds) and came back
    whole in the problem line."""
    doc = one_kind("layer-norm", "parameter")
    huge = "weight-matrix-rescaling" * 200_000
    if where == "normalizer":
        doc["normalizer"] = huge
    elif where == "kind":
        doc["kinds"][0]["kind"] = huge
    elif where == "dimension":
        doc["kinds"][0]["dimension"] = huge
    else:
        doc["kinds"][0]["basis"][0][where] = huge
    start = time.perf_counter()
    problems = check_symmetries(doc)
    assert time.perf_counter() - start < 0.5
    assert problems and all(len(p) < 400 for p in problems), [p[:100] for p in problems]


def test_a_point_where_the_layer_is_not_defined_is_refused_saying_where():
    """A second input of zeros: layer norm's sigma is zero there (a statistic in a denominator)."""
    doc = one_kind("layer-norm", "parameter")
    c = doc["kinds"][0]["completeness"][1]
    c["points"][1]["X"] = [[0 for _ in row] for row in c["points"][1]["X"]]
    problems = rejected(doc, "not defined")
    assert problems[0].startswith("parameter directions: completeness 2: "), problems


def test_a_cell_with_a_megabyte_id_is_refused_at_once():
    """An id is at most 64 characters in a cell too: the did-you-mean over a long id cost seconds."""
    from invariance.kernel.cells import check_cell
    problems = check_cell({"normalizer": "layer-norm" * 100_000, "transformation": "weight-matrix-rescaling"})
    assert problems and "at most 64 characters" in problems[0] and len(problems[0]) < 200


def test_a_layers_certificate_passed_off_as_its_linear_bias_row_is_refused():
    """The registry resolves <id>-linear-bias: the no-bias layer's basis and points, relabelled (and
    its counts made to fit), must not prove the row with c, whose columns and points include c."""
    import copy
    import json
    from invariance.kernel.symmetries import check_symmetries
    doc = json.loads((PROOFS / "symmetries__layer-norm.json").read_text())
    forged = copy.deepcopy(doc)
    forged["normalizer"] = "layer-norm-linear-bias"
    for kind in forged["kinds"]:
        for entry in kind["basis"]:
            entry["cell"]["normalizer"] = "layer-norm-linear-bias"
        for c in kind["completeness"]:
            H = c["sizes"]["unit"]
            c["columns"] += H if kind["kind"] == "parameter" else 0
            c["rank"] = c["columns"] - c["proved"]
    problems = check_symmetries(forged)
    assert problems and all("\n" not in p for p in problems)
