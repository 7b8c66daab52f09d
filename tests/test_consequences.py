"""What invariance implies for training: derivation, checker, numeric side, CLI, chapter."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import sympy as sp

import invariance
from invariance.derive import consequences as cq
from invariance.catalogue import layers
from invariance.numeric import training
from invariance.__main__ import main
from invariance.core.model import DENSE
from invariance.core.records import INVARIANT
from invariance.catalogue.transformations import TRANSFORMATIONS, Parameter, Transformation

CELLS = [(n, t) for n in invariance.NORMALIZERS for t in invariance.TRANSFORMATIONS]


@pytest.fixture(scope="module")
def everything():
    """Every consequence of every built-in cell, with numeric checks (about 7 s)."""
    from invariance.report.training_report import collect
    return collect(CELLS, numeric=True)


@pytest.fixture(scope="module")
def verdicts():
    return {(n, t): cq._cell(n, t).verdict for n, t in CELLS}


def _entry(n, t, kind):
    c = next(c for c in cq.derive_consequences(n, t) if c.consequence == kind)
    return json.loads(json.dumps(cq.consequence_json(c)))


# --- the derivation -----------------------------------------------------------------

def test_every_invariant_cell_has_consequences_and_every_other_cell_none(everything, verdicts):
    by_cell = {}
    for c in everything:
        by_cell.setdefault((c.normalizer, c.transformation), []).append(c)
    assert set(by_cell) == set(CELLS)
    for cell, found in by_cell.items():
        assert [c.consequence for c in found] == list(cq.CONSEQUENCES)
        if verdicts[cell] == INVARIANT:
            assert found[0].applies and found[0].consequence == "gradient-orthogonality"
        else:
            assert not any(c.applies for c in found)
            assert all("not proven invariant" in c.reason for c in found)
    invariant = [cell for cell, v in verdicts.items() if v == INVARIANT]
    assert len(invariant) == 28          # the done-when of issue 12: 8 normalizers x 6 transformations


def test_the_paper_s_constraints_come_out_of_the_generator():
    """Section 5.2 and its translation analogue, read off the derived constraint c."""
    m = DENSE
    W, G = m.W, cq.GRAD["W"]
    i, j = m.axis("unit").index, m.input.index
    H, D = m.axis("unit").size, m.input.size
    c = lambda n, t: cq._derivation(n, t, False).defs[cq.C].rhs   # noqa: E731
    assert c("batch-norm", "weight-vector-rescaling") == sp.Sum(W[i, j] * G[i, j], (j, 1, D))
    assert c("layer-norm", "weight-matrix-recentering") == sp.Sum(G[i, j], (i, 1, H))
    assert c("layer-norm", "weight-matrix-rescaling") == sp.Sum(W[i, j] * G[i, j], (i, 1, H), (j, 1, D))


def test_sgd_law_is_the_paper_s_implicit_learning_rate_decay():
    d = cq._derivation("weight-norm", "weight-vector-rescaling", True)
    m = DENSE
    i, j, D = m.axis("unit").index, m.input.index, m.input.size
    lhs, rhs = d.target("sgd-norm-growth")
    grad2 = sp.Sum(cq.GRAD["W"][i, j] ** 2, (j, 1, D))
    assert sp.expand(rhs - (d.Q + cq.ETA ** 2 * grad2)) == 0
    _, wd = d.target("weight-decay-law")
    assert sp.expand(wd - ((1 - cq.ETA * cq.LAM) ** 2 * d.Q + cq.ETA ** 2 * grad2)) == 0


def test_a_transformation_that_is_not_a_continuous_family_is_not_applicable():
    flip = Transformation("sign-flip", "Sign flip", "flip", r"W \to -W", w=lambda m, i, j: -m.W[i, j],
                          x=TRANSFORMATIONS[0].x, exact=None, sample=None, values=None, numeric=None)
    assert "no parameter" in cq.family(DENSE, flip)
    k = sp.Symbol("k", integer=True)
    power = Transformation("power", "Power", "pow", r"W \to 2^k W", w=lambda m, i, j: 2 ** k * m.W[i, j],
                           x=TRANSFORMATIONS[0].x, exact=None, sample=None, values=None, numeric=None,
                           parameters=(Parameter("k"),))
    assert "discrete" in cq.family(DENSE, power)


def test_a_family_on_the_data_gives_no_training_law():
    found = {c.consequence: c for c in cq.derive_consequences("layer-norm", "dataset-rescaling")}
    assert found["gradient-orthogonality"].applies and found["gradient-scaling"].applies
    assert not found["sgd-norm-growth"].applies and "data" in found["sgd-norm-growth"].reason


# --- the checker --------------------------------------------------------------------

def test_every_consequence_passes_the_checker(everything):
    for c in everything:
        entry = json.loads(json.dumps(cq.consequence_json(c)))
        assert cq.check_consequence(entry) == [], (c.normalizer, c.transformation, c.consequence)


def _forge(entry, path, value):
    out = copy.deepcopy(entry)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


S1 = ("steps", 0)


def _srepr(expr):
    return sp.srepr(expr)


FORGERIES = [
    # (what, cell, consequence, edit(entry) -> forged entry, expected words)
    ("a code payload", ("layer-norm", "weight-matrix-recentering"), "gradient-orthogonality",
     lambda e: _forge(e, (*S1, "rhs"), "__import__('pathlib').Path('PWNED').touch()"), "not a call of"),
    ("a float", ("layer-norm", "weight-matrix-recentering"), "gradient-orthogonality",
     lambda e: _forge(e, (*S1, "rhs"), "Float('0.0')"), "Float() is not allowed"),
    ("a false step", ("batch-norm", "weight-vector-rescaling"), "sgd-norm-growth",
     lambda e: _forge(e, ("steps", 3, "rhs"), _srepr(sp.Symbol("Q") * 2)), "does not hold"),
    ("a coefficient read wrongly", ("batch-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, ("steps", 2, "rhs"), "Integer(1)"), "not the coefficients"),
    ("a different conclusion", ("layer-norm", "weight-matrix-rescaling"), "gradient-scaling",
     lambda e: _forge(e, ("steps",), e["steps"][:3]), "last step is not the toolkit's"),
    ("a claim on a refuted cell", ("layer-norm", "dataset-recentering"), "gradient-orthogonality",
     lambda e: _forge(_entry("layer-norm", "dataset-rescaling", "gradient-orthogonality"),
                      ("transformation",), "dataset-recentering"), "does not apply"),
    ("a dropped condition", ("weight-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, ("conditions",), e["conditions"][:1]), "conditions"),
    ("an edited statement", ("layer-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, ("statement",), e["statement"].replace("= 0", "= 1")), "statement is not"),
    ("an edited definition", ("layer-norm", "weight-matrix-rescaling"), "conserved-quantity",
     lambda e: _forge(e, ("definitions", 2, "latex"), "Q = 0"), "definitions"),
    ("an unknown rule", ("layer-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, (*S1, "uses"), ["chain rule", "my lemma"]), "not stated before"),
    ("an unknown consequence", ("layer-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, ("consequence",), "free-lunch"), "unknown consequence"),
    ("a symbol of no cell", ("layer-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, (*S1, "rhs"), "Symbol('zeta')"), "not one of this cell's"),
    ("the premise skipped", ("layer-norm", "weight-matrix-rescaling"), "gradient-orthogonality",
     lambda e: _forge(e, ("steps", 1, "uses"), []), "does not hold"),
    ("a division by a gradient", ("layer-norm", "weight-matrix-recentering"), "gradient-scaling",
     lambda e: _forge(e, ("steps", 3, "rhs"), _srepr(sp.IndexedBase("dL/dW")[sp.Symbol("i", integer=True),
                                                                              sp.Symbol("j", integer=True)] ** -1)),
     "may be zero"),
]


@pytest.mark.parametrize("what, cell, kind, forge, words", FORGERIES, ids=[f[0] for f in FORGERIES])
def test_forged_consequences_are_rejected_with_one_line_reasons(what, cell, kind, forge, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    forged = forge(_entry(*cell, kind))
    problems = cq.check_consequence(forged)
    assert problems, what
    assert any(words in p for p in problems), problems
    assert all("\n" not in p for p in problems)
    assert not (tmp_path / "PWNED").exists()


def test_a_consequence_resting_on_a_cell_that_does_not_verify_is_rejected():
    entry = _entry("layer-norm", "weight-matrix-recentering", "gradient-orthogonality")
    assert cq.check_consequence(entry, invariant=lambda n, t: tuple(entry["conditions"])) == []
    assert "does not apply" in cq.check_consequence(entry, invariant=lambda n, t: None)[0]
    # a cell proven under other conditions (here with epsilon = 0) does not carry this entry
    assert "conditions" in cq.check_consequence(
        entry, invariant=lambda n, t: ("epsilon = 0", *entry["conditions"]))[0]


def test_dropping_epsilon_zero_cannot_carry_consequences_to_epsilon_above_zero():
    """Layer norm is invariant to W re-scaling only at epsilon = 0: consequences
    rebuilt with a symbolic epsilon (whose steps never involve h) must not pass."""
    d = cq._derivation("layer-norm", "weight-matrix-rescaling", False)
    kinds = [k for k in cq.CONSEQUENCES if d.reason(k, "invariant") is None]
    for kind in kinds:
        steps = tuple(cq.Equation(e.name, e.lhs, e.rhs, cq.justify(e, d), e.uses) for e in d.steps(kind))
        forged = cq.consequence_json(cq.Consequence("layer-norm", "weight-matrix-rescaling", kind, True, "",
                                                    tuple(d.conditions), d.used_definitions(kind), steps))
        assert "epsilon = 0" not in forged["conditions"]
        assert any("conditions" in p for p in cq.check_consequence(forged)), kind


def test_a_step_dividing_by_many_quantities_is_refused_before_cancel_runs():
    """sum_k 1/(eta + k) over 2 x 40 denominators made holds' cancel run for minutes."""
    entry = _entry("layer-norm", "weight-matrix-rescaling", "gradient-orthogonality")
    term = "Pow(Add(Symbol('delta', positive=True), Integer({k})), Integer(-1))"
    side = lambda ks: "Add(" + ", ".join(term.format(k=k) for k in ks) + ")"  # noqa: E731
    entry["steps"][0] = {**entry["steps"][0], "lhs": side(range(1, 41)), "rhs": side(range(41, 81)), "uses": []}
    assert any("divides by 80 different quantities" in p for p in cq.check_consequence(entry))


