"""The training laws of a layer's symmetry directions (issue 17), beyond the table's columns.

Each law is read off the family's own definitions (``sympy.diff`` of W', g', b', c' at the
identity): the tests compare it with the maths written independently here, check that the
kernel re-checks it, that the NumPy layer confirms it, and that forgeries of it, one class of
attack at a time, are rejected with a one-line reason.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy import IndexedBase, Sum, Symbol

from invariance.catalogue import registry
from invariance.catalogue.families import _family
from invariance.catalogue.transformations import gamma
from invariance.core.algebra import holds
from invariance.core.consequence import applying, consequence_json, justify
from invariance.core.model import DENSE, Group
from invariance.core.records import Equation
from invariance.core.training import GRAD, GROUP
from invariance.derive import consequences as cq
from invariance.derive.symmetries import basis, symmetries
from invariance.numeric import training

PROOFS = Path(__file__).parent.parent / "proofs"
i, j = DENSE.axis("unit").index, DENSE.input.index
H, D = DENSE.axis("unit").size, DENSE.input.size
W, c, g = DENSE.W, IndexedBase("c"), DENSE.g
v = IndexedBase("v")


def found(norm: str, trans: str) -> dict:
    return {x.consequence: x for x in cq.derive_consequences(norm, trans)}


def entry(norm: str, trans: str, kind: str) -> dict:
    doc = json.loads((PROOFS / "consequences.json").read_text())
    return next(e for e in doc["consequences"] if (e["normalizer"], e["transformation"], e["consequence"])
                == (norm, trans, kind))


def same(a, b) -> bool:
    return holds(sp.sympify(a), sp.sympify(b))


# --- the laws, against the maths written here ----------------------------------------------

def test_layer_norm_with_a_linear_bias_constrains_w_and_c_together():
    """<W, dL/dW> + <c, dL/dc> = 0 and Q = ||W||^2 + ||c||^2: not <W, dL/dW> = 0 alone."""
    d = cq._derivation("layer-norm-linear-bias", "weight-and-bias-rescaling", True)
    want = Sum(W[i, j] * GRAD["W"][i, j], (i, 1, H), (j, 1, D)) + Sum(c[i] * GRAD["c"][i], (i, 1, H))
    assert same(d.defs["c"].rhs, want)
    assert same(d.defs["Q"].rhs, Sum(W[i, j] ** 2, (i, 1, H), (j, 1, D)) + Sum(c[i] ** 2, (i, 1, H)))
    laws = found("layer-norm-linear-bias", "weight-and-bias-rescaling")
    assert all(laws[k].applies for k in ("gradient-orthogonality", "conserved-quantity", "sgd-norm-growth",
                                         "weight-decay-law", "hessian-identity"))
    # W alone is not a symmetry here, and the kernel says so for its laws
    alone = found("layer-norm-linear-bias", "weight-matrix-rescaling")["gradient-orthogonality"]
    assert not alone.applies and "not proven invariant" in alone.reason


def test_the_joint_law_holds_numerically_and_w_alone_does_not():
    c_ = found("layer-norm-linear-bias", "weight-and-bias-rescaling")["gradient-orthogonality"]
    assert training.check_numeric(c_)["passed"]
    p = training.Problem("layer-norm-linear-bias", "weight-and-bias-rescaling")
    G = training.gradients(p, p.W, p.X)
    joint, alone = np.sum(p.W * G["W"]) + np.sum(p.c * G["c"]), np.sum(p.W * G["W"])
    # the joint sum is rounding (the check above bounds it); W alone is of the size of its terms
    assert abs(alone) > 1e-3 * np.sum(np.abs(p.W * G["W"])) and abs(joint) < 1e-12 * np.sum(np.abs(p.W * G["W"]))


def test_group_norm_has_a_law_per_group():
    d = cq._derivation("group-norm", "group-rows-rescaling", True)
    S, C, k = Group().size, d.m.axis("unit").size, d.m.axis("unit").index
    rows = (k, S * (GROUP - 1) + 1, S * GROUP)
    assert d.f.indices == (GROUP,) and d.directions[0].sizes == (sp.floor(C / S),)
    assert same(d.defs["c"].rhs, Sum(d.m.W[k, j] * GRAD["W"][k, j], (j, 1, D), rows))
    assert same(d.defs["Q"].rhs, Sum(d.m.W[k, j] ** 2, (j, 1, D), rows))
    laws = found("group-norm", "group-rows-rescaling")
    assert all(x.applies for x in laws.values())
    assert "for every u" in laws["conserved-quantity"].statement
    assert "the effective rate is eta/Q[u]" in laws["effective-learning-rate"].statement


def test_batch_norm_at_inference_trades_w_against_g_and_claims_no_conserved_quantity():
    d = cq._derivation("batch-norm-inference", "row-against-gain", False)
    mu, sigma = IndexedBase("mu"), IndexedBase("sigma")
    want = Sum(W[i, j] * GRAD["W"][i, j], (j, 1, D)) - g[i] * GRAD["g"][i] - g[i] * mu[i] / sigma[i] * GRAD["b"][i]
    assert same(d.defs["c"].rhs, want)
    laws = found("batch-norm-inference", "row-against-gain")
    assert laws["gradient-orthogonality"].applies and laws["hessian-identity"].applies
    for k in ("conserved-quantity", "sgd-norm-growth", "weight-decay-law"):
        assert not laws[k].applies and "not symmetric" in laws[k].reason
    assert "Q" not in d.defs
    # the Hessian identity's g row carries (D xi)^T dL/dP: -v_i (dL/dg_i + mu_i/sigma_i dL/db_i)
    (g_row,) = [K for R, *_, K in d.rows if R == "g"]
    assert same(g_row - d.hterms["g"], -v[i] * GRAD["g"][i] - v[i] * mu[i] / sigma[i] * GRAD["b"][i])


def test_the_hessian_identity_of_a_re_scaling_is_h_w_equals_minus_the_gradient():
    d = cq._derivation("layer-norm", "weight-matrix-rescaling", False)
    (w_row,) = [K for R, *_, K in d.rows if R == "W"]
    V = Symbol("v")
    assert same(w_row - d.hterms["W"], V * GRAD["W"][i, j])
    assert d.defs["xi^W"].rhs == V * W[i, j]


def test_a_statistic_of_the_parameters_in_the_generator_stops_the_identity_with_a_reason():
    """Weight norm's sigma_i = ||w_i|| in b': D xi would need its derivative, so neither the identity
    nor Q is derived (the constraint, at a point, still is)."""
    laws = found("weight-norm-linear-bias", "bias-against-output-bias")
    assert laws["gradient-orthogonality"].applies
    for k in ("hessian-identity", "conserved-quantity", "sgd-norm-growth"):
        assert not laws[k].applies and "through sigma_i" in laws[k].reason
    assert training.check_numeric(laws["gradient-orthogonality"])["passed"]


@pytest.mark.parametrize("norm", ["layer-norm-linear-bias", "group-norm", "batch-norm-inference"])
def test_the_listed_directions_are_the_basis_of_symmetries(norm):
    assert basis(norm) == tuple(x.family for x in symmetries(norm, "parameter").basis)


def test_consequences_all_lists_every_direction_and_every_one_is_confirmed(capsys):
    from invariance.__main__ import main
    assert main(["consequences", "--all", "--numeric", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)["consequences"]
    cells = {(e["normalizer"], e["transformation"]) for e in entries}
    assert {("group-norm", "group-rows-rescaling"), ("layer-norm-linear-bias", "weight-and-bias-rescaling"),
            ("batch-norm-inference", "row-against-gain")} <= cells
    assert all(e["numeric"]["passed"] for e in entries if e["applies"])


def test_the_certified_entries_verify():
    doc = json.loads((PROOFS / "consequences.json").read_text())
    mine = [e for e in doc["consequences"] if e["transformation"] in
            ("group-rows-rescaling", "weight-and-bias-rescaling", "row-against-gain")]
    assert len(mine) == 4 * 8 and cq.verify_document({"schema": doc["schema"], "consequences": mine}) == []


def test_a_held_out_family_gets_its_laws_without_new_code(monkeypatch):
    """A family the catalogue does not hold: W -> W + 1 (2 gamma)^T (layer norm's re-centering, another
    parameter): its generator is 2 v_j, so every law carries that 2, derived, certified, measured."""
    t = _family("double-recentering", "Weight matrix re-centering by twice a vector", "W + 2 gamma",
                r"W \to W + 2 \mathbf{1}\gamma^T", "shift every row of W by twice one vector",
                registry.FAMILIES["weight-matrix-recentering"].generators,
                w=lambda m, i_, j_: m.W[i_, j_] + 2 * gamma[j_])
    monkeypatch.setitem(registry.FAMILIES, t.id, t)
    caches = (cq._derivation, cq._cell, cq._certified)
    for f in caches:
        f.cache_clear()
    laws = cq.derive_consequences("layer-norm", t.id)
    d = cq._derivation("layer-norm", t.id, False)
    assert same(d.defs["c"].rhs, 2 * Sum(GRAD["W"][i, j], (i, 1, H)))
    assert same(d.defs["Q"].rhs, 2 * Sum(W[i, j], (i, 1, H)))
    for x in laws:
        if x.applies:
            assert cq.check_consequence(consequence_json(x)) == [], x.consequence
            assert training.check_numeric(x)["passed"], x.consequence
    assert {x.consequence for x in laws if x.applies} == {
        x.consequence for x in cq.derive_consequences("layer-norm", "weight-matrix-recentering") if x.applies}
    for f in caches:
        f.cache_clear()


# --- forgeries, one class of attack at a time -------------------------------------------------

def _rewritten(x, d, change) -> dict:
    """``x`` with its steps changed by ``change`` (a list of Equations -> a list), written as an
    honest entry is: every justification and the statement from the (forged) content."""
    steps = change(list(x.steps))
    steps = [Equation(e.name, e.lhs, e.rhs, justify(e, d), e.uses) for e in steps]
    return consequence_json(applying(d, x.consequence, x.conditions, steps))


def _rejected(data: dict, *reasons: str) -> list[str]:
    problems = cq.check_consequence(data)
    assert problems and all("\n" not in p for p in problems)
    assert any(r in p for p in problems for r in reasons), problems
    return problems


def test_forgery_a_wrong_coefficient_in_the_hessian_identity():
    x = found("batch-norm-inference", "row-against-gain")["hessian-identity"]
    d = cq._derivation("batch-norm-inference", "row-against-gain", False)

    def doubled(steps):   # the g row's (D xi)^T dL/dP term twice: a row that is not the coefficient
        k = next(n for n, e in enumerate(steps) if e.uses[:1] == ("coefficients",) and e.lhs.has(GRAD["g"]))
        extra = -v[i] * GRAD["g"][i]
        steps[k] = replace(steps[k], lhs=steps[k].lhs + extra)
        return steps
    _rejected(_rewritten(x, d, doubled), "is not the coefficients", "step is not the toolkit's")


def test_forgery_a_wrong_coefficient_in_the_conserved_quantity():
    x = found("layer-norm-linear-bias", "weight-and-bias-rescaling")["conserved-quantity"]
    d = cq._derivation("layer-norm-linear-bias", "weight-and-bias-rescaling", True)

    def halved(steps):   # dQ/dt = -c instead of -2 c
        steps[-2] = replace(steps[-2], rhs=steps[-2].rhs / 2)
        return steps
    _rejected(_rewritten(x, d, halved), "does not hold")


def test_forgery_a_law_for_a_direction_that_is_not_a_symmetry():
    """W alone re-scaled under layer norm with a linear bias: the old law <W, dL/dW> = 0, written
    out in full by the toolkit's own steps, as if the cell were invariant."""
    d = cq._Derivation("layer-norm-linear-bias", "weight-matrix-rescaling", True)   # its definitions, as if
    steps = [Equation(e.name, e.lhs, e.rhs, justify(e, d), e.uses) for e in d.steps("gradient-orthogonality")]
    forged = consequence_json(applying(d, "gradient-orthogonality", d.conditions, steps))
    _rejected(forged, "not proven invariant")


