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
- the family (a column of the table or a family of directions, by its id
  from the registry) and what its generator moves (W, X, g, b, c); a step
  may divide only by what the cited cell's conditions state is not zero;
- every statement a consequence must reach (the Hessian identity: one row per
  parameter tensor, each a coefficients step of its own direction U_W, U_g ...);
- each *coefficients* step, semantically: from earlier steps A and B (facts,
  for every direction) it states K = 0 with K = lhs - rhs.  With every
  definition unfolded (xi, D_v phi, c ... : never the text as written), the
  kernel checks by :func:`invariance.core.algebra.holds` that
  :math:`\\sum_l v_l K_l = \\pm((A_{lhs} - A_{rhs}) - (B_{lhs} - B_{rhs}))`,
  a quantity that is 0 for every direction v, and that K, unfolded and
  expanded, does not mention v.  Then choosing v = e_l gives K_l = 0;
- behind every step, a spot check: both sides, once the names the step uses
  are substituted and every definition is unfolded, evaluated exactly at a
  random instance (sizes of 3 along every axis; random rationals for W, X,
  the gradients, the Hessians, every other array, the directions, eta,
  lambda, the parameters, each within its symbol's assumptions; every entry
  of the step's free indices; a group's number u from 1 to H/S = 1), at points
  seeded from :mod:`secrets`, so
  that the file cannot predict them.  A step that differs there, that reads
  an entry outside the layer, or that costs more than its bounds (nodes evaluated, each
  term of a sum costing its body's; and, for the whole document, terms expanded and nodes
  evaluated per cell it cites) is rejected;
- every display field (statement, LaTeX, justification, meaning, names,
  conditions) is regenerated from the checked content and must be equal.
  ``numeric`` is an annotation (a measurement), not a claim.
