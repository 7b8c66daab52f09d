"""The symmetries of blocks (issue 20): dimensions derived by hand, found by the engine, measured
in float64; the new rewrite rules sound; a non-symmetry not proved; forged documents refused.

The dimensions, by hand (x a token, 1 x d; m hidden units; the Jacobian is w.r.t. every
parameter, for every token; "generic" = a point where each ReLU unit is on for some tokens and
off for others):

- relu-mlp, relu(x W1 + b1) W2 + b2: on each activation region the map is affine; crossing unit
  j's hyperplane {x w_j + b_j = 0} changes its slope by the rank-one w_j v_j^T (v_j = row j of
  W2) and its offset by b_j v_j, so (w_j, b_j) is known up to a factor and v_j up to its inverse:
  one direction per unit, the positive re-scaling.  **m**.
- tanh-mlp: tanh is not positively homogeneous; its only symmetries (sign flips, permutations)
  are discrete.  **0**.
- pre-rms-block, x + relu(RMS(x) diag(g) W1 + b1) W2 + b2: the first map is diag(g) W1 (a
  product: g_i s_i with row i of W1 over s_i, d directions), RMS(x) fills a sphere that spans
  R^d (no linear relation to exploit), and the ReLU MLP has its m.  **d + m**.
- pre-ln-block, x + relu((LN(x) diag(g) + beta) W1 + b1) W2 + b2: the map u -> u diag(g) W1 +
  beta W1 + b1 on u = LN(x), which lies in 1^perp: (i) g, beta re-scaled with W1's rows (d),
  (ii) beta moved by a with b1 moved by -a W1 (d), (iii) diag(g) W1 moved by 1^T c, i.e. W1 by
  diag(1/g) 1^T c with b1 compensating (m), since LN(x) 1^T = 0, (iv) the hidden scaling (m).
  **2d + 2m**.
- post-ln-block, LN(z) diag(g) + beta with z = x + relu(x W1 + b1) W2 + b2: LN(z) = LN(z + a 1)
  for a per token; dz = h dW2 + db2 must be a multiple of 1 for every hidden h: each row of W2
  along 1 (m), b2 along 1 (1); and the hidden scaling (m).  x is not a parameter, so the
  scale-invariance of LN gives nothing.  **2m + 1**.
- post-rms-block, RMS(z) diag(g): dz must be a multiple of z = x + h W2 + b2 per token, which
  no parameter direction gives (x is free); the hidden scaling.  **m**.
- rms-model, t E -> x + relu(RMS(x) W1 + b1) W2 + b2 -> RMS(x) H (v >= d): the stream can be
  rotated (E Q, Q^T W1, W2 Q, b2 Q, Q^T H: d(d-1)/2) and re-scaled (E, W2, b2 times a > 0:
  RMS ignores the scale at eps = 0: 1); the hidden scaling (m).  **d(d-1)/2 + m + 1**.
- ln-model, the same with LN: LN reads x C only, so a rotation must keep 1^perp, i.e. fix 1:
  (d-1)(d-2)/2; the scale (1); every writer may add a multiple of 1: E's rows (v), W2's rows
  (m), b2 (1); every reader may add 1^T c, since LN's output is orthogonal to 1: W1 (m), H (k);
  and the hidden scaling (m).  **(d-1)(d-2)/2 + v + 3m + k + 2**.

A full rotation of the LN model and the tanh MLP's re-scaling are candidates the rules must not
prove (they are no symmetries: their tangents leave the Jacobian's null space).
"""
from __future__ import annotations

import copy
import functools
import json
import random
from fractions import Fraction

import pytest
import sympy as sp

from forgery import rejected
from invariance.catalogue.blocks import BLOCKS, Block, recipe_of
from invariance.core.balls import Ball
from invariance.core.block_jacobian import columns, jacobian, tangents
from invariance.core.jacobian import outside_null_space
from invariance.core.rules import RULES, Context, applications, closure
from invariance.core.terms import Exact, add, canonical, diag, differ, dot, evaluate, shape, var
from invariance.derive.block_symmetries import block_symmetries, document
from invariance.derive.rewrite import prove
from invariance.kernel import block_symmetries as KB
from invariance.kernel.block_symmetries import check_block_symmetries
from invariance.numeric.block_measure import check_block, measure_block

