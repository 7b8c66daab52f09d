"""A rewrite's verdict as one object: the chains a person reads and ``verify`` checks.

A :class:`Chain` is the steps from a goal's side to its normal form, each step a rule's name,
the term it gives and the conditions it used.  The document (:func:`document`) writes each
step's term both as data (``term``, read back by :func:`invariance.core.terms.from_json`) and
as text (``text``, regenerated and compared by the kernel), with the rule's reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .rules import RULES, closure, condition_text
from .terms import canonical, show, to_json

__all__ = ["REWRITE", "PROVED", "REFUTED", "UNKNOWN", "Chain", "Proof", "Counterexample",
           "RewriteResult", "document", "proof_json", "instance_values", "free_names", "fraction_text"]

REWRITE = "invariance-rewrite/1"
PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"


@dataclass(frozen=True)
class Chain:
    steps: tuple          # ((rule name, term, conditions), ...)

    def end(self, start):
        return self.steps[-1][1] if self.steps else canonical(start)

    def conditions(self) -> set:
        return {c for *_, conds in self.steps for c in conds}


@dataclass(frozen=True)
class Proof:
    chains: tuple         # ((goal name, left chain, right chain), ...)

    def conditions(self) -> tuple:
        out = set()
        for _, left, right in self.chains:
            out |= left.conditions() | right.conditions()
        return tuple(sorted(out))


@dataclass(frozen=True)
class Counterexample:
    sizes: dict
    values: dict          # the recipe's unprimed variables of the instance: lists of rows of Fractions
    entry: int            # an output entry where the two sides differ


@dataclass(frozen=True)
class RewriteResult:
    recipe: str
    verdict: str
    conditions: tuple
    proof: Proof | None
    counterexample: Counterexample | None
    repair: Proof | None  # a proof when every rule may fire: what more it needs


def free_names(term) -> set:
    if term[0] == "var":
        return {term[1]}
    out = set()
    for a in term[1:]:
        if isinstance(a, tuple):
            out |= free_names(a)
    return out


def instance_values(r) -> list[str]:
    """The variables a counterexample gives values to: those of the instance and of the
    definitions, never a primed one (the checker computes those from the definitions)."""
    names = free_names(r.instance.lhs) | free_names(r.instance.rhs)
    for term in r.definitions.values():
        names |= free_names(term)
    return sorted(n for n in names if n not in r.definitions)


def fraction_text(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _chain_json(chain: Chain) -> list:
    return [{"rule": name, "reason": RULES[name].words, "term": to_json(term), "text": show(term),
             "conditions": [list(c) for c in conds]} for name, term, conds in chain.steps]


def _proof_json(proof: Proof) -> list:
    return [{"goal": goal, "lhs": _chain_json(left), "rhs": _chain_json(right)} for goal, left, right in proof.chains]


proof_json = _proof_json   # a proof's chains as a document holds them (block symmetries embed them too)


def document(result: RewriteResult, recipe) -> dict:
    """The JSON document of a verdict (what ``rewrite --format json`` prints and ``proofs/``
    holds).  The goals themselves are not in it: the checker builds them from the registry."""
    doc = {"schema": REWRITE, "recipe": result.recipe}
    if recipe.statement is not None:
        doc["statement"] = recipe.statement
    doc.update({"verdict": result.verdict, "claim": recipe.words,
                "conditions": [list(c) for c in result.conditions],
                "conditions_text": [condition_text(c) for c in result.conditions]})
    if result.proof is not None:
        doc["proof"] = _proof_json(result.proof)
    if result.counterexample is not None:
        cx = result.counterexample
        doc["counterexample"] = {
            "sizes": dict(cx.sizes), "entry": cx.entry,
            "values": {k: [[fraction_text(v) for v in row] for row in rows] for k, rows in cx.values.items()}}
    if result.repair is not None:
        extra = [c for c in result.repair.conditions() if c not in closure(recipe.assumptions)]
        doc["repair"] = {"conditions": [list(c) for c in extra],
                         "conditions_text": [condition_text(c) for c in extra],
                         "proof": _proof_json(result.repair)}
    if recipe.correction and result.verdict != PROVED:
        doc["correction"] = recipe.correction
    return doc
