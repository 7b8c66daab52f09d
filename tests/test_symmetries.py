"""A layer's symmetries: the dimensions derived by hand, Table 1 as a corollary, the command, and
the checker's answer to the simplest forgeries (tests/test_symmetry_forgeries.py has the rest)."""
import copy
import json

import pytest

import invariance
from invariance.__main__ import main
from invariance.catalogue.registry import NORMALIZERS, TRANSFORMATIONS, normalizer
from invariance.catalogue.families import kind_of
from invariance.core.certificate import symmetries_json
from invariance.core.jacobian import columns_of, concrete, jacobian, rank_at_least, tangents
from invariance.derive.engine import derive
from invariance.derive.symmetries import symmetries
from invariance.kernel.symmetries import check_symmetries

# Derived by hand from the definitions, not read off the toolkit.  Parameter directions: those
# in W, g, b (and c) that leave h unchanged for every input; data: those in X for every parameter.
#  - batch norm normalizes each unit over the cases: w_i's scale is free (H); X -> delta X + 1 gamma^T
#    moves every unit's column affinely (1 + D).  With c: c_i shifts every case of unit i alike (2H).
#  - layer norm normalizes each case over the units: W's scale and a common shift of the rows
#    (W + 1 gamma^T adds gamma.x_n to every unit of case n) (D + 1); each case's scale (N).
#    With c: (W, c) scaled together, the rows shifted, c shifted by a constant (D + 2); no data
#    direction survives every c.
#  - RMSNorm (no centring): W's scale (1), each case's scale (N); with c: (W, c) together (1).
#  - weight norm: h_i = g_i w_i.x / ||w_i||: w_i's scale (H); linear in x, so no data direction.
#    With c: (w_i, c_i) scaled together, and c_i shifted with b_i compensating (2H).
#  - conv batch norm (statistics over cases and positions): as batch norm, C and 1 + D.
#  - conv layer norm (over channels and positions): a row shift now varies with the position,
#    so only W's scale (1); each case's scale (N).
#  - group norm: each group's rows scaled (G); each case's scale (N).
#  - instance norm (over positions): each row's scale (C); each case scaled and shifted by a
#    vector constant over positions (N (D + 1)).
#  - batch norm at inference: h_i = (g_i / s)(w_i.x - m) + b_i is affine in w_i: the map
#    (w_i, g_i, b_i) -> (g_i w_i / s, b_i - g_i m / s) loses one direction per unit (H); with c,
#    two (2H); no data direction.
HAND = {
    "batch-norm": ("H", "D + 1"), "weight-norm": ("H", "0"), "layer-norm": ("D + 1", "N"),
    "rms-norm": ("1", "N"), "conv-batch-norm": ("C", "D + 1"), "conv-layer-norm": ("1", "N"),
    "group-norm": ("G", "N"), "instance-norm": ("C", "D*N + N"), "batch-norm-inference": ("H", "0"),
    "batch-norm-linear-bias": ("2*H", "D + 1"), "weight-norm-linear-bias": ("2*H", "0"),
    "layer-norm-linear-bias": ("D + 2", "0"), "rms-norm-linear-bias": ("1", "0"),
    "batch-norm-inference-linear-bias": ("2*H", "0"),
}
KINDS = ("parameter", "data")


@pytest.fixture(scope="module")
def analyses():
    return {(n, k): symmetries(n, k) for n in HAND for k in KINDS}


def test_every_built_in_layer_is_covered():
    assert set(NORMALIZERS) <= set(HAND)


@pytest.mark.parametrize("norm", list(HAND))
def test_dimensions_are_those_derived_by_hand_and_shown_complete(analyses, norm):
    for kind, want in zip(KINDS, HAND[norm]):
        s = analyses[norm, kind]
        assert str(s.dimension) == want, (norm, kind, s.dimension)
        assert s.complete, [(c.sizes, c.columns, c.rank, c.proved, c.expected) for c in s.certificates]
        assert not s.witnesses
        sizes = [c.sizes for c in s.certificates if c.complete]
        assert len(sizes) >= 3 and all(len(set(v for k, v in z.items() if k != "groups")) == len(z) - ("groups" in z)
                                       for z in sizes)


def test_the_issues_examples(analyses):
    words = lambda n, k: [d.family.words for d in analyses[n, k].basis]   # noqa: E731
    assert sorted(words("layer-norm", "parameter")) == ["re-scale W", "shift every row of W by one vector"]
    assert [d.family.id for d in analyses["group-norm", "parameter"].basis] == ["group-rows-rescaling"]
    assert "weight-and-bias-rescaling" in [d.family.id for d in analyses["layer-norm-linear-bias", "parameter"].basis]
    assert [d.family.id for d in analyses["batch-norm-inference", "parameter"].basis] == ["row-against-gain"]


