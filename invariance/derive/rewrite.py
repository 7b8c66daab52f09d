"""The search for a rewrite's proof or counterexample.

- :func:`normalize` rewrites a term with the first rule that applies (in :data:`RULES`' order,
  outermost place first) until none does; each step is kept.  Both sides of a goal are
  normalized; when they meet, the two chains are the proof.
- When they do not meet under the user's assumptions, the search retries with every rule
  allowed: if they meet then, the conditions that proof used beyond the assumptions are the
  repair ("holds when additionally ...").
- Either way a failed proof proves nothing: :func:`counterexample` evaluates the recipe's
  depth-1 instance exactly at random rational values that satisfy the assumptions (a Hadamard
  matrix for an orthogonal Q of width 4, as QuaRot uses; otherwise a Cayley transform of a
  rational skew-symmetric matrix) and looks for an output entry that certainly differs.
  Without either the verdict is "unknown".
"""
from __future__ import annotations

import random
from fractions import Fraction

from sympy import QQ
from sympy.polys.matrices import DomainMatrix

from ..catalogue.rewrites import Recipe, recipe as _recipe
from ..core.rewrite import (PROVED, REFUTED, UNKNOWN, Chain, Counterexample, Proof, RewriteResult,
                            instance_values)
from ..core.rules import RULES, Context, applications, closure
from ..core.terms import Exact, NotExact, canonical, differ, evaluate

__all__ = ["normalize", "prove", "counterexample", "rewrite", "verdict", "SIZES", "orthogonal_matrix"]

MAX_STEPS = 400
#: Sizes of a counterexample: width 4 holds a rational Hadamard matrix (entries +-1/2).
SIZES = {"d": 4, "m": 3, "k": 2, "v": 3, "n": 3, "p": 2, "q": 3, "r": 2, "s2": 3, "s3": 2}


def normalize(term, ctx: Context, allowed) -> Chain | None:
    """The chain from ``term`` to its normal form; ``allowed`` the conditions the rules may use
    (None: any).  None if it does not end within :data:`MAX_STEPS`."""
    term, steps = canonical(term), []
    for _ in range(MAX_STEPS):
        for rule in RULES.values():
            hit = next(((new, conds) for new, conds in applications(term, rule, ctx)
                        if allowed is None or closure(conds) <= allowed), None)
            if hit is not None:
                term = hit[0]
                steps.append((rule.name, term, tuple(sorted(set(hit[1])))))
                break
        else:
            return Chain(tuple(steps))
    return None


def prove(r: Recipe, allowed) -> Proof | None:
    """Both sides of every goal normalized to one term, or None."""
    ctx = Context(r.decl, r.definitions)
    chains = []
    for goal in r.goals:
        left, right = normalize(goal.lhs, ctx, allowed), normalize(goal.rhs, ctx, allowed)
        if left is None or right is None:
            return None
        if left.end(goal.lhs) != right.end(goal.rhs):
            return None
        chains.append((goal.name,) + _meet(goal, left, right))
    return Proof(tuple(chains))


def _meet(goal, left: Chain, right: Chain) -> tuple[Chain, Chain]:
    """The two chains cut at their first common term (fewest steps in all): the proof a person
    reads goes from one side to the other without a detour through the normal form."""
    lterms = [canonical(goal.lhs)] + [t for _, t, _ in left.steps]
    rterms = [canonical(goal.rhs)] + [t for _, t, _ in right.steps]
    where = {t: j for j, t in reversed(list(enumerate(rterms)))}
    i, j = min(((i, where[t]) for i, t in enumerate(lterms) if t in where), key=lambda p: (p[0] + p[1], p[0]))
    return Chain(left.steps[:i]), Chain(right.steps[:j])


# --- counterexamples ----------------------------------------------------------------------------
def orthogonal_matrix(n: int, rng: random.Random, fixes_ones: bool):
    """A rational orthogonal matrix: Sylvester's Hadamard matrix / 2 at n = 4 (unless it must
    fix the all-ones vector, which it does not), else the Cayley transform (I - A)^-1 (I + A) of
    a random rational skew-symmetric A (with A 1^T = 0 when it must fix 1^T)."""
    if n == 4 and not fixes_ones:
        h = [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]
        return [[Fraction(v, 2) for v in row] for row in h]
    b = [[Fraction(0)] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            b[i][j] = Fraction(rng.randint(-3, 3), rng.randint(1, 3))
            b[j][i] = -b[i][j]
    A = DomainMatrix([[QQ(v.numerator, v.denominator) for v in row] for row in b], (n, n), QQ)
    eye = DomainMatrix.eye(n, QQ)
    if fixes_ones:
        C = eye - DomainMatrix([[QQ(1, n)] * n for _ in range(n)], (n, n), QQ)
        A = C * A * C
    Q = (eye - A).inv() * (eye + A)
    return [[Fraction(int(v.numerator), int(v.denominator)) for v in row] for row in Q.to_list()]


def _draw(r: Recipe, sizes: dict, rng: random.Random) -> dict:
    conds = closure(r.assumptions)
    values = {}
    for name in instance_values(r):
        rows, cols = (1 if s == 1 else sizes[s] for s in r.decl[name])
        if ("orthogonal", name) in conds:
            values[name] = orthogonal_matrix(rows, rng, ("fixes-ones", name) in conds)
            continue
        positive = ("positive", name) in conds

        def entry():
            v = Fraction(rng.randint(1, 9), rng.randint(1, 4))
            return v if positive or rng.random() < 0.5 else -v
        values[name] = [[entry() for _ in range(cols)] for _ in range(rows)]
    return values


def counterexample(r: Recipe, seed: int = 0, tries: int = 40) -> Counterexample | None:
    """Random rational values satisfying the assumptions at which the depth-1 instance's two
    sides certainly differ, or None."""
    rng = random.Random(seed)
    sizes = {k: SIZES[k] for k in r.sizes}
    for _ in range(tries):
        values = _draw(r, sizes, rng)
        env = dict(values)
        try:
            for name, term in r.definitions.items():
                env[name] = evaluate(term, env, sizes, Exact)
            lhs = evaluate(r.instance.lhs, env, sizes, Exact)
            rhs = evaluate(r.instance.rhs, env, sizes, Exact)
        except (NotExact, ZeroDivisionError):
            continue
        for j in range(len(lhs[0])):
            if differ(lhs[0][j], rhs[0][j]):
                return Counterexample(sizes, values, j)
    return None


def rewrite(id: str, seed: int = 0) -> RewriteResult:
    """The verdict on a registered recipe (see :func:`verdict`)."""
    return verdict(_recipe(id), seed)


def verdict(r: Recipe, seed: int = 0) -> RewriteResult:
    """Proved under the user's assumptions; or refuted by a counterexample, with the repair
    (extra conditions) and the corrected recipe where there is one; or unknown."""
    proof = prove(r, closure(r.assumptions))
    if proof is not None:
        return RewriteResult(r.id, PROVED, proof.conditions(), proof, None, None)
    repair = prove(r, None)
    cx = counterexample(r, seed)
    if cx is None:
        return RewriteResult(r.id, UNKNOWN, (), None, None, None)
    return RewriteResult(r.id, REFUTED, (), None, cx, repair)
