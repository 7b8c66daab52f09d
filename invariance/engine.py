"""Derive one cell: a proof of invariance, else an exact counterexample, else unknown.

The proof tactic (one for every normalizer and transformation):

1. the transformation acts on the summed inputs affinely,
   :math:`a' = \\alpha a + \\beta`, derived from ``W'`` and ``X'`` by linearity
   of the sum over inputs (:math:`\\alpha, \\beta` may vary along some axes);
2. each statistic obeys a law, found by checking the candidates
   :math:`s' = s,\\ \\alpha s + \\beta,\\ \\alpha s,\\ \\alpha^2 s` in turn;
3. with those laws the output satisfies :math:`h' = h`.

Every equation is checked by :func:`invariance.algebra.holds`.  If a check
fails the tactic gives up (that is no evidence of anything) and the search
for a counterexample in exact rationals begins.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace

import sympy as sp
from sympy import IndexedBase

from .algebra import Rule, evaluate, exact_nonzero, holds, random_rational, sum_normal_form, unfold
from .definition import Built, Normalizer
from .model import EPS, prime
from .records import INVARIANT, NOT_INVARIANT, UNKNOWN, Cell, Counterexample, Equation, Proof
from .registry import TRANSFORMATIONS, normalizer as _normalizer, transformation as _transformation
from .transformations import Transformation

__all__ = ["derive", "derive_row", "definitions", "affine_law", "try_proof", "find_counterexample",
           "evaluate_outputs", "bind_definitions", "bind_instance", "random_instance", "with_groups",
           "shapes", "dims_of", "counterexample_symbols", "justify", "step_name", "conditions", "refutation_conditions"]


def definitions(b: Built, t: Transformation) -> tuple[Equation, ...]:
    """Every definition a cell needs: W', X', a, a', each statistic and its primed twin, h, h'."""
    m = b.m
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    rest = tuple(pt[ax.name] for ax in m.axes[2:])
    Wp, Xp = prime(m.W), prime(m.X)
    a_rule, a_rule_p = m.a_rule(), m.a_rule(prime(m.a), Wp, Xp)
    eqs = [
        Equation("W'", Wp[i, j], t.w(m, i, j), f"{t.title}: ${t.paper}$"),
        Equation("X'", Xp[(pt["case"], j, *rest)], t.x(m, pt["case"], j, rest), f"{t.title}: ${t.paper}$"),
        Equation("a", a_rule.lhs, a_rule.rhs, "summed inputs"),
        Equation("a'", a_rule_p.lhs, a_rule_p.rhs, "summed inputs of the transformed layer"),
    ]
    for orig, primed in zip(b.stat_rules, b.primed_stat_rules):
        name = orig.base.label.name
        eqs += [Equation(name, orig.lhs, orig.rhs, f"definition of {name}"),
                Equation(name + "'", primed.lhs, primed.rhs, f"{name} of the transformed layer")]
    eqs += [Equation("h", b.out_rule.lhs, b.out_rule.rhs, "normalized output"),
            Equation("h'", b.out_rule_p.lhs, b.out_rule_p.rhs, "normalized output of the transformed layer")]
    return tuple(eqs)


def _rule(e: Equation) -> Rule:
    return Rule(e.lhs, e.rhs)


def affine_law(b: Built, defs: dict[str, Equation]) -> tuple[sp.Expr, sp.Expr] | None:
    """(alpha, beta) with a' = alpha a + beta, read off the sum normal form of a'."""
    m = b.m
    a_pt = m.at(m.a, m.point)
    expr = sum_normal_form(unfold(defs["a'"].rhs, [_rule(defs["W'"]), _rule(defs["X'"])]))
    # a = (the sum over inputs) + (a linear bias, if the model has one): the sum is a - bias
    bias, summed = sum_normal_form(defs["a"].rhs).as_independent(sp.Sum, as_Add=True)
    expr = sp.expand(expr.xreplace({summed: a_pt - bias}))
    beta, linear = expr.as_independent(a_pt, as_Add=True)
    alpha = sp.expand(linear / a_pt)
    return None if alpha.has(a_pt) else (alpha, beta)


def _candidates(s: sp.Expr, alpha, beta, negative: bool = False):
    seen = []
    for law in (s, alpha * s + beta, alpha * s, alpha ** 2 * s) + ((-alpha * s,) if negative else ()):
        if law not in seen:
            seen.append(law)
            yield law


@dataclass
class Laws:
    """What the tactic established: equations so far, alpha, beta, each statistic's law."""

    eqs: list
    alpha: sp.Expr
    beta: sp.Expr
    laws: dict = field(default_factory=dict)      # statistic name -> law
    missing: str | None = None                    # first statistic without a law

    def rules(self, names) -> list[Rule]:
        byname = {e.name: e for e in self.eqs}
        return [_rule(byname[u]) for u in names]

    def check(self, eq: Equation) -> bool:
        return holds(eq.lhs, eq.rhs, self.rules(eq.uses))

    @property
    def law_names(self) -> tuple[str, ...]:
        return tuple(n + "' law" for n in self.laws)


