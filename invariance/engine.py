"""Derive one cell: a proof of invariance, else an exact counterexample, else unknown.

The proof tactic (one for every normalizer and transformation):

1. the transformation acts on the summed inputs affinely,
   :math:`a' = \\alpha a + \\beta` (derived from ``W'`` and ``X'`` by linearity
   of the sum over inputs; :math:`\\alpha, \\beta` may vary along some axes);
2. each statistic obeys a law, found by checking the candidates
   :math:`s' = s,\\ \\alpha s + \\beta,\\ \\alpha s,\\ \\alpha^2 s` in turn;
3. with those laws the output satisfies :math:`h' = h`.

Every equation is checked by :func:`invariance.algebra.holds`.  If a check
fails the tactic gives up (that is no evidence of anything) and the search
for a counterexample with exact rationals begins.
"""
from __future__ import annotations

import itertools
import random

import sympy as sp
from sympy import Indexed

from .algebra import Rule, unfold, evaluate, exact_nonzero, holds, random_rational, sum_normal_form
from .definition import Built, Normalizer
from .model import EPS, prime
from .records import INVARIANT, NOT_INVARIANT, UNKNOWN, Cell, Counterexample, Equation, Proof
from .registry import normalizer as _normalizer, transformation as _transformation
from .transformations import Transformation

__all__ = ["derive", "derive_row", "transformation_rules", "affine_law"]


def transformation_rules(b: Built, t: Transformation) -> tuple[Equation, ...]:
    """Definitions of W', X', a and a' for ``t`` on ``b``'s model."""
    m = b.m
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    rest = tuple(pt[ax.name] for ax in m.axes[2:])
    n = pt["case"]
    Wp, Xp = prime(m.W), prime(m.X)
    a_rule, a_rule_p = m.a_rule(), m.a_rule(prime(m.a), Wp, Xp)
    return (
        Equation("W'", Wp[i, j], t.w(m, i, j), f"{t.title}: ${t.paper}$"),
        Equation("X'", Xp[(n, j, *rest)], t.x(m, n, j, rest), f"{t.title}: ${t.paper}$"),
        Equation("a", a_rule.lhs, a_rule.rhs, "summed inputs"),
        Equation("a'", a_rule_p.lhs, a_rule_p.rhs, "summed inputs of the transformed layer"),
    )


def _rule(e: Equation) -> Rule:
    return Rule(e.lhs, e.rhs)


def affine_law(b: Built, defs: dict[str, Equation]) -> tuple[sp.Expr, sp.Expr] | None:
    """(alpha, beta) with a' = alpha a + beta, derived by linearity; None if not affine."""
    m = b.m
    a_pt = m.at(m.a, m.point)
    a_sum = sum_normal_form(defs["a"].rhs)
    expr = sum_normal_form(unfold(defs["a'"].rhs, [_rule(defs["W'"]), _rule(defs["X'"])]))
    expr = sp.expand(expr.xreplace({a_sum: a_pt}))
    beta, linear = expr.as_independent(a_pt, as_Add=True)
    alpha = sp.expand(linear / a_pt)
    return None if alpha.has(a_pt) else (alpha, beta)


def _candidates(s: sp.Expr, alpha, beta):
    seen = []
    for law in (s, alpha * s + beta, alpha * s, alpha ** 2 * s):
        if law not in seen:
            seen.append(law)
            yield law


def _at(expr: sp.Expr, b: Built, name: str, stat_lhs: sp.Expr) -> sp.Expr:
    """``expr`` (written at the model's point) moved to a statistic's indices."""
    return expr.xreplace({b.m.point[ax]: idx for ax, idx in zip(b.kept[name], stat_lhs.indices)})