"""
from __future__ import annotations

import contextvars
import functools
import itertools
import math
import random
import secrets
from fractions import Fraction

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

from .cells import _no_division_by_zero, _rule, compare_fields, parse_step
from .parse import MAX_TERMS, CertificateError, Vocabulary, expansion_terms, is_index, scalars
from ..catalogue.registry import UnknownId, acting, normalizer
from ..core.algebra import Rule, TooManyTerms, exact_nonzero, holds, sum_normal_form, unfold
from ..core.certificate import FORMAT
from ..core.consequence import Consequence, applying, consequence_json, justify, not_applying
from ..core.model import EPS
from ..core.notation import plain
from ..core.records import INVARIANT, Equation
from ..core.training import C, COEFFICIENTS, CONSEQUENCES, GRAD_T, Q, U, U2, V, Definitions

__all__ = ["check_consequence", "verify_document", "definitions_for", "MAX_STEPS", "SPOT_SIZE"]

MAX_STEPS = 16        # steps of one consequence
MAX_USES = 12         # names one step uses
SPOT_SIZE = 3         # the spot check's size along every axis (and range of every free index)
MAX_SPOT_WORK = 1_000_000   # nodes the spot check of one step may evaluate (see _cost; the genuine: 60,000)
# What all the steps of one document may cost together, per cell it cites (the registry bounds the
# cells, not the entries: a file can repeat costly steps in as many entries as it likes).  The
# genuine document: at most 2,800 terms and 190,000 nodes for one cell, 640 and 35,000 on average.
TERMS_PER_CELL = 10_000     # terms its steps expand to (see _bounded: what holds expands); the heaviest
                            # genuine cell, group norm's group re-scaling, 8,550 (its Hessian by floors)
WORK_PER_CELL = 80_000      # nodes its spot checks evaluate
MAX_POINTS = 81       # entries of a step's free indices the spot check visits (3^4; sampled above)


def check_consequence(data, invariant=None, checked: set | None = None, budget: "Budget | None" = None) -> list[str]:
    """Problems found in one consequence entry (empty when every claim holds), one line each.

    ``invariant(normalizer, transformation)``: the conditions of the cited
    cell if it is proven invariant, else None (without it, no cell is).
    ``checked``: steps already checked in this run (the same equation from the same
    definitions and premises, as several entries of one cell share their first steps).
    ``budget``: what the steps of the document may still cost (one cell's, if not given).
    """
    if not isinstance(data, dict):
        return ["a consequence must be a JSON object"]
    token = _BUDGET.set(budget if budget is not None else Budget(1))
    try:
        c = _checked(data, invariant or (lambda n, t: None), set() if checked is None else checked)
    except CertificateError as err:
        return [str(err)]
    except UnknownId as err:
        return [f"{err} (a normalizer of your own: verify --load FILE)"]
    except Exception as err:  # anything unforeseen rejects the entry, never the whole run
        return [f"could not be checked ({type(err).__name__}: {_short(str(err), 200)})"]
    finally:
        _BUDGET.reset(token)
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
    problems, checked, budget = [], set(), Budget(len(_cells(doc["consequences"])))
    for k, entry in enumerate(doc["consequences"], 1):
        where = " x ".join(_short(str(entry.get(f)), 60) for f in ("normalizer", "transformation", "consequence")) \
            if isinstance(entry, dict) else f"entry {k}"
        problems += [f"{where}: {p}" for p in check_consequence(entry, invariant, checked, budget)]
    return problems


class Budget:
    """What the steps of one document may still cost, together: :data:`TERMS_PER_CELL` and
    :data:`WORK_PER_CELL` for each cell of the registry it cites, and at least what one entry
    may cost alone."""

    def __init__(self, cells: int):
        self.cells = cells   # at least one entry's worth, however few cells (the genuine: 8,550 and 184,000)
        self.terms, self.work = max(TERMS_PER_CELL * cells, 10_000), max(WORK_PER_CELL * cells, 1_000_000)

    def spend_terms(self, count: int, what: str) -> None:
        self.terms -= count
        if self.terms < 0:
            raise CertificateError(f"{what}: the steps of the document expand to more than {TERMS_PER_CELL} "
                                   f"terms per cell it cites ({self.cells}), together")


_BUDGET: contextvars.ContextVar = contextvars.ContextVar("budget")


def _cells(entries) -> set:
    """The cells of the registry that ``entries`` cite (an unknown id cites none)."""
    out = set()
    for e in entries:
        ids = (e.get("normalizer"), e.get("transformation")) if isinstance(e, dict) else ()
        if len(ids) == 2 and all(isinstance(x, str) for x in ids) and ids not in out:
            try:
                normalizer(ids[0]), acting(ids[1])
            except UnknownId:
                continue
            out.add(ids)
    return out


@functools.lru_cache(maxsize=None)
def definitions_for(norm_id: str, t_id: str, eps_zero: bool) -> Definitions:
    """The registry's definitions of a cell's consequences (built once per cell)."""
    return Definitions(normalizer(norm_id), acting(t_id), eps_zero)


def _checked(data: dict, invariant, checked: set) -> Consequence:
    norm_id, t_id, kind = data.get("normalizer"), data.get("transformation"), data.get("consequence")
    for key, value in (("normalizer", norm_id), ("transformation", t_id), ("consequence", kind)):
        if not isinstance(value, str):
            raise CertificateError(f"{key} must be an id string")
    normalizer(norm_id), acting(t_id)
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
    steps = _checked_steps(data.get("steps"), d, kind, checked)
    wants = d.targets(kind)   # the last step, and every other statement the consequence makes
    reached = {(s.lhs, s.rhs) for s in steps}
    for want in wants:
        if want not in reached or (want == wants[-1] and (steps[-1].lhs, steps[-1].rhs) != want):
            raise CertificateError(f"the {'last ' if want == wants[-1] else ''}step is not the toolkit's {kind}: "
                                   f"{plain(want[0])} = {plain(want[1])}")
    return applying(d, kind, d.conditions, steps)


@functools.lru_cache(maxsize=None)
def _vocabulary(d: Definitions, kind: str) -> Vocabulary:
    """What a step may mention: the cell's and the consequences' symbols, the directions."""
    extra = [IndexedBase(V), IndexedBase(U), IndexedBase(U2)]
    return Vocabulary.of(list(d.defs.values()) + list(d.cell_defs) + [
        Equation("", Symbol(V), IndexedBase(V)[(EPS,)], ""),
        Equation("", GRAD_T["W"][(EPS,)], GRAD_T["X"][(EPS,)], ""),
        Equation("", Symbol(C), Symbol(Q), "")] + [Equation("", x[(EPS,)], x[(EPS,)], "") for x in extra]
        + ([Equation("", *d.target("hessian-scaling"), "")] if kind == "hessian-scaling" else []))


def _checked_steps(steps_data, d: Definitions, kind: str, checked: set) -> list[Equation]:
    if not isinstance(steps_data, list) or not 1 <= len(steps_data) <= MAX_STEPS:
        raise CertificateError(f"steps must be a list of 1 to {MAX_STEPS} steps")
    vocab = _vocabulary(d, kind)
    known = {e.name: e for e in d.defs.values()}
    rng = random.Random(secrets.randbits(128))   # spot-check points: not predictable from the file
    steps: list[Equation] = []
    for k, s in enumerate(steps_data, 1):
        lhs, rhs = parse_step(s, k, vocab)
        name, uses = f"step {k}", s.get("uses")
        if not (isinstance(uses, list) and all(isinstance(u, str) for u in uses) and len(uses) <= MAX_USES):
            raise CertificateError(f"step {k}: uses must be a list of at most {MAX_USES} names")
        missing = [_short(u, 40) for u in uses if u not in known and u != COEFFICIENTS]
        if missing:
            raise CertificateError(f"step {k} uses {missing}, not stated before it")
        _no_division_by_zero(lhs, rhs, name, _nonzero(d))
        step = Equation(name, lhs, rhs, "", tuple(uses))
        if COEFFICIENTS in uses[1:]:
            raise CertificateError(f"step {k}: {COEFFICIENTS} is a rule of its own, named first")
        claim = (d, lhs, rhs, tuple((u, known[u].lhs, known[u].rhs) if u in known else (u,) for u in uses))
        if claim not in checked:   # the same equation, definitions and premises: one check per run
            if uses and uses[0] == COEFFICIENTS:
                left, right = _coefficients(step, known, d)
            else:
                left, right = _substituted(step, known)
                if not holds(left, right):
                    raise CertificateError(f"step {k} does not hold: {_short(plain(lhs))} = {_short(plain(rhs))}")
            _spot_check(_unfold_all(left, d), _unfold_all(right, d), name, rng, _ranges(d))
            checked.add(claim)
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
    terms = expansion_terms(expr)
    if terms > MAX_TERMS:   # what holds will expand, as for a cell's steps
        raise CertificateError(f"{what}: unfolded, it expands to more than {MAX_TERMS} terms")
    _BUDGET.get().spend_terms(terms, what)


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


# --- the spot check ----------------------------------------------------------------------

class _Entries:
    """An array of random exact entries, drawn when first read, within its label's
    assumptions; reading outside 1..SPOT_SIZE along an axis is refused."""

    def __init__(self, base: IndexedBase, rng: random.Random):
        self.base, self.rng, self.values = base, rng, {}
        self.positive = bool(base.label.is_positive or base.label.is_nonnegative)

    def __call__(self, *idx):
        try:
            return self.values[idx]
        except KeyError:
            pass
        idx = tuple(_integer(i) for i in idx)
        if not all(1 <= i <= SPOT_SIZE for i in idx):
            raise _Outside(f"{self.base}[{', '.join(map(str, idx))}]")
        if idx not in self.values:
            self.values[idx] = _random_value(self.rng, self.positive)
        return self.values[idx]


class _Outside(Exception):
    """An entry outside the layer was read."""


def _random_value(rng: random.Random, positive: bool) -> Fraction:
    """A random non-zero rational p/q, |p/q| <= 9, q <= 7 (positive if asked)."""
    while True:
        q = rng.randint(1, 7)
        p = rng.randint(1 if positive else -9 * q, 9 * q)
        if p:
            return Fraction(p, q)


def _nonzero(d: Definitions) -> frozenset:
    """What the cell's conditions (from the registry) state is not zero: a step may divide by it."""
    return frozenset(c.lhs for c in d.conditions if isinstance(c, sp.Ne) and c.rhs == 0)


def _ranges(d: Definitions) -> dict:
    """The free indices that do not run over a whole axis: a group's number u runs from 1 to
    H/S (the registry's size of the direction's index), every other index from 1 to SPOT_SIZE."""
    return {k: n for direction in getattr(d, "directions", ()) for k, n in zip(direction.indices, direction.sizes)
            if not isinstance(n, Symbol)}


def _spot_check(left: sp.Expr, right: sp.Expr, name: str, rng: random.Random, ranges=None) -> None:
    """Both sides, exactly, at a random instance and every entry of their free indices
    (a sample of :data:`MAX_POINTS` when there are more): one line if they differ."""
    free = set()
    for x in (left, right):   # the scalars, not an indexed base's label nor a summation index
        free |= set(scalars(x)) & x.free_symbols
    arrays = {b: _Entries(b, rng) for b in left.atoms(IndexedBase) | right.atoms(IndexedBase)}
    env, indices = {}, []
    for s in sorted(free, key=str):
        if s.is_integer and s.is_positive:
            env[s] = SPOT_SIZE                          # a size: 3 along every axis
        elif is_index(s):
            indices.append(s)
        elif s.is_integer:
            raise CertificateError(f"{name} mentions {s}, an integer that is neither a size nor an index")
        else:
            env[s] = _random_value(rng, bool(s.is_positive or s.is_nonnegative))
    ranges = {k: int(sp.sympify(n).xreplace({x: SPOT_SIZE for x in sp.sympify(n).free_symbols}))
              for k, n in (ranges or {}).items()}   # sizes are SPOT_SIZE, so H/S = 1 group
    points = list(itertools.product(*[range(1, ranges.get(k, SPOT_SIZE) + 1) for k in indices]))
    if len(points) > MAX_POINTS:
        points = rng.sample(points, MAX_POINTS)
    doc = _BUDGET.get()
    budget = [min(MAX_SPOT_WORK, doc.work)]   # nodes evaluated at all the points of this step together
    start = budget[0]
    try:
        sides = [_compiled(x, arrays, budget) for x in (left, right)]
    except CertificateError as err:
        raise CertificateError(f"{name}: {err}") from None
    for point in points:
        at = {**env, **dict(zip(indices, point))}
        try:
            values = [side(at) for side in sides]
        except _Outside as err:
            raise CertificateError(f"{name} reads {err}, outside the layer (sizes of {SPOT_SIZE})") from None
        except TooManyTerms:
            if start < MAX_SPOT_WORK:
                raise CertificateError(f"{name}: the spot checks of the document evaluate more than {WORK_PER_CELL} "
                                       f"nodes per cell it cites ({doc.cells}), together") from None
            raise CertificateError(f"{name} costs more than {MAX_SPOT_WORK} evaluations of a node at sizes of "
                                   f"{SPOT_SIZE} (terms of its sums times their size, at all its points "
                                   "together): not a sum over the layer") from None
        except ZeroDivisionError:
            raise CertificateError(f"{name} divides by zero at a random exact point") from None
        except (KeyError, TypeError, _NoValue):   # e.g. a sum up to a symbol with no value
            raise CertificateError(f"{name} mentions a symbol with no value at a point of the layer") from None
        if _differ(*values):
            where = ", ".join(f"{s} = {v}" for s, v in zip(indices, point))
            raise CertificateError(f"{name} fails at a random exact point{' (' + where + ')' if where else ''}: "
                                   f"{_short(str(values[0]), 60)} != {_short(str(values[1]), 60)}")
    doc.work -= start - budget[0]


class _NoValue(Exception):
    """A symbol or a bound with no exact integer value."""


def _compiled(expr: sp.Expr, arrays: dict, budget: list):
    """``expr`` as a function of an environment (Symbol -> Fraction) giving its exact value,
    built once per step so that each point costs only arithmetic.  The few node types of
    a consequence (numbers, symbols, entries, sums, products, integer powers, sums over
    integer ranges with Karr's convention, as :func:`invariance.core.algebra.evaluate`);
    anything else (a root, a function) is refused: its exact value would be SymPy's, at a cost
    no bound here limits.
    ``budget[0]``: the nodes it may still evaluate (shared by the calls): each call costs the
    nodes of ``expr`` outside its sums, each term of a sum the nodes of its body (see :func:`_cost`)."""
    try:
        f, top = _node(expr, arrays, budget), _cost(expr)
    except _Unsupported as err:
        raise CertificateError(f"the spot check evaluates numbers, symbols, entries, sums, products and integer "
                               f"powers exactly, and {err} is none of them") from None

    def charged(env):
        budget[0] -= top
        if budget[0] < 0:
            raise TooManyTerms("the evaluation costs more than allowed")
        return f(env)
    return charged


def _cost(expr) -> int:
    """The nodes one evaluation of ``expr`` visits outside its sums (a sum counts its bounds;
    each of its terms is charged apart, see :func:`_sum`)."""
    if isinstance(expr, Sum):
        return 1 + sum(_cost(x) for _, lo, hi in expr.limits for x in (lo, hi))
    return 1 + sum(_cost(a) for a in expr.args)


class _Unsupported(Exception):
    """A node the compiled evaluator leaves to the general one."""


def _integer(value) -> int:
    """An index or a bound: sizes, indices and sums' variables are ints, and so is
    arithmetic on them; a Fraction is one only if its denominator is 1."""
    if type(value) is int:
        return value
    if not (isinstance(value, Fraction) and value.denominator == 1):
        raise _NoValue(value)
    return int(value)


def _node(e, arrays, budget):
    if e.is_Rational:
        c = int(e.p) if e.is_Integer else Fraction(int(e.p), int(e.q))
        return lambda env: c
    if isinstance(e, Symbol):
        return lambda env: env[e]
    if isinstance(e, Indexed):   # the entry checks its indices (integers within the layer)
        entries = arrays[e.base]
        if all(isinstance(i, Symbol) for i in e.indices):
            names = e.indices
            return lambda env: entries(*[env[i] for i in names])
        fs = [_node(i, arrays, budget) for i in e.indices]
        return lambda env: entries(*[g(env) for g in fs])
    if isinstance(e, (sp.Add, sp.Mul)):
        fs = [_node(a, arrays, budget) for a in e.args]
        if isinstance(e, sp.Add):
            return lambda env: sum(g(env) for g in fs)

        def product(env):
            out = 1
            for g in fs:
                out *= g(env)
            return out
        return product
    if isinstance(e, sp.floor):   # a group's number, floor((i-1)/S) + 1: exact on a Fraction
        g = _node(e.args[0], arrays, budget)
        return lambda env: math.floor(g(env))
    if isinstance(e, sp.Pow) and e.exp.is_Integer:
        g, n = _node(e.base, arrays, budget), int(e.exp)
        if n < 0:   # exactly: an int to a negative power would be a float
            return lambda env: Fraction(g(env)) ** n
        return lambda env: g(env) ** n
    if isinstance(e, Sum):
        f, weight = _node(e.function, arrays, budget), _cost(e.function)
        for k, lo, hi in e.limits:   # innermost first; an outer term costs its inner sum's bounds
            f = _sum(f, k, _node(lo, arrays, budget), _node(hi, arrays, budget), budget, weight)
            weight = 1 + _cost(lo) + _cost(hi)
        return f
    raise _Unsupported(type(e).__name__)


def _sum(body, k, lo_f, hi_f, budget, weight: int):
    def run(env):
        lo, hi, sign = _integer(lo_f(env)), _integer(hi_f(env)), 1
        if hi < lo - 1:   # Karr's convention, as SymPy's (and holds'): sum_{lo}^{hi} = -sum_{hi+1}^{lo-1}
            lo, hi, sign = hi + 1, lo - 1, -1
        budget[0] -= (hi - lo + 1) * weight   # each term evaluates the body: its nodes
        if budget[0] < 0:
            raise TooManyTerms("the sums add up more terms than allowed")
        outer, total = env.get(k), 0
        for v in range(lo, hi + 1):
            env[k] = v
            total += body(env)
        if outer is None:
            env.pop(k, None)
        else:
            env[k] = outer
        return sign * total
    return run


def _differ(a, b) -> bool:
    if isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction)):
        return a != b
    a, b = (sp.Rational(x.numerator, x.denominator) if isinstance(x, (int, Fraction)) else x for x in (a, b))
    if not (a.is_number and b.is_number):
        raise CertificateError("a side mentions a symbol with no value at a point of the layer")
    return not (a.is_finite and b.is_finite) or exact_nonzero(a - b)


def _short(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters, whatever ``text`` holds."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