def derive_laws(b: Built, t: Transformation, substitute: dict | None = None) -> Laws | None:
    """Steps 1 and 2 of the tactic; stops at the first statistic with no law.

    ``substitute`` replaces symbols in W' and X' (e.g. a negative delta).
    """
    m = b.m
    eqs = [Equation(e.name, e.lhs, e.rhs.xreplace(substitute), e.justification)
           if substitute and e.name in ("W'", "X'") else e for e in definitions(b, t)]
    byname = {e.name: e for e in eqs}
    law = affine_law(b, byname)
    if law is None:
        return None
    state = Laws(eqs, *law)
    step = Equation("a' law", byname["a'"].lhs, state.alpha * m.at(m.a, m.point) + state.beta,
                    "", ("a'", "W'", "X'", "a"))
    step = replace(step, justification=justify(step, eqs))
    if not state.check(step):
        return None
    eqs.append(step)
    for orig in b.stat_rules:
        name = orig.base.label.name
        at = dict(zip((m.point[ax] for ax in b.kept[name]), orig.lhs.indices))
        uses = (name + "'", "a' law", *state.law_names, "W'", "X'", name)
        for cand in _candidates(orig.lhs, state.alpha.xreplace(at), state.beta.xreplace(at),
                                negative=bool(substitute)):
            eq = Equation(name + "' law", byname[name + "'"].lhs, cand, "", uses)
            eq = replace(eq, justification=justify(eq, state.eqs))
            if state.check(eq):
                eqs.append(eq)
                state.laws[name] = cand
                break
        else:
            state.missing = name
            return state
    return state


def try_proof(b: Built, t: Transformation, substitute: dict | None = None,
              targets=None, state: Laws | None = None) -> tuple[Proof, dict, sp.Expr] | None:
    """Run the tactic; the proof, the statistics' laws and alpha, or None.

    ``targets(h, b)`` lists the right-hand sides tried for ``h'`` (default: h);
    ``state`` is a :func:`derive_laws` result to reuse.
    """
    state = state or derive_laws(b, t, substitute)
    if state is None or state.missing:
        return None
    m, byname = b.m, {e.name: e for e in state.eqs}
    h, bias = byname["h"].lhs, m.b[m.point["unit"]]
    for target in (targets(h, bias) if targets else (h,)):
        final = Equation("invariance" if target == h else "relation", byname["h'"].lhs, target, "",
                         ("h'", "a' law", *state.law_names, "h"))
        final = replace(final, justification=justify(final, state.eqs))
        if state.check(final):
            return Proof(tuple(state.eqs) + (final,)), state.laws, state.alpha
    return None


def step_name(lhs: sp.Indexed) -> str:
    """A step's name, derived from what it states: ``mu' law`` for mu', ``invariance`` for h'."""
    label = lhs.base.label.name
    return "invariance" if label == "h'" else f"{label} law"