def test_a_step_resting_on_a_definition_must_show_it():
    """The definitions shown are those the steps use: citing one more changes what is shown."""
    entry = _entry("layer-norm", "weight-matrix-rescaling", "gradient-orthogonality")
    entry["steps"][1]["uses"] = ["invariance U", *entry["steps"][1]["uses"]]
    assert cq.check_consequence(entry)


def test_the_checker_never_sympifies_file_text(monkeypatch):
    entry = _entry("batch-norm", "weight-vector-rescaling", "weight-decay-law")
    cq._derivation("batch-norm", "weight-vector-rescaling", False)   # the registry's side, built beforehand

    real = sp.sympify

    def refuse_text(a, *args, **kw):
        if isinstance(a, str):
            raise AssertionError(f"sympify called on text: {a[:40]}")
        return real(a, *args, **kw)
    monkeypatch.setattr(sp, "sympify", refuse_text)

    def refuse_eval(*a, **kw):
        raise AssertionError("eval called")
    monkeypatch.setattr("builtins.eval", refuse_eval)
    assert cq.check_consequence(entry) == []


# --- the numeric side -----------------------------------------------------------------

def test_complex_step_gradients_match_central_differences():
    """Central differences with step 1e-6 have truncation ~1e-12 and cancellation ~u/1e-6 = 1e-10
    relative to |L|: 1e-7 relative to the gradient's size is a generous bound for both."""
    p = training.Problem("layer-norm", "weight-matrix-recentering", seed=3)
    G = training.gradients(p, p.W, p.X)["W"]
    assert np.abs(G).max() > 1e-3          # not a vacuous comparison
    fd = np.zeros_like(p.W)
    for k in np.ndindex(*p.W.shape):
        e = np.zeros_like(p.W)
        e[k] = 1e-6
        fd[k] = (p.loss((p.W + e)[None], p.X[None]).real[0] - p.loss((p.W - e)[None], p.X[None]).real[0]) / 2e-6
    assert np.abs(G - fd).max() <= 1e-7 * np.abs(G).max()


