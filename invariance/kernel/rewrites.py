"""Checking a rewrite's document: every step one rule, every counterexample re-evaluated.

What the checker takes from the file: the steps' terms and rule names, the counterexample's
sizes and rational values, the extra conditions of a repair.  What it derives itself: the
goals and the depth-1 instance (from the registry's recipe), the conditions each step used (by
applying the rule, :func:`invariance.core.rules.applications`), the rewritten parameters'
values (from the recipe's definitions), and whether the two outputs differ (exact fractions,
or integer ball enclosures that are disjoint).  Every display field is regenerated and compared.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..catalogue.rewrites import CLAIM, RECIPES, ClaimError, recipe_of
from ..core.rewrite import PROVED, REFUTED, REWRITE, fraction_text, instance_values
from ..core.rules import CONDITIONS, RULES, Context, applications, closure, condition_text
from ..core.terms import Exact, NotExact, TermError, canonical, differ, evaluate, from_json, show, size

__all__ = ["check_rewrite", "check_proof", "MAX_STEPS", "MAX_SIZE"]

MAX_STEPS = 500       # steps of one chain: a genuine one has under 20
MAX_SIZE = 8          # a counterexample's sizes: a genuine one is at most 4
MAX_WORK = 50_000     # node visits of checking one proof: a registered recipe's take under 2,000 (a claim of
                      # 333 summands x I checked every application of every step: over 30 s)
MAX_OPERATIONS = 30_000    # entry operations of a counterexample's evaluation: a recipe's at size 8 takes
                           # under 6,000 (a claim's long product x W W .. W would take minutes)
_NUMBER = re.compile(r"-?[0-9]{1,40}(/[1-9][0-9]{0,39})?")
_KEYS = {"schema", "recipe", "statement", "verdict", "claim", "conditions", "conditions_text", "proof",
         "counterexample", "repair", "correction"}


class _Bad(ValueError):
    pass


def _conditions(data, r, what: str) -> set:
    if not isinstance(data, list) or len(data) > 20:
        raise _Bad(f"{what}: a list of at most 20 [kind, name] pairs")
    out = set()
    for c in data:
        if (not isinstance(c, list) or len(c) != 2 or not isinstance(c[0], str) or c[0] not in CONDITIONS
                or not isinstance(c[1], str)
                or c[1] not in r.decl or c[1] in r.definitions):
            raise _Bad(f"{what}: each is [kind, name] with a kind of {', '.join(CONDITIONS)} and a declared, "
                       "unprimed variable")
        rows, cols = r.decl[c[1]]
        square = rows == cols and rows != 1
        if square != (c[0] in ("orthogonal", "fixes-ones")):
            raise _Bad(f"{what}: {c[0]} of {c[1]!r}, which is not a {'square matrix' if not square else 'row'}")
        out.add(tuple(c))
    if data != [list(c) for c in sorted(out)]:    # as written: a condition listed twice showed twice
        raise _Bad(f"{what}: each condition once, in order")
    return out


def _spend(work: list, n: int, at: str) -> None:
    work[0] -= n
    if work[0] < 0:
        raise _Bad(f"{at}: checking the proof takes more than {MAX_WORK} node visits (the registry's recipes "
                   "take under 2,000): a shorter proof of a smaller claim")


def _chain(steps, start, r, ctx, allowed, where: str, work: list):
    """The end of a checked chain from ``start``, and the conditions its steps used.  ``work``
    (a one-element list) is the document's node visits left: each step costs its term's size,
    and so does each application of the rule tried before the one that gives the step's term."""
    if not isinstance(steps, list) or len(steps) > MAX_STEPS:
        raise _Bad(f"{where}: a list of at most {MAX_STEPS} steps")
    term, used = canonical(start), set()
    for k, step in enumerate(steps, start=1):
        at = f"{where}, step {k}"
        if not isinstance(step, dict) or set(step) != {"rule", "reason", "term", "text", "conditions"}:
            raise _Bad(f"{at}: a step has exactly rule, reason, term, text and conditions")
        rule = RULES.get(step["rule"]) if isinstance(step["rule"], str) else None
        if rule is None:
            raise _Bad(f"{at}: an unknown rule; valid: {', '.join(RULES)}")
        try:
            new = canonical(from_json(step["term"], r.decl, r.sizes))
        except TermError as e:
            raise _Bad(f"{at}: {e}") from None
        n = size(term)
        _spend(work, n, at)
        ok, hit = None, False
        for out, c in applications(term, rule, ctx):   # the first that gives the step's term, as the search
            _spend(work, n, at)
            if out == new:
                hit = True
                if closure(c) <= allowed:
                    ok = c
                    break
        if ok is None:
            raise _Bad(f"{at}: not one application of {rule.name!r} to the previous term"
                       + (" under the conditions allowed" if hit else ""))
        conds = tuple(sorted(set(ok)))
        if step["reason"] != rule.words or step["text"] != show(new) or step["conditions"] != [list(c) for c in conds]:
            raise _Bad(f"{at}: its reason, text or conditions are not the rule's")
        term, used = new, used | set(conds)
    return term, used


