"""The certificate checker: the small kernel that ``verify`` trusts.

A certificate is untrusted input.  This module reads one without running any
of it, and re-derives every claim from the registry and from steps it checks
itself.  It is meant to be audited in one sitting.

Trusted (not re-derived here):

1. the registry: each normalizer's and transformation's definitions
   (:func:`invariance.core.cells.definitions`), the conditions and parameters a
   transformation declares, a normalizer's registered constants;
2. SymPy's constructors and ``expand``/``cancel`` on expressions with rational
   coefficients, behind :func:`invariance.core.algebra.holds` (rules unfolded,
   linearity of finite sums; every sum's range is non-empty, so Karr's
   convention for reversed ranges never applies).  A link is an identity of
   rational functions of its atoms: where a denominator would vanish, SymPy
   gives ``nan``/``zoo``, never 0, and a link divides only by what is positive
   by assumption or by the statistics the output itself divides by;
3. exact evaluation (:func:`invariance.core.algebra.evaluate`: Python fractions,
   ``math.isqrt``, SymPy for irrational square roots) and mpmath's certified 50-digit test that an
   irrational difference is not zero (:func:`invariance.core.algebra.exact_nonzero`);
4. Python's ``json`` and ``ast.parse``, which parse and never run anything.

Re-derived, never taken from the file:

- expressions: read by :func:`parse`, a whitelist over the parse tree of the
  text; only the calls SymPy's ``srepr`` writes for the node types the toolkit
  uses are built, each by its own constructor, with literal arguments.  Symbols
  and indexed bases must be the registry's own for that cell (same name, same
  assumptions; a label is no scalar); a sum binds only an integer index, never
  a size or epsilon (which a definition unfolded inside it would then capture).
  No Float, no attribute, no other call: ``eval``/``sympify`` never see file text.
  Every sum runs over one of the layer's sizes or over 1 to 8 terms (never an
  empty or reversed range).  Resources are bounded by cost, not only count:
  text length, parse-tree size, exponents (after SymPy merges nested powers; no
  root of a number), an estimate of the terms ``expand`` makes, and what the
  spot checks and a counterexample's evaluation spend (a
  :class:`~invariance.core.algebra.Budget` per cell: terms, digits of numbers
  and radicands, work on radicals); :mod:`invariance.kernel.files` adds a time
  budget per file;
- the definitions: the registry's for the cell (with a symbolic epsilon or
  epsilon = 0), compared by content when the file states them;
- each chain of a proof: its name is derived from its left-hand side, which
  must be a quantity of the transformed layer; each link holds from the one
  before by unfolding only the registry's definitions (``alpha``, ``beta``
  among them, derived from the registry) and earlier chains' conclusions that
  it names; a conclusion used as a rule has distinct integer symbols as indices
  (not sizes, not literals); a link divides by nothing that may be zero but
  sigma and sigma' (the condition sigma != 0); each link also holds at random
  entries, and each chain's conclusion at every entry, of a random exact
  instance of size 3 along every axis (seeded from ``secrets``: a forger cannot
  know it), where every symbol must have a value and every index is within
  1..size; a link written unevaluated keeps only shapes that print as they hold;
- the conclusion: the last chain concludes the registry's ``h' = h``; a
  refuted cell's ``breaks`` are chains checked alike, whose last one is shown,
  at a random instance, not to give the law the rule needs (derived here);
- the conditions: from the registry (the transformation's, epsilon = 0 if the
  definitions set it, each statistic in h's denominator non-zero);
- a counterexample: only W, X, g, b and the transformation's declared
  parameters come from the file, with the recorded sizes as their shapes and
  every value within its symbol's assumptions; epsilon is 0 and constants are
  the registered ones; the outputs are evaluated here and must differ;
- what a reader sees: every display field (statements, LaTeX, each link's
  reason in words, conditions, outputs) is regenerated from the checked
  content and must be equal; the Markdown beside the file and ``caveats``, which
  this kernel does not derive, are compared by the ``display`` hook the layers
  above hand it (:mod:`invariance.report.certificates`), and refused without one.
  A field that nothing here checks is refused, ``numeric`` (a measurement by
  ``--numeric``, no claim with evidence) included.
"""
from __future__ import annotations

