"""Forged rewrite documents (``invariance-rewrite/1``), one class of attack at a time.

Each class tried, and what it met (every forgery refused with one line naming its problem):

1. proof steps: a rule other than the one named, two rules in one step, a chain that starts
   elsewhere than the registry's goal, chains that end apart, a hidden condition (in a step or
   in the document), a condition the user did not assume used in a "proved" verdict;
2. counterexamples: a refutation of a provable recipe with fake values (Q not orthogonal, Q
   orthogonal only in floating point, values not in lowest terms or not rationals, numbers past
   40 digits, wrong shapes, sizes past the cap, sizes at the cap with 40-digit values), outputs
   that agree, primed values supplied by the file, a counterexample moved to another recipe;
3. repairs claiming fewer (or other) conditions than their proof uses;
4. unknown keys at every level; schema confusion (rewrite documents mixed with symmetries, a
   list of 10,000, nested lists);
5. resources: term bombs (deep nesting, 2,000 nodes, a huge n-ary sum, deep JSON), a claim
   whose honest proof has 333 steps over a 1,000-node term (took over 30 s: now a bounded node
   budget), a claim's long product with 40-digit entries at size 8 (38 s at 40 factors: now
   bounded), tanh of a 40-digit argument (never returned: now 0.03 s), a statement nested 600
   deep (RecursionError out of verify); each timed against the 30 s budget of a file;
6. display fields that lie (text, reason, conditions_text, claim, correction), condition lists
   doubled, a correction of null, a size 1.0 read as 1;
7. relabelling: every genuine document as every other recipe, a proof of a provable recipe as
   its refuted variant, a "refuted" document for a recipe that is proved (it verifies only with a
   genuine counterexample, and random ones never are);
8. random mutations of every genuine document (junk of every JSON type at any leaf, deletions,
   doublings): never an exception, never a verdict unless the mutation changed nothing.
"""
from __future__ import annotations

import copy
import json
import random
import time
from fractions import Fraction

import pytest

from forgery import rejected
from invariance.catalogue.rewrites import RECIPES, claim
from invariance.core.rewrite import fraction_text, instance_values
from invariance.core.rules import RULES, closure
from invariance.derive.rewrite import orthogonal_matrix
from invariance.kernel import rewrites as K
from invariance.kernel.files import TIME_BUDGET
from invariance.report.certificates import verify, verify_path
from invariance.report.rewrite_commands import rewrite_documents

GENUINE = dict(rewrite_documents(list(RECIPES)))
PROVED = [r for r, d in GENUINE.items() if d["verdict"] == "proved"]
REFUTED = [r for r, d in GENUINE.items() if d["verdict"] == "refuted"]
TIMES: dict[str, float] = {}     # worst verify time of each class of bomb (printed by the last test)


def g(rid: str) -> dict:
    return copy.deepcopy(GENUINE[rid])


def timed(label: str, doc) -> list[str]:
    t0 = time.perf_counter()
    problems = verify(doc)
    TIMES[label] = max(TIMES.get(label, 0.0), time.perf_counter() - t0)
    return problems


def chains(doc, key="proof"):
    """(goal entry, side, steps) of every chain of the document's proof (or repair's)."""
    proof = doc[key] if key == "proof" else doc["repair"]["proof"]
    return [(entry, side, entry[side]) for entry in proof for side in ("lhs", "rhs")]


def claim_doc(original, rewritten, definitions=(), assumptions=()):
    """A claim's document, as ``rewrite --claim`` writes it."""
    from invariance.core.rewrite import document
    from invariance.derive.rewrite import verdict
    r = claim(original, rewritten, list(definitions), list(assumptions))
    return document(verdict(r), r)


# --- 0. the genuine documents verify -----------------------------------------------------------------
def test_every_genuine_document_verifies_alone_and_as_a_list():
    for rid, doc in GENUINE.items():
        assert verify(doc) == [], rid
    assert verify(list(GENUINE.values())) == []
    assert set(PROVED) and set(REFUTED)


# --- 1. proof steps ----------------------------------------------------------------------------------
def test_a_step_that_applies_another_rule_than_it_names():
    for rid in PROVED:
        for entry, side, steps in chains(g(rid)):
            for k, step in enumerate(steps):
                for other in ("identity", "orthogonal", "distribute", "definition"):
                    if other == step["rule"]:
                        continue
                    doc = g(rid)
                    s = doc["proof"][GENUINE[rid]["proof"].index(entry)][side][k]
                    s["rule"], s["reason"] = other, RULES[other].words
                    rejected(doc, f"not one application of {other!r}")


def test_a_step_that_skips_two_rules_in_one():
    """Every genuine chain with a step dropped (the next step then does two rules' work)."""
    tried = 0
    for rid in PROVED:
        for i, entry in enumerate(GENUINE[rid]["proof"]):
            for side in ("lhs", "rhs"):
                for k in range(len(entry[side]) - 1):
                    doc = g(rid)
                    del doc["proof"][i][side][k]
                    rejected(doc, "not one application of")
                    tried += 1
    assert tried > 40


