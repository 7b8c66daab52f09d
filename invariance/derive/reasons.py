"""Why a cell is (or is not) invariant, in one sentence from one rule.

Everything here is a pure function of a cell's checked content: the
definitions of its normalizer and transformation (from the registry), the
laws of its statistics and its counterexample's values.  Nothing is stored
by the search and nothing is typed in per cell.

The whole table follows from one rule (:data:`RULE`): a statistic absorbs a
change of the summed inputs that is constant along the axes it averages
over.  The transformation acts as :math:`a' = \\alpha a + \\beta`
(:func:`action`); the mean :math:`\\mu` can absorb the shift :math:`\\beta`
and the scale :math:`\\sigma` the factor :math:`\\alpha`.  :func:`reason`
says, from the axes along which :math:`\\alpha` and :math:`\\beta` vary and
the axes each statistic averages over (:func:`averaged_axes`), which of them
do.  The chains of equalities of a proof are the certificate's own
(:mod:`invariance.derive.proofs` writes them, the kernel checks them).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ..core.algebra import unfold
from ..core.definition import Built
from ..core.cells import bind_definitions, counterexample_symbols, definitions
from ..core.model import Axis
from ..core.proof import MEAN, SCALE, Action, Eq, action as core_action
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..catalogue.registry import TRANSFORMATIONS, normalizer as _registered
from ..catalogue.transformations import COMBINED

__all__ = ["RULE", "Action", "action", "averaged_axes", "reason", "built", "intermediates",
           "MEAN", "SCALE", "Eq"]

#: The one rule behind the whole table, as parts (words and maths).
RULE = ("A statistic absorbs a change of the summed inputs that is constant along the axes it "
        "averages over: the mean ", sp.Symbol("mu"), " absorbs the shift ", sp.Symbol("beta"),
        " (then ", Eq(sp.Symbol("a'") - sp.Symbol("mu'"), sp.Symbol("alpha") * (sp.Symbol("a") - sp.Symbol("mu"))),
        "), the scale ", sp.Symbol("sigma"), " the factor ", sp.Symbol("alpha"), " (then ",
        Eq(sp.Symbol("sigma'"), sp.Symbol("alpha") * sp.Symbol("sigma")), "), and then ",
        Eq(sp.Symbol("h'"), sp.Symbol("h")), ".")


def transformation_of(cell: Cell):
    """The cell's transformation: a registered one, or the paper's Eq. 6 (checked by the errata)."""
    return TRANSFORMATIONS.get(cell.transformation) or {COMBINED.id: COMBINED}[cell.transformation]


@lru_cache(maxsize=None)
def built(norm_id: str, eps_zero: bool) -> Built:
    from ..core.model import EPS
    return _registered(norm_id).build(sp.S.Zero if eps_zero else EPS)


def _cell_built(cell: Cell) -> Built:
    from ..core.model import EPS
    return built(cell.normalizer, any(c == sp.Eq(EPS, 0) for c in cell.conditions)
                 or cell.verdict == NOT_INVARIANT)


def action(b: Built, t) -> Action:
    """How ``t`` acts on the summed inputs of ``b``, with the names a reader sees."""
    return core_action(b, {e.name: e for e in definitions(b, t)})


def averaged_axes(b: Built) -> dict[str, tuple[Axis, ...] | None]:
    """Statistic name -> the axes of the summed inputs it averages over (through
    the statistics it uses); None for a statistic not computed from a."""
    m, out = b.m, {}
    rules = list(reversed(b.stat_rules))
    for r in b.stat_rules:
        full = unfold(r.rhs, rules)
        if not full.has(m.a):
            out[r.base.label.name] = None
            continue
        bound = {v for s in full.atoms(sp.Sum) for v in s.variables}
        out[r.base.label.name] = tuple(ax for ax in m.axes if ax.bound in bound)
    return out


# --- words ------------------------------------------------------------------------

def _axes_words(axes) -> str:
    titles = [ax.title + "s" for ax in axes]
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]


def _varies(axes) -> list:
    """'varies with the unit i' / 'with the case n and the position p'."""
    parts = ["varies with "]
    for k, ax in enumerate(axes):
        if k:
            parts.append(" and " if k == len(axes) - 1 else ", ")
        parts += [f"the {ax.title} ", ax.index]
    return parts


def _group(b: Built, axes) -> str:
    return " (within a group)" if b.norm.groups and any(ax.name == "unit" for ax in axes) else ""


def _over(b: Built, name: str, axes) -> list:
    return [sp.Symbol(name), f" averages over the {_axes_words(axes)}{_group(b, axes)}"]


def _fixed(b: Built, name: str) -> str:
    """Why a statistic not computed from the summed inputs does not follow them."""
    rule = b.stat_rule(name)
    full = unfold(rule.rhs, list(reversed(b.stat_rules)))
    return ("is computed from the weights alone" if full.has(b.m.W) else
            "is fixed (a running statistic)")


def reason(cell: Cell) -> tuple:
    """One sentence, as parts (words and SymPy expressions), derived from the rule:
    where the change of the summed inputs is absorbed, or where it is not."""
    b = _cell_built(cell)
    t = transformation_of(cell)
    act = action(b, t)
    avg = averaged_axes(b)
    A, B = act.alpha_name, act.beta_name
    mu, sigma = sp.Symbol("mu"), sp.Symbol("sigma")
    mu_axes, sig_axes = avg.get(MEAN), avg.get(SCALE)
    parts: list = []
    # the shift
    if act.beta != 0:
        if MEAN not in avg:
            return (f"{b.norm.title} subtracts no mean, so nothing absorbs the shift ", B,
                    " that the transformation adds to the summed inputs: the output changes.")
        if mu_axes is None:
            return ("The transformation adds the shift ", B, " to the summed inputs, but ", mu, " ",
                    _fixed(b, MEAN), ", so it does not absorb it: the output changes.")
        clash = tuple(ax for ax in act.beta_axes if ax in mu_axes)
        if clash:
            return ("The shift ", B, " ", *_varies(clash), ", and ", *_over(b, MEAN, mu_axes),
                    ", so ", mu, " does not absorb it: ", sp.Symbol("a'") - sp.Symbol("mu'"),
                    " is not ", act.alpha_name * (sp.Symbol("a") - mu), ".")
        parts += ["The shift ", B, " is constant along the ", _axes_words(mu_axes), ", which ",
                  mu, " averages over, so ", Eq(sp.Symbol("mu'"), mu * A + B), " absorbs it"]
    # the factor
    if act.alpha != 1:
        if sig_axes is None and SCALE in avg and cell.verdict == NOT_INVARIANT:
            laws = _laws(cell, b, t)
            if laws.get(SCALE) == b.stat_rule(SCALE).lhs:
                return ("The factor ", A, " multiplies the summed inputs, but ", sigma, " ", _fixed(b, SCALE),
                        " and does not change (", Eq(sp.Symbol("sigma'"), sigma),
                        "), so nothing absorbs it: the centred output ", sp.Symbol("h") - sp.UnevaluatedExpr(sp.Symbol("b")),
                        " is multiplied by ", A, ".")
        clash = tuple(ax for ax in act.alpha_axes if ax in (sig_axes or ()))
        if clash:
            names = [n for n in (MEAN, SCALE) if avg.get(n) and any(ax in avg[n] for ax in clash)]
            who = [sp.Symbol(names[0])] + ([" and ", sp.Symbol(names[1])] if len(names) > 1 else [])
            one = len(names) == 1
            return ("The factor ", A, " ", *_varies(clash), ", and ", *who,
                    f" average{'s' if one else ''} over the {_axes_words(sig_axes)}{_group(b, sig_axes)}, so ",
                    *who, f" do{'es' if one else ''} not absorb it: ", sp.Symbol("sigma'"),
                    " is not ", A * sigma, ".")
        parts += ["; the factor " if parts else "The factor ", A]
        if sig_axes is None:
            parts += [" scales the weights that ", sigma, " is computed from, so ",
                      Eq(sp.Symbol("sigma'"), A * sigma), " absorbs it"]
        else:
            parts += [" is constant along the ", _axes_words(sig_axes), ", which ", sigma,
                      " averages over, so ", Eq(sp.Symbol("sigma'"), A * sigma), " absorbs it"]
    if not parts:
        return ("The transformation does not change the summed inputs (", Eq(sp.Symbol("a'"), sp.Symbol("a")),
                "), so nothing changes.")
    if cell.verdict != INVARIANT:   # every statistic absorbs its part, yet h' != h: say so plainly
        return (*parts, ", yet the output changes (see the counterexample).")
    return (*parts, ": ", Eq(sp.Symbol("h'"), sp.Symbol("h")), ".")


def _laws(cell: Cell, b: Built, t) -> dict:
    from .engine import derive_laws
    state = derive_laws(b, t)
    return {} if state is None else dict(state.laws)


# --- a counterexample's intermediate values -------------------------------------------

def intermediates(cell: Cell) -> list[tuple[str, sp.Expr, sp.Expr]]:
    """(name, value, transformed value) of a, each statistic and h at the
    counterexample's point, exactly, from the definitions."""
    ce = cell.counterexample
    b = built(cell.normalizer, True)
    t = transformation_of(cell)
    eqs = definitions(b, t)
    names = {str(s): s for s in (*b.m.sizes, *b.size_symbols)}
    sizes = {names[k]: v for k, v in ce.sizes.items()}
    arrays, _ = bind_definitions(eqs, counterexample_symbols(b, t, ce), sizes)
    byname = {e.name: e for e in eqs}
    point = {ax.index: ce.point[ax.name] for ax in b.m.axes}
    out = []
    for name in ("a", *[r.base.label.name for r in b.stat_rules], "h"):
        lhs, lhs_t = byname[name].lhs, byname[name + "'"].lhs
        idx = tuple(i.xreplace(point) for i in lhs.indices)
        out.append((name, lhs.xreplace(point), arrays[lhs.base](*idx), arrays[lhs_t.base](*idx)))
    return out