d, m, k, v = sp.symbols("d m k v")
HAND = {
    "relu-mlp": m,
    "tanh-mlp": sp.S.Zero,
    "pre-rms-block": d + m,
    "pre-ln-block": 2 * d + 2 * m,
    "post-ln-block": 2 * m + 1,
    "post-rms-block": m,
    "rms-model": d * (d - 1) / 2 + m + 1,
    "ln-model": (d - 1) * (d - 2) / 2 + v + 3 * m + k + 2,
}


@functools.lru_cache(maxsize=None)
def analysis(bid):
    return block_symmetries(bid)


@functools.lru_cache(maxsize=None)
def genuine(bid):
    return json.loads(json.dumps(document(analysis(bid))))


def _at(expr, sizes):
    return int(sp.sympify(expr).subs({sp.Symbol(n): s for n, s in sizes.items()}))


# --- the dimensions -------------------------------------------------------------------------------
def test_every_block_has_a_hand_derived_dimension():
    assert set(HAND) == set(BLOCKS)


@pytest.mark.parametrize("bid", list(HAND))
def test_the_engine_finds_the_hand_derived_dimension_and_certifies_it(bid):
    s = analysis(bid)
    assert sp.simplify(s.dimension - HAND[bid]) == 0, s.dimension
    assert s.complete
    done = [c for c in s.certificates if c.complete]
    assert len({tuple(c.sizes.values()) for c in done}) >= 3
    for c in done:
        assert min(c.sizes.values()) >= 3 and len(set(c.sizes.values())) == len(c.sizes)
        assert c.columns - c.rank == c.proved == _at(HAND[bid], c.sizes)


@pytest.mark.parametrize("bid", list(HAND))
def test_the_float64_null_space_agrees_at_every_certified_size(bid):
    ms = check_block(analysis(bid))
    assert len(ms) >= 3
    for x in ms:
        assert x.dimension == _at(HAND[bid], x.sizes), (x.sizes, x.dimension)
        assert x.spectrum.first_dropped is None or x.spectrum.last_kept > 1e6 * x.spectrum.first_dropped


@pytest.mark.parametrize("bid", ["pre-ln-block", "post-ln-block", "ln-model"])
def test_pytorch_reverse_mode_measures_alike(bid):
    pytest.importorskip("torch")
    import numpy as np
    from invariance.numeric.block_measure import complex_step
    from invariance.numeric.block_torch import torch_jacobian
    b, c = BLOCKS[bid], next(c for c in analysis(bid).certificates if c.complete)
    assert np.allclose(torch_jacobian(b, c.sizes, c.values, c.tokens), complex_step(b, c.sizes, c.values, c.tokens),
                       rtol=1e-9, atol=1e-12)
    for x in check_block(analysis(bid), backend="torch"):
        assert x.dimension == _at(HAND[bid], x.sizes)


def test_the_measurement_sees_a_dead_unit_as_extra_directions():
    """The measurement is not a copy of the formula: a size the certificates avoid (v < d, where
    the W1 directions the embedding never writes are free) measures more."""
    sizes = {"v": 3, "d": 5, "m": 4, "k": 6}
    assert measure_block("rms-model", sizes).dimension > _at(HAND["rms-model"], sizes)


# --- held-out blocks: no families of their own, only the candidates read off their shapes -----------
n_ = sp.Symbol("n")


def _bare(b):
    return Block(b.id + "-bare", b.title, b.words, b.sizes, b.token, b.decl, b.output, ())