def test_a_chain_that_does_not_start_at_the_goal():
    # the two sides swapped: each chain starts at the other side of the goal
    doc = g("fold-gain")
    e = doc["proof"][0]
    e["lhs"], e["rhs"] = e["rhs"], e["lhs"]
    rejected(doc, "not one application of")
    # a goal's chains under another goal's name (block's chains offered for the head)
    doc = g("rotate-rms")
    block, head = doc["proof"][1], doc["proof"][2]
    head["lhs"], head["rhs"] = block["lhs"], block["rhs"]
    rejected(doc, "not one application of")
    # the goals reordered, or one left out
    doc = g("rotate-rms")
    doc["proof"] = doc["proof"][::-1]
    rejected(doc, "the goals in the recipe's order")
    doc = g("rotate-rms")
    doc["proof"] = doc["proof"][:2]
    rejected(doc, "one entry per goal")


def test_chains_that_end_apart():
    for rid in PROVED:
        for i, entry in enumerate(GENUINE[rid]["proof"]):
            for side in ("lhs", "rhs"):
                if entry[side]:
                    doc = g(rid)
                    doc["proof"][i][side].pop()
                    rejected(doc, "the two chains end apart")


def test_a_hidden_condition():
    # the document claims no condition: its proof used Q orthogonal
    doc = g("rotate-rms")
    doc["conditions"], doc["conditions_text"] = [], []
    rejected(doc, "conditions: not the conditions the proof used")
    # a step hides the condition it used
    doc = g("rotate-rms")
    step = next(s for _, _, steps in chains(doc) for s in steps if s["conditions"])
    step["conditions"] = []
    rejected(doc, "its reason, text or conditions are not the rule's")
    # a step claims a condition it did not use
    doc = g("fold-gain")
    doc["proof"][0]["lhs"][0]["conditions"] = [["orthogonal", "Q"]]
    rejected(doc, "its reason, text or conditions are not the rule's")


@pytest.mark.parametrize("rid", ["rotate-layer-norm", "migrate-scale-relu", "rotate-post-layer-norm"])
def test_a_condition_not_assumed_used_in_a_proved_verdict(rid):
    """The repair's proof (it needs Q 1^T = 1^T, or s > 0, which the user did not assume)
    passed off as a proof of the recipe itself."""
    doc = g(rid)
    rep = doc.pop("repair")
    for k in ("counterexample", "correction"):
        doc.pop(k, None)
    used = sorted({tuple(c) for _, _, steps in chains({"proof": rep["proof"]}) for s in steps for c in s["conditions"]})
    doc.update(verdict="proved", proof=rep["proof"], conditions=[list(c) for c in used],
               conditions_text=[K.condition_text(c) for c in used])
    rejected(doc, "under the conditions allowed")


def test_an_unknown_verdict_or_rule():
    doc = g("rotate-rms")
    doc["verdict"] = "unknown"
    rejected(doc, "verdict: proved or refuted")
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"][0]["rule"] = "trust-me"
    rejected(doc, "an unknown rule")
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"][0]["rule"] = ["definition"]
    rejected(doc, "an unknown rule")


# --- 2. counterexamples ------------------------------------------------------------------------------
def refutation(rid: str, values: dict, sizes: dict | None = None, entry: int = 0) -> dict:
    """A "refuted" document for ``rid`` with the given values (strings)."""
    r = RECIPES[rid]
    doc = {"schema": "invariance-rewrite/1", "recipe": rid, "verdict": "refuted", "claim": r.words,
           "conditions": [], "conditions_text": [],
           "counterexample": {"sizes": sizes or {s: 4 if s == "d" else 3 for s in r.sizes}, "values": values,
                              "entry": entry}}
    if r.correction:
        doc["correction"] = r.correction
    return doc


def random_values(rid: str, sizes: dict, rng: random.Random, digits: int = 1, orthogonal=True) -> dict:
    """Values of every variable a counterexample gives, satisfying the recipe's assumptions."""
    r = RECIPES[rid]
    conds = closure(r.assumptions)
    out = {}
    for name in instance_values(r):
        rows, cols = (1 if s == 1 else sizes[s] for s in r.decl[name])
        if ("orthogonal", name) in conds and orthogonal:
            m = orthogonal_matrix(rows, rng, ("fixes-ones", name) in conds)
        else:
            def q():
                v = Fraction(rng.randint(1, 10 ** digits - 1), rng.randint(1, 10 ** digits - 1))
                return v if ("positive", name) in conds or rng.random() < .5 else -v
            m = [[q() for _ in range(cols)] for _ in range(rows)]
        out[name] = [[fraction_text(v) for v in row] for row in m]
    return out


def _rotate_rms_refutation(**change) -> dict:
    vals = copy.deepcopy(GENUINE["rotate-rms-unfolded"]["counterexample"]["values"])
    vals.pop("g")
    vals.update(change)
    return refutation("rotate-rms", vals, {"v": 3, "d": 4, "m": 3, "k": 2})