def _proof(data, r, allowed, where: str, work: list) -> set:
    ctx = Context(r.decl, r.definitions)
    if not isinstance(data, list) or len(data) != len(r.goals):
        raise _Bad(f"{where}: one entry per goal of the recipe ({', '.join(g.name for g in r.goals)})")
    used = set()
    for goal, entry in zip(r.goals, data):
        if not isinstance(entry, dict) or set(entry) != {"goal", "lhs", "rhs"} or entry["goal"] != goal.name:
            raise _Bad(f"{where}: the goals in the recipe's order, each with goal, lhs and rhs")
        left, u1 = _chain(entry["lhs"], goal.lhs, r, ctx, allowed, f"{where}, {goal.name}, left", work)
        right, u2 = _chain(entry["rhs"], goal.rhs, r, ctx, allowed, f"{where}, {goal.name}, right", work)
        if left != right:
            raise _Bad(f"{where}, {goal.name}: the two chains end apart ({show(left)} and {show(right)})")
        used |= u1 | u2
    return used


def check_proof(data, r, allowed, where: str) -> set:
    """The conditions used by a proof's chains (one per goal of ``r``), each step checked as one
    rule application under ``allowed``, within :data:`MAX_WORK` node visits; raises ValueError at
    the first that is not."""
    return _proof(data, r, allowed, where, [MAX_WORK])


def _values(data, r) -> tuple[dict, dict]:
    if not isinstance(data, dict) or set(data) != {"sizes", "values", "entry"}:
        raise _Bad("counterexample: sizes, values and entry")
    sizes = data["sizes"]
    if (not isinstance(sizes, dict) or set(sizes) != set(r.sizes)
            or any(type(v) is not int or not 1 <= v <= MAX_SIZE for v in sizes.values())):
        raise _Bad(f"counterexample: sizes {', '.join(r.sizes)}, each a whole number 1 to {MAX_SIZE}")
    names, values = instance_values(r), data["values"]
    if not isinstance(values, dict) or sorted(values) != names:
        raise _Bad(f"counterexample: values of exactly {', '.join(names)}")
    env = {}
    for name in names:
        rows, cols = (1 if s == 1 else sizes[s] for s in r.decl[name])
        v = values[name]
        if (not isinstance(v, list) or len(v) != rows
                or any(not isinstance(row, list) or len(row) != cols for row in v)):
            raise _Bad(f"counterexample: {name} is {rows} x {cols}")
        if any(not isinstance(q, str) or not _NUMBER.fullmatch(q) for row in v for q in row):
            raise _Bad(f"counterexample: an entry of {name} is not a rational p or p/q")
        env[name] = [[Fraction(q) for q in row] for row in v]
        if any(fraction_text(Fraction(q)) != q for row in v for q in row):
            raise _Bad(f"counterexample: an entry of {name} is not in lowest terms")
    return sizes, env


def _assumed(env: dict, conds) -> None:
    for kind, name in sorted(conds):
        a = env[name]
        n = len(a)
        if kind == "orthogonal" and any(sum(a[i][k] * a[j][k] for k in range(n)) != int(i == j)
                                        for i in range(n) for j in range(n)):
            raise _Bad(f"counterexample: {name} is not orthogonal ({name} {name}^T != I)")
        if kind == "fixes-ones" and any(sum(row) != 1 for row in a):
            raise _Bad(f"counterexample: {name} 1^T != 1^T")
        if kind == "positive" and any(q <= 0 for row in a for q in row):
            raise _Bad(f"counterexample: an entry of {name} is not positive")
        if kind == "nonzero" and any(q == 0 for row in a for q in row):
            raise _Bad(f"counterexample: an entry of {name} is zero")