def _deep_relu():
    """relu(relu(x W1 + b1) W2 + b2) W3 + b3: by hand, each hidden unit of either layer has its
    positive re-scaling (its input row and bias times s, its output row over s), and a generic
    point no other direction (as for one layer, unit by unit): m + n."""
    x, w = var("x"), {k: var(k) for k in ("W1", "b1", "W2", "b2", "W3", "b3")}
    h1 = ("relu", add(dot(x, w["W1"]), w["b1"]))
    h2 = ("relu", add(dot(h1, w["W2"]), w["b2"]))
    return Block("deep-relu", "two-hidden-layer ReLU MLP", "", {"d": "in", "m": "hidden 1", "n": "hidden 2", "k": "out"},
                 "x", {"x": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "n"), "b2": (1, "n"),
                       "W3": ("n", "k"), "b3": (1, "k")}, add(dot(h2, w["W3"]), w["b3"]), ())


def _rms_model_with_gains():
    """t E -> x + relu(RMS(x) diag(g) W1 + b1) W2 + b2 -> RMS(x) diag(g2) H, gains not folded.
    By hand: the rotations survive, the readers undoing the gain around Q^T (W1' = diag(1/g) Q^T
    diag(g) W1, H' likewise: W1 is any matrix, so it absorbs any invertible map), d(d-1)/2; each
    gain folds into its reader, 2d; the stream's scale, 1; the hidden scaling, m."""
    V = {k: var(k) for k in ("t", "E", "g", "W1", "b1", "W2", "b2", "g2", "H")}
    x0 = dot(V["t"], V["E"])
    h = ("relu", add(dot(("rms", x0), diag(V["g"]), V["W1"]), V["b1"]))
    x1 = add(x0, dot(h, V["W2"]), V["b2"])
    b = BLOCKS["rms-model"]
    decl = dict(b.decl) | {"g": (1, "d"), "g2": (1, "d")}
    return Block("rms-model-gains", "", "", b.sizes, "t", decl, dot(("rms", x1), diag(V["g2"]), V["H"]), ())


@pytest.mark.parametrize("make, hand", [
    (_deep_relu, m + n_),
    (_rms_model_with_gains, d * (d - 1) / 2 + 2 * d + m + 1),
    (lambda: _bare(BLOCKS["pre-ln-block"]), HAND["pre-ln-block"]),
    (lambda: _bare(BLOCKS["post-ln-block"]), HAND["post-ln-block"]),
    (lambda: _bare(BLOCKS["ln-model"]), HAND["ln-model"]),
    (lambda: _bare(BLOCKS["rms-model"]), HAND["rms-model"]),
])
def test_a_block_without_families_gets_them_from_its_shapes(monkeypatch, make, hand):
    b = make()
    assert b.families == ()
    monkeypatch.setitem(BLOCKS, b.id, b)
    s = block_symmetries(b.id)
    assert sp.simplify(s.dimension - hand) == 0 and s.complete, s.dimension
    assert all(x.agrees for x in check_block(s))
    assert check_block_symmetries(json.loads(json.dumps(document(s)))) == []


