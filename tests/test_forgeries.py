"""Forged certificates, one class of attack at a time: each must be rejected with a one-line reason.

Every forgery starts from a genuine committed certificate (which verifies) and
changes what an attacker would change.  A forgery that verified would be a
false verdict with a certificate: the worst bug this toolkit can have.
"""
from __future__ import annotations

import copy
import json
import signal
import time
from pathlib import Path

import pytest
import sympy as sp

import invariance
from forgery import rejected
from invariance.__main__ import main
from invariance.core.training import CONSEQUENCES   # one entry per kind, for a cell
from invariance.report.certificates import verify, verify_path
from invariance.core.cells import definitions
from invariance.core.model import EPS

PROOFS = Path(__file__).parent.parent / "proofs"


def genuine(norm: str, trans: str) -> dict:
    doc = json.loads((PROOFS / f"{norm}__{trans}.json").read_text())
    assert verify(doc) == [], "the starting point must be a genuine certificate"
    return doc


def defs(norm: str, trans: str, eps=EPS) -> dict:
    """The registry's definitions of a cell, by name (to write forged steps with)."""
    b = invariance.NORMALIZERS[norm].build(eps)
    return {e.name: e for e in definitions(b, invariance.TRANSFORMATIONS[trans])}


def step(name, lhs, rhs, uses=()):
    """A forged chain of one link, ``lhs = rhs`` by unfolding ``uses``: a step of the proof."""
    return {"name": name, "lhs": sp.srepr(lhs), "statement": "", "latex": "",
            "links": [{"rhs": sp.srepr(rhs), "uses": list(uses), "statement": "", "latex": "", "reason": ""}]}


def collapsed(chain: dict) -> dict:
    """A genuine chain as one step: its lhs equals its conclusion by everything its links use
    (it still verifies); forgeries then edit that one link as they would edit a step."""
    uses = list(dict.fromkeys(u for link in chain["links"] for u in link["uses"]))
    chain["links"] = [{**chain["links"][-1], "uses": uses}]
    return chain


def law_of(doc: dict, name: str) -> dict:
    """The chain named ``name`` of the first cell's proof, collapsed to one step."""
    return collapsed(next(c for c in doc["cells"][0]["proof"] if c["name"] == name))


def as_invariant(doc: dict, steps: list[dict]) -> dict:
    """A refuted cell relabelled invariant, with the steps given as its proof."""
    doc = copy.deepcopy(doc)
    c = doc["cells"][0]
    c.update(verdict="invariant", counterexample=None, proof=steps)
    return doc


# --- shadowed names and decoy laws ----------------------------------------------------

@pytest.mark.parametrize("norm, trans", [("layer-norm", "dataset-recentering"), ("weight-norm", "dataset-rescaling"),
                                         ("batch-norm", "single-case-rescaling")])
def test_three_trivial_steps_named_after_definitions_do_not_certify_a_refuted_cell(norm, trans):
    d = defs(norm, trans, sp.S.Zero)
    a, hp = d["a"].lhs, d["h'"].lhs
    forged = as_invariant(genuine(norm, trans), [
        step("a' law", a, a), step("h", hp, hp), step("invariance", hp, hp)])
    rejected(forged, "must state the value of a quantity of the transformed layer", "is named")


def test_a_step_named_like_a_definition_is_rejected():
    d = defs("layer-norm", "dataset-recentering", sp.S.Zero)
    forged = as_invariant(genuine("layer-norm", "dataset-recentering"), [
        step("h", d["h'"].lhs, d["h"].lhs, ["h'"]), step("invariance", d["h'"].lhs, d["h"].lhs, ["h"])])
    rejected(forged, "is named 'invariance'")


def test_a_law_stated_twice_is_rejected():
    doc = genuine("layer-norm", "weight-matrix-recentering")
    proof = doc["cells"][0]["proof"]
    proof.insert(1, copy.deepcopy(proof[0]))
    rejected(doc, "a second time")


def test_a_decoy_a_law_cannot_drop_the_positive_scale_condition():
    """A trivial a' law first, then the genuine proof: alpha would read as 1 and
    delta > 0 would vanish from the conditions, if they were read from the file."""
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    c = doc["cells"][0]
    a = defs("layer-norm", "weight-matrix-rescaling")["a'"].lhs
    c["proof"].insert(0, step("a' law", a, a, ["a'"]))
    c["conditions"] = [x for x in c["conditions"] if "delta" not in x]
    rejected(doc, "a second time", "conditions")
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    doc["cells"][0]["conditions"] = [x for x in doc["cells"][0]["conditions"] if "delta" not in x]
    rejected(doc, "conditions is not what the checked content gives")


def test_dropping_epsilon_zero_from_the_conditions_is_caught():
    doc = genuine("weight-norm", "weight-matrix-rescaling")
    c = doc["cells"][0]
    assert "epsilon = 0" in c["conditions"]
    c["conditions"].remove("epsilon = 0")   # the definitions state epsilon = 0: they are no longer the cell's
    rejected(doc, "the definitions are not the toolkit's definitions")
    c.pop("definitions")                     # and without them the steps do not hold with a symbolic epsilon
    rejected(doc, "does not hold")


def test_a_lemma_that_uses_nothing_is_not_taken_on_trust():
    d = defs("layer-norm", "weight-vector-rescaling", sp.S.Zero)
    forged = as_invariant(genuine("layer-norm", "weight-vector-rescaling"),
                          [step("invariance", d["h'"].lhs, d["h"].lhs)])
    rejected(forged, "does not hold")


def test_the_last_step_must_be_the_toolkits_own_h_prime_equals_h():
    doc = genuine("layer-norm", "weight-matrix-recentering")
    doc["cells"][0]["proof"].pop()
    rejected(doc, "the last chain does not conclude")


def test_an_edited_definition_is_caught():
    doc = genuine("layer-norm", "weight-matrix-recentering")
    d = doc["cells"][0]["definitions"]
    hp = next(e for e in d if e["name"] == "h'")
    hp["rhs"] = next(e for e in d if e["name"] == "h")["lhs"]
    rejected(doc, "not the toolkit's definitions")