def test_layers_refuse_complex_outside_complex_step():
    W, X = np.eye(2, dtype=complex), np.ones((2, 2), dtype=complex)
    with pytest.raises(ValueError, match="real numeric"):
        layers.summed_inputs(W, X)
    with layers.complex_step():
        assert layers.summed_inputs(W, X).dtype == complex


def test_every_numeric_check_passes(everything):
    measured = [c for c in everything if c.applies]
    assert measured and all(c.numeric["passed"] for c in measured), \
        [(c.normalizer, c.transformation, c.consequence, c.numeric["max_ratio"]) for c in measured
         if not c.numeric["passed"]]


def _forgets_the_mean(a, W, eps=0.0):
    """Layer norm that divides by the standard deviation but does not subtract the mean."""
    d = a - a.mean(axis=-1, keepdims=True)
    return a / np.sqrt(np.mean(d * d, axis=-1, keepdims=True) + eps)


@pytest.mark.parametrize("kind", ["gradient-orthogonality", "conserved-quantity", "sgd-norm-growth"])
def test_layer_norm_that_forgets_the_mean_breaks_the_translation_constraint(kind):
    c = next(c for c in cq.derive_consequences("layer-norm", "weight-matrix-recentering") if c.consequence == kind)
    assert training.check_numeric(c)["passed"]
    broken = training.check_numeric(c, op=_forgets_the_mean)
    assert not broken["passed"] and broken["max_ratio"] > 1e6


