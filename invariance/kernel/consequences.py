"""The consequences checker: what ``verify`` trusts about a document of consequences.

An entry of ``proofs/consequences.json`` (gradient orthogonality, gradient and
Hessian scaling, a conserved quantity, one SGD step ...) is untrusted input.
This module reads it with the kernel's parser, never runs any of it, and
re-derives every claim from the registry (:mod:`invariance.core.training`)
and from steps it checks itself.  It imports only :mod:`invariance.core`,
:mod:`invariance.catalogue` and the kernel.

Trusted (not re-derived here), besides what :mod:`invariance.kernel.cells`
trusts (the registry, SymPy's constructors, ``expand``/``cancel`` behind
:func:`invariance.core.algebra.holds`, exact evaluation, Python's ``json``
and ``ast``):

- SymPy's ``diff`` of a polynomial in one symbol ``s`` (the generator);
- the definitions of :class:`invariance.core.training.Definitions`: the
  chain rule (a derivative of L(h(...)) is the sum of the gradient times the
  derivative of the arguments, for a loss and a layer differentiable at the
  point, which the cell's conditions give), c, Q, one SGD step ...;
- the premises ``invariance``, ``invariance U``, ``invariance UU``: what the
  cited cell's certificate gives.  ``invariant(normalizer, transformation)``
  gives that cell's conditions when it is invariant with a certificate that
  verifies (None otherwise; no callback means no cell is proven).  Whether
  epsilon = 0 is a condition comes from the cell, never from the entry.

Re-derived, never taken from the file:

- the definitions and premises (and so the meaning of every name a step
  uses), applicability and its reason, the conditions, the conclusion each
  consequence must end with;
- each ordinary step: parsed with this cell's vocabulary; it holds by
  unfolding, in order, the definitions, premises and earlier steps it names
  (a Symbol by substitution, an indexed quantity as a rule with distinct
  symbolic indices) and :func:`invariance.core.algebra.holds`; it divides by
  nothing that may be zero;
- each *coefficients* step, semantically: from earlier steps A and B (facts,
  for every direction) it states K = 0 with K = lhs - rhs.  With every
  definition unfolded (xi, D_v phi, c ... : never the text as written), the
  kernel checks by :func:`invariance.core.algebra.holds` that
  :math:`\\sum_l v_l K_l = \\pm((A_{lhs} - A_{rhs}) - (B_{lhs} - B_{rhs}))`,
  a quantity that is 0 for every direction v, and that K, unfolded and
  expanded, does not mention v.  Then choosing v = e_l gives K_l = 0;
- every display field (statement, LaTeX, justification, meaning, names,
  conditions) is regenerated from the checked content and must be equal.
  ``numeric`` is an annotation (a measurement), not a claim.
"""
from __future__ import annotations

import functools

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

from .cells import _no_division_by_zero, _rule, compare_fields, parse_step
from .parse import MAX_TERMS, CertificateError, Vocabulary, expansion_terms
from ..catalogue.registry import UnknownId, normalizer, transformation
from ..core.algebra import Rule, holds, sum_normal_form, unfold
from ..core.certificate import FORMAT
from ..core.consequence import Consequence, applying, consequence_json, justify, not_applying
from ..core.model import EPS
from ..core.notation import plain
from ..core.records import INVARIANT, Equation
from ..core.training import C, COEFFICIENTS, CONSEQUENCES, GRAD_T, Q, U, U2, V, Definitions

__all__ = ["check_consequence", "verify_document", "definitions_for", "MAX_STEPS"]

MAX_STEPS = 16        # steps of one consequence
MAX_USES = 12         # names one step uses


def check_consequence(data, invariant=None) -> list[str]:
    """Problems found in one consequence entry (empty when every claim holds), one line each.

    ``invariant(normalizer, transformation)``: the conditions of the cited
    cell if it is proven invariant, else None (without it, no cell is).
    """
    if not isinstance(data, dict):
        return ["a consequence must be a JSON object"]
    try:
        c = _checked(data, invariant or (lambda n, t: None))
    except CertificateError as err:
        return [str(err)]
    except UnknownId as err:
        return [f"{err} (a normalizer of your own: verify --load FILE)"]
    except Exception as err:  # anything unforeseen rejects the entry, never the whole run
        return [f"could not be checked ({type(err).__name__}: {_short(str(err), 200)})"]
    if "numeric" in data and not isinstance(data["numeric"], dict):
        return ["numeric must be an object"]
    return compare_fields("", consequence_json(c), {k: v for k, v in data.items() if k != "numeric"})