def justify(step: Equation, earlier) -> str:
    """The words beside a step, derived from the step and the steps before it
    (never stored apart from them, so a checker can regenerate them)."""
    label = step.lhs.base.label.name
    if label == "a'":
        return "substitute W' and X' into a'; linearity of the sum over the inputs j"
    if label == "h'":
        a_law = next((e for e in earlier if e.uses and e.lhs.base.label.name == "a'"), None)
        same = a_law is not None and a_law.rhs == a_law.lhs.xreplace({a_law.lhs.base: IndexedBase("a")})
        return "substitute the a' law and the laws of the statistics into h'; " + \
            ("nothing changes" if same else "alpha and beta cancel")
    name = label.removesuffix("'")
    if step.rhs == step.lhs.xreplace({step.lhs.base: IndexedBase(name)}):
        return f"definition of {name}, substitute the earlier laws: {name} does not change"
    return f"definition of {name}, substitute the a' law and the earlier laws; linearity of the sum"


def conditions(b: Built, t: Transformation, eps_zero: bool) -> tuple[sp.Basic, ...]:
    """The assumptions a proof rests on: the transformation's (its factors
    positive), eps = 0 if the proof needed it, and the statistics in the
    output's denominator non-zero."""
    out = list(t.conditions)
    if eps_zero:
        out.append(sp.Eq(EPS, 0))
    denom = sp.fraction(sp.together(b.out_rule.rhs))[1]
    out += [sp.Ne(s, 0) for s in sorted(denom.atoms(sp.Indexed), key=str)]
    return tuple(out)


def refutation_conditions(norm: Normalizer) -> tuple[sp.Basic, ...]:
    """Counterexamples are evaluated with eps = 0, if the normalizer has an eps."""
    return (sp.Eq(EPS, 0),) if any(r.rhs.has(EPS) for r in norm.build(EPS).stat_rules) else ()


# --- exact evaluation and counterexamples --------------------------------------

def evaluate_outputs(eqs, values: dict, sizes: dict, point_indices) -> dict:
    """Exact h and h' at every point, from the definitions alone.

    ``values`` maps IndexedBases to nested lists and plain symbols to numbers;
    ``sizes`` maps size symbols to integers.  Each defined symbol becomes a
    memoised function of its indices.
    """
    arrays, _ = bind_definitions(eqs, values, sizes)
    return _outputs(eqs, arrays, point_indices)


def _outputs(eqs, arrays: dict, point_indices) -> dict:
    """h and h' at every point, from arrays already bound by :func:`bind_definitions`."""
    byname = {e.name: e for e in eqs}
    return {name: {idx: arrays[byname[name].lhs.base](*idx) for idx in point_indices}
            for name in ("h", "h'")}


def bind_definitions(eqs, values: dict, env: dict) -> tuple[dict, dict]:
    """(arrays, env) for :func:`invariance.algebra.evaluate`: the IndexedBases of
    ``values`` and every defined symbol (a memoised function of its indices) as
    arrays, the plain symbols of ``values`` added to ``env``."""
    arrays = {k: v for k, v in values.items() if isinstance(k, sp.IndexedBase)}
    env = {**env, **{k: v for k, v in values.items() if not isinstance(k, sp.IndexedBase)}}
    for e in eqs:
        if e.is_definition:
            arrays[e.lhs.base] = _memo(_rule(e), arrays, env)
    return arrays, env


def _memo(rule: Rule, arrays, env):
    cache = {}

    def value(*idx):
        if idx not in cache:
            cache[idx] = evaluate(rule.rhs, arrays, {**env, **dict(zip(rule.lhs.indices, idx))})
        return cache[idx]
    return value


def with_groups(b: Built, sizes: dict) -> dict:
    """``sizes`` of the model's axes, completed for group statistics: the unit
    axis's size is read as the group size S, and C = groups * S."""
    extra = [s for s in b.size_symbols if s not in sizes]
    if not (b.norm.groups and extra):
        return sizes
    unit = b.m.axis("unit").size
    return {**sizes, extra[0]: sizes[unit], unit: sizes[unit] * b.norm.groups}