import itertools
import random
import secrets
from contextvars import ContextVar

import sympy as sp
from sympy import Indexed, IndexedBase, Sum

from .parse import (MAX_TERMS, CertificateError, Vocabulary, array, expansion_terms, is_index,
                    parse, rational, size)
from ..core.algebra import BUDGET, Budget, EmptyRange, Rule, TooManyTerms, evaluate, exact_nonzero, holds, unfold
from ..core.definition import Built
from ..core.cells import (bind_definitions, bind_instance, conditions, definitions, outputs_at, random_instance,
                          refutation_conditions, shapes, step_name, with_groups)
from ..core.model import EPS
from ..core.certificate import cell_json, equation_json
from ..core.proof import action, canonical, link_words, primed_of, uneval, wanted
from ..core.records import INVARIANT, NOT_INVARIANT, Breaks, Cell, Chain, Counterexample, Equation, Link, Proof
from ..catalogue.registry import UnknownId, acting, normalizer

__all__ = ["CertificateError", "Vocabulary", "parse", "parse_step", "check_cell", "rational", "compare_fields"]

MAX_STEPS = 64          # chains in a proof, and names one link uses
MAX_LINKS = 16          # links in one chain
LINK_POINTS = 2         # random entries each link is evaluated at (its chain's conclusion: every entry)
MAX_DENOMINATORS = 4     # different quantities one step divides by
MAX_SUM_TERMS = 100_000  # terms the spot checks of one cell may add up at sizes of 3 (the genuine: 6,000)
MAX_WORK = 60_000        # units of work on radicals they may do (core.algebra.Budget; the genuine: 9,600)
ANNOTATIONS = frozenset({"numeric"})   # a measurement added by --numeric: not a claim with evidence, refused
DISPLAYED = frozenset({"caveats"})     # derived claims the display hook re-derives and compares
_SPENDING: ContextVar[Budget | None] = ContextVar("the budget of the cell being checked", default=None)


# --- the whitelist parser ------------------------------------------------------


# --- exact values ---------------------------------------------------------------


# --- one cell ---------------------------------------------------------------------

def check_cell(data, display=None, markdown: str | None = None) -> list[str]:
    """Problems found in one cell of a certificate (empty when every claim holds).

    ``display(data, cell, markdown)``, handed down by the layers above, checks
    what a person reads that this kernel does not derive (``caveats``, the
    Markdown rendering beside the file); without it those are refused.
    """
    if not isinstance(data, dict):
        return ["a cell must be a JSON object"]
    token = _SPENDING.set(cell_budget())
    try:
        cell = _checked_cell(data)
    except CertificateError as err:
        return [str(err)]
    except UnknownId as err:
        return [f"{err} (a normalizer of your own: verify --load FILE)"]
    finally:
        _SPENDING.reset(token)
    want = cell_json(cell, definitions="definitions" in data)
    shown = ANNOTATIONS | (DISPLAYED if display else frozenset())
    problems = [unchecked(k) for k in sorted(ANNOTATIONS & set(data))]
    problems += compare_fields("", want, {k: v for k, v in data.items() if k not in shown})
    if display is not None:
        problems += display(data, cell, markdown)
    elif markdown is not None:   # what a person reads, and nothing here to compare it with
        problems.append("a Markdown rendering beside the file, and no renderer to check it against")
    return problems


def unchecked(field: str) -> str:
    """The problem with a field that is a measurement (``--numeric``): nothing here can check it."""
    return (f"field {field} is a measurement that verify cannot check, not a claim with evidence: "
            "regenerate the file without --numeric")