def try_proof(b: Built, t: Transformation) -> tuple[Proof, dict, sp.Expr] | None:
    """Run the tactic; the proof, the statistics' laws and alpha, or None."""
    m = b.m
    defs = {e.name: e for e in transformation_rules(b, t)}
    law = affine_law(b, defs)
    if law is None:
        return None
    alpha, beta = law
    a_pt, ap_pt = m.at(m.a, m.point), m.at(prime(m.a), m.point)
    eqs = list(defs.values())
    step = Equation("a' law", ap_pt, alpha * a_pt + beta,
                    "substitute W' and X' into a'; linearity of the sum over j",
                    ("a'", "W'", "X'", "a"))
    if not holds(step.lhs, step.rhs, [_rule(defs[u]) for u in step.uses]):
        return None
    eqs.append(step)
    laws, law_names = {}, []
    for orig, primed in zip(b.stat_rules, b.primed_stat_rules):
        name = orig.base.label.name
        eqs += [Equation(name, orig.lhs, orig.rhs, "definition"),
                Equation(name + "'", primed.lhs, primed.rhs, "definition, transformed layer")]
        uses = (name + "'", "a' law", *law_names, "W'", "X'", name)
        byname = {e.name: e for e in eqs}
        rules = [_rule(byname[u]) for u in uses]
        for cand in _candidates(orig.lhs, _at(alpha, b, name, orig.lhs), _at(beta, b, name, orig.lhs)):
            if holds(primed.lhs, cand, rules):
                break
        else:
            return None
        laws[name] = cand
        law_names.append(name + "' law")
        eqs.append(Equation(name + "' law", primed.lhs, cand, _justify(name, cand, orig.lhs), uses))
    eqs += [Equation("h", b.out_rule.lhs, b.out_rule.rhs, "general form of the normalized output (Eq. 5)"),
            Equation("h'", b.out_rule_p.lhs, b.out_rule_p.rhs, "the same, for the transformed layer")]
    uses = ("h'", "a' law", *law_names, "h")
    byname = {e.name: e for e in eqs}
    rules = [_rule(byname[u]) for u in uses]
    final = Equation("invariance", b.out_rule_p.lhs, b.out_rule.lhs,
                     "substitute the laws; " + ("alpha and beta cancel" if (alpha, beta) != (1, 0)
                                                else "nothing changes"), uses)
    if not holds(final.lhs, final.rhs, rules) and not _holds_rational(final, rules):
        return None
    eqs.append(final)
    return Proof(tuple(eqs)), laws, alpha


def _holds_rational(eq: Equation, rules) -> bool:
    """Fallback for the last step: a rational function of opaque symbols."""
    diff = unfold(eq.lhs, rules) - unfold(eq.rhs, rules)
    return not diff.has(sp.Sum) and sp.cancel(sp.together(diff)) == 0


def _justify(name: str, law: sp.Expr, s: sp.Expr) -> str:
    if law == s:
        return f"definition of {name}; it does not change"
    return f"definition of {name}, substitute the a' law and earlier laws; linearity of the sum"


def conditions(b: Built, t: Transformation, alpha: sp.Expr, eps_zero: bool) -> tuple[str, ...]:
    """The assumptions the proof used, in LaTeX: the scale's sign if it scales,
    eps = 0 if it needed it, and non-zero denominators."""
    out = list(t.conditions) if alpha != 1 else []
    if eps_zero:
        out.append(r"\epsilon = 0")
    denom = sp.fraction(sp.together(b.out_rule.rhs))[1]
    for s in sorted(denom.atoms(Indexed), key=str):
        out.append(sp.latex(s) + r" \neq 0")
    return tuple(out)


# --- counterexamples -------------------------------------------------------

def _size_grid(b: Built):
    """Concrete sizes, smallest first."""
    names = [ax.size for ax in (*b.m.axes, b.m.input)]
    group = b.norm.groups
    grid = []
    for values in itertools.product(range(1, 4), repeat=len(names)):
        sizes = dict(zip(names, values))
        if group:
            unit = b.m.axis("unit").size
            if sizes[unit] > 2:
                continue
            sizes[sp.Symbol("S", integer=True, positive=True)] = sizes[unit]
            sizes[unit] = sizes[unit] * group
        grid.append(sizes)
    grid.sort(key=lambda s: (sp.prod(list(s.values())), sum(s.values())))
    return grid


def _array(rng, shape, nonzero=False):
    if not shape:
        return random_rational(rng, nonzero=nonzero)
    return [_array(rng, shape[1:], nonzero) for _ in range(shape[0])]