def test_a_step_that_uses_a_later_equation_is_rejected():
    doc = genuine("batch-norm", "weight-matrix-rescaling")
    doc["cells"][0]["proof"][0]["links"][0]["uses"].append("sigma' law")
    rejected(doc, "not stated before it")


def test_a_certificate_of_an_unregistered_normalizer_is_not_taken_on_trust():
    doc = genuine("layer-norm", "weight-matrix-recentering")
    doc["cells"][0]["normalizer"] = "my-norm"
    rejected(doc, "unknown normalizer 'my-norm'")


# --- code in the file is never run -----------------------------------------------------

PAYLOADS = [
    "__import__('pathlib').Path({marker!r}).write_text('ran')",
    "Symbol('x') if __import__('pathlib').Path({marker!r}).write_text('ran') else Symbol('x')",
    "(lambda: __import__('pathlib').Path({marker!r}).write_text('ran'))()",
    "Integer(1).__class__.__mro__[-1].__subclasses__()",
    "Function('f')(Symbol('x'))",
    "Symbol('x').subs(Symbol('x'), __import__('pathlib').Path({marker!r}).write_text('ran'))",
    "Add(Symbol('x'), eval('__import__(\"pathlib\").Path({marker!r}).write_text(\"ran\")'))",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_code_payload_in_an_expression_is_never_run(tmp_path, payload):
    marker = tmp_path / "created-by-the-certificate"
    text = payload.format(marker=str(marker))
    doc = genuine("layer-norm", "weight-matrix-recentering")
    doc["cells"][0]["proof"][0]["links"][0]["rhs"] = text
    rejected(doc, "not a call of", "is not allowed", "not an expression", "takes")
    doc = genuine("layer-norm", "weight-matrix-recentering")
    doc["cells"][0]["definitions"][0]["rhs"] = text
    rejected(doc, "definitions")
    assert not marker.exists()


def test_a_code_payload_anywhere_else_is_never_run_and_does_not_touch_the_next_file(tmp_path):
    marker = tmp_path / "created-by-the-certificate"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('ran')"
    refuted = genuine("layer-norm", "dataset-recentering")
    ce = refuted["cells"][0]["counterexample"]
    forgeries = []
    for path in (("values", "W", 0, 0), ("parameters", "gamma", 0), ("output",)):
        doc = copy.deepcopy(refuted)
        target = doc["cells"][0]["counterexample"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = code
        forgeries.append(doc)
    doc = copy.deepcopy(refuted)
    doc["cells"][0]["counterexample"]["sizes"] = {code: 1, **ce["sizes"]}
    forgeries.append(doc)
    doc = copy.deepcopy(refuted)
    doc["cells"][0]["normalizer"] = code
    forgeries.append(doc)
    for k, doc in enumerate(forgeries):
        (tmp_path / f"{k}.json").write_text(json.dumps(doc))
    (tmp_path / "z-genuine.json").write_text((PROOFS / "layer-norm__dataset-recentering.json").read_text())
    count, _, problems, *_ = verify_path(tmp_path)
    assert not marker.exists()
    assert len({p.split(":")[0] for p in problems}) == len(forgeries)    # every forgery, one file each
    assert not any(p.startswith("z-genuine.json") for p in problems)     # and the checker is intact after them


# --- counterexamples that choose their own constants ---------------------------------------

def test_a_counterexample_cannot_set_epsilon():
    """Layer norm x dataset re-scaling is invariant at eps = 0; with eps = 1 it is not.
    A file that sets eps = 1 while stating eps = 0 must not refute it."""
    ce = genuine("layer-norm", "dataset-recentering")["cells"][0]["counterexample"]
    doc = genuine("layer-norm", "dataset-rescaling")
    c = doc["cells"][0]
    c.update(verdict="not-invariant", proof=None, conditions=["epsilon = 0"],
             counterexample={**ce, "parameters": {"delta": "2"}})
    c["counterexample"]["values"] = {**ce["values"], "epsilon": "1"}
    c.pop("definitions")
    rejected(doc, "values must give exactly W, X, g, b")
    c["counterexample"]["values"] = ce["values"]
    c["counterexample"]["parameters"] = {"delta": "2", "epsilon": "1"}
    rejected(doc, "parameters must give exactly delta")


def test_a_counterexample_cannot_set_a_normalizers_constant(monkeypatch):
    """A layer norm written g (a - c mu) / sigma + b with c = 1 is layer norm; a file
    that evaluates it with c = 2 would refute W re-centering."""
    c = sp.Symbol("c", positive=True)
    norm = invariance.Normalizer(
        "c-layer-norm", "c layer norm", invariance.DENSE, invariance.standardize(("unit",)),
        invariance.catalogue.layers.layer_norm, constants={c: sp.Integer(1)},
        output=lambda k, at: k.g(at) * (k.a(at) - c * k.stat("mu", at)) / k.stat("sigma", at) + k.b(at))
    monkeypatch.setitem(invariance.NORMALIZERS, norm.id, norm)
    assert invariance.derive(norm, "weight-matrix-recentering").verdict != "not-invariant"
    ce = genuine("layer-norm", "dataset-recentering")["cells"][0]["counterexample"]
    doc = genuine("layer-norm", "weight-matrix-recentering")
    cell = doc["cells"][0]
    cell.update(normalizer=norm.id, verdict="not-invariant", proof=None, conditions=["epsilon = 0"],
                counterexample={**ce, "values": {**ce["values"], "c": "2"}})
    cell.pop("definitions")
    rejected(doc, "values must give exactly W, X, g, b")
    cell["counterexample"] = {**ce, "parameters": {"gamma": ce["parameters"]["gamma"], "c": "2"}}
    rejected(doc, "parameters must give exactly gamma")


def test_a_negative_scale_factor_cannot_refute_a_positive_scale_cell():
    """delta = -1 flips layer norm's output, but the cell is about delta > 0."""
    refuted = genuine("layer-norm", "dataset-recentering")["cells"][0]["counterexample"]
    doc = genuine("layer-norm", "dataset-rescaling")
    c = doc["cells"][0]
    c.update(verdict="not-invariant", proof=None, conditions=["epsilon = 0"],
             counterexample={**refuted, "parameters": {"delta": "-1"}})
    c.pop("definitions")
    rejected(doc, "delta must be positive")


def test_a_single_case_index_out_of_range_is_rejected():
    doc = genuine("batch-norm", "single-case-rescaling")
    ce = doc["cells"][0]["counterexample"]
    for bad in (0, -1, ce["sizes"]["N"] + 1, True, "1"):
        ce["parameters"]["case"] = bad
        rejected(doc, "parameter case must be an integer from 1 to")


def test_recorded_outputs_must_be_what_the_definitions_give():
    doc = genuine("layer-norm", "dataset-recentering")
    ce = doc["cells"][0]["counterexample"]
    ce["transformed_output"] = ce["output"]
    rejected(doc, "counterexample.transformed_output is not what the checked content gives")


def test_a_counterexample_whose_outputs_agree_is_rejected():
    doc = genuine("layer-norm", "dataset-recentering")
    ce = doc["cells"][0]["counterexample"]
    ce["parameters"]["gamma"] = ["0"] * len(ce["parameters"]["gamma"])
    rejected(doc, "the two outputs do not differ")


# --- rules applied where they were not proven --------------------------------------------------

def test_a_rule_stated_at_a_repeated_index_is_not_applied_off_the_diagonal():
    """instance norm's mu[n, i]: a law proven only at n = i is no law for every n, i."""
    d = defs("instance-norm", "weight-matrix-rescaling")
    mu_p, mu = d["mu'"].lhs, d["mu"].lhs
    n, i = mu.indices
    doc = genuine("instance-norm", "weight-matrix-rescaling")
    law = law_of(doc, "mu' law")
    law["lhs"] = sp.srepr(mu_p.xreplace({i: n}))
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * mu.xreplace({i: n}))
    rejected(doc, "a rule needs distinct symbolic indices", "refers to an entry outside the layer")


def test_a_rule_stated_at_an_integer_index_is_rejected():
    d = defs("layer-norm", "weight-matrix-rescaling")
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    law = law_of(doc, "mu' law")
    n = d["mu"].lhs.indices[0]
    law["lhs"] = sp.srepr(d["mu'"].lhs.xreplace({n: sp.Integer(1)}))
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * d["mu"].lhs.xreplace({n: sp.Integer(1)}))
    rejected(doc, "a rule needs distinct symbolic indices")


