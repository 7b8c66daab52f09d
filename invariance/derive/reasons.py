"""Why a cell is (or is not) invariant, in words and chains of equalities.

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
do.  :func:`chains` writes each law as the chain of equalities a student
would write, each link with its reason in words.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..core.algebra import Rule, holds, sum_normal_form, unfold
from ..core.definition import Built
from ..core.cells import affine_law, bind_definitions, counterexample_symbols, definitions
from ..core.model import Axis, prime
from ..core.records import INVARIANT, NOT_INVARIANT, Cell
from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS
from ..catalogue.transformations import COMBINED

__all__ = ["RULE", "Action", "action", "averaged_axes", "reason", "Link", "Chain", "chains", "built",
           "intermediates", "MEAN", "SCALE"]

MEAN, SCALE = "mu", "sigma"   # the general form's statistics (Eq. 5): mu absorbs beta, sigma alpha

ALPHA, BETA = sp.IndexedBase("alpha"), sp.IndexedBase("beta")


def Eq(lhs, rhs) -> sp.Eq:
    """An equation to show (never evaluated to True or False)."""
    return sp.Eq(lhs, rhs, evaluate=False)


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
    return NORMALIZERS[norm_id].build(sp.S.Zero if eps_zero else EPS)


def _cell_built(cell: Cell) -> Built:
    from ..core.model import EPS
    return built(cell.normalizer, any(c == sp.Eq(EPS, 0) for c in cell.conditions)
                 or cell.verdict == NOT_INVARIANT)


def _axes_of(b: Built, expr: sp.Expr) -> tuple[Axis, ...]:
    free = expr.free_symbols
    return tuple(ax for ax in b.m.axes if ax.index in free)


@dataclass(frozen=True)
class Action:
    """How a transformation acts on the summed inputs: a' = alpha a + beta.

    ``alpha`` and ``beta`` are the derived expressions; ``alpha_name`` and
    ``beta_name`` the symbols a reader sees (``delta``, ``delta_i``,
    ``beta_n``), indexed by the axes along which each varies.
    """

    alpha: sp.Expr
    beta: sp.Expr
    alpha_axes: tuple[Axis, ...]
    beta_axes: tuple[Axis, ...]
    alpha_name: sp.Expr
    beta_name: sp.Expr


def action(b: Built, t) -> Action:
    alpha, beta = affine_law(b, {e.name: e for e in definitions(b, t)})
    a_axes, b_axes = _axes_of(b, alpha), _axes_of(b, beta)
    if alpha.is_number or isinstance(alpha, (sp.Symbol, sp.Indexed)):
        alpha_name = alpha
    else:
        alpha_name = ALPHA[tuple(ax.index for ax in a_axes)] if a_axes else sp.Symbol("alpha")
    if beta == 0:
        beta_name = sp.S.Zero
    else:
        beta_name = BETA[tuple(ax.index for ax in b_axes)] if b_axes else sp.Symbol("beta")
    return Action(alpha, beta, a_axes, b_axes, alpha_name, beta_name)


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
            "is fixed (it depends on neither the inputs nor the weights, like running statistics)")


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
                        "), so nothing absorbs it: the centred output h - b is multiplied by ", A, ".")
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


# --- chains of equalities ------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    """``= expr``, because ``why``."""

    expr: sp.Expr
    why: tuple          # words and SymPy expressions


@dataclass(frozen=True)
class Chain:
    lhs: sp.Expr
    links: tuple[Link, ...]


def _uneval(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.UnevaluatedExpr), lambda e: e.args[0])


def _name_rules(b: Built, act: Action) -> list[Rule]:
    """a'[n, i] := alpha a + beta, by name (so that sums show beta_k, not its formula)."""
    m = b.m
    a_t = m.at(sp.IndexedBase("a'"), m.point)
    return [Rule(a_t, act.alpha_name * m.at(m.a, m.point) + act.beta_name)]


def _law_by_name(law: sp.Expr, s: sp.Expr, act: Action, at: dict) -> sp.Expr:
    """The law ``s' = alpha s + beta`` (or ...) with alpha and beta by name."""
    alpha, beta = act.alpha.xreplace(at), act.beta.xreplace(at)
    A, B = act.alpha_name.xreplace(at), act.beta_name.xreplace(at)
    for cand, named in ((s, s), (alpha * s + beta, sp.Add(A * s, B, evaluate=False) if B != 0 else A * s), (alpha * s, A * s), (alpha ** 2 * s, A ** 2 * s)):
        if sp.expand(law - cand) == 0:
            return named
    return law


def name_definitions(b: Built, act: Action) -> list[Rule]:
    """alpha_... := its formula and beta_... := its formula, to check chains that use the names."""
    out = []
    if isinstance(act.alpha_name, sp.Indexed) and act.alpha_name.base == ALPHA:
        out.append(Rule(act.alpha_name, act.alpha))
    if isinstance(act.beta_name, sp.Indexed):
        out.append(Rule(act.beta_name, act.beta))
    return out