def test_a_refutation_of_a_provable_recipe_with_a_q_that_is_not_orthogonal():
    Q = GENUINE["rotate-rms-unfolded"]["counterexample"]["values"]["Q"]
    twice = [[fraction_text(2 * Fraction(x)) for x in row] for row in Q]
    rejected(_rotate_rms_refutation(Q=twice), "Q is not orthogonal")
    # orthogonal in floating point only: a rotation by 1 radian, written to 16 digits
    import math
    c, s = Fraction(math.cos(1)).limit_denominator(10 ** 16), Fraction(math.sin(1)).limit_denominator(10 ** 16)
    rot = [[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    rejected(_rotate_rms_refutation(Q=[[fraction_text(Fraction(x)) for x in row] for row in rot]),
             "Q is not orthogonal")
    # one with a unit row too many: Q Q^T != I off the diagonal
    bad = [row[:] for row in Q]
    bad[1] = bad[0]
    rejected(_rotate_rms_refutation(Q=bad), "Q is not orthogonal")


@pytest.mark.parametrize("entry", ["2/4", "-0", "01", "1/1", "0/5", "0.5", "1e3", "0x10", " 1", "+1", "1/0", "1/-2",
                                   "1" * 41, "1/" + "1" * 41, "½", "١"])
def test_a_value_that_is_not_a_rational_in_lowest_terms(entry):
    vals = copy.deepcopy(GENUINE["migrate-scale-relu"]["counterexample"]["values"])
    vals["z"][0][0] = entry
    rejected(refutation("migrate-scale-relu", vals, GENUINE["migrate-scale-relu"]["counterexample"]["sizes"]),
             "not a rational p or p/q", "not in lowest terms")


@pytest.mark.parametrize("entry", [0.5, 1, True, None, [1], {"p": 1}])
def test_a_value_that_is_not_a_string(entry):
    vals = copy.deepcopy(GENUINE["migrate-scale-relu"]["counterexample"]["values"])
    vals["z"][0][0] = entry
    rejected(refutation("migrate-scale-relu", vals, GENUINE["migrate-scale-relu"]["counterexample"]["sizes"]),
             "not a rational p or p/q")


def test_values_of_the_wrong_shape():
    cx = GENUINE["migrate-scale-relu"]["counterexample"]
    for change in (lambda v: v["z"].append(v["z"][0]),            # two rows
                   lambda v: v["W1"].pop(),                       # a row short
                   lambda v: v["W1"][0].append("1"),              # a ragged row
                   lambda v: v.__setitem__("s", "1"),             # not a matrix
                   lambda v: v.__setitem__("b1", [["1"] * 4])):   # 1 x d for 1 x m
        vals = copy.deepcopy(cx["values"])
        change(vals)
        rejected(refutation("migrate-scale-relu", vals, cx["sizes"]), "counterexample: ")


@pytest.mark.parametrize("sizes", [{"d": 9, "m": 3, "k": 2}, {"d": 0, "m": 3, "k": 2}, {"d": "4", "m": 3, "k": 2},
                                   {"d": True, "m": 3, "k": 2}, {"d": 4.0, "m": 3, "k": 2}, {"d": 4, "m": 3},
                                   {"d": 4, "m": 3, "k": 2, "n": 1}, {"d": 10 ** 100, "m": 3, "k": 2}])
def test_sizes_past_the_cap_or_not_whole_numbers(sizes):
    cx = GENUINE["migrate-scale-relu"]["counterexample"]
    rejected(refutation("migrate-scale-relu", cx["values"], sizes), "counterexample: sizes")


@pytest.mark.parametrize("entry", [2, -1, True, "0", 0.0, None])
def test_an_output_entry_out_of_range(entry):
    cx = GENUINE["migrate-scale-relu"]["counterexample"]
    rejected(refutation("migrate-scale-relu", cx["values"], cx["sizes"], entry), "entry is an output column")


def test_sizes_at_the_cap_with_40_digit_values_are_refused_in_time():
    """Every recipe at the cap (every size 8), 40-digit entries, Q a genuine rational orthogonal
    matrix: for a provable recipe the outputs never certainly differ; each is checked in well
    under a second."""
    rng = random.Random(5)
    for rid in RECIPES:
        sizes = {s: K.MAX_SIZE for s in RECIPES[rid].sizes}
        vals = random_values(rid, sizes, rng, digits=40)
        doc = refutation(rid, vals, sizes)
        problems = timed("sizes at the cap, 40-digit values", doc)
        if rid in PROVED:
            assert problems and ("not shown to differ" in problems[0] or "not evaluated exactly" in problems[0]), \
                (rid, problems)
    assert TIMES["sizes at the cap, 40-digit values"] < 2.0


@pytest.mark.parametrize("rid", PROVED)
def test_random_refutations_of_a_provable_recipe_never_verify(rid):
    """The checker accepts no counterexample of a recipe that is proved: 30 random draws that satisfy
    the assumptions, at sizes 1 to 4, each with every output entry tried."""
    rng = random.Random(rid)
    for _ in range(30):
        sizes = {s: rng.randint(1, 4) for s in RECIPES[rid].sizes}
        vals = random_values(rid, sizes, rng)
        for entry in range(3):
            problems = verify(refutation(rid, vals, sizes, entry))
            assert problems, (rid, sizes, vals, entry)


def test_a_counterexample_whose_outputs_agree():
    # rotate-rms-unfolded with every gain 1: it is rotate-rms, whose outputs agree
    doc = g("rotate-rms-unfolded")
    vals = doc["counterexample"]["values"]
    vals["g"] = [["1"] * len(vals["g"][0])]
    rejected(doc, "is not shown to differ")
    # migrate-scale-relu with every s positive: the rescaling is right there
    doc = g("migrate-scale-relu")
    doc["counterexample"]["values"]["s"] = [["1", "2", "3/2"]]
    rejected(doc, "is not shown to differ")


def test_primed_values_supplied_in_the_file():
    for rid in REFUTED:
        doc = g(rid)
        primed = next(iter(RECIPES[rid].definitions))
        rows, cols = (1 if s == 1 else doc["counterexample"]["sizes"][s] for s in RECIPES[rid].decl[primed])
        doc["counterexample"]["values"][primed] = [["0"] * cols for _ in range(rows)]
        rejected(doc, "values of exactly")


def test_a_counterexample_moved_to_a_provable_recipe():
    # migrate-scale-tanh's counterexample (s > 0) offered against the ReLU recipe: it holds there
    doc = g("migrate-scale-relu")
    doc["counterexample"] = copy.deepcopy(GENUINE["migrate-scale-tanh"]["counterexample"])
    doc.pop("repair")
    rejected(doc, "is not shown to differ")
    # rotate-rms-unfolded's counterexample without its gain, against rotate-rms
    rejected(_rotate_rms_refutation(), "is not shown to differ")
    # migrate-scale-relu's (some s < 0) against the tanh recipe, which assumes s > 0
    doc = g("migrate-scale-tanh")
    doc["counterexample"] = copy.deepcopy(GENUINE["migrate-scale-relu"]["counterexample"])
    rejected(doc, "an entry of s is not positive")


def test_a_refuted_document_with_a_proof_or_conditions():
    doc = g("rotate-rms-unfolded")
    doc["proof"] = GENUINE["rotate-rms"]["proof"]
    rejected(doc, "a refuted rewrite has no proof and no conditions", "only the keys")
    doc = g("rotate-rms-unfolded")
    doc["conditions"], doc["conditions_text"] = [["orthogonal", "Q"]], [K.condition_text(("orthogonal", "Q"))]
    rejected(doc, "a refuted rewrite has no proof and no conditions")
    doc = g("rotate-rms")
    doc["counterexample"] = GENUINE["rotate-rms-unfolded"]["counterexample"]
    rejected(doc, "a proved rewrite has no counterexample")


# --- 3. repairs --------------------------------------------------------------------------------------
REPAIRED = [r for r in REFUTED if "repair" in GENUINE[r]]


@pytest.mark.parametrize("rid", REPAIRED)
def test_a_repair_claiming_fewer_conditions_than_its_proof_uses(rid):
    doc = g(rid)
    doc["repair"]["conditions"], doc["repair"]["conditions_text"] = [], []
    rejected(doc, "under the conditions allowed", "repair conditions: not what")


@pytest.mark.parametrize("rid", REPAIRED)
def test_a_repair_claiming_other_conditions(rid):
    r = RECIPES[rid]
    # one it does not use (a row kept nonzero), beside the one it does
    extra = next(n for n, (rows, _) in r.decl.items() if rows == 1 and n not in r.definitions and n != "s")
    doc = g(rid)
    conds = sorted([tuple(c) for c in doc["repair"]["conditions"]] + [("nonzero", extra)])
    doc["repair"]["conditions"] = [list(c) for c in conds]
    doc["repair"]["conditions_text"] = [K.condition_text(c) for c in conds]
    rejected(doc, "repair conditions: not what the repair's proof used")
    # one the user already assumed
    doc = g(rid)
    conds = sorted({tuple(c) for c in doc["repair"]["conditions"]} | set(r.assumptions))
    doc["repair"]["conditions"] = [list(c) for c in conds]
    doc["repair"]["conditions_text"] = [K.condition_text(c) for c in conds]
    rejected(doc, "repair conditions: not what the repair's proof used")
    # a step of the repair hides its condition
    doc = g(rid)
    step = next(s for _, _, steps in chains(doc, "repair") for s in steps if s["conditions"])
    step["conditions"] = []
    rejected(doc, "its reason, text or conditions are not the rule's")


def test_a_repair_with_an_empty_proof_or_none():
    doc = g("rotate-layer-norm")
    doc["repair"]["proof"] = []
    rejected(doc, "one entry per goal")
    doc = g("rotate-layer-norm")
    doc["repair"] = None
    rejected(doc, "repair: conditions, conditions_text and proof")


# --- 4. unknown keys and schema confusion ------------------------------------------------------------
@pytest.mark.parametrize("where", ["top", "step", "entry", "counterexample", "repair", "statement"])
def test_unknown_keys(where):
    doc = g("rotate-layer-norm") if where in ("counterexample", "repair") else g("rotate-rms")
    if where == "top":
        doc["note"] = "checked by hand"
    elif where == "step":
        doc["proof"][1]["lhs"][0]["trusted"] = True
    elif where == "entry":
        doc["proof"][1]["comment"] = "obvious"
    elif where == "counterexample":
        doc["counterexample"]["outputs"] = [["1"], ["2"]]
    elif where == "repair":
        doc["repair"]["note"] = "also fine"
    else:
        doc = claim_doc("RMS(x Q) Q^T W", "RMS(x) W", assumptions=["Q orthogonal"])
        doc["statement"]["note"] = "x"
    rejected(doc, "only the keys", "a step has exactly", "each with goal, lhs and rhs", "sizes, values and entry",
             "repair: conditions, conditions_text and proof", "statement:")


def test_schema_confusion():
    sym = json.loads(open("proofs/symmetries__rms-norm.json").read())
    one_line = rejected([g("rotate-rms"), sym], "not a certificate")
    assert len(one_line) == 1
    rejected([[g("rotate-rms")]], "not a certificate")
    rejected({**g("rotate-rms"), "schema": "invariance-rewrite/2"}, "not a certificate")
    rejected({**g("rotate-rms"), "cells": []}, "only the keys")
    rejected({"schema": "invariance-certificate/3", "cells": [g("rotate-rms")]}, "")
    rejected({**g("rotate-rms"), "schema": "invariance-symmetries/1"}, "")
    rejected([g("rotate-rms"), None], "not a certificate")
    rejected([], "not a certificate")


def test_a_list_of_ten_thousand_documents_is_refused_at_once():
    docs = [GENUINE["rotate-rms"]] * 10_000
    problems = timed("a list of 10,000", docs)
    assert len(problems) == 1 and "not a certificate" in problems[0]
    assert TIMES["a list of 10,000"] < 1.0


def test_a_list_of_64_heavy_forgeries_stays_within_the_budget(tmp_path):
    """The largest list a file may hold, each document a forgery that makes the checker work as
    long as it can (a claim's long product at size 8 with 40-digit entries): the file is refused
    well within the 30 s budget."""
    doc = _product_bomb(300)
    path = tmp_path / "bomb.json"
    path.write_text(json.dumps([doc] * 64))
    t0 = time.perf_counter()
    report = verify_path(path)
    TIMES["a file of 64 product bombs"] = time.perf_counter() - t0
    assert report.problems and TIMES["a file of 64 product bombs"] < TIME_BUDGET / 2


# --- 5. resources ------------------------------------------------------------------------------------
def _nested(depth: int):
    t = "W1"
    for _ in range(depth):
        t = ["T", ["T", t]]
    return t


@pytest.mark.parametrize("name,term,why", [
    ("deep nesting", _nested(150), "more than 2000 nodes or 200 levels"),
    ("2,001 nodes", ["add"] + ["b1"] * 2000, "more than 2000 nodes"),
    ("a huge n-ary sum", ["add"] + ["b1"] * 1999, "not one application of"),
    ("a huge product", ["dot"] + ["Q"] * 1999, "not one application of"),
    ("a huge product that does not fit", ["dot"] + ["b1"] * 1999, "a product of"),
    ("a term of another recipe", ["dot", "u", "W"], "an undeclared name"),
    ("a size not declared", ["I", "n"], "each a declared size or 1"),
    ("a size 1.0", ["dot", "b1", ["I", 1.0]], "each a declared size or 1"),
    ("a size true", ["dot", "b1", ["I", True]], "each a declared size or 1"),
    ("an op not whitelisted", ["exp", "b1"], "a known op"),
    ("a var op", ["var", "b1"], "a known op"),
    ("a number", 1, "a known op"),
])
def test_term_bombs_and_malformed_terms(name, term, why):
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"][0]["term"] = term
    problems = timed("term bombs in a step", doc)
    assert len(problems) == 1 and why in problems[0], problems
    assert TIMES["term bombs in a step"] < 1.0


def test_deep_json_in_a_file_is_unreadable_not_a_crash(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"schema": "invariance-rewrite/1", "proof": ' + "[" * 100_000 + "]" * 100_000 + "}")
    t0 = time.perf_counter()
    report = verify_path(path)
    assert report.problems and "unreadable" in report.problems[0]
    assert time.perf_counter() - t0 < 2.0


def test_a_500_step_chain_of_valid_looking_steps_is_cut_short():
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"] = doc["proof"][1]["lhs"] * 84          # > MAX_STEPS
    rejected(doc, f"a list of at most {K.MAX_STEPS} steps")
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"] = doc["proof"][1]["lhs"] * 80           # valid start, then a repeated step
    problems = timed("500 steps", doc)
    assert problems and "step 7: not one application" in problems[0]


def test_tanh_of_a_40_digit_argument():
    """exp_ball(2 x) of a 40-digit x squared an enclosure into integers of ~2^130 bits: verify never
    returned (and off the main thread no alarm stops it).  tanh now goes through e^(-2|x|)."""
    doc = g("migrate-scale-tanh")
    doc["counterexample"]["values"]["z"] = [["9" * 40] * 4]
    timed("tanh of a 40-digit argument", doc)
    assert TIMES["tanh of a 40-digit argument"] < 1.0


def _product_bomb(factors: int) -> dict:
    """A claim x (W W .. W)^T = x refuted at size 8 with 40-digit entries: without a budget,
    38 s at 40 factors (the digits of an entry multiply by the width at every product)."""
    r = claim("x (" + " W" * factors + ")^T", "x")
    rng = random.Random(factors)
    sizes = {s: K.MAX_SIZE for s in r.sizes}
    vals = {}
    for n in instance_values(r):
        rows, cols = (1 if s == 1 else sizes[s] for s in r.decl[n])
        vals[n] = [[fraction_text(Fraction(rng.randrange(10 ** 38, 10 ** 39), rng.randrange(10 ** 38, 10 ** 39)))
                    for _ in range(cols)] for _ in range(rows)]
    return {"schema": "invariance-rewrite/1", "recipe": "claim", "statement": r.statement, "verdict": "refuted",
            "claim": r.words, "conditions": [], "conditions_text": [],
            "counterexample": {"sizes": sizes, "values": vals, "entry": 0}}


@pytest.mark.parametrize("factors", [40, 150, 600])
def test_a_claims_long_product_with_40_digit_entries(factors):
    problems = timed("a claim's long product, size 8, 40-digit entries", _product_bomb(factors))
    assert TIMES["a claim's long product, size 8, 40-digit entries"] < 1.5
    if factors > 150:
        assert problems and "more entry operations than the budget" in problems[0]


@pytest.mark.parametrize("text", ["(" * 600 + "x" + ")" * 600, "1/" * 900 + "x", "x" + "^T" * 900,
                                  "RMS(" * 300 + "x" + ")" * 300,
                                  "(" * 20 + "x" + "^T" * 30 + (")" + "^T" * 30) * 20])
def test_a_statement_nested_too_deep(text):
    """A claim's statement nested past the parser's recursion raised RecursionError out of verify."""
    doc = claim_doc("RMS(x Q) Q^T W", "RMS(x) W", assumptions=["Q orthogonal"])
    doc["statement"]["original"] = text
    problems = timed("a statement nested too deep", doc)
    assert len(problems) == 1 and problems[0].startswith("statement: "), problems


def test_a_claim_whose_honest_proof_is_huge():
    """333 summands x_i I: the honest proof has 333 steps over a 1,000-node term; checking every
    application of every step took over 30 s.  The kernel stops at the first application that gives
    the step and counts node visits: refused (too large to check) in a fraction of a second."""
    n = 333
    doc = claim_doc(" + ".join(["x I"] * n), " + ".join(["x"] * n))
    problems = timed("a claim of 333 summands", doc)
    assert problems and "node visits" in problems[0]
    assert TIMES["a claim of 333 summands"] < 2.0
    small = claim_doc(" + ".join(["x I"] * 60), " + ".join(["x"] * 60))
    assert verify(small) == []


def _identity_from_the_end(n: int = 232) -> dict:
    """A claim x + a0 I + .. + a231 I = x + a0 + .., whose one step removes the I of the summand the
    checker tries last: every application of the step is canonicalized before the match."""
    from invariance.core.rules import Context, applications
    from invariance.core.terms import canonical, show, to_json
    r = claim("x + " + " + ".join(f"a{i} I" for i in range(n)), "x + " + " + ".join(f"a{i}" for i in range(n)))
    start = canonical(r.goals[0].lhs)
    new, _ = list(applications(start, RULES["identity"], Context(r.decl, r.definitions)))[-1]
    step = {"rule": "identity", "reason": RULES["identity"].words, "term": to_json(new), "text": show(new),
            "conditions": []}
    return {"schema": "invariance-rewrite/1", "recipe": "claim", "statement": r.statement, "verdict": "proved",
            "claim": r.words, "conditions": [], "conditions_text": [],
            "proof": [{"goal": "function", "lhs": [step], "rhs": []}]}


def test_a_step_matched_by_the_last_application_of_a_large_claim(tmp_path):
    doc = _identity_from_the_end()
    problems = timed("one step matched last, 700-node claim", doc)
    assert problems and "node visits" in problems[0]
    path = tmp_path / "many.json"
    path.write_text(json.dumps([doc] * 64))
    t0 = time.perf_counter()
    report = verify_path(path)
    TIMES["a file of 64 such claims"] = time.perf_counter() - t0
    assert report.problems and "node visits" in report.problems[0]


def test_the_largest_statement_a_claim_may_have(tmp_path):
    """20 definitions and two sides of 2,000 characters each (2,400 parameters): parsed and refused
    quickly, alone and 64 to a file."""
    def f(prefix):
        return ("x + " + " + ".join(f"RMS(x {prefix}{i}) W" for i in range(120)))[:1995].rsplit(" + ", 1)[0]
    defs = [f"P{j}' = " + f(f"B{j}_")[4:].replace("x ", "u ") for j in range(20)]   # from parameters only
    r = claim(f("A"), "x + " + " + ".join(f"P{j}'" for j in range(20)), defs)
    doc = {"schema": "invariance-rewrite/1", "recipe": "claim", "statement": r.statement, "verdict": "proved",
           "claim": r.words, "conditions": [], "conditions_text": [],
           "proof": [{"goal": "function", "lhs": [], "rhs": []}]}
    assert "the two chains end apart" in timed("the largest statement", doc)[0]
    path = tmp_path / "many.json"
    path.write_text(json.dumps([doc] * 64))
    t0 = time.perf_counter()
    report = verify_path(path)
    TIMES["a file of 64 largest statements"] = time.perf_counter() - t0
    assert report.problems


def test_duplicate_json_keys_in_a_file(tmp_path):
    """The later key would win in a plain json.loads: a document saying "refuted" then "proved"."""
    text = json.dumps(g("rotate-rms"))
    path = tmp_path / "dup.json"
    path.write_text(text[:-1] + ', "verdict": "refuted"}')
    report = verify_path(path)
    assert report.problems and "unreadable" in report.problems[0]


def test_tanh_enclosures_hold_against_200_digits():
    """The new tanh (through e^(-2|x|)): every enclosure holds the true value, for small, large and
    40-digit arguments, and for balls of several widths."""
    import mpmath
    from invariance.core.balls import Ball, tanh_ball
    mpmath.mp.dps = 200
    rng = random.Random(7)
    for k in range(600):
        x = [Fraction(rng.randint(-400, 400), rng.randint(1, 60)), Fraction(rng.randint(-10 ** 40, 10 ** 40), 7),
             Fraction(rng.randint(-10 ** 6, 10 ** 6), rng.randint(1, 10 ** 4))][k % 3]
        b = Ball.of(x)
        b = Ball(b.M, b.R + rng.choice([0, 1, 2 ** 40, 2 ** 150]))
        t = tanh_ball(b)
        for end in (b.M - b.R, b.M, b.M + b.R):
            true = mpmath.tanh(mpmath.mpf(end) / 2 ** 160)
            assert mpmath.mpf(t.M - t.R) / 2 ** 160 <= true <= mpmath.mpf(t.M + t.R) / 2 ** 160, (x, end)
        if b.R <= 1 and abs(x) < 40:
            assert t.R < 2 ** 70, (x, t.R)      # tight: under 2^-90


# --- 6. display fields -------------------------------------------------------------------------------
def test_display_fields_that_lie():
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"][3]["text"] = "RMS(x) W1 (trivially)"
    rejected(doc, "its reason, text or conditions are not the rule's")
    doc = g("rotate-rms")
    doc["proof"][1]["lhs"][3]["reason"] = "obvious"
    rejected(doc, "its reason, text or conditions are not the rule's")
    doc = g("rotate-rms")
    doc["conditions_text"] = ["nothing at all"]
    rejected(doc, "conditions_text: not the conditions' words")
    doc = g("rotate-layer-norm")
    doc["repair"]["conditions_text"] = ["Q is any matrix"]
    rejected(doc, "repair conditions_text")
    doc = g("rotate-layer-norm")
    doc["claim"] = RECIPES["rotate-rms"].words
    rejected(doc, "claim: not the recipe's")
    doc = g("rotate-layer-norm")
    doc["correction"] = "rotate-rms"
    rejected(doc, "correction: the registry's is 'absorb-mean-rotate'")
    doc = g("rotate-layer-norm")
    del doc["correction"]
    rejected(doc, "correction: the registry's is 'absorb-mean-rotate'")
    doc = g("migrate-scale-tanh")
    doc["correction"] = None
    rejected(doc, "correction: the registry gives this recipe none")


def test_condition_lists_doubled_or_malformed():
    doc = g("rotate-rms")
    doc["conditions"] *= 2
    doc["conditions_text"] *= 2
    rejected(doc, "each condition once, in order")
    for bad in ([["orthogonal"], "Q"], ["orthogonal", ["Q"]], ["orthogonal", "E'"], ["positive", "Q"],
                ["orthogonal", "b1"], ["invertible", "Q"], "orthogonal Q", None):
        doc = g("rotate-rms")
        doc["conditions"] = [bad]
        rejected(doc, "conditions: ")


# --- 7. relabelling ---------------------------------------------------------------------------------
def test_every_genuine_document_relabelled_as_every_other_recipe():
    tried = 0
    for src in RECIPES:
        for dst in RECIPES:
            if src == dst:
                continue
            doc = g(src)
            doc["recipe"], doc["claim"] = dst, RECIPES[dst].words
            doc.pop("correction", None)
            if RECIPES[dst].correction and doc["verdict"] == "refuted":
                doc["correction"] = RECIPES[dst].correction
            problems = verify(doc)
            assert problems, (src, dst)
            assert all("\n" not in p for p in problems)
            tried += 1
    assert tried == len(RECIPES) * (len(RECIPES) - 1)


def test_a_proof_of_a_provable_recipe_as_its_refuted_variant():
    for src, dst in (("rotate-rms", "rotate-rms-unfolded"), ("rotate-rms", "rotate-layer-norm"),
                     ("rotate-post-rms", "rotate-post-layer-norm"), ("absorb-mean-rotate", "rotate-layer-norm")):
        doc = g(src)
        doc["recipe"], doc["claim"] = dst, RECIPES[dst].words
        rejected(doc, "not one application of", "undeclared name", "the two chains end apart")


def test_a_claim_statement_changed_under_its_proof():
    doc = claim_doc("RMS(x Q) Q^T W", "RMS(x) W", assumptions=["Q orthogonal"])
    assert verify(doc) == []
    forged = copy.deepcopy(doc)
    forged["statement"]["assumptions"] = []            # the proof needs Q orthogonal
    forged["conditions"], forged["conditions_text"] = [], []
    rejected(forged, "not one application of 'rms-rotation'")   # without it, Q is not even square
    forged = copy.deepcopy(doc)
    forged["statement"]["rewritten"] = "RMS(x) W W"
    forged["claim"] = "RMS(x Q) Q^T W = RMS(x) W W"
    rejected(forged, "")
    forged = copy.deepcopy(doc)
    forged.pop("statement")
    rejected(forged, "statement: given exactly when the recipe is claim")
    forged = g("rotate-rms")
    forged["statement"] = doc["statement"]
    rejected(forged, "statement: given exactly when the recipe is claim")
    forged = copy.deepcopy(doc)
    forged["statement"]["original"] = "x $ W"
    rejected(forged, "statement: ")


def test_a_claim_whose_rewritten_parameter_reads_the_token():
    """"RMS(x) W = W', W' = RMS(x) W" was proved in one definition step: a block shown equal to a
    "parameter" that is the block itself.  A rewritten parameter is defined from parameters only:
    claim() refuses it, and so does the checker, which reads the statement through claim()."""
    from invariance.catalogue.rewrites import ClaimError
    from invariance.core.rewrite import document
    from invariance.derive.rewrite import verdict
    for statement in (("RMS(x) W", "W'", ["W' = RMS(x) W"]), ("x W", "x W'", ["W' = W + x^T x W - x^T x W"])):
        with pytest.raises(ClaimError, match="reads the token x"):
            claim(*statement)
    r = claim("RMS(x Q) Q^T W", "RMS(x) W'", ["W' = W"], ["Q orthogonal"])
    forged = document(verdict(r), r)
    forged["statement"] = {"original": "RMS(x) W", "rewritten": "W'", "definitions": ["W' = RMS(x) W"],
                           "assumptions": []}
    rejected(forged, "reads the token x")


def test_a_rewrite_document_that_runs_out_of_time_is_one_problem(tmp_path, monkeypatch):
    """A rewrite document (a dict, no cells) that ran past the budget made verify_path look up its
    "cells": KeyError, a traceback out of ``verify`` (seen with the 6 MB claim of 333 summands before
    the node budget).  Now one problem, like any file out of time."""
    import invariance.kernel.files as F

    def forever(doc):
        while True:
            pass
    monkeypatch.setattr(F, "check_rewrite", forever)
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(GENUINE["rotate-rms"]))
    report = verify_path(path, budget=0.3)
    assert len(report.problems) == 1 and "not checked within 0.3 s" in report.problems[0]


def test_the_bombs_timings():
    """The worst verify time of each class of bomb above (seconds), against the 30 s budget of a
    file.  Printed with ``pytest -s``."""
    for label, seconds in sorted(TIMES.items()):
        print(f"{label}: {seconds:.3f} s")
        # one document: well under a second; a file of 64 (two cores shared): well under the budget
        assert seconds < (TIME_BUDGET / 2 if label.startswith("a file of") else 2.0), label


# --- 8. random mutations ----------------------------------------------------------------------------
_JUNK = [None, True, False, 0, 1, -1, 1.5, 10 ** 30, "", "x", "Q", "d", "I", "1/2", [], {}, [[]], {"a": 1},
         ["I", "d"], ["neg", "x"], [1], ["orthogonal", "Q"], "proved", "refuted", float("nan")]


def _paths(x, p=()):
    yield p
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, p + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, p + (i,))


@pytest.mark.parametrize("rid", list(RECIPES))
def test_random_mutations_never_crash_and_never_verify_unless_harmless(rid):
    """A leaf replaced by junk of any JSON type, a key or an element deleted, an element doubled: verify
    returns one-line problems (never raises); a mutation that verifies is one that changed nothing (the
    same JSON) or a counterexample's value that still refutes.  (5,200 such mutations found 0 crashes.)"""
    rng = random.Random(rid)
    doc = GENUINE[rid]
    paths = [p for p in _paths(doc) if p]
    for _ in range(60):
        d = copy.deepcopy(doc)
        p = rng.choice(paths)
        parent = d
        for k in p[:-1]:
            parent = parent[k]
        mode = rng.random()
        if mode < .7:
            parent[p[-1]] = copy.deepcopy(rng.choice(_JUNK))
        elif mode < .85:
            del parent[p[-1]]
        elif isinstance(parent, list):
            parent.insert(p[-1], copy.deepcopy(parent[p[-1]]))
        else:
            parent["extra"] = 1
        problems = verify(d)
        assert isinstance(problems, list) and all(isinstance(s, str) and "\n" not in s for s in problems)
        if not problems:
            assert d == doc or p[:2] == ("counterexample", "values"), (p, mode)
