"""What a consequence of invariance is, as a record and as JSON: its words, derived
from its content (never stored apart from it, so the kernel can regenerate them).

The definitions it rests on are :mod:`invariance.core.training`'s; the search
(:mod:`invariance.derive.consequences`) writes its steps; the kernel
(:mod:`invariance.kernel.consequences`) checks them and regenerates every
field here to compare it with the file.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field

import sympy as sp
from sympy import Symbol

from .certificate import FORMAT
from .notation import _Printer, _name, plain
from .records import INVARIANT, Equation
from .training import C, COEFFICIENTS, Q, Definitions

__all__ = ["TITLES", "Consequence", "applying", "not_applying", "justify", "statement", "tex",
           "consequence_json", "document"]

TITLES = {"gradient-orthogonality": "Gradient orthogonal to the generator of the symmetry",
          "gradient-scaling": "How the gradient changes along the symmetry",
          "hessian-identity": "The Hessian along the generator: H xi + (D xi)^T dL/dP = 0",
          "conserved-quantity": "Quantity conserved under gradient flow",
          "sgd-norm-growth": "One SGD step, exactly",
          "weight-decay-law": "One SGD step with weight decay, exactly",
          "hessian-scaling": "How the Hessian changes along the symmetry",
          "effective-learning-rate": "One SGD step on W is a step at rate eta delta^2 on the re-scaled W'"}

_TEX = {"dL/dW": r"(\partial_{W} L)", "dL/dX": r"(\partial_{X} L)",      # the gradient at (W, X) ...
        "dL/dW'": r"(\partial_{W} L')", "dL/dX'": r"(\partial_{X} L')",  # ... and at (W', X')
        "xi^W": r"\xi^{W}", "xi^X": r"\xi^{X}", "xi_U^W": r"\xi_{U}^{W}", "xi_U^X": r"\xi_{U}^{X}",
        "d2L/dW2": r"(\partial^{2}_{W} L)", "d2L/dX2": r"(\partial^{2}_{X} L)",
        "d2L/dW2'": r"(\partial^{2}_{W} L')", "d2L/dX2'": r"(\partial^{2}_{X} L')",
        "xi_U2^W": r"\xi_{U_2}^{W}", "xi_U2^X": r"\xi_{U_2}^{X}", "U2": "U_{2}",
        "D_U D_U2 L": r"D_{U} D_{U_2} L", "D_U D_U2 L'": r"D_{U} D_{U_2} L'",
        "D_v phi": r"D_{v}\phi", "D_U L": r"D_{U} L", "D_U L'": r"D_{U} L'", "dQ/dt": r"\dot{Q}",
        "W^+": "W^{+}", "W^wd": r"W^{\lambda}", "Q^+": "Q^{+}", "Q^wd": r"Q^{\lambda}",
        **{f"dL/d{k}": rf"(\partial_{{{k}}} L)" for k in "gbc"}, **{f"{k}^+": f"{k}^{{+}}" for k in "gbc"},
        **{f"{k}^wd": rf"{k}^{{\lambda}}" for k in "gbc"}, **{f"U_{k}": f"U_{{{k}}}" for k in "Wgbc"},
        **{f"d2L/d{r}d{t}": rf"(\partial_{{{r}}}\partial_{{{t}}} L)" for r in "Wgbc" for t in "Wgbc"},
        **{f"D_U{k} D_v phi": rf"D_{{U_{{{k}}}}} D_{{v}}\phi" for k in "Wgbc"}, "c_v": "c_{v}"}


@functools.lru_cache(maxsize=8192)   # the same definitions recur in every entry of a cell
def tex(expr: sp.Basic) -> str:
    """LaTeX with this chapter's names (the gradient as a fraction of partials ...)."""
    names = {}
    for s in expr.atoms(Symbol):
        if s.name in _TEX:
            names[s] = _TEX[s.name]
        elif s.name.endswith("'") or "^" in s.name or s.name in ("delta", "gamma", "eta", "lambda"):
            names[s] = _name(s.name) if s.name not in ("eta", "lambda") else "\\" + s.name
    return _Printer({"symbol_names": names}).doprint(expr)


def _eq_plain(lhs, rhs) -> str:
    return f"{plain(lhs)} = {plain(rhs)}"