def test_sgd_follows_the_law_and_the_norm_grows():
    c = next(c for c in cq.derive_consequences("batch-norm", "weight-matrix-rescaling")
             if c.consequence == "sgd-norm-growth")
    run = training.sgd_run(c)
    q = [x[0] for x in run["actual"]]
    assert run["numeric"]["passed"]
    assert all(b > a for a, b in zip(q, q[1:]))          # the implicit learning-rate decay
    assert run["effective_rate"][-1][0] < run["effective_rate"][0][0]
    decay = next(c for c in cq.derive_consequences("batch-norm", "weight-matrix-rescaling")
                 if c.consequence == "weight-decay-law")
    wd = training.sgd_run(decay)
    assert wd["numeric"]["passed"] and wd["actual"][-1][0] < q[-1]


# --- the command line and the chapter --------------------------------------------------

def test_cli_all_numeric_json_exits_0_with_every_cell(capsys):
    assert main(["consequences", "--all", "--numeric", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "invariance-certificate/3"
    entries = doc["consequences"]
    directions = cq.direction_cells(list(invariance.NORMALIZERS), CELLS, linear_bias=True)
    assert {(e["normalizer"], e["transformation"]) for e in entries} == set(CELLS) | set(directions)
    assert len({(e["normalizer"], e["transformation"]) for e in entries if e["applies"]}) == 28 + len(directions)
    assert all(e["numeric"]["passed"] for e in entries if e["applies"])
    assert all(e["reason"] for e in entries if not e["applies"])


@pytest.mark.parametrize("fmt, marker", [("text", "Steps (1.1) to (1.3), shown above"), ("markdown", "| normalizer |"),
                                         ("latex", r"\toprule")])
def test_cli_formats(fmt, marker, capsys):
    assert main(["consequences", "layer-norm", "weight-matrix-recentering", "--format", fmt]) == 0
    assert marker in capsys.readouterr().out


@pytest.mark.parametrize("args", [["layer-norm"], ["layer-norm", "no-such"], ["--format", "pdf"],
                                  ["layer-norm", "dataset-rescaling", "--all"]])
def test_cli_bad_input_exits_2(args, capsys):
    assert main(["consequences", *args]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_chapter_has_the_table_and_writes_its_figure(everything, tmp_path):
    pytest.importorskip("matplotlib")
    from invariance.report.training_report import FIGURE_NAME, chapter_tex, write_figure
    text = chapter_tex(consequences=everything)
    assert r"\section{What invariance implies for training}" in text
    assert write_figure(tmp_path) == tmp_path / FIGURE_NAME
    assert (tmp_path / FIGURE_NAME).stat().st_size > 10_000
    assert FIGURE_NAME in text and text.isascii()
    assert text.count(r"& $\checkmark$") == sum(c.applies for c in everything)


def test_the_hessian_check_tells_one_over_delta_squared_from_one_over_delta():
    """The measured Hessian-vector products obey 1/delta^2 and visibly not 1/delta."""
    c = next(c for c in cq.derive_consequences("layer-norm", "weight-matrix-rescaling")
             if c.consequence == "hessian-scaling")
    d = cq._derivation("layer-norm", "weight-matrix-rescaling", False)
    p = training.Problem("layer-norm", "weight-matrix-rescaling")
    delta = float(p.params["delta"])
    assert delta != 1
    U2 = np.random.default_rng(0).normal(size=p.W.shape)   # (all ones would be a re-centering: H U2 = 0)
    here, err = training._hvp(p, p.point, "W", {"W": U2}, training.HVP_STEP)
    there, _ = training._hvp(p, p.transformed(), "W", {"W": delta * U2}, training.HVP_STEP)
    assert np.abs(here).max() > 1e-3
    assert np.abs(here - delta * there).max() <= 1e-6 * np.abs(here).max()       # H = delta^2 H'
    assert np.abs(here - there).max() > 1e-3 * np.abs(here).max()                # not H = delta H'
    assert training.check_numeric(c)["passed"] and d.factor == sp.Symbol("delta", positive=True)


def test_verify_document_checks_a_whole_document_and_names_each_problem():
    found = cq.derive_consequences("layer-norm", "weight-matrix-recentering")
    doc = json.loads(json.dumps(cq.document(found)))
    assert cq.verify_document(doc) == []
    doc["consequences"][0]["steps"][0]["rhs"] = "Integer(0)"
    doc["consequences"].append("not an object")
    problems = cq.verify_document(doc)
    assert problems[0].startswith("layer-norm x weight-matrix-recentering x gradient-orthogonality: ")
    assert problems[-1] == f"entry {len(cq.CONSEQUENCES) + 1}: a consequence must be a JSON object"
    assert cq.verify_document({"schema": "invariance-certificate/3", "cells": []})[0].startswith("not a consequences")
