"""Forged consequences, one class of attack at a time: each must be rejected by the kernel
with a one-line reason, quickly.

Every forgery starts from a genuine entry of ``proofs/consequences.json`` and
is written the way an honest entry is (:func:`forged`: the toolkit's own
serializer, so every display field is right): its only flaw is the step it
adds or changes.  The kernel is called alone (:mod:`invariance.kernel.consequences`),
with the cited cell taken as proven under the entry's conditions.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sympy as sp
from sympy import IndexedBase, Sum, Symbol

from invariance.core.consequence import applying, consequence_json, justify
from invariance.core.model import DENSE
from invariance.core.records import Equation
from invariance.core.training import COEFFICIENTS, DL, DPHI, ETA, GRAD
from invariance.kernel import consequences as kernel
from invariance.kernel.consequences import check_consequence, definitions_for

PROOFS = Path(__file__).parent.parent / "proofs"
ORTHOGONALITY = ("layer-norm", "weight-matrix-recentering", "gradient-orthogonality")   # v = v[j]
SCALING = ("layer-norm", "weight-matrix-rescaling", "gradient-scaling")                # U = U[i, j]

i, j, n = DENSE.axis("unit").index, DENSE.input.index, DENSE.point["case"]
H, D = DENSE.axis("unit").size, DENSE.input.size
k = Symbol("k", integer=True)   # a summation index of the forger's own
W, X, G = DENSE.W, DENSE.X, GRAD["W"]
v, U, c = IndexedBase("v"), IndexedBase("U"), IndexedBase("c")
XI, XI_U = IndexedBase("xi^W"), IndexedBase("xi_U^W")
delta = Symbol("delta", positive=True)


def genuine(norm: str, trans: str, kind: str) -> dict:
    doc = json.loads((PROOFS / "consequences.json").read_text())
    return next(e for e in doc["consequences"]
                if (e["normalizer"], e["transformation"], e["consequence"]) == (norm, trans, kind))


def proven(entry: dict):
    """The cited cell, taken as proven under the entry's own conditions."""
    return lambda norm, trans: tuple(entry["conditions"])


def forged(norm: str, trans: str, kind: str, first=(), replace: dict | None = None) -> dict:
    """The genuine entry with the steps ``first`` ((lhs, rhs, uses) each) put before its own
    (renumbered) and the steps of ``replace`` (number -> (lhs, rhs, uses)) changed, written
    by the toolkit's serializer: names, words, LaTeX and the definitions shown are all right."""
    entry = genuine(norm, trans, kind)
    d = definitions_for(norm, trans, "epsilon = 0" in entry["conditions"])
    shift = len(first)
    renamed = lambda u: f"step {int(u.split()[1]) + shift}" if u.startswith("step ") else u  # noqa: E731
    steps = [(lhs, rhs, tuple(uses)) for lhs, rhs, uses in first]
    steps += [(sp.sympify(s["lhs"]), sp.sympify(s["rhs"]), tuple(map(renamed, s["uses"]))) for s in entry["steps"]]
    for number, step in (replace or {}).items():
        steps[number - 1] = step
    eqs = [Equation(f"step {no}", lhs, rhs, "", uses) for no, (lhs, rhs, uses) in enumerate(steps, 1)]
    eqs = [Equation(e.name, e.lhs, e.rhs, justify(e, d), e.uses) for e in eqs]
    return json.loads(json.dumps(consequence_json(applying(d, kind, d.conditions, eqs))))


def rejected(entry: dict, *words: str) -> str:
    """Rejected, quickly, with one problem on one line naming ``words``."""
    start = time.perf_counter()
    problems = check_consequence(entry, proven(entry))
    assert time.perf_counter() - start < 20, "not rejected quickly"
    assert len(problems) == 1, problems
    assert "\n" not in problems[0] and len(problems[0]) < 400
    assert all(w in problems[0] for w in words), problems[0]
    return problems[0]


def test_the_forger_s_serializer_rebuilds_genuine_entries_exactly():
    """So that each forgery below differs from a genuine entry only where it says."""
    for cell in (ORTHOGONALITY, SCALING):
        entry = genuine(*cell)
        assert forged(*cell) == entry
        assert check_consequence(entry, proven(entry)) == []


# --- coefficients read off a form that only looks linear in the direction ----------------

