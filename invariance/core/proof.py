"""What a proof says, shared by the search that writes it and the kernel that checks it.

A proof is a list of chains of equalities (:class:`invariance.core.records.Chain`);
each link is an equation with the equations it unfolds (``uses``) and its
reason in words, which is *derived* from the link (:func:`link_words`), so a
checker regenerates it and an edited reason is caught.

The transformation acts on the summed inputs as :math:`a' = \\alpha a + \\beta`
(:func:`affine_law`); a reader sees :math:`\\alpha` and :math:`\\beta` by name
(``delta``, ``delta_i``, ``beta_n``), and where a name stands for a formula it
is a definition of the cell (:func:`abbreviations`), like the registry's own.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .algebra import Rule, sum_normal_form, unfold
from .definition import Built, is_primed_scalar
from .model import Axis, prime
from .records import Equation

__all__ = ["SUMMED", "ACTING", "MEAN", "SCALE", "ALPHA", "BETA", "Action", "affine_law", "action", "abbreviations",
           "link_words", "wanted", "uneval", "canonical", "Eq"]

#: The transformation's definitions that a' is written with, and all it makes (g', b' too; theta' of a
#: trainable scalar is read by :func:`~invariance.core.definition.is_primed_scalar`).
SUMMED = ("W'", "X'", "c'")
ACTING = SUMMED + ("g'", "b'")
MEAN, SCALE = "mu", "sigma"   # the general form's statistics (Eq. 5): mu absorbs beta, sigma alpha
ALPHA, BETA = sp.IndexedBase("alpha"), sp.IndexedBase("beta")


def Eq(lhs, rhs) -> sp.Eq:
    """An equation to show (never evaluated to True or False)."""
    return sp.Eq(lhs, rhs, evaluate=False)


def uneval(expr: sp.Expr) -> sp.Expr:
    """``expr`` without the :class:`~sympy.UnevaluatedExpr` wrappers that keep a display as written."""
    return expr.replace(lambda e: isinstance(e, sp.UnevaluatedExpr), lambda e: e.args[0])


def canonical(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every index and every floor rebuilt in SymPy's canonical form: an unevaluated
    product inside an index or a sum's range (a group's :math:`\\lfloor (i-1)/S \\rfloor`, read back from a certificate) would
    otherwise not match its evaluated twin in a definition.  Nothing else changes (the display
    shapes a link keeps, and their reasons, stay as written)."""
    def rebuilt(e):
        if not e.args or isinstance(e, (sp.Symbol, sp.IndexedBase, sp.Number)):
            return e
        return e.func(*[rebuilt(a) for a in e.args])
    return expr.replace(lambda e: isinstance(e, (sp.Indexed, sp.floor)), rebuilt)


def affine_law(b: Built, defs: dict[str, Equation]) -> tuple[sp.Expr, sp.Expr] | None:
    """(alpha, beta) with a' = alpha a + beta, read off the sum normal form of a'."""
    m = b.m
    a_pt = m.at(m.a, m.point)
    wx = [Rule(defs[k].lhs, defs[k].rhs) for k in SUMMED if k in defs]
    expr = sum_normal_form(unfold(defs["a'"].rhs, wx))
    # a = (the sum over inputs) + (a linear bias, if the model has one): the sum is a - bias
    bias, summed = sum_normal_form(defs["a"].rhs).as_independent(sp.Sum, as_Add=True)
    expr = sp.expand(expr.xreplace({summed: a_pt - bias}))
    beta, linear = expr.as_independent(a_pt, as_Add=True)
    alpha = sp.expand(linear / a_pt)
    return None if alpha.has(a_pt) else (alpha, beta)


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


def action(b: Built, defs: dict[str, Equation]) -> Action | None:
    """The transformation's action on the summed inputs, with the names a reader sees."""
    law = affine_law(b, defs)
    if law is None:
        return None
    alpha, beta = law
    a_axes, b_axes = _axes_of(b, alpha), _axes_of(b, beta)
    if alpha.is_number or isinstance(alpha, (sp.Symbol, sp.Indexed)):
        alpha_name = alpha
    else:
        alpha_name = ALPHA[tuple(ax.index for ax in a_axes)] if a_axes else sp.Symbol("alpha")
    if beta == 0:
        beta_name = sp.S.Zero
    elif isinstance(beta, sp.Symbol):   # a shift that is one symbol (e.g. kappa) is read by its name
        beta_name = beta
    else:
        beta_name = BETA[tuple(ax.index for ax in b_axes)] if b_axes else sp.Symbol("beta")
    return Action(alpha, beta, a_axes, b_axes, alpha_name, beta_name)