def _size_grid(b: Built):
    """Concrete sizes, smallest first (group sizes S up to 2)."""
    m = b.m
    names = [ax.size for ax in (*m.axes, m.input)]
    combos = (dict(zip(names, combo)) for combo in itertools.product(range(1, 4), repeat=len(names)))
    grid = [with_groups(b, s) for s in combos if not (b.norm.groups and s[m.axis("unit").size] > 2)]
    return sorted(grid, key=lambda s: (sp.prod(list(s.values())), sum(s.values())))


def _array(rng, shape):
    if not shape:
        return random_rational(rng)
    return [_array(rng, shape[1:]) for _ in range(shape[0])]


def shapes(b: Built, sizes: dict) -> dict[str, tuple[int, ...]]:
    """The shape of each input of the layer (W, X, g, b) at ``sizes`` (symbol -> int)."""
    m = b.m
    H, D, N = (sizes[m.axis(ax).size] for ax in ("unit", "input", "case"))
    return {"W": (H, D), "X": (N, D, *[sizes[ax.size] for ax in m.axes[2:]]), "g": (H,), "b": (H,)}


def dims_of(b: Built, sizes: dict) -> dict[str, int]:
    """Sizes by name, with ``H`` for the unit axis whatever the model calls it."""
    return {str(k): v for k, v in sizes.items()} | {"H": sizes[b.m.axis("unit").size]}


def bind_instance(b: Built, t: Transformation, values: dict, params: dict, sizes: dict) -> dict:
    """Symbol -> value for one instance: the layer's inputs by name (W, X, g, b),
    the normalizer's registered constants, and the symbols the transformation
    derives from its parameters.  The only place an instance meets the symbols."""
    m = b.m
    inputs = {m.W: values["W"], m.X: values["X"], m.g: values["g"], m.b: values["b"]}
    return inputs | b.norm.constants | t.values(params, dims_of(b, sizes))


def counterexample_symbols(b: Built, t: Transformation, ce: Counterexample) -> dict:
    """Symbol -> value of a counterexample, as :func:`bind_instance` binds them."""
    sizes = {s: ce.sizes[s.name] for s in (*b.m.sizes, *b.size_symbols)}
    return bind_instance(b, t, ce.values, ce.parameters, sizes)


def random_instance(b: Built, t: Transformation, rng: random.Random, sizes: dict, unit_gain: bool = True):
    """Exact random W and X, gain and bias (1 and 0 if ``unit_gain``) and the
    transformation's parameters at ``sizes``: (inputs by name, parameters)."""
    shape = shapes(b, sizes)
    H = shape["g"][0]
    values = {k: _array(rng, shape[k]) for k in ("W", "X")}
    values |= ({"g": [sp.Integer(1)] * H, "b": [sp.Integer(0)] * H} if unit_gain
               else {"g": _array(rng, (H,)), "b": _array(rng, (H,))})
    return values, t.exact(rng, dims_of(b, sizes))


def _honest(eqs, arrays, sizes: dict, input_size, points, out: dict, bias) -> tuple | None:
    """The first point at which the instance is an honest counterexample, or None.

    Honest: ``h'`` is none of ``h``, ``-h`` and ``2b - h`` there (each of those
    looks like the sign-flip caveat of an invariant cell), and the
    transformation is not a negative re-scaling in disguise: with a single input
    (``D = 1``) every change of the summed inputs is a re-scaling,
    :math:`a' = (a'/a)\\,a`, so every such factor must be positive.
    """
    if sizes[input_size] == 1:
        byname = {e.name: e for e in eqs}
        a, a_t = arrays[byname["a"].lhs.base], arrays[byname["a'"].lhs.base]
        for idx in points:
            if a(*idx) == 0 or not (a_t(*idx) / a(*idx)).is_positive:
                return None
    for idx in points:
        h, h_t = out["h"][idx], out["h'"][idx]
        b = bias(idx)
        if all(exact_nonzero(h_t - other) for other in (h, -h, 2 * b - h)):
            return idx
    return None