def _coefficient_forgery(e, form_a, form_b, uses_a, uses_b, coefficient_a, coefficient_b, direction_sum):
    """E = sum_l d_l A_l, E = sum_l d_l B_l, hence (the forgery) A_l = B_l."""
    return [(e, direction_sum(form_a), uses_a), (e, direction_sum(form_b), uses_b),
            (coefficient_a, coefficient_b, [COEFFICIENTS, "step 1", "step 2"])]


def _over_v(body):
    return Sum(v[j] * body, (j, 1, D))


def _over_u(body):
    return Sum(U[i, j] * body, (i, 1, H), (j, 1, D))


# Each inner sum reuses the outer sum's index (it binds its own): the two forms then have the
# same normal form, as the forger needs for steps 1 and 2 to hold.
def _dot_v(a):
    return Sum(v[j] * a[i, j] if a is W else v[j] * a[n, j], (j, 1, D))


def _dot_u(a):
    return Sum(U[i, j] * a[i, j], (i, 1, H), (j, 1, D))


def _xi_dot(base, a):
    return Sum(base[i, j] * (a[i, j] if a is W else a[n, j]), (j, 1, D)) if base is XI else \
        Sum(base[i, j] * a[i, j], (i, 1, H), (j, 1, D))


# the red team's example: W_ij <v, X_n> = X_nj <v, W_i> read off <v, W_i><v, X_n>, both written
# with xi^W = v (false: D = 2, v = (1, 0), W_i = (1, 0), X_n = (0, 1), j = 2 gives 0 = 1)
XI_HIDES_V = _coefficient_forgery(
    _dot_v(W) * _dot_v(X), W[i, j] * _xi_dot(XI, X), X[n, j] * _xi_dot(XI, W), ["xi^W"], ["xi^W"],
    W[i, j] * _xi_dot(XI, X), X[n, j] * _xi_dot(XI, W), _over_v)

# D_v phi is defined (the chain rule) as <v, c>: W_ij D_v phi = c_j <v, W_i> is false
DPHI_HIDES_V = _coefficient_forgery(
    DPHI * _dot_v(W), W[i, j] * DPHI, c[j] * _xi_dot(XI, W), [], ["chain rule", "xi^W", "c"],
    W[i, j] * DPHI, c[j] * _xi_dot(XI, W), _over_v)

# the direction U of gradient scaling, hidden in xi_U^W = delta U: W_ij <xi_U, G> = G_ij <xi_U, W> is false
XI_U_HIDES_U = _coefficient_forgery(
    delta * _dot_u(W) * _dot_u(G), W[i, j] * _xi_dot(XI_U, G), G[i, j] * _xi_dot(XI_U, W),
    ["xi_U^W"], ["xi_U^W"], W[i, j] * _xi_dot(XI_U, G), G[i, j] * _xi_dot(XI_U, W), _over_u)

# ... and in D_U L = <U, G> (the chain rule along U): W_ij D_U L = G_ij <U, W> is false
DL_HIDES_U = _coefficient_forgery(
    DL * _dot_u(W), W[i, j] * DL, G[i, j] * _xi_dot(XI_U, W) / delta, [], ["chain rule U", "xi_U^W"],
    W[i, j] * DL, G[i, j] * _xi_dot(XI_U, W) / delta, _over_u)

HIDDEN = [("xi^W hides v (the red team's example)", ORTHOGONALITY, XI_HIDES_V, "v"),
          ("D_v phi hides v", ORTHOGONALITY, DPHI_HIDES_V, "v"),
          ("xi_U^W hides U", SCALING, XI_U_HIDES_U, "U"),
          ("D_U L hides U", SCALING, DL_HIDES_U, "U")]


@pytest.mark.parametrize("what, cell, steps, direction", HIDDEN, ids=[h[0] for h in HIDDEN])
def test_a_coefficient_that_depends_on_the_direction_through_a_definition_is_rejected(what, cell, steps,
                                                                                      direction):
    """The coefficient's text does not mention the direction, its definition does: the
    two forms are not linear in it, and equal forms need not have equal coefficients."""
    reason = rejected(forged(*cell, first=steps), "step 3", f"depends on the direction {direction}")
    assert "not the coefficients" in reason