def _checked_cell(data: dict) -> Cell:
    norm, t = normalizer(_id(data, "normalizer")), acting(_id(data, "transformation"))
    verdict = data.get("verdict")
    b = _build_for(norm, t, data)
    defs = definitions(b, t)
    vocab = Vocabulary.of(defs)
    if verdict == INVARIANT:
        if data.get("counterexample") is not None:
            raise CertificateError("an invariant cell carries no counterexample")
        proof = _check_proof(data.get("proof"), b, t, defs, vocab)
        return Cell(norm.id, t.id, INVARIANT, conditions(b, t, b.eps == 0), proof=proof, definitions=defs)
    if verdict == NOT_INVARIANT:
        if data.get("proof") is not None:
            raise CertificateError("a refuted cell carries no proof")
        if b.eps != 0:
            raise CertificateError("a counterexample is evaluated with epsilon = 0; the definitions keep epsilon")
        ce = _check_counterexample(data.get("counterexample"), b, t, defs, vocab)
        return Cell(norm.id, t.id, NOT_INVARIANT, refutation_conditions(norm), counterexample=ce,
                    definitions=defs)
    raise CertificateError(f"verdict {verdict!r} carries no evidence (valid: {INVARIANT}, {NOT_INVARIANT})")


MAX_ID = 64   # characters of an id (the registry's did-you-mean costs time in its length)