def test_forgery_a_conserved_quantity_where_a_is_not_symmetric():
    """Batch norm at inference: the entry says the quantity applies, with the steps of a genuine
    conserved quantity."""
    forged = dict(entry("batch-norm-inference", "row-against-gain", "conserved-quantity"))
    donor = entry("batch-norm", "weight-vector-rescaling", "conserved-quantity")
    forged |= {k: donor[k] for k in ("conditions", "rests_on", "definitions", "steps")} | {"applies": True}
    forged.pop("reason")
    _rejected(forged, "not symmetric")


@pytest.mark.parametrize("field, old, new", [
    ("statement", "for every u", "for every i"),                                 # one law for every unit
    ("statement", "the effective rate is eta/Q[u]", "the effective rate is eta/||w||^2"),   # the typed sentence
])
def test_forgery_edited_words(field, old, new):
    kind = "conserved-quantity" if "every" in old else "effective-learning-rate"
    forged = dict(entry("group-norm", "group-rows-rescaling", kind))
    assert old in forged[field]
    forged[field] = forged[field].replace(old, new)
    _rejected(forged, "statement is not what the checked content gives")


def test_forgery_edited_words_of_a_step():
    forged = json.loads(json.dumps(entry("layer-norm-linear-bias", "weight-and-bias-rescaling", "hessian-identity")))
    forged["steps"][1]["justification"] = "W alone is re-scaled"
    _rejected(forged, "justification is not what the checked content gives")


def test_a_broken_layer_fails_the_joint_law_numerically():
    norm = registry.normalizer("layer-norm-linear-bias")
    broken = lambda a, W_, eps=0.0, **kw: norm.numeric(a, W_, eps, **kw) + 0.01 * a   # noqa: E731
    x = found("layer-norm-linear-bias", "weight-and-bias-rescaling")["gradient-orthogonality"]
    assert training.check_numeric(x, op=broken)["max_ratio"] > 1e6


def test_a_family_that_cannot_be_written_for_the_layer_is_bad_input(capsys):
    from invariance.__main__ import main
    assert main(["consequences", "layer-norm", "group-rows-rescaling"]) == 2
    assert "cannot be written for layer-norm" in capsys.readouterr().err
    assert main(["consequences", "layer-norm-linear-bias", "weight-and-bias-rescaling", "--numeric"]) == 0
