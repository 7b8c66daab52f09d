"""Caveats of an invariant cell, each derived, none typed in.

- **negative scale**: the tactic is re-run with the scale factor negative;
  it proves the exact relation :math:`h' - b = -(h - b)` (a sign flip) or
  reports that none was found.
- **eps > 0**: with :math:`\\sigma = \\sqrt{s + \\epsilon}` and the law
  :math:`s' = \\alpha^2 s`, the deviation is, exactly (checked),
  :math:`h' - h = g\\,c\\,\\big(f(\\epsilon/\\alpha^2) - f(\\epsilon)\\big)` with
  :math:`f(e) = (s + e)^{-1/2}` and :math:`c` the centred summed input; the
  mean value theorem (:math:`|f'(e)| \\le \\tfrac12 s^{-3/2}` for
  :math:`e \\ge 0`) bounds it by
  :math:`|g c|\\,\\epsilon\\,|1 - \\alpha^{-2}| / (2 s^{3/2})`.
- **degenerate**: the sizes for which the scale statistic is identically
  zero (a statistic over one value), found by evaluating its definition there.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from ..core.algebra import holds, sum_normal_form, unfold
from .engine import Laws, derive_laws, try_proof
from ..core.model import EPS
from ..core.notation import linear, tex
from ..core.records import INVARIANT, Cell
from ..catalogue.registry import TRANSFORMATIONS, normalizer as _registered
from ..catalogue.transformations import delta, delta_unit

__all__ = ["Caveat", "caveats", "negative_scale", "eps_bound", "degenerate"]

_NEGATIVE = {delta: sp.Symbol("delta", negative=True), delta_unit: sp.IndexedBase("delta", negative=True)}


@dataclass(frozen=True)
class Caveat:
    kind: str                 # negative-scale | eps | degenerate
    parts: tuple              # the sentence: words (str, or a (unicode, ASCII) pair) and SymPy maths
    statement: str            # LaTeX (text with $maths$)
    evidence: str             # how it was shown, LaTeX
    expr: sp.Expr | None = None   # the relation's right side (h' = ...) or the bound on |h' - h|

    def text(self, unicode: bool = False) -> str:
        """``[kind]`` and the sentence on one line, its maths as a reader writes it (:func:`linear`)."""
        return f"[{self.kind}] " + "".join(p if isinstance(p, str) else p[0 if unicode else 1]
                                           if isinstance(p, tuple) else linear(p, unicode) for p in self.parts)

    @property
    def plain(self) -> str:
        """The sentence on one line, in ASCII."""
        return self.text().split("] ", 1)[1]

    def to_json(self) -> dict:
        return {"kind": self.kind, "statement": self.plain, "latex": self.statement,
                "evidence": self.evidence}


def paper_powers(expr: sp.Expr) -> sp.Expr:
    """``expr`` with a power of a squared statistic written as the paper writes it:
    (sigma^2)^(3/2) as sigma^3 (the paper's sigma, without epsilon), (||w||^2)^(3/2) as ||w||^3."""
    def squared(e):
        return (isinstance(e, sp.Pow) and isinstance(e.base, sp.Indexed) and e.exp.is_Rational
                and e.base.base.label.name.endswith("^2") and (2 * e.exp).is_Integer and abs(e.exp) != sp.S.Half)

    def power(e):
        stem = e.base.base.label.name[:-2]
        k = 2 * e.exp
        return sp.IndexedBase(f"{stem}^{abs(k)}", positive=True)[e.base.indices] ** (1 if k > 0 else -1)
    return expr.replace(squared, power)


def negative_scale(cell: Cell) -> Caveat | None:
    t = TRANSFORMATIONS[cell.transformation]
    if not t.conditions:
        return None  # no scale factor
    b = _registered(cell.normalizer).build(0 if sp.Eq(EPS, 0) in cell.conditions else EPS)
    found = try_proof(b, t, substitute=_NEGATIVE, targets=lambda h, bias: (h, 2 * bias - h))
    if found is None:
        text = "with a negative factor no relation between h' and h was found"
        return Caveat("negative-scale", (text,), text, "the proof tactic, re-run with the factor negative, failed")
    last = found[0]
    what = "the centred output flips sign" if last.name == "relation" else "the output is unchanged too"
    factor = t.conditions[0].lhs          # delta, delta[i] or delta[n]: the proof made it negative
    every = f" for every {factor.indices[0]}" if isinstance(factor, sp.Indexed) else ""
    return Caveat("negative-scale", ("if ", sp.Lt(factor, 0, evaluate=False), f"{every}, {what}: ",
                                     sp.Eq(last.lhs, last.rhs, evaluate=False)),
                  f"if ${tex(factor)} < 0${every}, {what}: ${tex(last.lhs)} = {tex(last.rhs)}$",
                  r"the proof tactic re-run with the factor negative, where $\sqrt{\alpha^2 s} = -\alpha \sqrt{s}$",
                  last.rhs)


def _scale_parts(state: Laws, b) -> tuple[sp.Expr, sp.Expr] | None:
    """(s, c): sigma = sqrt(s + eps) and h = g c / sigma + b at the model's point."""
    m = b.m
    sig = b.stat_rule("sigma")
    if sig is None or not sig.rhs.has(EPS):
        return None
    s = sp.expand(sig.rhs ** 2 - EPS)
    h = next(e for e in state.eqs if e.name == "h").rhs
    g, bias = m.g[m.point["unit"]], m.b[m.point["unit"]]
    c = sp.expand((h - bias) * sig.lhs / g)
    if c.has(sig.base):
        return None
    return s, c


def eps_bound(cell: Cell) -> Caveat | None:
    if sp.Eq(EPS, 0) not in cell.conditions:
        return Caveat("eps", ("exact for every ", sp.Ge(EPS, 0, evaluate=False)), r"exact for every $\epsilon \ge 0$",
                      "the proof holds with a symbolic epsilon", sp.S.Zero)
    norm, t = _registered(cell.normalizer), TRANSFORMATIONS[cell.transformation]
    b = norm.build(EPS)
    state = derive_laws(b, t)
    if state is None or state.missing != "sigma":
        return None
    parts = _scale_parts(state, b)
    if parts is None:
        return None
    s, c = parts
    alpha, m = state.alpha, b.m
    g = m.g[m.point["unit"]]
    exact = g * c * (alpha / sp.sqrt(alpha ** 2 * s + EPS) - 1 / sp.sqrt(s + EPS))
    byname = {e.name: e for e in state.eqs}
    if not holds(byname["h'"].lhs - byname["h"].lhs, exact,
                 state.rules(["h'", "h", "a' law", "sigma'", "sigma", *state.law_names])):
        return None
    # the bound rewrites alpha / sqrt(alpha^2 s + eps) as 1 / sqrt(s + eps / alpha^2): true for alpha > 0
    if not alpha.is_positive:
        return None
    bound = sp.Abs(g * c) * EPS * sp.Abs(1 - alpha ** -2) / (2 * s ** sp.Rational(3, 2))
    shown = paper_powers(bound)
    cubed = "sigma^3" in map(str, shown.atoms(sp.IndexedBase))   # sigma^3 is the paper's sigma, cubed
    paper = [" (the paper's ", sp.Symbol("sigma"), ", without ", EPS, ")"] if cubed else []
    deviation = sp.Abs(byname["h'"].lhs - byname["h"].lhs)
    return Caveat("eps", ("with ", sp.Gt(EPS, 0, evaluate=False), ", ", sp.Le(deviation, shown, evaluate=False),
                          *paper, ", which vanishes as ", ("\u03b5 \u2192 0", "epsilon -> 0")),
                  f"with $\\epsilon > 0$, $|h' - h| \\le {tex(bound)}$, which vanishes as $\\epsilon \\to 0$",
                  f"exactly $h' - h = {tex(exact)}$ (checked), then the mean value theorem "
                  r"with $|\frac{d}{de}(s+e)^{-1/2}| \le \frac{1}{2} s^{-3/2}$ for $e \ge 0$", bound)


def degenerate(cell: Cell) -> Caveat | None:
    """Sizes at which the scale statistic is identically zero."""
    b = _registered(cell.normalizer).build(sp.S.Zero)
    sig = b.stat_rule("sigma")
    if sig is None:
        return None
    full = unfold(sig.rhs, list(reversed(b.stat_rules)))
    sizes = sorted((s for s in full.free_symbols if s.is_integer and s.is_positive),
                   key=str)
    for k in range(1, len(sizes) + 1):
        for subset in itertools.combinations(sizes, k):
            if sum_normal_form(full.xreplace({s: 1 for s in subset})) == 0:  # sums of one term unfold
                names = ", ".join(f"{s} = 1" for s in subset)
                sizes = sum(([", ", sp.Eq(s, 1, evaluate=False)] for s in subset), [])[1:]
                sigma, h, bias = sp.symbols("sigma h b")
                return Caveat("degenerate", ("when ", *sizes, ": ", sp.Eq(sigma, 0, evaluate=False),
                                             " for every input, so h = 0/0 at ", sp.Eq(EPS, 0, evaluate=False),
                                             " and ", sp.Eq(h, bias, evaluate=False), ", whatever the input, for ",
                                             sp.Gt(EPS, 0, evaluate=False), " (the NumPy layers refuse such sizes)"),
                              f"when ${names}$: $\\sigma = 0$ for every input, so $h = 0/0$ "
                              r"at $\epsilon = 0$ and $h = b$, whatever the input, for $\epsilon > 0$ "
                              "(the NumPy layers refuse such sizes)",
                              f"the definition of sigma at {names} is identically 0")
    return Caveat("degenerate", (sp.Eq(sp.Symbol("sigma"), 0, evaluate=False), " only for inputs where ",
                                 sp.Eq(sig.rhs, 0, evaluate=False), "; no size forces it"),
                  f"$\\sigma = 0$ only for inputs where ${tex(sig.rhs)} = 0$; no size forces it",
                  "no subset of the sizes set to 1 makes the definition of sigma identically 0")


def caveats(cell: Cell) -> list[Caveat]:
    """Every caveat of an invariant cell (none for other verdicts)."""
    if cell.verdict != INVARIANT:
        return []
    return [c for c in (negative_scale(cell), eps_bound(cell), degenerate(cell)) if c is not None]
