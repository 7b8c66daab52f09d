"""A cell's proof as the chains of equalities a student would write, built from what the
tactic found (:mod:`invariance.derive.engine`); and, for a refuted cell, where the
derivation stops.

Each chain states a quantity of the transformed layer: the summed inputs
(``a' law``: substitute W' and X', linearity of the sum), each statistic
(substitute what is known, take alpha and beta out of the sums, fold the
definition back), then the output (``invariance``: h' = h).  Each link names
the equations it unfolds, and its reason in words is derived from it
(:func:`invariance.core.proof.link_words`); the kernel checks every link.
"""
from __future__ import annotations

import sympy as sp

from ..core.algebra import Rule, sum_normal_form, unfold
from ..core.cells import acting, step_name
from ..core.definition import Built
from ..core.model import prime
from ..core.proof import MEAN, SCALE, SUMMED, Action, action, link_words, uneval, wanted
from ..core.records import Breaks, Chain, Equation, Link, Proof

__all__ = ["prove", "breaks", "law_by_name"]


class _Writer:
    """Chains under construction: the cell's definitions and the conclusions so far, by name."""

    def __init__(self, b: Built, defs) -> None:
        self.b, self.m = b, b.m
        self.eqs: dict[str, Equation] = {e.name: e for e in defs}
        self.act: Action = action(b, self.eqs)
        self.chains: list[Chain] = []

    def link(self, prev, expr, uses) -> Link:
        return Link(expr, tuple(uses), link_words(prev, expr, [self.eqs[u] for u in uses], self.act))

    def chain(self, lhs, steps) -> Chain:
        """``steps``: (expr, uses) pairs, each link from the one before (a link that changes nothing is dropped)."""
        links, prev = [], lhs
        for expr, uses in steps:
            if uneval(expr) == uneval(prev) and not uses:
                continue
            links.append(self.link(prev, expr, uses))
            prev = expr
        c = Chain(step_name(lhs), lhs, tuple(links))   # named as the kernel names it
        self.chains.append(c)
        self.eqs[c.name] = c.conclusion()
        return c

    # -- the summed inputs --------------------------------------------------------
    def a_law(self) -> Chain:
        m, eqs, act = self.m, self.eqs, self.act
        a_t = eqs["a'"]
        wx = [k for k in SUMMED if k in eqs]
        substituted = unfold(a_t.rhs, [Rule(eqs[k].lhs, eqs[k].rhs) for k in wx])
        named = act.alpha_name * m.at(m.a, m.point) + act.beta_name
        names = [k for k in ("alpha", "beta") if k in eqs]
        return self.chain(a_t.lhs, [(a_t.rhs, ["a'"]), (substituted, wx), (named, ["a", *names])])

    # -- a statistic -----------------------------------------------------------------
    def statistic(self, name: str, law: sp.Expr) -> Chain:
        b = self.b
        orig = b.stat_rule(name)
        primed = next(r for r in b.primed_stat_rules if r.base.label.name == name + "'")
        used = self._known(primed.rhs)
        substituted = unfold(primed.rhs, [Rule(self.eqs[u].lhs, self.eqs[u].rhs) for u in used])
        steps = [(substituted, [name + "'", *used])]
        middle = law.xreplace({orig.lhs: sp.UnevaluatedExpr(orig.rhs)})
        if law != orig.lhs and uneval(middle) != substituted:
            steps.append((middle, []))
        steps.append((law, [name]))
        return self.chain(primed.lhs, steps)

    def _known(self, expr) -> list[str]:
        """The laws so far (and W', X') that ``expr`` mentions, to substitute."""
        out = [c.name for c in self.chains if expr.has(c.lhs.base)]
        out += [k for k in acting(self.eqs.values()) if expr.has(self.eqs[k].lhs.base)]
        return out

    # -- the output ------------------------------------------------------------------
    def output(self) -> Chain:
        b, m, eqs, act = self.b, self.m, self.eqs, self.act
        h_t, h = eqs["h'"], eqs["h"]
        A, B = act.alpha_name, act.beta_name
        g, bias = m.g[m.point["unit"]], m.b[m.point["unit"]]
        a_pt, a_t = m.at(m.a, m.point), m.at(prime(m.a), m.point)
        mu, sig = b.stat_rule(MEAN), b.stat_rule(SCALE)
        laws = {c.lhs: uneval(c.rhs) for c in self.chains}
        centred_t = a_t - (prime(mu.base)[mu.lhs.indices] if mu else 0)
        sig_t = prime(sig.base)[sig.lhs.indices] if sig else None
        standard = sig is not None and sp.expand(h_t.rhs - (g * centred_t / sig_t + bias)) == 0 \
            and laws.get(sig_t) is not None and (mu is None or laws.get(prime(mu.base)[mu.lhs.indices]) is not None)
        if not standard:
            used = self._known(h_t.rhs)
            substituted = unfold(h_t.rhs, [Rule(eqs[u].lhs, eqs[u].rhs) for u in used])
            named = [k for k in ("alpha", "beta") if k in eqs and substituted.has(eqs[k].lhs.base)]
            return self.chain(h_t.lhs, [(substituted, ["h'", *used]), (h.rhs, named), (h.lhs, ["h"])])
        mu_t = prime(mu.base)[mu.lhs.indices] if mu else None
        plugged = sp.Add(A * a_pt + B, sp.Mul(-1, laws[mu_t], evaluate=False), evaluate=False) if mu \
            else A * a_pt + B
        centred = a_pt - (mu.lhs if mu else 0)

        def out(numerator, denominator):   # g (numerator) / denominator + b, kept as written
            if isinstance(numerator, (sp.Add, sp.Mul)):
                numerator = sp.UnevaluatedExpr(numerator)
            return sp.Add(sp.Mul(g, numerator, sp.Pow(denominator, -1, evaluate=False), evaluate=False), bias,
                          evaluate=False)
        steps = [(out(centred_t, sig_t), ["h'"]),
                 (out(plugged, laws[sig_t]), ["a' law", *([MEAN + "' law"] if mu else []), SCALE + "' law"])]
        if B != 0 and A != 1:
            steps.append((out(sp.Mul(A, centred, evaluate=False), laws[sig_t]), []))
        steps += [(h.rhs, []), (h.lhs, ["h"])]
        return self.chain(h_t.lhs, steps)