def find_counterexample(b: Built, t: Transformation, seed: int = 0, draws: int = 4) -> Counterexample | None:
    """Smallest sizes first, a few exact random draws each; gain 1, bias 0.

    The first *honest* instance is returned (see :func:`_honest`): outputs that
    differ only by a sign, or a re-centering that is a negative re-scaling in
    disguise, read like the negative-scale caveat of an invariant cell and
    convince nobody.  Only if no size of the grid has an honest instance is the
    first instance whose outputs differ at all returned.
    """
    m = b.m
    rng = random.Random(seed)
    eqs = definitions(b, t)
    unit = [ax.name for ax in m.axes].index("unit")   # where a point holds its unit
    fallback = None
    for sizes in _size_grid(b):
        points = list(itertools.product(*[range(1, sizes[ax.size] + 1) for ax in m.axes]))
        for _ in range(draws):
            values, params = random_instance(b, t, rng, sizes)
            bound = bind_instance(b, t, values, params, sizes)
            arrays, _ = bind_definitions(eqs, bound, sizes)   # once: _honest reads a and a' from it too
            out = _outputs(eqs, arrays, points)
            if not all(v.is_finite for h in out.values() for v in h.values()):
                continue  # a statistic is zero here: no evidence either way
            searched = {str(k): v for k, v in sizes.items()}   # as searched: no derived H

            def found(idx):
                return Counterexample(searched, values, params, dict(zip((ax.name for ax in m.axes), idx)),
                                      out["h"][idx], out["h'"][idx])
            bias = lambda idx: values["b"][idx[unit] - 1]  # noqa: E731
            idx = _honest(eqs, arrays, sizes, m.input.size, points, out, bias)
            if idx is not None:
                return found(idx)
            if fallback is None:
                differ = [p for p in points if exact_nonzero(out["h'"][p] - out["h"][p])]
                fallback = found(differ[0]) if differ else None
    return fallback


# --- the whole cell ----------------------------------------------------------

def derive(norm: Normalizer | str, trans: Transformation | str) -> Cell:
    """The verdict for one normalizer and one transformation, with its evidence.

    The proof is tried with a symbolic epsilon; only if it stops at a
    definition that contains epsilon is it tried again with epsilon = 0.
    """
    norm = _normalizer(norm) if isinstance(norm, str) else norm
    trans = _transformation(trans) if isinstance(trans, str) else trans
    b = norm.build(EPS)
    state = derive_laws(b, trans)
    found = try_proof(b, trans, state=state)
    # eps = 0 can only help where the tactic stopped at a statistic containing eps, or at h' = h
    # with eps in h itself (laws found with a symbolic eps still hold at eps = 0)
    stopped_at = b.out_rule if state is not None and state.missing is None else \
        b.stat_rule(state.missing) if state is not None else None
    blocked_by_eps = stopped_at is not None and stopped_at.rhs.has(EPS)
    if found is None and blocked_by_eps:
        b = norm.build(sp.S.Zero)
        found = try_proof(b, trans)
    if found:
        proof, laws, _ = found
        return Cell(norm.id, trans.id, INVARIANT, conditions(b, trans, b.eps == 0),
                    proof=proof, laws=laws, definitions=definitions(b, trans))
    b = b if b.eps == 0 else norm.build(sp.S.Zero)
    ce = find_counterexample(b, trans)
    if ce is not None:
        return Cell(norm.id, trans.id, NOT_INVARIANT, refutation_conditions(norm),
                    counterexample=ce, definitions=definitions(b, trans))
    return Cell(norm.id, trans.id, UNKNOWN)


def derive_row(norm: Normalizer | str, transformations=None) -> list[Cell]:
    """A row of the table: ``norm`` under each transformation (all, by default)."""
    return [derive(norm, t) for t in (transformations or TRANSFORMATIONS.values())]
