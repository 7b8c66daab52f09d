"""What a consequence of invariance rests on: the family, its generator, the definitions.

If a cell is invariant, :math:`h(P'(\\theta), X'(\\theta)) = h(P, X)` for every
parameter :math:`\\theta` of the transformation (P = (W, g, b, c), the layer's
parameters), so any loss :math:`L(h)` downstream is constant along the family
(Ba et al. 2016, section 5.2; Kunin et al. 2021).  This module reads, from the
registry's objects it is handed (a normalizer and a transformation: a column of
the table or a family of directions, never looked up or searched here):

- the *family* and its *generator* :math:`\\xi = \\partial_s (P', X')(\\theta_0 + s v)|_{s=0}`
  along a free direction :math:`v` (:mod:`invariance.core.family`: ``sympy.diff``
  of the registry's own W', X', g', b', c'), and :math:`\\partial_s W'(W + s U)|_{s=0}`
  at a fixed parameter;
- the *definitions* a consequence rests on (:class:`Definitions`): the chain
  rule's sums (the gradients :math:`\\partial L/\\partial P` and the Hessian are
  free arrays), the constraint c (the coefficient of v in the derivative), its
  derivative along :math:`P + s U_P` for each parameter tensor (the Hessian
  identity :math:`H\\xi + (D\\xi)^T \\partial L = 0`, row by row), the quantity
  :math:`Q` (for :math:`\\xi = A P + c_0`: :math:`\\langle \\xi(P), P\\rangle`, or
  :math:`\\tfrac12 P^T A P + c_0^T P` when both parts are there; defined only where A is
  symmetric, checked as :math:`\\dot Q = -\\kappa c`), its derivative along gradient flow,
  one SGD step with and without weight decay (:math:`\\eta`, :math:`\\lambda`), and the
  *premises* (``invariance``, ``invariance U``, ``invariance UU``, ``invariance vU P``),
  which say what the cell's certificate gives: a derivative along the family is 0 at every
  point, and the loss at (W', X') is the loss at (W, X) as a function of W or X;
- the *statements* each consequence must reach (:meth:`Definitions.targets`)
  and why a consequence does not apply (:meth:`Definitions.reason`).

The search (:mod:`invariance.derive.consequences`) writes steps from these;
the kernel (:mod:`invariance.kernel.consequences`) checks steps against them.
Nothing here searches.

>>> from invariance.catalogue.registry import normalizer, transformation
>>> d = Definitions(normalizer("batch-norm"), transformation("weight-vector-rescaling"), False)
>>> d.defs[C].lhs, d.defs[C].rhs
(c[i], Sum(W[i, j]*dL/dW[i, j], (j, 1, D)))
>>> sorted(d.premises)
['invariance', 'invariance U', 'invariance UU', 'invariance vU W', 'invariance vU b', 'invariance vU g']
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

from .algebra import Rule, holds, sum_normal_form, unfold
from .cells import conditions as cell_conditions, definitions as cell_definitions
from .definition import Normalizer
from .family import (GROUP, TENSORS, S, U, V, Family, _chain_sum, _direction, _entry, _generator,
                     _generator_u, _size_of, _sum, family, tensors)
from .model import EPS, Model
from .records import INVARIANT, Equation

__all__ = ["CONSEQUENCES", "COEFFICIENTS", "Family", "family", "Definitions", "Direction",
           "ETA", "LAM", "GRAD", "GRAD_T", "HESS", "HESS_T", "XI", "XI_U", "XI_U2", "DPHI", "DL", "DLT",
           "DDL", "DDLT", "V", "U", "U2", "C", "Q", "QDOT", "W_SGD", "W_WD", "Q_SGD", "Q_WD", "PREMISES",
           "TENSORS", "PARAMETERS", "SGD", "WD", "GROUP", "tensors"]

CONSEQUENCES = ("gradient-orthogonality", "gradient-scaling", "hessian-scaling",
                "effective-learning-rate", "conserved-quantity",
                "sgd-norm-growth",
                "weight-decay-law", "hessian-identity")
COEFFICIENTS = "coefficients"   # the one rule of its own: two equal linear forms have equal coefficients
#: What the cell's certificate gives; every other entry of :attr:`Definitions.defs` defines its left side.
PREMISES = ("invariance", "invariance U", "invariance UU") + tuple(f"invariance vU {k}" for k in ("W", "g", "b", "c"))

# --- the symbols of this chapter --------------------------------------------------
ETA, LAM = Symbol("eta", positive=True), Symbol("lambda", positive=True)
PARAMETERS = ("W", "g", "b", "c")                 # what training updates: every tensor of TENSORS but X
GRAD = {k: IndexedBase(f"dL/d{k}") for k in TENSORS}          # gradient at (W, X, g, b, c)
GRAD_T = {k: IndexedBase(f"dL/d{k}'") for k in TENSORS}       # gradient at the transformed point
XI = {k: IndexedBase(f"xi^{k}") for k in TENSORS}             # the generator
XI_U = {k: IndexedBase(f"xi_U^{k}") for k in TENSORS}         # d W'/dW along U
DPHI, DL, DLT = Symbol("D_v phi"), Symbol("D_U L"), Symbol("D_U L'")
U2 = "U2"                                         # a second direction, for the Hessian
HESS = {k: IndexedBase(f"d2L/d{k}2") for k in TENSORS}        # Hessian at (W, X)
HESS_T = {k: IndexedBase(f"d2L/d{k}2'") for k in TENSORS}     # Hessian at (W', X')
XI_U2 = {k: IndexedBase(f"xi_U2^{k}") for k in TENSORS}
DDL, DDLT = Symbol("D_U D_U2 L"), Symbol("D_U D_U2 L'")
HESS2 = {(r, t): IndexedBase(f"d2L/d{r}d{t}") for r in ("W", "g", "b", "c") for t in ("W", "g", "b", "c")}
SECOND_INPUT = Symbol("l", integer=True)          # the input index of the Hessian's second entry
C, Q, QDOT = "c", "Q", "dQ/dt"
W_SGD, W_WD, Q_SGD, Q_WD = IndexedBase("W^+"), IndexedBase("W^wd"), "Q^+", "Q^wd"
SGD = {k: IndexedBase(f"{k}^+") for k in PARAMETERS}          # one SGD step on each parameter
WD = {k: IndexedBase(f"{k}^wd") for k in PARAMETERS}          # ... with weight decay

def _def(name, lhs, rhs, meaning):
    return Equation(name, lhs, rhs, meaning)


def _quantity(name: str, f: Family):
    """A named quantity with the parameter's components: c[l] or a scalar c."""
    return IndexedBase(name)[f.indices] if f.indices else Symbol(name)