# --- the arithmetic the kernel trusts, against independent computations ----------------------------------
@pytest.mark.parametrize("bid", list(HAND))
def test_the_exact_jacobian_is_the_complex_step_one(bid):
    """The Dual field through terms.evaluate (exact, balls) and the complex step through NumPy agree
    entry by entry at a certified point."""
    import numpy as np
    from invariance.numeric.block_measure import complex_step
    b, c = BLOCKS[bid], next(c for c in analysis(bid).certificates if c.complete)
    exact = jacobian(b.output, b.token, b.params, b.decl, c.sizes, c.values, c.tokens)
    f = lambda q: float(q.m) if isinstance(q, Ball) else float(q)   # noqa: E731
    assert np.allclose(np.array([[f(q) for q in r] for r in exact]),
                       complex_step(b, c.sizes, c.values, c.tokens), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bid", ["pre-ln-block", "ln-model"])
def test_each_tangent_is_the_difference_quotient_of_its_family(bid):
    """d params'(identity + eps A) / d eps, exactly, against (params'(identity + eps A) - params) / eps
    at eps = 10^-8 (the maps are polynomial or rational in the generator: off by O(eps))."""
    from invariance.core.block_jacobian import basis_directions
    b, c = BLOCKS[bid], next(c for c in analysis(bid).certificates if c.complete)
    eps = Fraction(1, 10 ** 8)
    for d in analysis(bid).basis:
        f = d.family
        (gen,) = f.generators
        tv = tangents(f, b.params, b.decl, c.sizes, c.values)
        cols = columns(b.params, b.decl, c.sizes)
        for k, (ident, A) in enumerate(basis_directions(gen, c.sizes)):
            env = dict(c.values)
            env[gen.name] = [[ident[i][j] + eps * A[i][j] for j in range(len(A[0]))] for i in range(len(A))]
            moved = {n[:-1]: evaluate(t, env, c.sizes, Exact) for n, t in f.definitions.items()}
            for (p, i, j), want in zip(cols, tv[k]):
                got = (moved[p][i][j] - c.values[p][i][j]) / eps if p in moved else 0
                assert abs(got - want) < Fraction(1, 10 ** 6), (f.id, p, i, j)


# --- the non-symmetries ---------------------------------------------------------------------------
@pytest.mark.parametrize("bid, fid", [("tanh-mlp", "hidden-scale"), ("ln-model", "rotation")])
def test_a_family_that_is_no_symmetry_is_not_proved(bid, fid):
    b = BLOCKS[bid]
    f = next(f for f in b.families if f.id == fid)
    r = recipe_of(b, f)
    assert prove(r, closure(r.assumptions)) is None
    assert fid in [g.id for g in analysis(bid).refused]
    c = next(c for c in analysis(bid).certificates if c.complete)
    J = jacobian(b.output, b.token, b.params, b.decl, c.sizes, c.values, c.tokens)
    tv = tangents(f, b.params, b.decl, c.sizes, c.values)
    assert outside_null_space(J, tv, 1) is not None     # and indeed it is none


def test_the_same_re_scaling_through_relu_is_proved():
    b = BLOCKS["relu-mlp"]
    r = recipe_of(b, b.families[0])
    assert prove(r, closure(r.assumptions)) is not None
    assert prove(r, closure([("nonzero", "s")])) is None     # ReLU needs s > 0, not only s != 0


# --- the new rules are sound ------------------------------------------------------------------------
def _rand(rng, rows, cols, positive=False):
    return [[Fraction(rng.randint(1, 9), rng.randint(1, 5)) * (1 if positive or rng.random() < .5 else -1)
             for _ in range(cols)] for _ in range(rows)]


def _equal(a, b) -> bool:
    return all(not differ(p, q) and (Ball.of(p).r + Ball.of(q).r) < Fraction(1, 2 ** 100)
               for ra, rb in zip(a, b) for p, q in zip(ra, rb))


def _rewritten(rule, term, decl):
    hits = list(applications(canonical(term), RULES[rule], Context(decl, {})))
    assert hits, f"{rule} does not apply"
    return hits[0]


U, M_, A, C = ("var", "u"), ("var", "M"), ("var", "a"), ("C", "d")
SCALAR = ("diag", ("dot", A, ("ones", "d")))
CASES = {   # rule: (term, declared shapes, the conditions it must state)
    "ones-centred": (("dot", ("ones", "d"), C, M_), {"M": ("d", "k")}, set()),
    "centred-rms-ones": (("dot", ("rms", ("dot", U, C)), ("T", ("ones", "d")), A),
                         {"u": (1, "d"), "a": (1, 1)}, set()),
    "scalar": (("dot", U, SCALAR, M_), {"u": (1, "d"), "a": (1, 1), "M": ("d", "k")}, set()),
    "rms-scale": (("rms", ("add", ("dot", U, SCALAR), ("dot", ("var", "w"), SCALAR))),
                  {"u": (1, "d"), "w": (1, "d"), "a": (1, 1)}, {("positive", "a"), ("eps-zero", "eps")}),
}


@pytest.mark.parametrize("rule", list(CASES))
@pytest.mark.parametrize("n", [3, 4, 6])
def test_each_new_rule_holds_at_random_rational_instances(rule, n):
    term, decl, conds = CASES[rule]
    new, used = _rewritten(rule, term, decl)
    assert set(used) == conds
    rng = random.Random(n)
    sizes = {"d": n, "k": n + 1}
    for _ in range(3):
        env = {name: _rand(rng, *(1 if s == 1 else sizes[s] for s in sh), positive=(name == "a"))
               for name, sh in decl.items()}
        assert shape(term, decl) == shape(new, decl)
        assert _equal(evaluate(term, env, sizes, Exact), evaluate(new, env, sizes, Exact))


def test_rms_scale_breaks_without_its_conditions():
    term, decl, _ = CASES["rms-scale"]
    new, _ = _rewritten("rms-scale", term, decl)
    rng, sizes = random.Random(7), {"d": 4}
    env = {"u": _rand(rng, 1, 4), "w": _rand(rng, 1, 4), "a": [[Fraction(-3, 2)]]}     # a < 0
    lhs, rhs = evaluate(term, env, sizes, Exact), evaluate(new, env, sizes, Exact)
    assert any(differ(p, q) for p, q in zip(lhs[0], rhs[0]))
    env["a"] = [[Fraction(3, 2)]]                                                       # eps > 0
    lhs, rhs = evaluate(term, env, sizes, Exact, eps=Fraction(1, 10)), evaluate(new, env, sizes, Exact, eps=Fraction(1, 10))
    assert any(differ(p, q) for p, q in zip(lhs[0], rhs[0]))


def test_centred_rms_ones_does_not_fire_on_an_uncentred_row_where_it_is_false():
    term = ("dot", ("rms", U), ("T", ("ones", "d")))
    decl = {"u": (1, "d")}
    assert not list(applications(term, RULES["centred-rms-ones"], Context(decl, {})))
    value = evaluate(term, {"u": [[Fraction(1), Fraction(2), Fraction(4)]]}, {"d": 3}, Exact)
    assert differ(value[0][0], Fraction(0))


def test_the_scalar_rule_does_not_swap_two_scalars_forever():
    decl = {"a": (1, 1), "q": (1, 1), "u": (1, "d")}
    other = ("diag", ("dot", ("var", "q"), ("ones", "d")))
    assert not list(applications(("dot", U, SCALAR, other), RULES["scalar"], Context(decl, {})))


# --- documents: the genuine verify, forgeries are refused ---------------------------------------------
@pytest.mark.parametrize("bid", ["relu-mlp", "pre-ln-block", "ln-model"])
def test_a_genuine_document_verifies(bid):
    assert check_block_symmetries(genuine(bid)) == []
    from invariance.report.certificates import verify
    assert verify(genuine(bid)) == []


def test_forgery_inflated_dimension():
    doc = copy.deepcopy(genuine("post-rms-block"))
    doc["dimension"] = "2*m"
    rejected(doc, "the sum of the basis' counts")
    doc = copy.deepcopy(genuine("post-rms-block"))
    doc["basis"][0]["count"] = "2*m"
    rejected(doc, "directions")
    doc = copy.deepcopy(genuine("post-rms-block"))
    doc["basis"].append(copy.deepcopy(doc["basis"][0]))
    rejected(doc, "listed twice", "at most")
    # a real candidate added, with a proof borrowed from the family it imitates, and every count to fit
    doc = copy.deepcopy(genuine("ln-model"))
    good = next(e for e in doc["basis"] if e["family"] == "rotation-fixing-ones")
    fake = dict(good, family="rotation", count="d*(d - 1)/2", conditions=[["orthogonal", "Q"]])
    doc["basis"].insert(0, fake)
    dim = sp.sympify(doc["dimension"]) + sp.sympify(fake["count"])
    doc["dimension"] = str(sp.Add(*[sp.sympify(e["count"]) for e in doc["basis"]]))
    for c in doc["completeness"]:
        extra = _at(fake["count"], c["sizes"])
        c["rank"] -= extra
        c["proved"] += extra
    assert sp.simplify(dim - sp.sympify(doc["dimension"])) == 0
    rejected(doc, "not one application", "end apart", "step")


def test_forgery_a_tangent_outside_the_null_space(monkeypatch):
    """With the proof check out of the way (as if a false proof slipped through), the kernel's
    own test of each tangent against the Jacobian still refuses a family that is no symmetry."""
    monkeypatch.setattr(KB, "check_proof", lambda *a, **k: set())
    doc = copy.deepcopy(genuine("tanh-mlp"))
    doc["basis"] = [{"family": "hidden-scale", "count": "m", "conditions": [["positive", "s"]], "proof": []}]
    doc["dimension"] = "m"
    for c in doc["completeness"]:
        c["rank"] -= c["sizes"]["m"]
        c["proved"] = c["sizes"]["m"]
    problems = check_block_symmetries(doc)
    assert problems and "changes the output" in problems[0], problems


def test_forgery_a_completeness_certificate_that_does_not_certify():
    doc = copy.deepcopy(genuine("relu-mlp"))
    c = doc["completeness"][0]
    c["tokens"] = [c["tokens"][0]] * len(c["tokens"])          # one token, repeated: a rank too low
    rejected(doc, "completeness not shown", "not shown independent")
    doc = copy.deepcopy(genuine("relu-mlp"))
    doc["completeness"][1]["values"]["b1"] = [["1000"] * len(doc["completeness"][1]["values"]["b1"][0])]
    rejected(doc, "completeness not shown")                     # every unit always on: linear, more directions
    doc = copy.deepcopy(genuine("relu-mlp"))
    c = doc["completeness"][0]
    c["tokens"] = c["tokens"][:1]                              # too few rows to certify anything
    rejected(doc, "tokens must stack")
    doc = copy.deepcopy(genuine("relu-mlp"))
    c = doc["completeness"][0]
    c["values"]["W1"] = [["0"] * len(r) for r in c["values"]["W1"]]
    c["values"]["b1"] = [["0"] * len(c["values"]["b1"][0])]
    rejected(doc, "not differentiable")                         # every pre-activation at ReLU's kink


def test_forgery_shapes_and_bounds():
    doc = copy.deepcopy(genuine("relu-mlp"))
    doc["completeness"][0]["sizes"]["d"] = 40
    rejected(doc, "whole numbers 3 to 8")
    doc = copy.deepcopy(genuine("relu-mlp"))
    doc["completeness"][0]["sizes"]["d"] = True
    rejected(doc, "whole numbers")
    doc = copy.deepcopy(genuine("relu-mlp"))
    doc["completeness"] = doc["completeness"][:2]
    rejected(doc, "3 to 4 sets")
    doc = copy.deepcopy(genuine("relu-mlp"))
    doc["completeness"][0]["values"]["W2"][0][0] = "__import__('os')"
    rejected(doc, "exact rational")
    doc = copy.deepcopy(genuine("relu-mlp"))
    doc["block"] = "x" * 10_000
    rejected(doc, "not a registered block")


# --- the command line -------------------------------------------------------------------------------
def test_the_command_prints_a_block_and_its_measurement(capsys):
    from invariance.__main__ import main
    assert main(["symmetries", "pre-ln-block", "--numeric"]) == 0
    out = capsys.readouterr().out
    assert "dimension 2*d + 2*m" in out and "complete: at (d, m)" in out and "(agrees)" in out
    assert main(["symmetries", "relu-mlp", "--format", "json"]) == 0
    assert check_block_symmetries(json.loads(capsys.readouterr().out)) == []
    assert main(["symmetries", "relu-mlp", "--all"]) == 2
    assert main(["symmetries", "relu-mlp", "--kind", "data"]) == 2
    assert main(["symmetries", "--blocks", "--all"]) == 2
    assert main(["symmetries", "relu-mlpp"]) == 2
    assert "did you mean 'relu-mlp'" in capsys.readouterr().err


def test_the_readme_table_is_what_the_engine_finds():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for bid in BLOCKS:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{bid}` |")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        s = analysis(bid)
        assert cells[2] == f"`{s.dimension}`" and cells[3] == "; ".join(d.family.id for d in s.basis), bid


# --- a block given as a formula (symmetries --block) ---------------------------------------------
def test_a_block_given_as_a_formula_gets_its_symmetries_and_its_certificate_verifies(tmp_path, capsys):
    """x + ReLU(RMS(x) diag(g) W1 + b1) W2, by hand: g against W1's rows (d) and the hidden
    re-scaling (m); nothing else moves (W2 writes the residual, which nothing re-reads)."""
    from invariance.__main__ import main
    assert main(["symmetries", "--block", "x + ReLU(RMS(x) diag(g) W1 + b1) W2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["block"] == "your-block" and doc["dimension"] == "d + m"
    f = tmp_path / "yours.json"
    f.write_text(json.dumps(doc))
    assert main(["verify", str(f)]) == 0
    assert "the symmetries of 1 block: 0 problems" in capsys.readouterr().out
    doc["formula"] = "x + ReLU(RMS(x) diag(g) W1 + b1) W2 + b2"   # another block: its proofs do not fit
    f.write_text(json.dumps(doc))
    assert main(["verify", str(f)]) == 1
    del doc["formula"]                                            # no formula: no block to check against
    f.write_text(json.dumps(doc))
    assert main(["verify", str(f)]) == 1


def test_a_post_ln_formula_block_measures_what_is_certified(capsys):
    """LN(x + ReLU(x W1) W2) diag(g): the hidden re-scaling (m) and W2's rows moved along 1 (m)."""
    from invariance.__main__ import main
    assert main(["symmetries", "--block", "LN(x + ReLU(x W1) W2) diag(g)", "--numeric"]) == 0
    out = capsys.readouterr().out
    assert "dimension 2*m" in out and "(agrees)" in out


@pytest.mark.parametrize("args, words", [
    (["--block", "x W + ("], "ends early"),
    (["--block", "RMS(x)"], "reads x alone"),
    (["--block", "x W", "relu-mlp"], "takes the place of"),
])
def test_a_bad_formula_block_is_one_line_and_exit_2(args, words, capsys):
    from invariance.__main__ import main
    assert main(["symmetries"] + args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_every_number_of_sizes_a_formula_block_may_have_has_sets_of_sizes_to_certify_at():
    """formula_block admits SIZE_COUNTS independent sizes; the search has SIZE_SETS for each."""
    from invariance.catalogue.blocks import SIZE_COUNTS
    from invariance.derive.block_symmetries import SIZE_SETS
    assert set(SIZE_SETS) == set(SIZE_COUNTS)
    assert all(len(t) == n and len(set(t)) == n for n, sets in SIZE_SETS.items() for t in sets)


def test_a_formula_certificate_moved_to_a_formula_with_the_same_shapes_is_refused():
    """A forgery of a new kind: the ReLU MLP's genuine formula certificate, its formula swapped for
    tanh(x W1 + b1) W2 + b2. The parameters, the shapes and the candidate family's id all match
    (the tanh block has the same shape-read candidate), but the family is no symmetry of tanh.
    The checker re-derives the goal from the new formula, and the borrowed chains do not prove it."""
    from invariance.catalogue.blocks import formula_block
    from invariance.derive.block_symmetries import document as block_document
    doc = json.loads(json.dumps(block_document(block_symmetries(formula_block("ReLU(x W1 + b1) W2 + b2")))))
    assert check_block_symmetries(doc) == []
    doc["formula"] = "tanh(x W1 + b1) W2 + b2"
    problems = check_block_symmetries(doc)
    assert problems and "not one application" in problems[0]