@dataclass(frozen=True)
class Consequence:
    """One consequence of one cell: its definitions, checked steps and statement."""

    normalizer: str
    transformation: str
    consequence: str
    applies: bool
    reason: str = ""
    conditions: tuple = ()
    definitions: tuple[Equation, ...] = ()
    steps: tuple[Equation, ...] = ()
    numeric: dict | None = None
    notes: dict = field(default_factory=dict)   # derived expressions the numeric side evaluates
    statement: str = ""                         # one line, from the content (see :func:`statement`)

    @property
    def conclusion(self) -> Equation | None:
        return self.steps[-1] if self.steps else None


def not_applying(norm_id: str, t_id: str, kind: str, reason: str) -> Consequence:
    """A consequence that does not apply to a cell, and why."""
    return Consequence(norm_id, t_id, kind, False, reason, statement=f"{TITLES[kind]}: does not apply ({reason})")


def applying(d: Definitions, kind: str, conditions, steps) -> Consequence:
    """A consequence of ``d``'s cell proven by ``steps`` (each with its words, see :func:`justify`),
    under the cell's ``conditions``, with the definitions the steps use."""
    steps = tuple(steps)
    return Consequence(d.norm.id, d.t.id, kind, True, "", tuple(conditions), d.used_definitions(steps), steps,
                       statement=statement(d, kind, steps[-1]))


def justify(step: Equation, d: Definitions) -> str:
    """The words beside a step, from the names it uses (never stored apart from them)."""
    if step.uses and step.uses[0] == COEFFICIENTS:
        return (f"compare the coefficients of the direction in {' and '.join(step.uses[1:])}: two linear forms "
                "that agree for every direction have equal coefficients")
    words = [f"{d.defs[u].justification} [{u}]" if u in d.defs else f"substitute {u}" for u in step.uses]
    return "; ".join(words + ["linearity of the sum, expanded"])


def statement(d: Definitions, kind: str, last: Equation) -> str:
    """One line: the title, and what the last step states, with c and Q written out."""
    title = TITLES[kind]
    if kind in ("gradient-scaling", "hessian-scaling"):
        return f"{title}: {_eq_plain(last.lhs, last.rhs)}"
    every = f" for every {', '.join(map(str, d.f.indices))}" if d.f.indices else ""
    if kind == "effective-learning-rate":   # the norm is the one this direction preserves: its Q
        q = plain(d.Q)
        return (f"{title}: {_eq_plain(last.lhs, last.rhs)}; with the factor 1/sqrt({q}) that makes {q} = 1, "
                f"where {q} = {plain(d.defs[Q].rhs)}, the effective rate is eta/{q}{every}")
    if kind == "hessian-identity":
        rows = "; ".join(_eq_plain(K, 0) for *_, K in d.rows)
        return f"{title}: {rows} (for every direction v, every entry)"
    if kind == "gradient-orthogonality":
        return f"{title}: {_eq_plain(d.defs[C].rhs, last.rhs)}{every}"
    where = f"Q = {plain(d.defs[Q].rhs)}" if not d.f.indices else f"{plain(d.Q)} = {plain(d.defs[Q].rhs)}"
    return f"{title}: {_eq_plain(last.lhs, last.rhs)}{every}, where {where}"


def _eq_json(e: Equation, step: bool) -> dict:
    out = {"name": e.name, "statement": _eq_plain(e.lhs, e.rhs), "latex": f"{tex(e.lhs)} = {tex(e.rhs)}"}
    if step:
        out |= {"justification": e.justification, "uses": list(e.uses)}
    else:
        out["meaning"] = e.justification
    return out | {"lhs": sp.srepr(e.lhs), "rhs": sp.srepr(e.rhs)}


def consequence_json(c: Consequence) -> dict:
    """One self-contained entry: ids, statement, applicability, the cell it rests on, proof."""
    out = {"normalizer": c.normalizer, "transformation": c.transformation, "consequence": c.consequence,
           "statement": c.statement, "applies": c.applies}
    if not c.applies:
        return out | {"reason": c.reason}
    out |= {"conditions": [plain(x) for x in c.conditions],
            "rests_on": {"normalizer": c.normalizer, "transformation": c.transformation, "verdict": INVARIANT,
                         "conditions": [plain(x) for x in c.conditions]},
            "definitions": [_eq_json(e, False) for e in c.definitions],
            "steps": [_eq_json(e, True) for e in c.steps]}
    if c.numeric is not None:
        out["numeric"] = c.numeric
    return out


def document(consequences) -> dict:
    """``{"schema": ..., "consequences": [...]}``: what ``proofs/consequences.json`` holds."""
    return {"schema": FORMAT, "consequences": [consequence_json(c) for c in consequences]}