@dataclass(frozen=True)
class Direction:
    """A free direction a consequence differentiates along: ``base`` (an IndexedBase,
    or a Symbol for a scalar parameter) at ``indices``, each running from 1 to its size."""

    base: sp.Basic
    indices: tuple
    sizes: tuple

    @property
    def at(self) -> sp.Expr:
        return self.base[self.indices] if self.indices else self.base


class Definitions:
    """Every definition and target a cell's consequences rest on, read off the
    registry's normalizer ``norm`` and transformation ``t`` (built with epsilon = 0
    if ``eps_zero``).  The search writes steps from it; the kernel checks steps
    against it: it is the registry's side of every check."""

    def __init__(self, norm: Normalizer, t, eps_zero: bool):
        self.norm, self.t = norm, t
        self.b = self.norm.build(sp.S.Zero if eps_zero else EPS)
        m = self.m = self.norm.model
        self.f = family(m, self.t)
        self.cell_defs = cell_definitions(self.b, self.t)
        self.conditions = cell_conditions(self.b, self.t, eps_zero)
        if isinstance(self.f, str):
            return
        f, t = self.f, self.t
        byname = {e.name: e for e in self.cell_defs}
        self.defs = {k: byname[k] for k in ("W'", "X'", "g'", "b'", "c'") if k in byname}
        v = _direction(f)
        terms = []
        for w in f.acts_on:
            entry, idx, sizes = _entry(m, w)
            xi = _generator(m, t, f, w)
            self.defs[XI[w].label.name] = _def(XI[w].label.name, XI[w][idx], xi,
                                               f"the generator: d{w}'/ds at the identity along v (sympy.diff of {w}')")
            terms.append(_chain_sum(m, f, GRAD[w][idx] * XI[w][idx], idx, sizes))
        args = ", ".join(f"{w}'(s)" for w in tensors(m) if w in ("W", "X") or w in f.acts_on)
        by_group = "; the units taken group by group" if f.group is not None else ""
        self.defs["chain rule"] = _def("chain rule", DPHI, sp.Add(*terms),
                                       f"the derivative of phi(s) = L(h({args})) at s = 0 along v (chain rule{by_group})")
        self.defs["invariance"] = _def("invariance", DPHI, sp.S.Zero,
                                       f"h' = h for every parameter (the certificate of {self.norm.id} x {t.id}), "
                                       "so phi is constant and its derivative is 0")
        form = sum_normal_form(unfold(sp.Add(*terms), [Rule(e.lhs, e.rhs) for k, e in self.defs.items()
                                                        if k.startswith("xi")]))
        coeff = _coefficient(form, v, f.indices, m)
        self.c = _quantity(C if m.c is None else "c_v", f)   # never the linear bias c
        self.defs[C] = _def(C, self.c, coeff, "the constraint: the coefficient of v in the derivative")
        self.linear_form = _sum(v * self.c, f.indices, [_size_of(m, k) for k in f.indices], outer=f.indices)
        self.v = v
        self.directions = [Direction(v.base if f.indices else v, f.indices,
                                     tuple(_size_of(m, k) for k in f.indices))]
        # gradient scaling: differentiate in the moved variable at a fixed parameter
        self.scaling_reason = None
        if len(f.acts_on) == 1:
            w = f.acts_on[0]
            entry, idx, sizes = _entry(m, w)
            xi_u = _generator_u(m, t, w)
            Uw = IndexedBase(U)[idx]
            factor = sp.cancel(xi_u / Uw)
            if factor.has(IndexedBase(U)) or factor == 0:
                self.scaling_reason = f"d{w}'/d{w} does not act entry by entry"
            else:
                self.var, self.idx, self.sizes, self.factor = w, idx, sizes, factor
                self.directions.append(Direction(IndexedBase(U), idx, tuple(sizes)))
                self.defs[XI_U[w].label.name] = _def(XI_U[w].label.name, XI_U[w][idx], xi_u,
                                                     f"d{w}'/ds along {w} + s U at a fixed parameter (sympy.diff of {w}')")
                self.defs["chain rule U"] = _def("chain rule U", DL, _sum(Uw * GRAD[w][idx], idx, sizes),
                                                 f"the derivative of L(h(W, X)) along {w} + s U (chain rule)")
                self.defs["chain rule U'"] = _def("chain rule U'", DLT, _sum(GRAD_T[w][idx] * XI_U[w][idx], idx, sizes),
                                                  f"the derivative of L(h(W', X')) along {w} + s U (chain rule)")
                self.defs["invariance U"] = _def("invariance U", DL, DLT,
                                                 f"h(W', X') = h(W, X) for every W and X (the certificate of "
                                                 f"{self.norm.id} x {t.id}): the two functions of {w} are equal")
                self._hessian(w, idx, sizes, xi_u)
        else:
            moved = list(f.acts_on)
            self.scaling_reason = "the family moves both " + " and ".join(moved) if len(moved) == 2 else \
                f"the family moves {', '.join(moved[:-1])} and {moved[-1]} together"
        # what training does along the direction: parameters only
        self.weights_reason = None if "X" not in f.acts_on else \
            "the family moves the data X, which training does not update"
        self.conserved_reason = self.sgd_reason = self.identity_reason = self.weights_reason
        through = self._statistics_on_parameters()
        if self.weights_reason is None and through:
            names = " and ".join(f"{b}_i" for b in through)
            self.identity_reason = (f"the generator depends on the parameters through {names} (a statistic of the "
                                    "layer), whose derivative is not written here")
            self.conserved_reason = self.sgd_reason = (
                f"the generator depends on the parameters through {names}: it is not affine in them, so no "
                "quantity of the form 1/2 P^T A P + c0^T P is derived")
        elif self.weights_reason is None:
            self._identity()
            self._quantities(coeff)

    def _statistics_on_parameters(self) -> list:
        """The statistics a generator names (mu_i, sigma_i in b') whose definitions, unfolded, depend
        on the layer's tensors (weight norm's sigma_i = ||w_i||), not constants (running statistics)."""
        m = self.m
        own = {getattr(m, k) for k in tensors(m)}
        named = {b for k, e in self.defs.items() if k.startswith("xi^") for b in e.rhs.atoms(IndexedBase)} \
            - own - {IndexedBase(V)}
        rules = [Rule(e.lhs, e.rhs) for e in self.cell_defs if isinstance(e.lhs, Indexed) and "'" not in e.name]
        out = []
        for e in self.cell_defs:
            if isinstance(e.lhs, Indexed) and e.lhs.base in named:
                expr = e.rhs
                for _ in range(len(rules)):
                    expr = unfold(expr, rules)
                if any(expr.has(b) for b in own):
                    out.append(e.lhs.base)
        return sorted(out, key=str)

    # --- the Hessian identity ------------------------------------------------------------

    def _identity(self) -> None:
        """Differentiating c = 0, which holds at every parameter, along R + s U_R for each parameter
        tensor R: H xi + (D xi)^T dL/dP = 0, row by row (Kunin et al. 2021)."""
        m, f = self.m, self.f
        second = {ax.index: ax.bound for ax in m.axes} | {m.input.index: SECOND_INPUT}
        self.rows, self.hterms = [], {}
        for R in (w for w in tensors(m) if w != "X"):
            _, ridx, rsizes = _entry(m, R)
            UR, base = IndexedBase(f"U_{R}"), getattr(m, R)
            hterm = sp.S.Zero
            for T in f.acts_on:
                _, tidx, tsizes = _entry(m, T)
                col = tuple(second[k] for k in tidx)
                hterm += _sum(HESS2[R, T][ridx + col] * XI[T][col], col, tsizes)
            dterm = coef = sp.S.Zero
            for T in f.acts_on:
                _, tidx, tsizes = _entry(m, T)
                xi = self.defs[XI[T].label.name].rhs
                moved = xi.replace(lambda x: isinstance(x, Indexed) and x.base == base, lambda x: x + S * UR[x.indices])
                dxi = sp.expand(sp.diff(moved, S).subs(S, 0))
                if dxi == 0:
                    continue
                if {o.indices for o in dxi.atoms(Indexed) if o.base == UR} != {ridx} or not set(ridx) <= set(tidx):
                    self.identity_reason = f"the generator of {T} couples entries of {R}: not written row by row"
                    return
                body = GRAD[T][tidx] * dxi
                dterm += _sum(body, tidx, tsizes)
                extra = [(k, n) for k, n in zip(tidx, tsizes) if k not in ridx]
                coef += _sum(sp.expand(body / UR[ridx]), [k for k, _ in extra], [n for _, n in extra])
            dd = Symbol(f"D_U{R} D_v phi")
            self.defs[f"chain rule vU {R}"] = _def(
                f"chain rule vU {R}", dd, _sum(UR[ridx] * hterm, ridx, rsizes) + dterm,
                f"the derivative of D_v phi = sum dL/dP xi(P) along {R} + s U_{R} (chain rule: the Hessian "
                f"times xi, plus the gradient times the derivative of xi, sympy.diff)")
            self.defs[f"invariance vU {R}"] = _def(
                f"invariance vU {R}", dd, sp.S.Zero,
                f"D_v phi = 0 at every parameter value (the certificate of {self.norm.id} x {self.t.id}), "
                f"so its derivative along {R} + s U_{R} is 0")
            self.directions.append(Direction(UR, ridx, tuple(rsizes)))
            self.rows.append((R, UR, ridx, rsizes, dd, hterm + coef))
            self.hterms[R] = hterm

    # --- conserved quantities and one SGD step -------------------------------------------

    def _quantities(self, coeff) -> None:
        """Q from the generator xi = A P + c0 (P = (W, g, b, c)): <xi(P), P> = P^T A P + c0^T P read off
        c with P for the gradient; Q = P^T A P (A != 0, c0 = 0), c0^T P (A = 0) or 1/2 P^T A P + c0^T P.
        Conserved exactly when A is symmetric (then grad Q = kappa xi, kappa = 2, 1, 1), which is
        checked as dQ/dt = -kappa c under gradient flow (both sides polynomials in P and dL/dP)."""
        m, f = self.m, self.f
        params = [w for w in tensors(m) if w != "X"]
        bases = {getattr(m, w): w for w in params}
        pairing = coeff.xreplace({GRAD[w]: getattr(m, w) for w in params})
        t = Symbol("t")
        scaled = pairing.replace(lambda x: isinstance(x, Indexed) and x.base in bases, lambda x: t * x)
        quad = sum_normal_form(sp.diff(scaled, t, 2).subs(t, 0) / 2)
        lin = sum_normal_form(sp.diff(scaled, t).subs(t, 0))
        if not holds(scaled, t ** 2 * quad + t * lin):
            self.conserved_reason = self.sgd_reason = "the generator is not affine in the parameters"
            return
        self.kappa = 2 if lin == 0 else 1
        qexpr = quad + lin if quad == 0 or lin == 0 else quad / 2 + lin
        qdot = sp.diff(qexpr.replace(lambda x: isinstance(x, Indexed) and x.base in bases,
                                     lambda x: x - S * GRAD[bases[x.base]][x.indices]), S).subs(S, 0)
        if not holds(qdot, -self.kappa * coeff):
            self.conserved_reason = self.sgd_reason = (
                "the generator xi = A P + c0 has a linear part A that is not symmetric (dQ/dt is not a multiple of c "
                "for Q = 1/2 P^T A P + c0^T P): xi is no gradient, and no quantity of this form is conserved")
            return
        self.conserved_reason = None
        self.sgd_reason = None if quad == 0 or lin == 0 else \
            "Q has a quadratic and a linear part: one step does not reduce to Q and c"
        self.Q = _quantity(Q, f)
        norm = {2: "the squared norm the direction re-scales", 1: "linear"}[self.kappa] if quad == 0 or lin == 0 else ""
        self.defs[Q] = _def(Q, self.Q, qexpr, f"the conserved quantity: <xi(P), P> with P = "
                                              f"({', '.join(w for w in params if qexpr.has(getattr(m, w)))})"
                                              + (f", {norm}" if norm else ", 1/2 P^T A P + c0^T P"))
        self.Qdot = _quantity(QDOT, f)
        self.defs[QDOT] = _def(QDOT, self.Qdot, qdot, "its derivative along gradient flow dP/dt = -dL/dP (sympy.diff)")
        present = [w for w in params if qexpr.has(getattr(m, w))]
        self.stepped = present
        for w in present:
            _, idx, _ = _entry(m, w)
            P = getattr(m, w)
            for name, base, rhs, words in (
                    (f"{w}^+", SGD[w], P[idx] - ETA * GRAD[w][idx], "one SGD step at learning rate eta"),
                    (f"{w}^wd", WD[w], (1 - ETA * LAM) * P[idx] - ETA * GRAD[w][idx],
                     "one SGD step at learning rate eta with weight decay lambda")):
                self.defs[name] = _def(name, base[idx], rhs, words if w == "W" else f"{words}, on {w}")
        for name, table, words in ((Q_SGD, SGD, "Q after one SGD step"), (Q_WD, WD, "Q after one step with weight decay")):
            self.defs[name] = _def(name, _quantity(name, f), qexpr.xreplace({getattr(m, w): table[w] for w in present}),
                                   words)
        self.q_of_gradient = sum_normal_form(ETA ** 2 * qexpr.xreplace({getattr(m, w): GRAD[w] for w in present}))

    def _hessian(self, w, idx, sizes, xi_u) -> None:
        """Definitions for the second derivative: a second entry idx2, direction U2."""
        m = self.m
        second = {ax.index: ax.bound for ax in m.axes} | {m.input.index: SECOND_INPUT}
        self.idx2 = tuple(second[k] for k in idx)
        if xi_u.has(m.W if w == "W" else m.X):
            self.hessian_reason = f"{w}' is not affine in {w}: its own curvature would enter the Hessian"
            return
        self.hessian_reason = None
        self.directions.append(Direction(IndexedBase(U2), self.idx2, tuple(sizes)))
        at2 = dict(zip(idx, self.idx2))
        xi_u2 = xi_u.xreplace({**at2, IndexedBase(U): IndexedBase(U2)})
        self.factor2 = self.factor.xreplace(at2)
        name = XI_U2[w].label.name
        self.defs[name] = _def(name, XI_U2[w][self.idx2], xi_u2,
                               f"d{w}'/ds along {w} + s U2 at a fixed parameter (sympy.diff of {w}'), at the second entry")
        both = idx + self.idx2
        self.hess_form = lambda inner: _sum(IndexedBase(U)[idx] * _sum(IndexedBase(U2)[self.idx2] * inner,
                                                                       self.idx2, sizes), idx, sizes)
        self.defs["chain rule UU"] = _def("chain rule UU", DDL, self.hess_form(HESS[w][both]),
                                          "the second derivative of L(h(W, X)) along U and U2 (the Hessian)")
        self.defs["chain rule UU'"] = _def("chain rule UU'", DDLT, _sum(XI_U[w][idx] * _sum(
            XI_U2[w][self.idx2] * HESS_T[w][both], self.idx2, sizes), idx, sizes),
            f"the second derivative of L(h(W', X')) along U and U2 (chain rule; {w}' is affine in {w})")
        self.defs["invariance UU"] = _def("invariance UU", DDL, DDLT,
                                          f"h(W', X') = h(W, X) for every W and X (the certificate of "
                                          f"{self.norm.id} x {self.t.id}): equal functions have equal second derivatives")

    def target(self, kind: str) -> tuple[sp.Expr, sp.Expr]:
        """The statement each consequence must end with, derived here."""
        return self.targets(kind)[-1]

    def targets(self, kind: str) -> list[tuple[sp.Expr, sp.Expr]]:
        """Every statement a consequence must reach (the Hessian identity: one per parameter tensor)."""
        if kind == "hessian-identity":
            return [(K, sp.S.Zero) for *_, K in self.rows]
        if kind == "gradient-orthogonality":
            return [(self.c, sp.S.Zero)]
        if kind == "gradient-scaling":
            idx = self.idx
            return [(GRAD_T[self.var][idx], GRAD[self.var][idx] / self.factor)]
        if kind == "conserved-quantity":
            return [(self.Qdot, sp.S.Zero)]
        if kind == "hessian-scaling":
            both = self.idx + self.idx2
            return [(HESS_T[self.var][both], HESS[self.var][both] / (self.factor * self.factor2))]
        if kind == "effective-learning-rate":
            idx, Wp = self.idx, self.cell_defs[0].lhs.base
            return [(W_SGD[idx], (Wp[idx] - ETA * self.factor ** 2 * GRAD_T["W"][idx]) / self.factor)]
        name = Q_SGD if kind == "sgd-norm-growth" else Q_WD
        full = self.step_law(name)
        return [(_quantity(name, self.f), full.xreplace({self.c: 0}))]

    def step_law(self, name: str) -> sp.Expr:
        """Q after the step, as a Q + b c + rest: with r = 1 - eta lambda (1 for plain SGD), for
        Q = P^T A P: r^2 Q - 2 eta r c + eta^2 Q(dL/dP); for Q = c0^T P: r Q - eta c."""
        r = 1 - ETA * LAM if name == Q_WD else sp.S.One
        if self.kappa == 2:
            return sp.factor(r ** 2) * self.Q + sp.factor(-2 * ETA * r) * self.c + self.q_of_gradient
        return sp.factor(r) * self.Q + sp.factor(-ETA) * self.c

    @property
    def premises(self) -> dict[str, Equation]:
        """The entries of :attr:`defs` that the cell's certificate gives (not definitions)."""
        return {k: e for k, e in self.defs.items() if k in PREMISES}

    @property
    def definitions(self) -> dict[str, Equation]:
        """The entries of :attr:`defs` that define their left-hand side: one definition per
        symbol, acyclic (each mentions only primitives and symbols defined before it)."""
        return {k: e for k, e in self.defs.items() if k not in PREMISES}

    def used_definitions(self, steps) -> tuple[Equation, ...]:
        """The definitions ``steps`` rest on, shown with them (W' and X' always)."""
        names = {u for e in steps for u in e.uses if u in self.defs}
        names |= {"W'", "X'", "g'", "b'", "c'"}
        return tuple(e for k, e in self.defs.items() if k in names)

    def reason(self, kind: str, verdict: str) -> str | None:
        """Why consequence ``kind`` does not apply to a cell of this ``verdict`` (None if it does)."""
        if verdict != INVARIANT:
            return "the cell is not proven invariant: there is no symmetry to differentiate"
        if isinstance(self.f, str):
            return self.f
        if kind == "gradient-scaling":
            return self.scaling_reason
        if kind == "hessian-scaling":
            return self.scaling_reason or self.hessian_reason
        if kind == "hessian-identity":
            return self.identity_reason
        if kind == "effective-learning-rate":
            if self.scaling_reason or self.weights_reason:
                return self.scaling_reason or self.weights_reason
            if self.factor == 1:
                return "the family does not change the size of the gradient (its factor is 1)"
            return self.conserved_reason
        if kind == "conserved-quantity":
            return self.conserved_reason
        if kind in ("sgd-norm-growth", "weight-decay-law"):
            return self.sgd_reason
        return None


def _coefficient(form: sp.Expr, v, indices, m: Model) -> sp.Expr:
    """c with form = sum_l v_l c_l (or v c): read off the sum normal form (a sum of such sums
    over the same l, one per tensor the family moves, adds their coefficients)."""
    if not indices:
        c = sp.expand(form / v)
        if c.has(v):
            raise ValueError(f"not linear in {v}: {form}")
        return c
    total = sp.S.Zero
    for term in sp.Add.make_args(form):
        factor, body = term.as_coeff_Mul()
        for k in reversed(indices):
            if not (isinstance(body, Sum) and body.limits[-1][0] == k):
                raise ValueError(f"expected a sum over {k}: {form}")
            body = Sum(body.function, *body.limits[:-1]) if len(body.limits) > 1 else body.function
        total += factor * body
    c = sp.expand(total / v)
    if c.has(v.base):
        raise ValueError(f"not linear in {v}: {form}")
    return c