def _refuted(data, r) -> None:
    sizes, env = _values(data, r)
    _assumed(env, closure(r.assumptions))
    entry = data["entry"]
    budget = [MAX_OPERATIONS]
    try:
        for name, term in r.definitions.items():
            env[name] = evaluate(term, env, sizes, Exact, budget=budget)
        lhs = evaluate(r.instance.lhs, env, sizes, Exact, budget=budget)
        rhs = evaluate(r.instance.rhs, env, sizes, Exact, budget=budget)
    except (NotExact, ZeroDivisionError) as e:
        raise _Bad(f"counterexample: the model is not evaluated exactly there ({e})") from None
    if type(entry) is not int or not 0 <= entry < len(lhs[0]):
        raise _Bad(f"counterexample: entry is an output column 0 to {len(lhs[0]) - 1}")
    if not differ(lhs[0][entry], rhs[0][entry]):
        raise _Bad(f"counterexample: output {entry} is not shown to differ (the enclosures overlap or the "
                   "values agree)")


def check_rewrite(doc: dict) -> list[str]:
    """The problems of one rewrite document (empty: it verifies)."""
    try:
        if not isinstance(doc, dict) or doc.get("schema") != REWRITE or not set(doc) <= _KEYS:
            raise _Bad(f"a rewrite document has schema {REWRITE} and only the keys {', '.join(sorted(_KEYS))}")
        rid = doc.get("recipe")
        if not isinstance(rid, str) or (rid not in RECIPES and rid != CLAIM):
            raise _Bad(f"recipe: not a registered recipe; valid: {', '.join(RECIPES)}, or {CLAIM} with a statement")
        if ("statement" in doc) != (rid == CLAIM):
            raise _Bad(f"statement: given exactly when the recipe is {CLAIM}")
        try:
            r = recipe_of(doc)
        except ClaimError as e:
            raise _Bad(f"statement: {e}") from None
        if doc.get("claim") != r.words:
            raise _Bad("claim: not the recipe's")
        verdict = doc.get("verdict")
        conds = _conditions(doc.get("conditions"), r, "conditions")
        if verdict == PROVED:
            if {"counterexample", "repair", "correction"} & set(doc):
                raise _Bad("a proved rewrite has no counterexample, repair or correction")
            used = _proof(doc.get("proof"), r, closure(r.assumptions), "proof", [MAX_WORK])
            if used != conds:
                raise _Bad("conditions: not the conditions the proof used")
        elif verdict == REFUTED:
            if "proof" in doc or conds:
                raise _Bad("a refuted rewrite has no proof and no conditions of its own")
            _refuted(doc.get("counterexample"), r)
            if "repair" in doc:
                rep = doc["repair"]
                if not isinstance(rep, dict) or set(rep) != {"conditions", "conditions_text", "proof"}:
                    raise _Bad("repair: conditions, conditions_text and proof")
                extra = _conditions(rep["conditions"], r, "repair conditions")
                used = _proof(rep["proof"], r, closure(set(r.assumptions) | extra), "repair", [MAX_WORK])
                if extra != used - closure(r.assumptions) or not extra:
                    raise _Bad("repair conditions: not what the repair's proof used beyond the assumptions")
                if rep["conditions_text"] != [condition_text(c) for c in rep["conditions"]]:
                    raise _Bad("repair conditions_text: not the conditions' words")
            if doc.get("correction") != r.correction or ("correction" in doc) != (r.correction is not None):
                raise _Bad(f"correction: the registry's is {r.correction!r}" if r.correction else
                           "correction: the registry gives this recipe none")
        else:
            raise _Bad(f"verdict: {PROVED} or {REFUTED} (an unknown verdict claims nothing to check)")
        if doc.get("conditions_text") != [condition_text(c) for c in doc["conditions"]]:
            raise _Bad("conditions_text: not the conditions' words")
    except _Bad as e:
        return [str(e)]
    return []