def _law_named(cell, b, act, name):
    orig = b.stat_rule(name)
    at = dict(zip((b.m.point[ax] for ax in b.kept[name]), orig.lhs.indices))
    return _law_by_name(cell.laws[name], orig.lhs, act, at)


def _eq(lhs, rhs) -> tuple:
    return (Eq(lhs, rhs),)


def chains(cell: Cell) -> list[Chain]:
    """An invariant cell's proof for people: each statistic's law, then
    a' - mu' = alpha (a - mu), then h' = h, as chains of equalities, each
    link with its reason in words (parts: words and SymPy expressions)."""
    if cell.verdict != INVARIANT:
        return []
    b = _cell_built(cell)
    t = transformation_of(cell)
    act = action(b, t)
    m, A, B = b.m, act.alpha_name, act.beta_name
    eqs = {e.name: e for e in definitions(b, t)}
    a_pt, a_t = m.at(m.a, m.point), m.at(prime(m.a), m.point)
    a_law = Rule(a_t, A * a_pt + B)
    wx = [Rule(eqs[k].lhs, eqs[k].rhs) for k in ("W'", "X'") if eqs[k].lhs != eqs[k].rhs
          and eqs[k].rhs != eqs[k].lhs.xreplace({eqs[k].lhs.base: sp.IndexedBase(str(eqs[k].lhs.base)[:-1])})]
    named: dict = {}
    out = []
    for orig, primed in zip(b.stat_rules, b.primed_stat_rules):
        name = orig.base.label.name
        law = _law_named(cell, b, act, name)
        used = [r for r in [a_law, *wx] if primed.rhs.has(r.base)]
        used += [Rule(k, v) for k, v in named.items() if primed.rhs.has(k.base)]
        substituted = unfold(primed.rhs, used)
        links = []
        if used:
            why = ["substitute "]
            for k, r in enumerate(used):
                why += ([", "] if k else []) + [*_eq(r.lhs, r.rhs)]
            links.append(Link(substituted, tuple(why)))
        middle = law.xreplace({orig.lhs: sp.UnevaluatedExpr(orig.rhs)})
        if law != orig.lhs and _uneval(middle) != substituted:
            links.append(Link(middle, _pull_out_words(substituted, act, b, orig)))
        if law != substituted:
            links.append(Link(law, ("definition of ", orig.lhs)))
        out.append(Chain(primed.lhs, tuple(links)))
        named[primed.lhs] = law
    # the centred summed input and the output
    mu = b.stat_rule(MEAN)
    centred_t = a_t - (prime(mu.base)[mu.lhs.indices] if mu else 0)
    centred = a_pt - (mu.lhs if mu else 0)
    mu_law = named[prime(mu.base)[mu.lhs.indices]] if mu else 0
    if (A, B) != (1, 0):
        plugged = sp.Add(A * a_pt + B, sp.Mul(-1, mu_law, evaluate=False), evaluate=False) if mu else A * a_pt + B
        links = [Link(plugged, ("substitute ", *_eq(a_t, A * a_pt + B))
                      + ((" and ", *_eq(prime(mu.base)[mu.lhs.indices], mu_law))
                         if mu else ()))]
        result = sp.Mul(A, centred, evaluate=False) if A != 1 else centred
        if _uneval(result) != plugged:
            links.append(Link(result, (B, " cancels") if B != 0 else ("take out ", A)))
        out.append(Chain(centred_t, tuple(links)))
    sig = b.stat_rule(SCALE)
    h_t, h = eqs["h'"], eqs["h"]
    g, bias = m.g[m.point["unit"]], m.b[m.point["unit"]]
    if sig is not None and sp.expand(h_t.rhs - (g * centred_t / prime(sig.base)[sig.lhs.indices] + bias)) == 0:
        sig_t = prime(sig.base)[sig.lhs.indices]
        standard = sp.Add(sp.Mul(g, centred_t, sp.Pow(sig_t, -1, evaluate=False), evaluate=False), bias,
                          evaluate=False)
        links = [Link(standard, ("definition of ", h_t.lhs))]
        if A != 1:
            links.append(Link(sp.Add(sp.Mul(g, sp.Mul(A, centred, evaluate=False),
                                            sp.Pow(sp.Mul(A, sig.lhs, evaluate=False), -1, evaluate=False),
                                            evaluate=False), bias, evaluate=False),
                              ("substitute the two laws above",)))
            links.append(Link(h.rhs, (A, " cancels")))
        else:
            links.append(Link(h.rhs, ("substitute the laws above",)))
        links.append(Link(h.lhs, ("definition of ", h.lhs)))
        out.append(Chain(h_t.lhs, tuple(links)))
    return out