def verify_document(doc, invariant=None) -> list[str]:
    """Problems in a ``{"schema": ..., "consequences": [...]}`` document, one line each,
    prefixed with the entry's cell and consequence (for ``verify``)."""
    if not (isinstance(doc, dict) and doc.get("schema") == FORMAT and isinstance(doc.get("consequences"), list)
            and set(doc) == {"schema", "consequences"}):
        return [f'not a consequences document: expected {{"schema": "{FORMAT}", "consequences": [...]}}']
    if not doc["consequences"]:
        return ["no consequences"]
    problems = []
    for k, entry in enumerate(doc["consequences"], 1):
        where = " x ".join(_short(str(entry.get(f)), 60) for f in ("normalizer", "transformation", "consequence")) \
            if isinstance(entry, dict) else f"entry {k}"
        problems += [f"{where}: {p}" for p in check_consequence(entry, invariant)]
    return problems


@functools.lru_cache(maxsize=None)
def definitions_for(norm_id: str, t_id: str, eps_zero: bool) -> Definitions:
    """The registry's definitions of a cell's consequences (built once per cell)."""
    return Definitions(normalizer(norm_id), transformation(t_id), eps_zero)


def _checked(data: dict, invariant) -> Consequence:
    norm_id, t_id, kind = data.get("normalizer"), data.get("transformation"), data.get("consequence")
    for key, value in (("normalizer", norm_id), ("transformation", t_id), ("consequence", kind)):
        if not isinstance(value, str):
            raise CertificateError(f"{key} must be an id string")
    normalizer(norm_id), transformation(t_id)
    if kind not in CONSEQUENCES:
        raise CertificateError(f"unknown consequence {_short(repr(kind), 60)}; valid: {', '.join(CONSEQUENCES)}")
    proven = invariant(norm_id, t_id)   # the cell's conditions, or None
    verdict = INVARIANT if proven is not None else "not-invariant"
    conds = data.get("conditions", [])
    # epsilon = 0 exactly when the cell's own proof needed it: never the entry's choice
    eps_zero = plain(sp.Eq(EPS, 0)) in (proven if proven is not None else conds if isinstance(conds, list) else [])
    d = definitions_for(norm_id, t_id, eps_zero)
    if proven is not None and tuple(plain(x) for x in d.conditions) != tuple(proven):
        raise CertificateError(f"the conditions {[plain(x) for x in d.conditions]} are not the proven cell's "
                               f"{list(proven)}")
    why = d.reason(kind, verdict)
    if why:
        if data.get("applies") is not False:
            raise CertificateError(f"does not apply: {why}")
        return not_applying(norm_id, t_id, kind, why)
    if data.get("applies") is not True:
        raise CertificateError("applies: the cell is invariant and the consequence applies")
    if not isinstance(conds, list) or conds != [plain(x) for x in d.conditions]:
        raise CertificateError("the conditions are not the cell's conditions (from the registry)")
    steps = _checked_steps(data.get("steps"), d, kind)
    want = d.target(kind)
    if (steps[-1].lhs, steps[-1].rhs) != want:
        raise CertificateError(f"the last step is not the toolkit's {kind}: {plain(want[0])} = {plain(want[1])}")
    return applying(d, kind, d.conditions, steps)


def _vocabulary(d: Definitions, kind: str) -> Vocabulary:
    """What a step may mention: the cell's and the consequences' symbols, the directions."""
    extra = [IndexedBase(V), IndexedBase(U), IndexedBase(U2)]
    return Vocabulary.of(list(d.defs.values()) + list(d.cell_defs) + [
        Equation("", Symbol(V), IndexedBase(V)[(EPS,)], ""),
        Equation("", GRAD_T["W"][(EPS,)], GRAD_T["X"][(EPS,)], ""),
        Equation("", Symbol(C), Symbol(Q), "")] + [Equation("", x[(EPS,)], x[(EPS,)], "") for x in extra]
        + ([Equation("", *d.target("hessian-scaling"), "")] if kind == "hessian-scaling" else []))


def _checked_steps(steps_data, d: Definitions, kind: str) -> list[Equation]:
    if not isinstance(steps_data, list) or not 1 <= len(steps_data) <= MAX_STEPS:
        raise CertificateError(f"steps must be a list of 1 to {MAX_STEPS} steps")
    vocab = _vocabulary(d, kind)
    known = {e.name: e for e in d.defs.values()}
    steps: list[Equation] = []
    for k, s in enumerate(steps_data, 1):
        lhs, rhs = parse_step(s, k, vocab)
        name, uses = f"step {k}", s.get("uses")
        if not (isinstance(uses, list) and all(isinstance(u, str) for u in uses) and len(uses) <= MAX_USES):
            raise CertificateError(f"step {k}: uses must be a list of at most {MAX_USES} names")
        missing = [_short(u, 40) for u in uses if u not in known and u != COEFFICIENTS]
        if missing:
            raise CertificateError(f"step {k} uses {missing}, not stated before it")
        _no_division_by_zero(lhs, rhs, name)
        step = Equation(name, lhs, rhs, "", tuple(uses))
        if uses and uses[0] == COEFFICIENTS:
            _coefficients(step, known, d)
        elif COEFFICIENTS in uses:
            raise CertificateError(f"step {k}: {COEFFICIENTS} is a rule of its own, named first")
        else:
            left, right = _substituted(step, known)
            if not holds(left, right):
                raise CertificateError(f"step {k} does not hold: {_short(plain(lhs))} = {_short(plain(rhs))}")
        step = Equation(name, lhs, rhs, justify(step, d), tuple(uses))
        steps.append(step)
        known[name] = step
    return steps