def test_the_red_team_s_example_is_false():
    """D = 2, v = (1, 0), W_i = (1, 0), X_n = (0, 1), j = 2: W_ij <v, X_n> = 0, X_nj <v, W_i> = 1."""
    vv, Wi, Xn = (1, 0), (1, 0), (0, 1)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))   # noqa: E731
    assert Wi[1] * dot(vv, Xn) == 0 and Xn[1] * dot(vv, Wi) == 1


def test_the_forms_are_equal_so_only_the_coefficient_step_is_false():
    """Steps 1 and 2 of each forgery are true and pass: the rejection is of step 3 alone."""
    for _, cell, steps, _ in HIDDEN:
        entry = forged(*cell, first=steps[:2])
        problems = check_consequence(entry, proven(entry))
        assert not any(p.startswith(("step 1", "step 2")) for p in problems), problems


def test_a_coefficient_of_the_wrong_form_is_rejected():
    """Step 3 of the genuine orthogonality, stated for v's coefficient in the wrong
    form: c = sum_i W_ij dL/dW_ij is no coefficient of D_v phi = sum_j v_j c_j."""
    wrong = (c[j], Sum(W[i, j] * G[i, j], (i, 1, H)), [COEFFICIENTS, "step 1", "step 2"])
    rejected(forged(*ORTHOGONALITY, replace={3: wrong}), "step 3", "not the coefficients")


def test_a_coefficient_that_mentions_the_direction_itself_is_rejected():
    """c_j v_j = 0 read off D_v phi = sum_j v_j c_j: v is still there."""
    wrong = (c[j] * v[j], sp.S.Zero, [COEFFICIENTS, "step 1", "step 2"])
    rejected(forged(*ORTHOGONALITY, replace={3: wrong}), "step 3", "depends on the direction v")


# --- the spot check behind every step -------------------------------------------------------

def _no_algebra(monkeypatch):
    """As if the algebra (holds) had a bug that accepts every step: the spot check remains."""
    monkeypatch.setattr(kernel, "holds", lambda *args, **kw: True)


def test_a_step_false_at_one_entry_fails_the_spot_check(monkeypatch):
    """c_j = c_j + (j - 1)(j - 3) W_1j is false at j = 2 only."""
    _no_algebra(monkeypatch)
    step = (c[j], c[j] + (j - 1) * (j - 3) * W[1, j], ["c"])
    rejected(forged(*ORTHOGONALITY, first=[step]), "step 1 fails at a random exact point (j = 2)")


def test_a_coefficient_step_false_at_one_entry_fails_the_spot_check(monkeypatch):
    """c_j = (j - 1)(j - 3) X_1j read off D_v phi = sum_j v_j c_j = 0: wrong at j = 2."""
    _no_algebra(monkeypatch)
    wrong = (c[j], (j - 1) * (j - 3) * X[1, j], [COEFFICIENTS, "step 1", "step 2"])
    rejected(forged(*ORTHOGONALITY, replace={3: wrong}), "step 3 fails at a random exact point")


@pytest.mark.parametrize("index", [0, -1, 4])
def test_an_entry_outside_the_layer_is_refused_not_wrapped(index):
    """c_0 = c_0 is true as algebra; at index 0 or -1 a list would wrap to the last entry."""
    step = (c[index], c[index], ["c"])
    assert "outside" in rejected(forged(*ORTHOGONALITY, first=[step]), "step 1")


def test_a_step_that_adds_up_a_million_terms_is_refused_quickly():
    """sum_{k=1}^{10^6} eta = 10^6 eta holds; evaluating it would add a million terms."""
    step = (Sum(ETA, (k, 1, 10 ** 6)), 10 ** 6 * ETA, [])
    reason = rejected(forged(*ORTHOGONALITY, first=[step]), "step 1")
    assert "adds up more than" in reason or "sum" in reason.lower()


def test_the_spot_check_points_come_from_the_system_s_randomness(monkeypatch):
    """Not from the names in the file: each entry draws its seed from :mod:`secrets`."""
    drawn = []
    real = kernel.secrets.randbits
    monkeypatch.setattr(kernel.secrets, "randbits", lambda bits: drawn.append(bits) or real(bits))
    entry = genuine(*ORTHOGONALITY)
    assert check_consequence(entry, proven(entry)) == [] and check_consequence(entry, proven(entry)) == []
    assert drawn == [128, 128]