@pytest.mark.parametrize("norm", list(NORMALIZERS))
def test_table_1_is_a_corollary_every_cell_read_off_the_symmetry_space(analyses, norm):
    """A cell is Invariant exactly when its transformation's directions lie in the symmetry space:
    shown at the first certified point, where that space is the proved span."""
    n = normalizer(norm)
    b = n.build(0)
    for t in TRANSFORMATIONS.values():
        kind = kind_of(t)
        s = analyses[norm, kind]
        cert = next(c for c in s.certificates if c.complete)
        axes = {k: v for k, v in cert.sizes.items() if k != "groups"}
        sizes = concrete(b, axes)
        cols = columns_of(b, sizes, kind)
        span = [v for d in s.basis for v in tangents(b, d.family, sizes, cert.points[0], cols)]
        tv = tangents(b, t, sizes, cert.points[0], cols)
        base = rank_at_least(span, len(cols))[0]
        grows = rank_at_least(span + tv, len(cols))[0] > base
        verdict = derive(n, t).verdict
        assert verdict == ("not-invariant" if grows else "invariant"), (norm, t.id, verdict)
        if not grows:   # and then the Jacobian annihilates it, at every stacked point
            J = jacobian(b, sizes, cert.points, kind)
            for v in tv:
                for row in J:
                    assert _may_be_zero(sum(a * x for a, x in zip(row, v)))


def _may_be_zero(value) -> bool:
    """0 itself, or a ball (an enclosure around an irrational value) that contains 0."""
    return value.R >= abs(value.M) if hasattr(value, "R") else value == 0


def _doc(norm):
    return json.loads(json.dumps(symmetries_json(norm, [symmetries(norm, k) for k in KINDS])))


def test_a_document_verifies_and_the_simplest_forgeries_do_not():
    doc = _doc("layer-norm")
    assert check_symmetries(doc) == []
    dropped = copy.deepcopy(doc)          # a basis without "shift every row": the rank leaves no room
    kind = dropped["kinds"][0]
    kind["basis"] = [e for e in kind["basis"] if e["family"] != "weight-matrix-recentering"]
    kind["dimension"] = "1"
    for c in kind["completeness"]:
        c["rank"], c["proved"] = c["columns"] - 1, 1
    assert any("completeness is not shown" in p for p in check_symmetries(dropped))
    counted = copy.deepcopy(doc)
    counted["kinds"][0]["basis"][0]["count"] = "H"
    assert "directions, not 'H'" in check_symmetries(counted)[0]
    wider = copy.deepcopy(doc)
    wider["kinds"][0]["dimension"] = "D + 2"
    assert "the sum of the basis' counts" in check_symmetries(wider)[0]
    few = copy.deepcopy(doc)
    few["kinds"][0]["completeness"] = few["kinds"][0]["completeness"][:2]
    assert "completeness must give 3 to" in check_symmetries(few)[0]


def test_a_family_that_is_not_a_symmetry_cannot_enter_the_basis():
    doc = _doc("layer-norm")
    forged = copy.deepcopy(doc)
    entry = copy.deepcopy(forged["kinds"][0]["basis"][0])
    entry["family"] = entry["cell"]["transformation"] = "weight-vector-rescaling"
    entry["count"] = "H"
    forged["kinds"][0]["basis"].append(entry)
    assert check_symmetries(forged)


def _printed_then_verified(argv, tmp_path, capsys) -> tuple:
    """Run ``symmetries ARGV --format json``, verify what it printed: (the file, verify's output)."""
    assert main(["symmetries", *argv, "--format", "json"]) == 0
    path = tmp_path / "printed.json"
    path.write_text(capsys.readouterr().out)
    assert main(["verify", str(path)]) == 0
    return path, capsys.readouterr().out


def test_the_command_prints_a_verifiable_certificate(tmp_path, capsys):
    _, out = _printed_then_verified(["rms-norm", "--jobs", "1"], tmp_path, capsys)
    assert "the symmetries of 1 layer: 0 problems" in out