def law_by_name(law: sp.Expr, s: sp.Expr, act: Action, at: dict) -> sp.Expr:
    """The law of statistic ``s`` (``s' = alpha s + beta``, ...) with alpha and beta by name."""
    alpha, beta = act.alpha.xreplace(at), act.beta.xreplace(at)
    A, B = act.alpha_name.xreplace(at), act.beta_name.xreplace(at)
    for cand, named in ((s, s), (alpha * s + beta, sp.Add(A * s, B, evaluate=False) if B != 0 else A * s),
                        (alpha * s, A * s), (alpha ** 2 * s, A ** 2 * s)):
        if sp.expand(law - cand) == 0:
            return named
    return law


def _named_laws(w: _Writer, laws: dict) -> dict:
    b, m = w.b, w.m
    out = {}
    for name, law in laws.items():
        orig = b.stat_rule(name)
        at = dict(zip((m.point[ax] for ax in b.kept[name]), orig.lhs.indices))
        out[name] = law_by_name(law, orig.lhs, w.act, at)
    return out


def prove(b: Built, defs, laws: dict) -> Proof:
    """An invariant cell's proof: the a' law, each statistic's law (``laws``, as the tactic
    found them), then h' = h; each a chain of equalities, written when first read."""
    def write() -> tuple[Chain, ...]:
        w = _Writer(b, defs)
        w.a_law()
        for name, law in _named_laws(w, laws).items():
            w.statistic(name, law)
        w.output()
        return tuple(w.chains)
    return Proof(write)


def breaks(b: Built, defs, laws: dict, missing: str | None) -> Breaks | None:
    """A refuted cell's derivation up to where it stops: the laws that hold, then the chain
    of the first statistic without one (``missing``; None: of h' itself), with what the rule
    would have needed there."""
    w = _Writer(b, defs)
    if w.act is None:
        return None
    w.a_law()
    for name, law in _named_laws(w, laws).items():
        w.statistic(name, law)
    if missing:
        primed = next(r for r in b.primed_stat_rules if r.base.label.name == missing + "'")
        lhs, rhs, own, want = primed.lhs, primed.rhs, missing + "'", wanted(b, missing, w.act)
    else:
        lhs, rhs, own, want = w.eqs["h'"].lhs, w.eqs["h'"].rhs, "h'", w.eqs["h"].lhs
    used = w._known(rhs)
    substituted = unfold(rhs, [Rule(w.eqs[u].lhs, w.eqs[u].rhs) for u in used])
    folded, folds = sum_normal_form(substituted), []
    for r in b.stat_rules:
        new = folded.xreplace({sum_normal_form(r.rhs): r.lhs})
        if new != folded and not substituted.has(r.base):
            folds.append(r.base.label.name)
        folded = new
    steps = [(substituted, [own, *used])] + ([(folded, folds)] if folds else [])
    w.chain(lhs, steps)
    return Breaks(tuple(w.chains), want)