def abbreviations(b: Built, defs: dict[str, Equation]) -> list[Equation]:
    """``alpha := ...`` and ``beta := ...`` where a name stands for a formula (indexed ones only:
    a definition is a rule at its indices)."""
    act = action(b, defs)
    if act is None:
        return []
    out = []
    if isinstance(act.alpha_name, sp.Indexed) and act.alpha_name.base == ALPHA:
        out.append(Equation("alpha", act.alpha_name, act.alpha, "the factor of the summed inputs"))
    if isinstance(act.beta_name, sp.Indexed) and act.beta_name.base == BETA:
        out.append(Equation("beta", act.beta_name, act.beta, "the shift of the summed inputs"))
    return out


# --- words ---------------------------------------------------------------------------

def _join(items, last=" and ") -> list:
    out = []
    for k, x in enumerate(items):
        if k:
            out.append(last if k == len(items) - 1 else ", ")
        out.append(x)
    return out


def _inside_sums(expr: sp.Expr, x) -> bool:
    return any(s.function.has(x) for s in expr.atoms(sp.Sum))


def _outside_sums(expr: sp.Expr, x) -> bool:
    return expr.xreplace({s: sp.S.Zero for s in expr.atoms(sp.Sum)}).has(x)


def _linear(s: sp.Sum) -> bool:
    """Linearity applies to the sum ``s``: its body is a sum, or has a factor free of its index."""
    body, bound = s.function, set(s.variables)
    return isinstance(body, sp.Add) or (isinstance(body, sp.Mul) and any(
        isinstance(f, sp.Add) or not (f.free_symbols & bound) for f in body.args))


def link_words(prev: sp.Expr, expr: sp.Expr, uses: list[Equation], act: Action | None) -> tuple:
    """Why ``prev = expr``, in words and maths, derived from the link alone: the definitions it
    unfolds or folds ("definition of mu[n]"), the laws and transformation it substitutes
    ("substitute a' = delta a"), or, using nothing, the algebra that remains."""
    prev, expr = canonical(uneval(prev)), canonical(uneval(expr))
    defined = [e for e in uses if e.is_definition and e.name not in ACTING
               and not is_primed_scalar(e.lhs.base)]
    substituted = [e for e in uses if e not in defined]
    parts: list = []
    if uses and any(_linear(s) for s in prev.atoms(sp.Sum)):
        parts.append("linearity of the sum; ")
    if defined:
        parts += ["definition of ", *_join([e.lhs for e in defined])]
    if substituted:
        parts += (["; "] if defined else []) + ["substitute ", *_join([Eq(e.lhs, e.rhs) for e in substituted], ", ")]
    if uses:
        return tuple(parts)
    names = [x for x in ((act.alpha_name, act.beta_name) if act else ()) if x not in (0, 1) and prev.has(x)]
    out = [x for x in names if _inside_sums(prev, x) and not _inside_sums(expr, x)]
    if out:
        bound = sorted({v for s in prev.atoms(sp.Sum) for v in s.variables}, key=str)
        one = len(out) == 1
        return ("because ", *_join(out), f" do{'es' if one else ''} not depend on ", *_join(bound, ", "),
                ", the index of the sum: take ", "it" if one else "them", " out")
    if any(p.exp == sp.S.Half for p in prev.atoms(sp.Pow)) and act is not None and expr.has(act.alpha_name):
        return ("because ", act.alpha_name, " > 0: ",
                Eq(sp.sqrt(sp.Symbol("x") * act.alpha_name ** 2), act.alpha_name * sp.sqrt(sp.Symbol("x"))))
    gone = [x for x in names if not expr.has(x)]
    if gone:
        return (*_join(gone), " cancel" + ("s" if len(gone) == 1 else ""))
    if any(_linear(s) for s in prev.atoms(sp.Sum)):
        return ("linearity of the sum; what varies with the index of the sum stays inside it",)
    taken = [x for x in names if _outside_sums(expr, x)]
    if taken:
        return ("take out ", *_join(taken))
    return ("rearrange",)


def wanted(b: Built, name: str, act: Action) -> sp.Expr:
    """What the rule needs of statistic ``name`` (or of h, ``name == "h"``) for h' = h:
    mu' = alpha mu + beta, sigma' = |alpha| sigma, any other statistic unchanged."""
    if name == "h":
        return b.out_rule.lhs
    orig = b.stat_rule(name)
    m = b.m
    at = dict(zip((m.point[ax] for ax in b.kept[name]), orig.lhs.indices))
    A, B = act.alpha_name.xreplace(at), act.beta_name.xreplace(at)
    return A * orig.lhs + B if name == MEAN else sp.Abs(A) * orig.lhs if name == SCALE else orig.lhs


def primed_of(b: Built, name: str):
    """The primed statistic ``name'`` at its indices."""
    orig = b.stat_rule(name)
    return prime(orig.base)[orig.lhs.indices]