def test_the_command_text_names_the_directions_and_the_sizes(capsys):
    assert main(["symmetries", "layer-norm", "--linear-bias", "--kind", "parameter", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "dimension D + 2" in out and "re-scale W and c together" in out and "complete: at N, H, D" in out
    assert max(len(line) for line in out.splitlines()) <= 120


@pytest.mark.parametrize("argv, says", [
    (["symmetries"], "give a NORMALIZER or --all"),
    (["symmetries", "layer-nrom"], "did you mean 'layer-norm'"),
    (["symmetries", "group-norm", "--linear-bias"], "not a dense-layer normalizer"),
    (["symmetries", "layer-norm", "--format", "yaml"], "unknown format 'yaml'"),
    (["symmetries", "layer-norm", "--kind", "weights"], "unknown kind 'weights'"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, says):
    try:
        code = main(argv)
    except SystemExit as stop:   # argparse's own refusals exit from the parser
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


@pytest.fixture
def registered():
    """Normalizers a test registers, removed afterwards (the registry is shared by every test)."""
    before = set(NORMALIZERS)
    yield
    for k in set(NORMALIZERS) - before:
        NORMALIZERS.pop(k)


def test_a_registered_normalizer_gets_the_same_analysis(registered):
    from invariance.catalogue.normalizers import standardize
    from invariance.core.model import DENSE
    import numpy as np

    def op(a, W, eps=0.0):   # centre and scale over the units, like layer norm, written anew
        d = a - a.mean(-1, keepdims=True)
        return d / np.sqrt((d * d).mean(-1, keepdims=True) + eps)
    mine = invariance.Normalizer("my-layer-norm-for-symmetries", "Mine", DENSE, standardize(("unit",)), op)
    invariance.register(mine)
    s = symmetries(mine.id, "parameter")
    assert str(s.dimension) == "D + 1" and s.complete


def test_a_normalizers_own_trainable_scalar_is_a_parameter_dynamic_tanh(registered):
    """h = g tanh(alpha a) + b: W's scale traded against alpha (by hand: tanh is strictly monotone,
    so the only freedom is alpha a itself: one direction); its tanh values are enclosed, not rational."""
    import runpy
    from pathlib import Path
    NORMALIZERS.pop("dynamic-tanh", None)
    runpy.run_path(str(Path(__file__).parent.parent / "examples" / "dynamic_tanh.py"))
    p, d = symmetries("dynamic-tanh", "parameter"), symmetries("dynamic-tanh", "data")
    assert [x.family.id for x in p.basis] == ["weight-against-scalars"] and str(p.dimension) == "1"
    assert p.complete and d.complete and str(d.dimension) == "0"
    doc = json.loads(json.dumps(symmetries_json("dynamic-tanh", [p, d])))
    assert check_symmetries(doc) == []
    forged = copy.deepcopy(doc)   # alpha held fixed: W's scale alone is no symmetry
    forged["kinds"][0]["basis"][0]["family"] = "weight-matrix-rescaling"
    assert check_symmetries(forged)


def test_every_layer_printed_at_once_verifies_as_one_file(tmp_path, capsys):
    path, out = _printed_then_verified(["--all", "--kind", "data"], tmp_path, capsys)
    assert f"the symmetries of {len(NORMALIZERS)} layers: 0 problems" in out
    docs = json.loads(path.read_text())
    docs[1]["kinds"][0]["dimension"] = "N + 1"
    path.write_text(json.dumps(docs))
    assert main(["verify", str(path)]) == 1
    assert f"{docs[1]['normalizer']}: data directions: the dimension is 0" in capsys.readouterr().err


def test_a_dimension_that_is_no_single_formula_is_never_called_complete(registered):
    """Centring without scaling, h_i = g_i (a_i - mu) + b_i: by hand, h depends on (W, g, b) through
    M = diag(g) P W (P centres over the units) and b.  Given g, M ranges over the matrices with
    sum_i M_i / g_i = 0; with g free too, over all H x D matrices once H - 1 > D.  So the dimension
    is D + 1 (shift the rows; W against every gain) while H - 1 <= D, and H beyond: no one formula.
    The proved basis gives D + 1, and the sizes where H - 1 > D must show the gap, never complete."""
    from invariance.core.model import DENSE

    def op(a, W, eps=0.0):
        return a - a.mean(-1, keepdims=True)
    invariance.register(invariance.Normalizer(
        "mean-only-for-symmetries", "Mean only", DENSE,
        (invariance.Statistic("mu", lambda c, at: c.mean(c.a, at, ("unit",))),
         invariance.Statistic("sigma", lambda c, at: 1)), op))
    s = symmetries("mean-only-for-symmetries", "parameter")
    assert sorted(d.family.id for d in s.basis) == ["weight-against-gain", "weight-matrix-recentering"]
    assert str(s.dimension) == "D + 1" and not s.complete
    for c in s.certificates:
        H, D = c.sizes["unit"], c.sizes["input"]
        assert c.complete == (H - 1 <= D), c.sizes
        if H - 1 > D:   # the certified rank leaves room for H directions, and the witness shows one
            assert c.columns - c.rank == H
    assert s.witnesses