def test_floats_are_rejected_anywhere():
    doc = genuine("layer-norm", "weight-matrix-recentering")
    s = collapsed(doc["cells"][0]["proof"][0])
    s["links"][0]["rhs"] = f"Mul(Float('1.0', precision=53), {s['links'][0]['rhs']})"
    rejected(doc, "not allowed")
    doc = genuine("layer-norm", "dataset-recentering")
    doc["cells"][0]["counterexample"]["values"]["W"][0][0] = "1.0"
    rejected(doc, "is not an exact rational")
    doc = genuine("layer-norm", "dataset-recentering")
    doc["cells"][0]["counterexample"]["sizes"]["N"] = 1.0
    rejected(doc, "size N must be an integer")


def test_a_symbol_with_other_assumptions_is_not_the_registrys():
    """gamma declared positive would let sqrt(gamma^2) = gamma: not the registry's gamma."""
    doc = genuine("layer-norm", "weight-matrix-recentering")
    s = doc["cells"][0]["proof"][0]["links"][1]     # a' = sum_j (W_ij + gamma_j) X'_nj
    assert "Symbol('gamma')" in s["rhs"]
    s["rhs"] = s["rhs"].replace("Symbol('gamma')", "Symbol('gamma', positive=True)")
    rejected(doc, "is not an indexed quantity of this cell", "is not one of this cell's")


def test_a_step_that_divides_by_what_may_be_zero_is_rejected():
    d = defs("layer-norm", "weight-matrix-recentering")
    doc = genuine("layer-norm", "weight-matrix-recentering")
    s = collapsed(doc["cells"][0]["proof"][-1])
    x = d["a"].lhs
    s["links"][0]["rhs"] = sp.srepr(2 * d["h"].lhs * (x + 1) / (2 * x + 2))   # h, but for a = -1 it is 0/0
    rejected(doc, "divides by")


def test_a_huge_power_is_refused_before_it_is_built():
    doc = genuine("layer-norm", "weight-matrix-recentering")
    s = collapsed(doc["cells"][0]["proof"][0])
    s["links"][0]["rhs"] = f"Pow({s['links'][0]['rhs']}, Integer(1000000))"
    rejected(doc, "a power with exponent")


@pytest.mark.parametrize("lo, hi", [(3, 1), (2, "H"), (1, "i"), ("H", 3), (1, 0)])
def test_a_sum_whose_range_may_be_empty_or_reversed_is_refused(lo, hi):
    """SymPy's algebra reads sum_{k=3}^{1} 1 as -1 (Karr's convention); a reader reads an
    empty sum.  (1 + sum_{k=3}^{1} 1) a = 0 holds to the algebra: a misleading step.  A range
    that is empty or reversed only at some sizes (2 to H at H = 1) or indices is refused too."""
    d = defs("layer-norm", "dataset-rescaling")
    n, i = d["a"].lhs.indices
    H, k = sp.Symbol("H", integer=True, positive=True), sp.Symbol("k", integer=True)
    bound = {"H": H, "i": i}
    lo, hi = (bound.get(x, x) for x in (lo, hi))
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    a = d["a"].lhs
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * a + (1 + sp.Sum(1, (k, lo, hi))) * a)
    rejected(doc, "never an empty or reversed one")


def test_the_evaluator_refuses_reversed_ranges_and_indices_that_would_wrap_around():
    """Behind the parser: the exact evaluator reads no sum by Karr's convention and no
    index 0 or -1 as the last entry (Python's negative indexing)."""
    from invariance.core.algebra import EmptyRange, evaluate, holds
    k, x = sp.Symbol("k", integer=True), sp.IndexedBase("x")
    assert holds(sp.Sum(1, (k, 3, 1)), sp.Integer(-1))   # what the algebra says
    with pytest.raises(EmptyRange):
        evaluate(sp.Sum(1, (k, 3, 1)), {})
    for bad in (0, -1, 3, sp.Rational(3, 2)):
        with pytest.raises(IndexError):
            evaluate(x[bad], {x: [1, 2]})
    with pytest.raises(IndexError):
        evaluate(x[1, 1], {x: [1, 2]})


