"""Derive one cell: a proof of invariance, else an exact counterexample, else unknown.

The proof tactic (one for every normalizer and transformation):

1. the transformation acts on the summed inputs affinely,
   :math:`a' = \\alpha a + \\beta`, derived from ``W'`` and ``X'`` by linearity
   of the sum over inputs (:math:`\\alpha, \\beta` may vary along some axes);
2. each statistic obeys a law, found by checking the candidates
   :math:`s' = s,\\ \\alpha s + \\beta,\\ \\alpha s,\\ \\alpha^2 s` in turn;
3. with those laws the output satisfies :math:`h' = h`.

Every equation is checked by :func:`invariance.core.algebra.holds`.  If a check
fails the tactic gives up (that is no evidence of anything) and the search
for a counterexample in exact rationals begins.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace

import sympy as sp

from ..core.algebra import Rule, exact_nonzero, holds
from ..core.proof import SUMMED
from ..core.cells import (acting, affine_law, bind_definitions, bind_instance, conditions, definitions,
                          outputs_at, random_instance, refutation_conditions, with_groups)
from ..core.definition import Built, Normalizer
from ..core.model import EPS
from ..core.records import INVARIANT, NOT_INVARIANT, UNKNOWN, Cell, Counterexample, Equation
from ..catalogue.registry import TRANSFORMATIONS, normalizer as _normalizer, transformation as _transformation
from ..catalogue.transformations import Transformation
from .proofs import breaks, prove

__all__ = ["derive", "derive_row", "derive_laws", "try_proof", "find_counterexample", "Laws", "proved_cell"]





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
        return [Rule(byname[u].lhs, byname[u].rhs) for u in names]

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
                    "", ("a'", *[k for k in SUMMED if k in byname], "a"))
    if not state.check(step):
        return None
    eqs.append(step)
    for orig in b.stat_rules:
        name = orig.base.label.name
        at = dict(zip((m.point[ax] for ax in b.kept[name]), orig.lhs.indices))
        uses = (name + "'", "a' law", *state.law_names, *[k for k in SUMMED if k in byname], name)
        for cand in _candidates(orig.lhs, state.alpha.xreplace(at), state.beta.xreplace(at),
                                negative=bool(substitute)):
            eq = Equation(name + "' law", byname[name + "'"].lhs, cand, "", uses)
            if state.check(eq):
                eqs.append(eq)
                state.laws[name] = cand
                break
        else:
            state.missing = name
            return state
    return state


def try_proof(b: Built, t: Transformation, substitute: dict | None = None,
              targets=None, state: Laws | None = None) -> tuple[Equation, dict, sp.Expr] | None:
    """Run the tactic; its last step (h' = the target), the statistics' laws and alpha, or None.

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
                         ("h'", *[k for k in acting(state.eqs) if k not in SUMMED], "a' law",
                          *state.law_names, "h"))
        if state.check(final):
            return final, state.laws, state.alpha
    return None







# --- exact evaluation and counterexamples --------------------------------------





def _size_grid(b: Built):
    """Concrete sizes, smallest first (group sizes S up to 2)."""
    m = b.m
    names = [ax.size for ax in (*m.axes, m.input)]
    combos = (dict(zip(names, combo)) for combo in itertools.product(range(1, 4), repeat=len(names)))
    grid = [with_groups(b, s) for s in combos if not (b.norm.groups and s[m.axis("unit").size] > 2)]
    return sorted(grid, key=lambda s: (sp.prod(list(s.values())), sum(s.values())))








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
            out = outputs_at(eqs, arrays, points)
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
        state = derive_laws(b, trans)   # where the derivation stops at eps = 0 is what a refutation shows
        found = try_proof(b, trans, state=state)
    if found:
        _, laws, _ = found
        defs = definitions(b, trans)
        return Cell(norm.id, trans.id, INVARIANT, conditions(b, trans, b.eps == 0),
                    proof=prove(b, defs, laws), laws=laws, definitions=defs)
    if b.eps != 0:
        b = norm.build(sp.S.Zero)
        state = derive_laws(b, trans)
    ce = find_counterexample(b, trans)
    if ce is not None:
        defs = definitions(b, trans)
        stops = None if state is None else breaks(b, defs, state.laws, state.missing)
        return Cell(norm.id, trans.id, NOT_INVARIANT, refutation_conditions(norm),
                    counterexample=replace(ce, breaks=stops), definitions=defs)
    return Cell(norm.id, trans.id, UNKNOWN)


def proved_cell(norm: Normalizer, trans: Transformation) -> Cell | None:
    """The invariant cell if the tactic proves it (epsilon symbolic, else 0), else None: no
    counterexample search (a family that is no symmetry needs none to be left out)."""
    for eps in (EPS, sp.S.Zero):
        b = norm.build(eps)
        found = try_proof(b, trans)
        if found:
            defs = definitions(b, trans)
            return Cell(norm.id, trans.id, INVARIANT, conditions(b, trans, b.eps == 0),
                        proof=prove(b, defs, found[1]), laws=found[1], definitions=defs)
    return None


def derive_row(norm: Normalizer | str, transformations=None) -> list[Cell]:
    """A row of the table: ``norm`` under each transformation (all, by default)."""
    return [derive(norm, t) for t in (transformations or TRANSFORMATIONS.values())]