def _id(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > MAX_ID:
        raise CertificateError(f"{key} must be an id string of at most {MAX_ID} characters")
    return value


def _build_for(norm, t, data: dict) -> Built:
    """The registry's definitions with epsilon = 0 if the conditions say so,
    else with a symbolic epsilon (a choice between two registry builds; the
    conditions are then recomputed from the one chosen and compared)."""
    conds = data.get("conditions")
    if not (isinstance(conds, list) and all(isinstance(c, str) for c in conds)):
        raise CertificateError("conditions must be a list of strings")
    b = norm.build(sp.S.Zero if "epsilon = 0" in conds else EPS)
    stated = data.get("definitions")
    if stated is not None:
        if stated != [equation_json(e) for e in definitions(b, t)]:
            raise CertificateError("the definitions are not the toolkit's definitions of this cell")
    return b


def _check_proof(chains_data, b: Built, t, defs, vocab: Vocabulary) -> Proof:
    """An invariant cell's chains, every link checked; the last concludes the registry's h' = h."""
    chains = _check_chains(chains_data, b, t, defs, vocab, "an invariant cell needs a proof")
    h, hp = next(e for e in defs if e.name == "h"), next(e for e in defs if e.name == "h'")
    last = chains[-1].conclusion()
    if (last.lhs, last.rhs) != (hp.lhs, h.lhs):
        raise CertificateError(f"the last chain does not conclude the toolkit's {hp.lhs} = {h.lhs}")
    return Proof(chains)


def _check_chains(chains_data, b: Built, t, defs, vocab: Vocabulary, what: str,
                  spot: "_SpotCheck | None" = None) -> tuple[Chain, ...]:
    """Chains of equalities, each about a quantity of the transformed layer.  A link holds by
    unfolding only the definitions and earlier conclusions it names (then linearity of the sum
    and expansion), and at every entry of a random exact instance; its words are derived here."""
    if not isinstance(chains_data, list) or not 1 <= len(chains_data) <= MAX_STEPS:
        raise CertificateError(f"{what}: a list of 1 to {MAX_STEPS} chains")
    known = {e.name: e for e in defs}
    trusted = set(known)
    act = action(b, known)
    primed = {e.lhs.base for e in defs if e.lhs.base.label.name.endswith("'")}
    spot = spot or _SpotCheck(defs, b, t)
    divisors = frozenset().union(*(sp.fraction(sp.together(r.rhs))[1].atoms(Indexed) for r in (b.out_rule, b.out_rule_p)))
    chains: list[Chain] = []
    for k, c in enumerate(chains_data, 1):
        if not (isinstance(c, dict) and isinstance(c.get("links"), list) and 1 <= len(c["links"]) <= MAX_LINKS):
            raise CertificateError(f"chain {k} must be an object with 1 to {MAX_LINKS} links")
        lhs = _parse(c.get("lhs"), vocab, f"chain {k}")
        if not (isinstance(lhs, Indexed) and lhs.base in primed):
            raise CertificateError(f"chain {k} must state the value of a quantity of the transformed layer "
                                   f"({', '.join(sorted(p.label.name for p in primed))})")
        name = step_name(lhs)
        if c.get("name") != name:
            raise CertificateError(f"chain {k} is named {c.get('name')!r}; a chain about {lhs.base.label.name} "
                                   f"is named {name!r}")
        if name in known:
            raise CertificateError(f"chain {k} states {name!r} a second time")
        links, prev = [], lhs
        for n, link in enumerate(c["links"], 1):
            where = f"chain {k}, link {n} ({name})"
            if not isinstance(link, dict):
                raise CertificateError(f"{where} must be a JSON object")
            expr = _parse(link.get("rhs"), vocab, where, evaluate=False)
            uses = link.get("uses")
            if not (isinstance(uses, list) and len(uses) <= MAX_STEPS and all(isinstance(u, str) for u in uses)):
                raise CertificateError(f"{where}: uses must be a list of at most {MAX_STEPS} names")
            missing = [u for u in uses if u not in known]
            if missing:
                raise CertificateError(f"{where} uses {missing}, not stated before it")
            left, right = uneval(prev), uneval(expr)
            _no_division_by_zero(left, right, where, divisors)
            left, right = canonical(left), canonical(right)   # as written, then in canonical form
            try:
                rules = [_rule(known[u], trusted=u in trusted) for u in uses]
                if expansion_terms(unfold(left - right, rules)) > MAX_TERMS:   # what holds will expand
                    raise CertificateError(f"unfolded, it expands to more than {MAX_TERMS} terms")
                ok = holds(left, right, rules)
            except CertificateError as err:
                raise CertificateError(f"{where}: {err}") from None
            except ValueError as err:   # e.g. a rule applied with the wrong number of indices
                raise CertificateError(f"{where} cannot be checked: {err}") from None
            if not ok:
                raise CertificateError(f"{where} does not hold: {left} = {right}")
            if not spot.holds(left, right, where, points=LINK_POINTS):
                raise CertificateError(f"{where} fails at a random rational point: {left} = {right}")
            links.append(Link(expr, tuple(uses), link_words(prev, expr, [known[u] for u in uses], act)))
            prev = expr
        chain = Chain(name, lhs, tuple(links))
        if not spot.holds(lhs, uneval(chain.rhs), f"chain {k} ({name})"):   # what later chains use: everywhere
            raise CertificateError(f"chain {k} ({name}) fails at a random rational point: {lhs} = {uneval(chain.rhs)}")
        chains.append(chain)
        known[name] = chain.conclusion()
    return tuple(chains)


def _parse(text, vocab: Vocabulary, where: str, evaluate: bool = True) -> sp.Expr:
    try:
        return parse(text, vocab, evaluate=evaluate)
    except CertificateError as err:
        raise CertificateError(f"{where}: {err}") from None


def parse_step(s, k: int, vocab: Vocabulary) -> tuple[sp.Expr, sp.Expr]:
    """Step ``k``'s two sides (a JSON object with ``lhs`` and ``rhs``), read by :func:`parse`."""
    if not isinstance(s, dict):
        raise CertificateError(f"step {k} must be a JSON object")
    try:
        return parse(s.get("lhs"), vocab), parse(s.get("rhs"), vocab)
    except CertificateError as err:
        raise CertificateError(f"step {k}: {err}") from None


def _rule(e: Equation, trusted: bool) -> Rule:
    """A checked step as a rewrite rule: sound at any indices only if its
    left-hand side's indices are distinct symbols that its right-hand side does not bind."""
    if not trusted:
        idx = e.lhs.indices
        bound = {v for s in e.rhs.atoms(Sum) for v in s.variables}
        if not all(is_index(i) for i in idx) or len(set(idx)) != len(idx) or set(idx) & bound:
            raise CertificateError(f"{e.name} is stated at {e.lhs}: a rule needs distinct symbolic indices "
                                   "(integer symbols, not sizes) that its right-hand side does not bind")
    return Rule(e.lhs, e.rhs)


def _no_division_by_zero(lhs, rhs, where: str, allowed=frozenset()) -> None:
    """A link may divide only by what is positive by assumption (sizes, scale factors) or by
    the statistics the output itself divides by (sigma and sigma', whose non-zero value is a
    condition of the cell), and by few different quantities (``cancel`` over many denominators
    takes minutes)."""
    bases = set()
    for side in (lhs, rhs):
        for p in side.atoms(sp.Pow):
            if p.exp.is_negative:
                if not all(f.is_positive or f in allowed or (f.is_Pow and f.base in allowed and f.exp.is_positive)
                           for f in sp.Mul.make_args(p.base)):
                    raise CertificateError(f"{where} divides by {p.base}, which may be zero")
                bases.add(p.base)
    if len(bases) > MAX_DENOMINATORS:
        raise CertificateError(f"{where} divides by {len(bases)} different quantities "
                               f"(at most {MAX_DENOMINATORS})")


def cell_budget() -> Budget:
    """What the spot checks of one cell's links may spend together, the definitions
    they evaluate included (:class:`~invariance.core.algebra.Budget`)."""
    return Budget(terms=MAX_SUM_TERMS, work=MAX_WORK)


def _seed() -> int:
    """The seed of a spot check's instance: from the operating system's randomness."""
    return secrets.randbits(128)


class _SpotCheck:
    """Both sides of a link at every entry of one random exact instance per cell (size 3
    along every axis, so no statistic runs over only two values, whose outputs are +-1;
    epsilon = 1/7 where it is symbolic), evaluated from the definitions alone: independent
    of the rewriting that :func:`holds` does.  The instance is drawn from the operating
    system's randomness when first needed (never from the file: a forger cannot know the
    points), and every evaluation of the cell spends from one budget."""

    def __init__(self, defs, b: Built, t) -> None:
        self.defs, self.b, self.t = defs, b, t
        self.instance = None

    def _draw(self):
        b, m = self.b, self.b.m
        rng = random.Random(_seed())
        sizes = with_groups(b, {ax.size: 3 for ax in (*m.axes, m.input)})
        values, params = random_instance(b, self.t, rng, sizes, unit_gain=False)
        budget = _SPENDING.get() or cell_budget()
        arrays, env = bind_definitions(self.defs, bind_instance(b, self.t, values, params, sizes),
                                       {**sizes, EPS: sp.Rational(1, 7), BUDGET: budget})
        tops = {ax.index: sizes[ax.size] for ax in (*m.axes, m.input)}
        for e in self.defs:   # a definition that does not read the arrays (a constant) would take any index
            arrays[e.lhs.base] = _within_layer(arrays[e.lhs.base], [tops.get(i) for i in e.lhs.indices], e.lhs.base)
        points = list(itertools.product(*[range(1, sizes[ax.size] + 1) for ax in m.axes]))
        return sizes, arrays, env, points

    def holds(self, lhs, rhs, where: str, points: int | None = None) -> bool:
        """False only if the two sides certainly differ somewhere: at every entry, or at
        ``points`` entries drawn at random."""
        if self.instance is None:
            self.instance = self._draw()
        sizes, arrays, env, every = self.instance
        m = self.b.m
        for point in (every if points is None else random.Random(_seed()).sample(every, points)):
            at = {**env, **{ax.index: v for ax, v in zip(m.axes, point)}}
            try:
                left, right = (evaluate(x, arrays, at) for x in (lhs, rhs))
            except ZeroDivisionError:
                continue   # a statistic vanishes here: no evidence either way
            except IndexError:
                raise CertificateError(f"{where} refers to an entry outside the layer at "
                                       f"{point} (sizes {sizes})") from None
            except TypeError:   # e.g. a sum up to a free index: int() of a symbol
                raise CertificateError(f"{where} mentions a symbol with no value at a point of the layer") \
                    from None
            except TooManyTerms as err:
                raise CertificateError(f"{where} costs too much to evaluate at sizes of 3 (with the "
                                       f"cell's earlier links): {err}") from None
            except EmptyRange as err:
                raise CertificateError(f"{where} has {err} at a point of the layer") from None
            if not (left.is_number and right.is_number):
                raise CertificateError(f"{where} mentions "
                                       f"{', '.join(sorted(map(str, (left - right).free_symbols)))}, "
                                       "which has no value at a point of the layer")
            if left.is_finite and right.is_finite and exact_nonzero(left - right):
                return False
        return True


def _within_layer(value, tops: list, base):
    """A defined quantity that refuses an index outside 1..size, as the evaluator does for an array."""
    def checked(*idx):
        if len(idx) != len(tops) or not all(top is None or 1 <= v <= top for v, top in zip(idx, tops)):
            raise IndexError(f"{base}[{', '.join(map(str, idx))}]: an index outside the layer")
        return value(*idx)
    return checked


def _check_counterexample(ce, b: Built, t, defs, vocab: Vocabulary) -> Counterexample:
    keys = {"sizes", "values", "parameters", "point", "output", "transformed_output", "breaks"}
    if not isinstance(ce, dict) or set(ce) != keys:
        raise CertificateError(f"a counterexample is an object with exactly: {', '.join(sorted(keys))}")
    m = b.m
    size_syms = {s.name: s for s in (*m.sizes, *b.size_symbols)}
    recorded = ce["sizes"]
    if not isinstance(recorded, dict) or set(recorded) != set(size_syms):
        raise CertificateError(f"sizes must give exactly {', '.join(sorted(size_syms))}")
    sizes = {size_syms[k]: size(v, f"size {k}") for k, v in recorded.items()}
    if b.norm.groups:   # the unit axis holds groups x S units
        (group,) = b.size_symbols - set(m.sizes)
        unit = m.axis("unit").size
        if with_groups(b, {**{s: v for s, v in sizes.items() if s != group}, unit: sizes[group]}) != sizes:
            raise CertificateError(f"sizes: {unit} must be {b.norm.groups} x {group}")
    shape = shapes(b, sizes)
    values = ce["values"]
    if not isinstance(values, dict) or set(values) != set(shape):
        raise CertificateError(f"values must give exactly {', '.join(shape)} (the transformation's "
                               "parameters go under parameters; epsilon and constants are not the file's)")
    values = {k: array(v, shape[k], k) for k, v in values.items()}
    dims = {k: sizes[s] for k, s in size_syms.items()} | {"H": sizes[m.axis("unit").size]}
    params = ce["parameters"]
    declared = {p.name: p for p in t.parameters}
    if not isinstance(params, dict) or set(params) != set(declared):
        raise CertificateError(f"parameters must give exactly {', '.join(declared) or 'nothing'}")
    params = {k: size(v, f"parameter {k}", dims[declared[k].index_of]) if declared[k].index_of
              else array(v, tuple(dims[d] for d in declared[k].shape), k) for k, v in params.items()}
    point = ce["point"]
    if not isinstance(point, dict) or list(point) != [ax.name for ax in m.axes]:
        raise CertificateError(f"point must give {', '.join(ax.name for ax in m.axes)}, in that order")
    point = {ax.name: size(point[ax.name], f"point {ax.name}", sizes[ax.size]) for ax in m.axes}
    bound = bind_instance(b, t, values, params, sizes)
    for sym, value in bound.items():
        _admissible(sym, value)
    idx = tuple(point.values())
    arrays, _ = bind_definitions(defs, bound, {**sizes, BUDGET: cell_budget()})
    try:
        out = outputs_at(defs, arrays, [idx])
    except TooManyTerms as err:   # e.g. 60-digit values at sizes of 8: a variance of 10^4 digits
        raise CertificateError(f"the counterexample costs too much to evaluate: {err} "
                               "(a counterexample needs small values)") from None
    h, h_t = out["h"][idx], out["h'"][idx]
    if not (h.is_finite and h_t.is_finite):
        raise CertificateError("a statistic in a denominator is zero at this instance: no counterexample")
    if not exact_nonzero(h_t - h):
        raise CertificateError(f"the two outputs do not differ: h = h' = {h}")
    stops = None if ce["breaks"] is None else _check_breaks(ce["breaks"], b, t, defs, vocab)
    return Counterexample(dict(recorded), values, params, point, h, h_t, stops)


def _check_breaks(data, b: Built, t, defs, vocab: Vocabulary) -> Breaks:
    """Where the derivation stops: chains checked like a proof's; what the rule needs at the
    last one is derived here (:func:`invariance.core.proof.wanted`), never read."""
    if not isinstance(data, dict) or "chains" not in data:
        raise CertificateError("breaks is null or an object with chains")
    spot = _SpotCheck(defs, b, t)
    chains = _check_chains(data["chains"], b, t, defs, vocab, "breaks", spot)
    last = chains[-1].lhs
    label = last.base.label.name
    act = action(b, {e.name: e for e in defs})
    if label != "h'" and b.stat_rule(label.removesuffix("'")) is None:
        raise CertificateError(f"breaks: the last chain is about {label}, neither a statistic nor h'")
    name = "h" if label == "h'" else label.removesuffix("'")
    at = b.out_rule_p.lhs if name == "h" else primed_of(b, name)
    if last != at:   # what the rule needs is stated at the registry's indices
        raise CertificateError(f"breaks: the last chain is about {last}; the law the rule needs is about {at}")
    need = wanted(b, name, act)
    # not shown false at any entry of the instance, nor of two fresh ones (a random instance may
    # happen to satisfy the law: a shift that is the same for every unit): no break
    if all(s.holds(last, need, "breaks: what the rule needs")
           for s in (spot, _SpotCheck(defs, b, t), _SpotCheck(defs, b, t))):
        raise CertificateError(f"breaks: {last} has the law the rule needs ({last} = {need} at every entry "
                               "of a random instance): the derivation does not stop there")
    return Breaks(chains, need)


def _admissible(sym, value) -> None:
    """Every entry of a value satisfies its symbol's assumptions (delta > 0 ...)."""
    label = sym.label if isinstance(sym, IndexedBase) else sym
    flat = list(_flatten(value))
    for key, test in (("positive", lambda v: v > 0), ("nonnegative", lambda v: v >= 0),
                      ("nonzero", lambda v: v != 0), ("negative", lambda v: v < 0)):
        if getattr(label, f"is_{key}") and not all(test(v) for v in flat):
            raise CertificateError(f"{label.name} must be {key} (its symbol's assumption), got "
                                   f"{', '.join(str(v) for v in flat)}")


def _flatten(value):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    else:
        yield sp.sympify(value) if isinstance(value, int) else value


def compare_fields(where: str, want, got) -> list[str]:
    """Where ``got`` (the file) differs from ``want`` (regenerated): one line per field."""
    if isinstance(want, dict) and isinstance(got, dict):
        problems = [f"field {where + k} is not part of a certificate" for k in got if k not in want]
        problems += [f"field {where + k} is missing" for k in want if k not in got]
        for k in want:
            if k in got:
                problems += compare_fields(f"{where}{k}.", want[k], got[k])
        return problems
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [p for k, (w, g) in enumerate(zip(want, got)) for p in compare_fields(f"{where[:-1]}[{k + 1}].", w, g)]
    if want != got:
        return [f"{where[:-1]} is not what the checked content gives: {_short(got)} (expected {_short(want)})"]
    return []


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