@pytest.mark.parametrize("index", [0, -1])
def test_a_step_at_index_0_or_minus_1_is_refused(index):
    """a[0, i] - sum_j W[i, j] X[0, j] is 0 to the algebra; the evaluator read a[0, i]
    as a[N, i] (Python's negative indexing), so the spot check agreed: an entry that
    does not exist, accepted."""
    d = defs("layer-norm", "dataset-rescaling")
    a, (n, i) = d["a"].lhs.base, d["a"].lhs.indices
    D, j = sp.Symbol("D", integer=True, positive=True), sp.Symbol("j", integer=True)
    W, X = sp.IndexedBase("W"), sp.IndexedBase("X")
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * a[n, i]
                          + (a[index, i] - sp.Sum(W[i, j] * X[index, j], (j, 1, D))))
    rejected(doc, "refers to an entry outside the layer")


def test_a_constant_quantity_at_index_0_is_refused_too(monkeypatch):
    """A defined quantity that reads no array (a constant z[i] = 0) took any index, 0 and -1
    included: the spot check refuses an index outside the layer for defined quantities as well."""
    from invariance.core.certificate import document
    norm = invariance.Normalizer(
        "z-layer-norm", "layer norm with a constant", invariance.DENSE,
        (*invariance.standardize(("unit",)), invariance.Statistic("z", lambda c, at: sp.Integer(0))),
        invariance.catalogue.layers.layer_norm)
    monkeypatch.setitem(invariance.NORMALIZERS, norm.id, norm)
    cell = invariance.derive(norm, "weight-matrix-rescaling")
    doc = document([cell])
    assert cell.verdict == "invariant" and verify(doc) == []
    z, d = sp.IndexedBase("z"), defs("layer-norm", "weight-matrix-rescaling")
    for index, ok in ((1, True), (0, False), (-1, False)):
        doc = json.loads(json.dumps(document([cell])))
        law = _a_law(doc)
        law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * d["a"].lhs + z[index])
        law["links"][0]["uses"] = [*law["links"][0]["uses"], "z"]
        problems = verify(doc)
        assert ("refers to an entry outside the layer" in " ".join(problems)) != ok, problems


# --- captured sizes, size indices, expressions that would hang the checker ----------------------

def _a_law(doc):
    return law_of(doc, "a' law")


def test_a_sum_over_a_size_cannot_capture_the_size_inside_a_definition():
    """Sum_{D=1}^{1} a[n, i] would unfold a's definition with D = 1: a[n, i] read as
    W[i, 1] X[n, 1].  A false a' law hidden behind it, times (D - 2)(D - 3), would
    even pass a spot check at sizes 2 and 3."""
    d = defs("layer-norm", "dataset-rescaling")
    a, (n, i) = d["a"].lhs.base, d["a"].lhs.indices
    D = sp.Symbol("D", integer=True, positive=True)
    W, X = sp.IndexedBase("W"), sp.IndexedBase("X")
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    junk = sp.Sum(a[n, i], (D, 1, 1)) - W[i, 1] * X[n, 1]
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * a[n, i] + (D - 2) * (D - 3) * junk)
    rejected(doc, "a sum over 'D': only an integer index may be summed over")


def test_a_size_is_no_rule_index():
    """An a' law stated at unit H holds there; applied at every unit it would
    replace the explicit H but not the H inside the definitions."""
    d = defs("layer-norm", "weight-matrix-rescaling")
    n = d["a"].lhs.indices[0]
    H = sp.Symbol("H", integer=True, positive=True)
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    law = _a_law(doc)
    law["lhs"] = sp.srepr(d["a'"].lhs.base[n, H])
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * d["a"].lhs.base[n, H])
    rejected(doc, "integer symbols, not sizes")


def test_an_indexed_quantitys_label_is_no_scalar():
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = f"Add({law['links'][0]['rhs']}, Mul(Symbol('mu'), Symbol('D', integer=True, positive=True)))"
    rejected(doc, "symbol 'mu' (with its assumptions) is not one of this cell's")


def test_a_step_with_a_free_index_has_no_value_at_a_point_and_is_rejected():
    """sum_{j=k}^{k+1} 1 - 2 is 0 for every k, but k is bound nowhere.  (A range
    from 1 to k, which may be empty, is refused before this is evaluated.)"""
    d = defs("layer-norm", "weight-matrix-rescaling")
    k, j = sp.Symbol("k", integer=True), sp.Symbol("j", integer=True)
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * d["a"].lhs + sp.Sum(1, (j, k, k + 1)) - 2)
    rejected(doc, "mentions a symbol with no value")


_K = "Symbol('k', integer=True)"
_W = "Indexed(IndexedBase(Symbol('W')), Symbol('i', integer=True), Integer({}))"
_SIZES = ", ".join(f"Tuple(Symbol('{v}', integer=True), Integer(1), Symbol('{s}', integer=True, positive=True))"
                   for v, s in zip("kjlmopqrstu", "HDHDHDHDHDH"))


@pytest.mark.parametrize("extra, reason", [
    # a true identity, sum (k + 1) - sum k - sum 1 = 0 over 11 nested ranges, each a size of the layer,
    # whose spot check adds up 3^11 = 177,147 terms (a range of 10^12 terms is refused before: not a size)
    (f"Add(Sum(Add({_K}, Integer(1)), {_SIZES}), Mul(Integer(-1), Sum({_K}, {_SIZES})), "
     f"Mul(Integer(-1), Sum(Integer(1), {_SIZES})))", "adds up more than"),
    # nested powers, each allowed alone, merge into (...)^1024
    ("Pow(" * 5 + "Add(Symbol('H', integer=True, positive=True), Symbol('D', integer=True, positive=True))"
     + ", Integer(4))" * 5, "a power with exponent"),
    # a power of a long sum, which expand would multiply out into 30^4 terms
    (f"Pow(Add({', '.join(_W.format(c) for c in range(1, 31))}), Integer(4))", "expands to more than"),
])
def test_an_expression_that_would_hang_the_checker_is_refused(extra, reason):
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = f"Add({law['links'][0]['rhs']}, {extra})"
    rejected(doc, reason)