def _substituted(step: Equation, known: dict) -> tuple[sp.Expr, sp.Expr]:
    """Both sides with the equations the step names substituted, in order: a Symbol by
    substitution, an indexed quantity as a rule (distinct symbolic indices)."""
    lhs, rhs = step.lhs, step.rhs
    for u in step.uses:
        e = known[u]
        if isinstance(e.lhs, Symbol):
            lhs, rhs = lhs.xreplace({e.lhs: e.rhs}), rhs.xreplace({e.lhs: e.rhs})
            continue
        if not isinstance(e.lhs, Indexed):
            raise CertificateError(f"{step.name} uses {u}, which cannot be used as a rule: "
                                   "it needs distinct symbolic indices")
        rule = [_rule(e, trusted=False)]   # the cell checker's conditions on a rule
        try:
            lhs, rhs = unfold(lhs, rule), unfold(rhs, rule)
        except ValueError as err:
            raise CertificateError(f"{step.name} cannot be checked: {_short(str(err))}") from None
    _bounded(lhs - rhs, step.name)
    return lhs, rhs


def _unfold_all(expr: sp.Expr, d: Definitions) -> sp.Expr:
    """``expr`` with every definition unfolded (never a premise, never a step): what remains
    are the primitives (W, X, the gradients and Hessians, the directions, the parameters,
    eta, lambda, quantities of the cell that no definition here defines)."""
    defs = list(d.definitions.values())[::-1]   # each mentions only those before it: last first
    for _ in range(len(defs) + 1):
        present = expr.atoms(Symbol, IndexedBase)
        found = [e for e in defs if (e.lhs if isinstance(e.lhs, Symbol) else e.lhs.base) in present]
        if not found:
            return expr
        for e in found:
            if isinstance(e.lhs, Symbol):
                expr = expr.xreplace({e.lhs: e.rhs})
            else:
                expr = unfold(expr, [Rule(e.lhs, e.rhs)])
        _bounded(expr, "an expression")
    raise CertificateError("the definitions do not unfold")   # never for the registry's


def _bounded(expr: sp.Expr, what: str) -> None:
    if expansion_terms(expr) > MAX_TERMS:   # what holds will expand, as for a cell's steps
        raise CertificateError(f"{what}: unfolded, it expands to more than {MAX_TERMS} terms")


def _coefficients(step: Equation, known: dict, d: Definitions) -> tuple[sp.Expr, sp.Expr]:
    """Check a *coefficients* step: uses = [coefficients, A] or [coefficients, A, B], earlier
    steps, each a fact for every direction.  It states K = lhs - rhs = 0 where, definitions
    unfolded, sum_l v_l K_l = +-(A's lhs - rhs) [- (B's lhs - rhs)] and K does not mention v.
    Returns the two sides of that identity, for the spot check."""
    facts = [known.get(u) for u in step.uses[1:]]
    if not 1 <= len(facts) <= 2 or any(e is None or not e.name.startswith("step ") for e in facts):
        raise CertificateError(f"{step.name}: {COEFFICIENTS} takes one or two earlier steps")
    # 0 for every direction: F_A - F_B from E = F_A and E = F_B, or F_A - F_B from F_A = F_B
    zero = facts[0].lhs - facts[0].rhs if len(facts) == 1 else \
        (facts[1].lhs - facts[1].rhs) - (facts[0].lhs - facts[0].rhs)
    zero = _unfold_all(zero, d)
    k = _unfold_all(step.lhs - step.rhs, d)
    tried = []
    for direction in getattr(d, "directions", ()):
        base = direction.base
        if not zero.has(base):
            continue
        if sum_normal_form(k).has(base):
            tried.append(f"{step.name} is not the coefficients of {' and '.join(step.uses[1:])}: unfolded, "
                         f"{_short(plain(step.lhs - step.rhs), 80)} still depends on the direction {base} "
                         "(a coefficient is read only off a form linear in it)")
            continue
        limits = [(i, 1, n) for i, n in zip(direction.indices, direction.sizes)]
        form = Sum(direction.at * k, *limits) if limits else direction.at * k
        _bounded(form - zero, step.name)
        form, zero = sum_normal_form(form), sum_normal_form(zero)
        for sign in (1, -1):   # the sign is the reader's choice of which side is the coefficient
            if holds(form, sign * zero):
                return form, sign * zero
    raise CertificateError(tried[0] if tried else
                           f"{step.name} is not the coefficients of {' and '.join(step.uses[1:])}: "
                           f"{_short(plain(step.lhs))} = {_short(plain(step.rhs))}")


def _short(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters, whatever ``text`` holds."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
