"""What a cell is made of, shared by the search and the kernel: its definitions
(W', X', a, a', the statistics, h, h' from the registry's normalizer and
transformation), its conditions, how a' acts on a, and exact instances of
the layer evaluated from the definitions alone.

Nothing here searches: each function is a pure reading of the definitions.
"""
from __future__ import annotations

import random

import sympy as sp

from .algebra import Rule, evaluate, random_rational
from .definition import Built, Normalizer, is_primed_scalar, primed_scalar
from .model import EPS, prime
from .proof import ACTING, abbreviations, affine_law  # noqa: F401 (affine_law: read with the definitions)
from .records import Counterexample, Equation

__all__ = ["definitions", "MOVED", "ACTING", "acting", "affine_law", "conditions", "refutation_conditions", "step_name",
           "evaluate_outputs", "bind_definitions", "bind_instance", "random_instance", "with_groups",
           "shapes", "dims_of", "counterexample_symbols", "outputs_at"]


def definitions(b: Built, t) -> tuple[Equation, ...]:
    """Every definition a cell needs: W', X', a, a', the names of a''s factor and shift where they
    stand for a formula (:func:`invariance.core.proof.abbreviations`), each statistic and its
    primed twin, h, h'."""
    m = b.m
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    rest = tuple(pt[ax.name] for ax in m.axes[2:])
    Wp, Xp = prime(m.W), prime(m.X)
    moves = getattr(t, "moves", frozenset())
    if "c" in moves and m.c is None:
        raise ValueError(f"{t.id} moves the linear bias c; the layer {m.id} has none")
    cp = prime(m.c) if "c" in moves else None
    a_rule, a_rule_p = m.a_rule(), m.a_rule(prime(m.a), Wp, Xp, cp)
    eqs = [
        Equation("W'", Wp[i, j], t.w(m, i, j), f"{t.title}: ${t.paper}$"),
        Equation("X'", Xp[(pt["case"], j, *rest)], t.x(m, pt["case"], j, rest), f"{t.title}: ${t.paper}$"),
        *[Equation(k + "'", prime(getattr(m, k))[i], getattr(t, k)(m, i), f"{t.title}: ${t.paper}$")
          for k in MOVED if k in moves],
        *[Equation(s.name + "'", primed_scalar(s)[i], t.scalars(m, s), f"{t.title}: ${t.paper}$")
          for s in (b.norm.trainable if "scalars" in moves else ())],
        Equation("a", a_rule.lhs, a_rule.rhs, "summed inputs"),
        Equation("a'", a_rule_p.lhs, a_rule_p.rhs, "summed inputs of the transformed layer"),
    ]
    head = len(eqs)
    for orig, primed in zip(b.stat_rules, b.primed_stat_rules):
        name = orig.base.label.name
        eqs += [Equation(name, orig.lhs, orig.rhs, f"definition of {name}"),
                Equation(name + "'", primed.lhs, primed.rhs, f"{name} of the transformed layer")]
    out_p = b.output_moving(moves & {"g", "b", "scalars"})
    eqs += [Equation("h", b.out_rule.lhs, b.out_rule.rhs, "normalized output"),
            Equation("h'", out_p.lhs, out_p.rhs, "normalized output of the transformed layer")]
    return tuple(eqs[:head]) + tuple(abbreviations(b, {e.name: e for e in eqs[:head]})) + tuple(eqs[head:])


#: What a transformation may move besides W and X, in the order its definitions are listed.
MOVED = ("c", "g", "b")
def acting(defs) -> list[str]:
    """The names of a cell's definitions that the transformation makes: ACTING's, and theta' of
    each trainable scalar it moves."""
    names = {e.name for e in defs}
    return [k for k in ACTING if k in names] + [e.name for e in defs if is_primed_scalar(e.lhs.base)]


def _rule(e: Equation) -> Rule:
    return Rule(e.lhs, e.rhs)


def step_name(lhs: sp.Indexed) -> str:
    """A step's name, derived from what it states: ``mu' law`` for mu', ``invariance`` for h'."""
    label = lhs.base.label.name
    return "invariance" if label == "h'" else f"{label} law"


def conditions(b: Built, t, eps_zero: bool) -> tuple[sp.Basic, ...]:
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


def evaluate_outputs(eqs, values: dict, sizes: dict, point_indices) -> dict:
    """Exact h and h' at every point, from the definitions alone.

    ``values`` maps IndexedBases to nested lists and plain symbols to numbers;
    ``sizes`` maps size symbols to integers.  Each defined symbol becomes a
    memoised function of its indices.
    """
    arrays, _ = bind_definitions(eqs, values, sizes)
    return outputs_at(eqs, arrays, point_indices)


def outputs_at(eqs, arrays: dict, point_indices) -> dict:
    """h and h' at every point, from arrays already bound by :func:`bind_definitions`."""
    byname = {e.name: e for e in eqs}
    return {name: {idx: arrays[byname[name].lhs.base](*idx) for idx in point_indices}
            for name in ("h", "h'")}


def bind_definitions(eqs, values: dict, env: dict) -> tuple[dict, dict]:
    """(arrays, env) for :func:`invariance.core.algebra.evaluate`: the IndexedBases of
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


def bind_instance(b: Built, t, values: dict, params: dict, sizes: dict) -> dict:
    """Symbol -> value for one instance: the layer's inputs by name (W, X, g, b),
    the normalizer's registered constants, and the symbols the transformation
    derives from its parameters.  The only place an instance meets the symbols."""
    m = b.m
    inputs = {m.W: values["W"], m.X: values["X"], m.g: values["g"], m.b: values["b"]}
    return inputs | b.norm.constants | t.values(params, dims_of(b, sizes))


def counterexample_symbols(b: Built, t, ce: Counterexample) -> dict:
    """Symbol -> value of a counterexample, as :func:`bind_instance` binds them."""
    sizes = {s: ce.sizes[s.name] for s in (*b.m.sizes, *b.size_symbols)}
    return bind_instance(b, t, ce.values, ce.parameters, sizes)


def random_instance(b: Built, t, rng: random.Random, sizes: dict, unit_gain: bool = True):
    """Exact random W and X, gain and bias (1 and 0 if ``unit_gain``) and the
    transformation's parameters at ``sizes``: (inputs by name, parameters)."""
    shape = shapes(b, sizes)
    H = shape["g"][0]
    values = {k: _array(rng, shape[k]) for k in ("W", "X")}
    values |= ({"g": [sp.Integer(1)] * H, "b": [sp.Integer(0)] * H} if unit_gain
               else {"g": _array(rng, (H,)), "b": _array(rng, (H,))})
    return values, t.exact(rng, dims_of(b, sizes))