def test_an_inner_limit_that_uses_a_renamed_outer_index_is_renamed_with_it():
    """Unfolding a rule inside a sum over j renames the rule's own j; an inner limit
    (k from 1 to j) must follow, or j would be captured by the enclosing sum."""
    d = defs("layer-norm", "dataset-rescaling")
    n, i = d["a"].lhs.indices
    j, k = sp.Symbol("j", integer=True), sp.Symbol("k", integer=True)
    H, D = (sp.Symbol(x, integer=True, positive=True) for x in "HD")
    delta, W, X = sp.Symbol("delta", positive=True), sp.IndexedBase("W"), sp.IndexedBase("X")
    doc = genuine("layer-norm", "dataset-rescaling")
    proof = doc["cells"][0]["proof"]
    # true: the double sum is 1 (an inner range that may be empty, k from 1 to j, is refused)
    x_law = step("X' law", d["X'"].lhs.base[n, i], delta * X[n, i] + (H - 3) * (sp.Sum(k, (k, j, j), (j, 1, 1)) - 1),
                 ["X'"])
    # false, unless the X' law's j were captured: sum_j j W_ij is not sum_j W_ij
    a_law = step("a' law", d["a'"].lhs, delta * d["a"].lhs
                 + (H - 3) * (sp.Sum(j * W[i, j], (j, 1, D)) - sp.Sum(W[i, j], (j, 1, D))),
                 ["a'", "W'", "X' law", "a"])
    doc["cells"][0]["proof"] = [x_law, a_law] + proof[1:]
    rejected(doc, "(a' law) does not hold")


def test_a_sum_bound_that_is_not_an_integer_is_rejected():
    """sum_{k=1}^{H/3} 1 is H/3 to the algebra but int(H/3) terms to the evaluator."""
    d = defs("layer-norm", "dataset-rescaling")
    H, k = sp.Symbol("H", integer=True, positive=True), sp.Symbol("k", integer=True)
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    a = d["a"].lhs
    law["links"][0]["rhs"] = sp.srepr(sp.Symbol("delta", positive=True) * a + (3 * sp.Sum(1, (k, 1, H / 3)) - H) * a)
    rejected(doc, "whose bounds are integers")


def test_a_step_that_unfolds_into_a_huge_expansion_is_refused_before_expanding():
    d = defs("layer-norm", "weight-matrix-recentering")
    h = d["h"].lhs.base
    n, i = d["h"].lhs.indices
    doc = genuine("layer-norm", "weight-matrix-recentering")
    law = _a_law(doc)
    law["links"][0]["rhs"] = sp.srepr(h[n, i] ** 4 * h[n + 1, i] ** 4 * h[n + 2, i] ** 4)
    law["links"][0]["uses"] += ["h", "mu", "sigma", "sigma^2"]
    rejected(doc, "expands to more than")


def test_a_sum_limit_that_expands_hugely_is_refused():
    d = defs("layer-norm", "dataset-rescaling")
    n, i = d["a"].lhs.indices
    H, D = (sp.Symbol(x, integer=True, positive=True) for x in "HD")
    k, W = sp.Symbol("k", integer=True), sp.IndexedBase("W")
    top = sp.Mul(*[n + i + H + D + q for q in range(1, 15)])
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = f"Add({law['links'][0]['rhs']}, {sp.srepr(sp.Sum(W[i, k], (k, 1, top)))})"
    rejected(doc, "expands to more than")


def test_a_function_of_a_constant_is_refused_before_sympy_evaluates_it():
    """group norm's vocabulary has floor; floor(1001 sum_k 1/(k(k+1))) would be evaluated numerically."""
    k = sp.Symbol("k", integer=True)
    doc = genuine("group-norm", "weight-matrix-rescaling")
    law = _a_law(doc)
    heavy = sp.srepr(1001 * sp.Sum(1 / (k * (k + 1)), (k, 1, 1000)))
    law["links"][0]["rhs"] = f"Add({law['links'][0]['rhs']}, Mul(Integer(0), floor({heavy})))"
    rejected(doc, "floor() of a constant or of a sum is not allowed")


def test_a_tower_of_numeric_powers_is_refused_before_it_is_computed():
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = f"Add({law['links'][0]['rhs']}, " + "Pow(" * 12 + "Integer(1000000)" + ", Integer(4))" * 12 + ")"
    rejected(doc, "a power of a number larger than")