def _memo(rule: Rule, arrays, env):
    cache = {}

    def value(*idx):
        if idx not in cache:
            cache[idx] = evaluate(rule.rhs, arrays, {**env, **dict(zip(rule.lhs.indices, idx))})
        return cache[idx]
    return value


def evaluate_outputs(b: Built, t: Transformation | None, sizes, values, params=None):
    """Exact outputs h at every point (of the transformed layer if ``t``)."""
    m = b.m
    arrays, sizes = dict(values), dict(sizes)
    if t is not None:
        defs = transformation_rules(b, t)
        for sym, value in t.values(params).items():
            (arrays if isinstance(sym, sp.IndexedBase) else sizes)[sym] = value
        for e in defs[:2]:
            arrays[e.lhs.base] = _memo(Rule(e.lhs, e.rhs), arrays, sizes)
        a_rule = Rule(defs[3].lhs, defs[3].rhs)
        stat_rules, out_rule = b.primed_stat_rules, b.out_rule_p
    else:
        a_rule, stat_rules, out_rule = m.a_rule(), b.stat_rules, b.out_rule
    for r in (a_rule, *stat_rules):
        arrays[r.base] = _memo(r, arrays, sizes)
    ranges = [range(1, sizes[ax.size] + 1) for ax in m.axes]
    return {idx: evaluate(out_rule.rhs, arrays, {**sizes, **dict(zip(out_rule.lhs.indices, idx))})
            for idx in itertools.product(*ranges)}


def _defined(outs: dict) -> bool:
    return all(v.is_finite for v in outs.values())


def find_counterexample(b: Built, t: Transformation, seed: int = 0, draws: int = 3) -> Counterexample | None:
    """Smallest sizes first, a few exact random draws each; eps = 0, gain 1, bias 0."""
    m = b.m
    rng = random.Random(seed)
    for sizes in _size_grid(b):
        named = {str(k): v for k, v in sizes.items()}
        H = sizes[m.axis("unit").size]
        x_shape = (named["N"], named["D"], *[sizes[ax.size] for ax in m.axes[2:]])
        for _ in range(draws):
            values = {m.W: _array(rng, (H, named["D"])), m.X: _array(rng, x_shape),
                      m.g: [sp.Integer(1)] * H, m.b: [sp.Integer(0)] * H}
            params = t.exact(rng, {"D": named["D"], "H": H, "N": named["N"]})
            try:
                before = evaluate_outputs(b, None, sizes, values)
                after = evaluate_outputs(b, t, sizes, values, params)
            except ZeroDivisionError:
                continue
            if not (_defined(before) and _defined(after)):
                continue
            for idx, h in before.items():
                if exact_nonzero(after[idx] - h):
                    return Counterexample(
                        sizes=named, values={"W": values[m.W], "X": values[m.X], "g": values[m.g],
                                             "b": values[m.b]},
                        parameters=params, point=dict(zip((ax.name for ax in m.axes), idx)),
                        output=sp.nsimplify(h) if h.is_Float else h, transformed_output=after[idx])
    return None


# --- the whole cell ----------------------------------------------------------

def derive(norm: Normalizer | str, trans: Transformation | str) -> Cell:
    """The verdict for one normalizer and one transformation, with its evidence."""
    norm = _normalizer(norm) if isinstance(norm, str) else norm
    trans = _transformation(trans) if isinstance(trans, str) else trans
    for eps_zero in (False, True):
        b = norm.build(sp.S.Zero if eps_zero else EPS)
        found = try_proof(b, trans)
        if found:
            proof, laws, alpha = found
            return Cell(norm.id, trans.id, INVARIANT, conditions(b, trans, alpha, eps_zero),
                        proof=proof, laws=laws)
    ce = find_counterexample(norm.build(sp.S.Zero), trans)
    if ce is not None:
        return Cell(norm.id, trans.id, NOT_INVARIANT, (r"\epsilon = 0",), counterexample=ce)
    return Cell(norm.id, trans.id, UNKNOWN)


def derive_row(norm: Normalizer | str, transformations=None) -> list[Cell]:
    from .registry import TRANSFORMATIONS
    return [derive(norm, t) for t in (transformations or TRANSFORMATIONS.values())]