def _pull_out_words(substituted, act: Action, b: Built, orig) -> tuple:
    sums = substituted.atoms(sp.Sum)
    consts = [x for x in (act.alpha_name, act.beta_name) if x != 0 and x != 1 and substituted.has(x)]
    if sums and consts:
        bound = sorted({v for s in sums for v in s.variables}, key=str)
        out = ["because "]
        for k, c in enumerate(consts):
            out += ([" and "] if k else []) + [c]
        out += [" do" + ("es" if len(consts) == 1 else "") + " not depend on "]
        for k, v in enumerate(bound):
            out += ([", "] if k else []) + [v]
        return (*out, ", the index of the sum: take ", "it" if len(consts) == 1 else "them", " out")
    if orig.rhs.has(sp.sqrt(sp.Wild("x")).func) or any(e.exp == sp.S.Half for e in orig.rhs.atoms(sp.Pow)):
        return ("because ", act.alpha_name, " > 0 (and ", sp.Symbol("epsilon"), " = 0): ",
                Eq(sp.sqrt(sp.Symbol("x") * act.alpha_name ** 2), act.alpha_name * sp.sqrt(sp.Symbol("x"))))
    return ("rearrange",)


def check_chain(cell: Cell, chain: Chain, earlier=()) -> bool:
    """Every link of ``chain`` holds: unfold the definition of its left side,
    the laws of ``earlier`` chains, then every definition (outputs, statistics,
    summed inputs, W' and X', alpha and beta by name); sum linearity; expand."""
    b = _cell_built(cell)
    t = transformation_of(cell)
    act = action(b, t)
    eqs = {e.name: Rule(e.lhs, e.rhs) for e in definitions(b, t)}
    defs = [eqs["h"], eqs["h'"]] + list(reversed(b.primed_stat_rules)) + list(reversed(b.stat_rules))
    own = [r for r in defs if isinstance(chain.lhs, sp.Indexed) and r.base == chain.lhs.base]
    a_law = Rule(eqs["a'"].lhs, act.alpha_name * eqs["a"].lhs + act.beta_name)
    laws = [Rule(c.lhs, _uneval(c.links[-1].expr)) for c in earlier if isinstance(c.lhs, sp.Indexed)]
    rules = own + laws + [a_law] + defs + [eqs["a'"], eqs["a"], eqs["W'"], eqs["X'"]] + name_definitions(b, act)
    prev = chain.lhs
    for link in chain.links:
        if not holds(_uneval(prev), _uneval(link.expr), rules):
            return False
        prev = link.expr
    return True


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



def breaking_chain(cell: Cell) -> tuple[Chain, sp.Expr] | None:
    """Where a 'No' cell's derivation breaks: the first statistic without a law (or h'),
    as a chain of equalities, and what the rule would have needed there."""
    if cell.verdict != NOT_INVARIANT:
        return None
    from .engine import derive_laws
    b = _cell_built(cell)
    t = transformation_of(cell)
    state = derive_laws(b, t)
    if state is None:
        return None
    act = action(b, t)
    m, A, B = b.m, act.alpha_name, act.beta_name
    a_law = Rule(m.at(prime(m.a), m.point), A * m.at(m.a, m.point) + B)
    eqs = {e.name: e for e in definitions(b, t)}
    wx = [Rule(eqs[k].lhs, eqs[k].rhs) for k in ("W'", "X'")]
    named = {}
    for name in state.laws:
        orig = b.stat_rule(name)
        named[prime(orig.base)[orig.lhs.indices]] = _law_by_name(state.laws[name], orig.lhs, act,
                                                                dict(zip((m.point[ax] for ax in b.kept[name]),
                                                                         orig.lhs.indices)))
    if state.missing:
        orig = b.stat_rule(state.missing)
        primed = next(r for r in b.primed_stat_rules if r.base.label.name == state.missing + "'")
        at = dict(zip((m.point[ax] for ax in b.kept[state.missing]), orig.lhs.indices))
        wanted = (A.xreplace(at) * orig.lhs + B if state.missing == MEAN else
                  sp.Abs(A) * orig.lhs if state.missing == SCALE else A ** 2 * orig.lhs)
        wanted = wanted if state.missing in (MEAN, SCALE) else orig.lhs
        lhs, rhs = primed.lhs, primed.rhs
    else:
        orig, lhs, rhs, wanted = b.out_rule, eqs["h'"].lhs, eqs["h'"].rhs, eqs["h"].lhs
    used = [r for r in [a_law, *wx] if rhs.has(r.base)] + [Rule(k, v) for k, v in named.items() if rhs.has(k.base)]
    substituted = unfold(rhs, used)
    links = [Link(substituted, ("substitute ", *sum((_eq(r.lhs, r.rhs) + (", ",) for r in used), ())[:-1]))]
    folded = sum_normal_form(substituted)
    for r in b.stat_rules:
        folded = folded.xreplace({sum_normal_form(r.rhs): r.lhs})
    if any(folded.has(r.base) and not substituted.has(r.base) for r in b.stat_rules):
        links.append(Link(folded, ("linearity of the sum; what varies with the index of the sum stays inside it",)))
    return Chain(lhs, tuple(links)), wanted