def test_files_that_are_not_regular_files_are_problems_not_hangs(tmp_path):
    import os
    (tmp_path / "a.json").write_text((PROOFS / "layer-norm__dataset-rescaling.json").read_text())
    (tmp_path / "a.md").symlink_to("/dev/zero")
    (tmp_path / "z.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "b.json")
    count, _, problems, *_ = verify_path(tmp_path)
    assert count == 1 and [p.split(":")[0] for p in problems] == ["a.json", "b.json", "z.json"]
    assert all("not a regular file" in p for p in problems)


def test_a_step_dividing_by_many_quantities_is_refused_before_cancel_runs():
    """sum_k 1/(delta + k) = sum_k 1/(delta + k + N) over 2 x 80 denominators made holds' cancel run for minutes."""
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    law = _a_law(doc)
    term = "Pow(Add(Symbol('delta', positive=True), Integer({k})), Integer(-1))"
    law["links"][0]["rhs"] = "Add(" + ", ".join(term.format(k=k) for k in range(1, 81)) + ")"
    law["links"][0]["uses"] = []
    rejected(doc, "divides by 80 different quantities")


def _consequence_doc(norm, trans):
    """The genuine consequences of one cell, as a document of their own."""
    doc = json.loads((PROOFS / "consequences.json").read_text())
    return {**doc, "consequences": [e for e in doc["consequences"]
                                    if (e["normalizer"], e["transformation"]) == (norm, trans)]}


def test_a_rejected_cell_certificate_does_not_carry_its_consequences(tmp_path):
    """A folder's cell certificate that is rejected (here: relabelled invariant, with an
    extra field) must not make consequences of a refuted cell pass."""
    cell = genuine("batch-norm-inference", "weight-matrix-rescaling")
    cell["cells"][0]["verdict"] = "invariant"
    cell["x"] = 1
    (tmp_path / "batch-norm-inference__weight-matrix-rescaling.json").write_text(json.dumps(cell))
    twin = _consequence_doc("batch-norm", "weight-matrix-rescaling")
    for e in twin["consequences"]:
        e["normalizer"] = "batch-norm-inference"
    (tmp_path / "consequences.json").write_text(json.dumps(twin))
    cells, consequences, problems, *_ = verify_path(tmp_path)
    assert consequences == len(CONSEQUENCES) and sum(p.startswith("consequences.json") for p in problems) >= 1


def test_an_id_that_is_not_a_string_is_one_problem_not_a_crash(tmp_path):
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    doc["cells"][0]["normalizer"] = ["a:b"]
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text((PROOFS / "layer-norm__dataset-rescaling.json").read_text())
    (tmp_path / "consequences.json").write_text(json.dumps(_consequence_doc("layer-norm", "dataset-rescaling")))
    cells, consequences, problems, *_ = verify_path(tmp_path)
    assert cells == 2 and consequences == len(CONSEQUENCES) and len(problems) == 1 and problems[0].startswith("a.json")


def test_a_consequence_verdict_does_not_depend_on_the_files_beside_it(tmp_path):
    """A folder holding some other genuine cell must not make an invariant cell's
    consequences 'not apply' (the cited cell is checked afresh when absent)."""
    (tmp_path / "rms.json").write_text((PROOFS / "rms-norm__weight-matrix-rescaling.json").read_text())
    (tmp_path / "consequences.json").write_text(json.dumps(_consequence_doc("layer-norm", "weight-matrix-rescaling")))
    assert verify_path(tmp_path).problems == []


def test_a_markdown_file_that_is_unreadable_or_beside_several_cells_is_a_problem(tmp_path):
    name = "layer-norm__dataset-rescaling"
    doc = genuine("layer-norm", name.split("__")[1])
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "a.md").write_bytes(b"\xff\xfe not utf-8")
    (tmp_path / "b.json").write_text(json.dumps({**doc, "cells": doc["cells"] * 2}))
    (tmp_path / "b.md").write_text((PROOFS / f"{name}.md").read_text().replace("invariant.", "not-invariant."))
    (tmp_path / "c.json").write_text(json.dumps(doc))
    count, _, problems, *_ = verify_path(tmp_path)
    assert count == 4
    assert [p.split(":")[0] for p in problems] == ["a.json", "b.json"]
    assert "unreadable" in problems[0] and "beside a document of 2 cells" in problems[1]


# --- metadata --------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, reason", [
    (lambda ce: ce["sizes"].update(H=4), "must have shape"),
    (lambda ce: ce["sizes"].update(N=0), "size N must be an integer from 1"),
    (lambda ce: ce["sizes"].update(N=True), "size N must be an integer"),
    (lambda ce: ce["sizes"].update(N=10 ** 9), "size N must be an integer from 1 to 8"),
    (lambda ce: ce["sizes"].pop("D"), "sizes must give exactly"),
    (lambda ce: ce["values"]["W"].pop(), "W must have shape"),
    (lambda ce: ce["point"].update(unit=-1), "point unit must be an integer from 1"),
    (lambda ce: ce["point"].update(unit=0), "point unit must be an integer from 1"),
    (lambda ce: ce["point"].update(unit=99), "point unit must be an integer from 1"),
    (lambda ce: ce["point"].pop("unit"), "point must give case, unit"),
])
def test_metadata_that_does_not_match_the_arrays_is_rejected(edit, reason):
    doc = genuine("layer-norm", "dataset-recentering")
    edit(doc["cells"][0]["counterexample"])
    rejected(doc, reason)


def test_group_sizes_must_be_consistent():
    doc = genuine("group-norm", "dataset-recentering")
    ce = doc["cells"][0]["counterexample"]
    ce["sizes"]["S"] += 1
    rejected(doc, "must be 2 x S")


# --- what a reader sees is checked --------------------------------------------------------------

@pytest.mark.parametrize("field, text", [
    ("latex", r"= \delta^{2} {\sigma}_{n}"),
    ("statement", "= -h[n, i]"),
    ("reason", "by the paper"),
    ("reason", "substitute sigma'[n] = delta**2*sigma[n]"),
])
def test_edited_display_text_of_a_link_is_caught(field, text):
    """What a person reads of a link (its maths, its reason in words) is regenerated from the
    checked link and compared: editing one reason is caught like editing one equation."""
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    doc["cells"][0]["proof"][-2]["links"][0][field] = text
    rejected(doc, f"proof[{len(doc['cells'][0]['proof']) - 1}].links[1].{field} is not what the checked content gives")


def test_edited_display_text_of_a_definition_is_caught():
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    doc["cells"][0]["definitions"][0]["latex"] = "W' = W"
    rejected(doc, "not the toolkit's definitions")


def test_an_edited_caveat_is_caught(capsys):
    assert main(["check", "layer-norm", "weight-matrix-rescaling", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)   # check --format json carries the caveats
    assert verify(doc) == []
    doc["cells"][0]["caveats"][0]["statement"] = "with a negative factor h' = h as well"
    rejected(doc, "caveats[1].statement is not what the checked content gives")


def test_an_extra_field_is_caught():
    doc = genuine("layer-norm", "weight-matrix-rescaling")
    doc["cells"][0]["note"] = "reviewed by the authors"
    rejected(doc, "field note is not part of a certificate")


@pytest.mark.parametrize("measured", [{"verdict": "not-invariant", "status": "DISAGREEMENT"}, {"verdict": "invariant"}])
def test_a_numeric_measurement_is_refused_with_what_to_do(measured):
    """A `numeric` annotation (table --numeric) saying not-invariant on a proven cell was
    accepted unchecked: a file verified and misled.  verify accepts no field it does not check."""
    doc = genuine("layer-norm", "weight-matrix-recentering")
    doc["cells"][0]["numeric"] = measured
    problems = rejected(doc, "field numeric is a measurement that verify cannot check")
    assert len(problems) == 1 and "regenerate the file without --numeric" in problems[0]


def test_a_numeric_measurement_on_a_consequence_is_refused(tmp_path):
    name = "layer-norm__weight-matrix-rescaling"
    (tmp_path / f"{name}.json").write_text((PROOFS / f"{name}.json").read_text())
    doc = _consequence_doc("layer-norm", "weight-matrix-rescaling")
    doc["consequences"][0]["numeric"] = {"passed": False, "max_ratio": 1e3}
    (tmp_path / "consequences.json").write_text(json.dumps(doc))
    cells, consequences, problems, *_ = verify_path(tmp_path)
    assert cells == 1 and len(problems) == 1 and problems[0].startswith("consequences.json: layer-norm x ")
    assert "regenerate the file without --numeric" in problems[0]


def test_check_numeric_json_is_refused_by_verify_and_says_how_to_regenerate(tmp_path, capsys):
    assert main(["check", "layer-norm", "dataset-recentering", "--numeric", "--format", "json"]) == 0
    (tmp_path / "c.json").write_text(capsys.readouterr().out)
    assert main(["verify", str(tmp_path / "c.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without --numeric" in err[0]


def test_an_edited_markdown_rendering_is_caught(tmp_path):
    name = "layer-norm__weight-matrix-rescaling"
    (tmp_path / f"{name}.json").write_text((PROOFS / f"{name}.json").read_text())
    md = (PROOFS / f"{name}.md").read_text()
    (tmp_path / f"{name}.md").write_text(md.replace(r"\delta {\sigma}_{n}", r"\delta^{2} {\sigma}_{n}"))
    count, _, problems, *_ = verify_path(tmp_path)
    assert count == 1 and len(problems) == 1 and "Markdown" in problems[0]
    assert problems[0].startswith(f"{name}.json: ")


# --- files that are not certificates -------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("[1, 2]", "a JSON array, not a certificate"),
    ('{"schema": "invariance-certificate/3", "cells": [], "cells": [{}]}', "duplicate key"),
    ('{"schema": "invariance-certificate/3", "cells": [{"verdict": NaN}]}', "NaN is not a JSON number"),
    ("{", "unreadable"),
    ("[" * 100_000, "unreadable"),
])
def test_a_malformed_file_is_one_problem_and_the_others_are_still_checked(tmp_path, text, reason, capsys):
    (tmp_path / "a-bad.json").write_text(text)
    (tmp_path / "b-good.json").write_text((PROOFS / "layer-norm__dataset-recentering.json").read_text())
    assert main(["verify", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("a-bad.json: ") and reason in err[0]
    assert "verified 1 cell: 1 problem" in captured.out


# --- what a file makes the checker compute: cost, not only count (issue 16) ----------------------

_SQRT = "Pow(Add({}), Rational(1, 2))"


_H = "Symbol('H', integer=True, positive=True)"
_LIMIT = f"Tuple(Symbol('k', integer=True), Integer(1), {_H})"


def _radicals(depth: int, factor: int = 1) -> str:
    """sum over `depth` nested ranges (each a size of the layer) of sqrt(k + 3 j + 9 l + ... + 1):
    at sizes of 3, 3^depth distinct radicals."""
    names, sizes = "kjlmopqrst"[:depth], "HDHDHDHDHD"[:depth]
    radicand = ", ".join([f"Mul(Integer({3 ** p}), Symbol('{v}', integer=True))" for p, v in enumerate(names)]
                         + ["Integer(1)"])
    limits = ", ".join(f"Tuple(Symbol('{v}', integer=True), Integer(1), Symbol('{s}', integer=True, positive=True))"
                       for v, s in zip(names, sizes))
    return f"Sum(Mul(Integer({factor}), {_SQRT.format(radicand)}), {limits})"


@pytest.mark.parametrize("extra, reason", [
    # the reported one: a sum of 3,000 distinct radicals, free to the algebra (2 sum - 2 sum = 0)
    (sp.srepr(sp.Sum(2 * sp.sqrt(sp.Symbol("k", integer=True)), (sp.Symbol("k", integer=True), 1, 3000))
              - 2 * sp.Sum(sp.sqrt(sp.Symbol("k", integer=True)), (sp.Symbol("k", integer=True), 1, 3000))),
     "a range must run over one of the layer's sizes"),
    # the same within the ranges allowed: 3^8 = 6,561 distinct radicals, added one by one
    (f"Add({_radicals(8, 2)}, Mul(Integer(-2), {_radicals(8)}))", "costs too much to evaluate"),
    # a product of 200 roots of numbers, which SymPy merges into one radicand of 1,200 digits and
    # tries to factor while the expression is built, times sum_{k=1}^{H} 1 - H (0 to the algebra)
    (f"Mul(Add(Sum(Integer(1), {_LIMIT}), Mul(Integer(-1), {_H})), " + ", ".join(
        f"Pow(Integer({p}), Rational(1, 2))" for p in list(sp.primerange(900_000, 905_000))[:200]) + ")",
     "a root of a number"),
])
def test_a_step_that_is_cheap_to_the_algebra_and_dear_to_the_spot_check_is_refused_quickly(extra, reason):
    doc = genuine("layer-norm", "dataset-rescaling")
    law = _a_law(doc)
    law["links"][0]["rhs"] = f"Add({law['links'][0]['rhs']}, {extra})"
    start = time.monotonic()
    rejected(doc, reason)
    assert time.monotonic() - start < 10


def _huge(rng, digits: int = 60) -> str:
    return f"{rng.randrange(10 ** (digits - 1), 10 ** digits)}/{rng.randrange(10 ** (digits - 1), 10 ** digits)}"


@pytest.mark.parametrize("digits", [60, 12])
def test_a_counterexample_of_large_numbers_is_refused_quickly(digits):
    """Sizes 1 x 8 x 8 and 60-digit rationals: the variance has thousands of digits, and
    its exact square root sent SymPy into factoring (369 s, then a number too long to print).
    Square roots are decided by isqrt; numbers and radicands are bounded."""
    import random
    rng = random.Random(16)
    doc = genuine("layer-norm", "dataset-recentering")
    ce = doc["cells"][0]["counterexample"]
    ce["sizes"] = {"N": 1, "H": 8, "D": 8}
    ce["values"] = {"W": [[_huge(rng, digits) for _ in range(8)] for _ in range(8)],
                    "X": [[_huge(rng, digits) for _ in range(8)]],
                    "g": [_huge(rng, digits) for _ in range(8)], "b": [_huge(rng, digits) for _ in range(8)]}
    ce["parameters"] = {"gamma": [_huge(rng, digits) for _ in range(8)]}
    start = time.monotonic()
    rejected(doc, "the counterexample costs too much to evaluate")
    assert time.monotonic() - start < 10


def test_an_exact_square_root_is_decided_without_factoring():
    """A perfect square of 20,000 digits: math.isqrt, in milliseconds (SymPy would try to factor)."""
    from invariance.core.algebra import evaluate
    x, big = sp.IndexedBase("x"), 3 ** 40_000 + 1
    start = time.monotonic()
    assert evaluate(sp.sqrt(x[1]), {x: [sp.Rational(big ** 2, 7 ** 2)]}) == sp.Rational(big, 7)
    assert time.monotonic() - start < 2


# --- every problem is one line, whatever a file contains ------------------------------------------

_FORGED = "verified 54 cells: 0 problems"


@pytest.mark.parametrize("text", [f"layer-norm\n{_FORGED}", f"x\r{_FORGED}", f"\x1b[2K\r{_FORGED}",
                                  f"x\u2028{_FORGED}", f"x\x85{_FORGED}", "\ud800 a lone surrogate",
                                  "\u202e reversed", "x" * 100_000 + "\n"])
@pytest.mark.parametrize("where", ["normalizer", "field", "file"])
def test_what_a_file_contains_cannot_split_a_problem_line_or_forge_the_summary(tmp_path, capsys, text, where):
    """A normalizer id with a newline split its problem line and printed a forged
    'verified ...: 0 problems'.  Ids, field names and file names are escaped where problems leave."""
    doc = genuine("layer-norm", "weight-matrix-recentering")
    name = "a.json"
    if where == "normalizer":
        doc["cells"][0]["normalizer"] = text
    elif where == "field":
        doc["cells"][0][text] = 1
    else:
        name = text[:200].replace("\ud800", "?") + ".json"
        doc["cells"][0]["x"] = 1
    (tmp_path / name).write_text(json.dumps(doc))
    assert main(["verify", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == ["verified 1 cell: 1 problem"]
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].isprintable() and len(lines[0]) <= 2_100
    assert _FORGED not in out and not lines[0].startswith("verified")


# --- a time budget per file: one problem line, never a hang ---------------------------------------

def _slow_on(cell_ids, swallow=False):
    """Display hooks that take 10 s (or 20, swallowing the first interruption) on the cell ``cell_ids``."""
    import dataclasses
    from invariance.report.certificates import HOOKS, display_problems

    def display(data, cell, markdown):
        if (data.get("normalizer"), data.get("transformation")) == cell_ids:
            if swallow:
                try:
                    time.sleep(10)
                except BaseException:   # as a bare except: in a library would
                    pass
            time.sleep(10)
        return display_problems(data, cell, markdown)
    return dataclasses.replace(HOOKS, display=display)


@pytest.mark.parametrize("swallow", [False, True])
def test_a_file_over_its_time_budget_is_one_problem_and_the_next_file_is_checked(tmp_path, swallow):
    from invariance.kernel import files
    slow = ("layer-norm", "weight-matrix-rescaling")
    for name in ("layer-norm__weight-matrix-rescaling", "rms-norm__weight-matrix-rescaling"):
        (tmp_path / f"{name}.json").write_text((PROOFS / f"{name}.json").read_text())
    (tmp_path / "consequences.json").write_text(json.dumps(_consequence_doc(*slow)))
    start = time.monotonic()
    cells, consequences, problems, *_ = files.verify_path(tmp_path, _slow_on(slow, swallow), budget=1)
    assert time.monotonic() - start < 5
    assert cells == 2 and consequences == len(CONSEQUENCES)
    assert problems[0].startswith("layer-norm__weight-matrix-rescaling.json: not checked within 1 s")
    assert not any(p.startswith("rms-norm") for p in problems)            # the next file: checked, fine
    assert any(p.startswith("consequences.json: ") for p in problems)    # its cell was not proven
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_the_time_budget_with_a_tiny_budget_rejects_every_file_in_one_line_each(tmp_path, capsys):
    from invariance.kernel import files
    from invariance.report.certificates import HOOKS
    for name in ("layer-norm__weight-matrix-rescaling", "weight-norm__dataset-rescaling"):
        (tmp_path / f"{name}.json").write_text((PROOFS / f"{name}.json").read_text())
    (tmp_path / "consequences.json").write_text((PROOFS / "consequences.json").read_text())
    cells, _, problems, *_ = files.verify_path(tmp_path, HOOKS, budget=0.001)
    assert cells == 2 and len(problems) == 3 and all("not checked within 0.001 s" in p for p in problems)
    assert files.verify(genuine("layer-norm", "dataset-rescaling"), HOOKS, budget=0.001)[0].startswith("not checked")
    assert files.verify(genuine("layer-norm", "dataset-rescaling"), HOOKS, budget=None) == []


def test_off_the_main_thread_no_timer_is_armed_and_verify_still_works(tmp_path):
    import threading
    from invariance.kernel import files
    from invariance.report.certificates import HOOKS
    name = "layer-norm__weight-matrix-rescaling"
    (tmp_path / f"{name}.json").write_text((PROOFS / f"{name}.json").read_text())
    out = []
    worker = threading.Thread(target=lambda: out.append(files.verify_path(tmp_path, HOOKS, budget=0.001)))
    worker.start()
    worker.join(60)
    assert out and out[0].problems == []   # the resource bounds alone limit the time there


def test_the_kernel_alone_refuses_what_a_person_reads_that_it_cannot_check(tmp_path):
    """Without the display hook (caveats, Markdown), the kernel does not pass them unread."""
    from invariance.kernel import files
    for suffix in ("json", "md"):
        name = f"layer-norm__weight-matrix-recentering.{suffix}"
        (tmp_path / name).write_text((PROOFS / name).read_text())
    assert verify_path(tmp_path).problems == []
    problems = files.verify_path(tmp_path).problems
    assert len(problems) == 1 and "no renderer to check it against" in problems[0]
    doc = genuine("layer-norm", "weight-matrix-recentering")
    doc["cells"][0]["caveats"] = []
    assert any("caveats is not part of a certificate" in p for p in files.verify(doc))
