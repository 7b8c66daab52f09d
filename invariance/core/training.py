"""What a consequence of invariance rests on: the family, its generator, the definitions.

If a cell is invariant, :math:`h(W'(\\theta), X'(\\theta)) = h(W, X)` for every
parameter :math:`\\theta` of the transformation, so any loss :math:`L(h)`
downstream is constant along the family (Ba et al. 2016, section 5.2; Kunin
et al. 2021).  This module reads, from the registry's objects it is handed
(a normalizer and a transformation, never looked up or searched here):

- the *family*: the parameter of W' and X', and the value giving the identity;
- the *generator* :math:`\\xi = \\partial_s (W', X')(\\theta_0 + s v)|_{s=0}`
  along a free direction :math:`v` (``sympy.diff`` of the registry's own W'
  and X'), and :math:`\\partial_s W'(W + s U)|_{s=0}` at a fixed parameter;
- the *definitions* a consequence rests on (:class:`Definitions`): the chain
  rule's sums (the gradient :math:`\\partial L/\\partial W` and the Hessian are
  free arrays), the constraint c (the coefficient of v in the derivative), the
  quantity Q, its derivative along gradient flow, one SGD step with and
  without weight decay (:math:`\\eta`, :math:`\\lambda`), and the three
  *premises* (``invariance``, ``invariance U``, ``invariance UU``), which say
  what the cell's certificate gives: a derivative along the family is 0, and
  the loss at (W', X') is the loss at (W, X) as a function of W or X;
- the *statement* each consequence must end with (:meth:`Definitions.target`)
  and why a consequence does not apply (:meth:`Definitions.reason`).

The search (:mod:`invariance.derive.consequences`) writes steps from these;
the kernel (:mod:`invariance.kernel.consequences`) checks steps against them.
Nothing here searches.

>>> from invariance.catalogue.registry import normalizer, transformation
>>> d = Definitions(normalizer("batch-norm"), transformation("weight-vector-rescaling"), False)
>>> d.defs[C].lhs, d.defs[C].rhs
(c[i], Sum(W[i, j]*dL/dW[i, j], (j, 1, D)))
>>> sorted(d.premises)
['invariance', 'invariance U', 'invariance UU']
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

from .algebra import Rule, sum_normal_form, unfold
from .cells import conditions as cell_conditions, definitions as cell_definitions
from .definition import Normalizer
from .model import EPS, Model
from .records import INVARIANT, Equation

__all__ = ["CONSEQUENCES", "COEFFICIENTS", "Family", "family", "Definitions", "Direction",
           "ETA", "LAM", "GRAD", "GRAD_T", "HESS", "HESS_T", "XI", "XI_U", "XI_U2", "DPHI", "DL", "DLT",
           "DDL", "DDLT", "V", "U", "U2", "C", "Q", "QDOT", "W_SGD", "W_WD", "Q_SGD", "Q_WD", "PREMISES"]

CONSEQUENCES = ("gradient-orthogonality", "gradient-scaling", "hessian-scaling", "effective-learning-rate",
                "conserved-quantity",
                "sgd-norm-growth",
                "weight-decay-law")
COEFFICIENTS = "coefficients"   # the one rule of its own: two equal linear forms have equal coefficients
#: What the cell's certificate gives; every other entry of :attr:`Definitions.defs` defines its left side.
PREMISES = ("invariance", "invariance U", "invariance UU")

# --- the symbols of this chapter --------------------------------------------------
S = Symbol("s")                                   # the curve parameter; only inside sympy.diff
ETA, LAM = Symbol("eta", positive=True), Symbol("lambda", positive=True)
V, U = "v", "U"                                   # free directions: of the parameter, of W or X
GRAD = {"W": IndexedBase("dL/dW"), "X": IndexedBase("dL/dX")}           # gradient at (W, X)
GRAD_T = {"W": IndexedBase("dL/dW'"), "X": IndexedBase("dL/dX'")}       # gradient at (W', X')
XI = {"W": IndexedBase("xi^W"), "X": IndexedBase("xi^X")}               # the generator
XI_U = {"W": IndexedBase("xi_U^W"), "X": IndexedBase("xi_U^X")}         # d W'/dW along U
DPHI, DL, DLT = Symbol("D_v phi"), Symbol("D_U L"), Symbol("D_U L'")
U2 = "U2"                                         # a second direction, for the Hessian
HESS = {"W": IndexedBase("d2L/dW2"), "X": IndexedBase("d2L/dX2")}      # Hessian at (W, X)
HESS_T = {"W": IndexedBase("d2L/dW2'"), "X": IndexedBase("d2L/dX2'")}  # Hessian at (W', X')
XI_U2 = {"W": IndexedBase("xi_U2^W"), "X": IndexedBase("xi_U2^X")}
DDL, DDLT = Symbol("D_U D_U2 L"), Symbol("D_U D_U2 L'")
SECOND_INPUT = Symbol("l", integer=True)          # the input index of the Hessian's second entry
C, Q, QDOT = "c", "Q", "dQ/dt"
W_SGD, W_WD, Q_SGD, Q_WD = IndexedBase("W^+"), IndexedBase("W^wd"), "Q^+", "Q^wd"

# --- the family: parameters, identity, generator ---------------------------------

@dataclass(frozen=True)
class Family:
    """A transformation as a continuous family with the identity in it.

    ``param`` is its parameter (a Symbol, or an IndexedBase indexed by
    ``axes``), ``identity`` the value giving W' = W and X' = X, ``acts_on``
    which of W and X it moves."""

    param: sp.Basic
    identity: sp.Expr
    indices: tuple          # the parameter's index symbols (empty for a scalar)
    acts_on: tuple[str, ...]


def _entry(m: Model, which: str):
    """(the entry W[i, j] or X[n, j, ...], its index symbols, their sizes)."""
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    if which == "W":
        idx = (i, j)
        sizes = (m.axis("unit").size, m.input.size)
        return m.W[idx], idx, sizes
    rest = [ax for ax in m.axes[2:]]
    idx = (pt["case"], j, *[ax.index for ax in rest])
    sizes = (m.axis("case").size, m.input.size, *[ax.size for ax in rest])
    return m.X[idx], idx, sizes


def _primed(m: Model, t, which: str) -> sp.Expr:
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    if which == "W":
        return t.w(m, i, j)
    return t.x(m, pt["case"], j, tuple(pt[ax.name] for ax in m.axes[2:]))


def family(m: Model, t) -> Family | str:
    """The continuous family behind ``t``, or the reason it is not one.

    Read from the registry's W' and X': the parameter is what they mention
    besides W, X and the model's indices; it must be real-valued (not an
    integer), and some value (0, or 1 where the parameter must be positive)
    must give the identity.
    """
    exprs = {w: _primed(m, t, w) for w in ("W", "X")}
    bases = {b for e in exprs.values() for b in e.atoms(IndexedBase)} - {m.W, m.X}
    labels = {b.label for e in exprs.values() for b in e.atoms(IndexedBase)}
    model_syms = {ax.index for ax in (*m.axes, m.input)}
    scalars = {s for e in exprs.values() for s in e.free_symbols if isinstance(s, Symbol)} - labels - model_syms
    params = sorted(bases, key=str) + sorted(scalars, key=str)
    if not params:
        return "W' and X' have no parameter: a single transformation, not a continuous family"
    if len(params) > 1:
        return f"more than one parameter ({', '.join(map(str, params))}): not a one-parameter-type family"
    (p,) = params
    label = p.label if isinstance(p, IndexedBase) else p
    if label.is_integer:
        return f"its parameter {label} is an integer: a discrete family"
    occ = {o for e in exprs.values() for o in e.atoms(Indexed) if o.base == p} if isinstance(p, IndexedBase) else set()
    if len({o.indices for o in occ}) > 1 or not all(ix in model_syms for o in occ for ix in o.indices):
        return f"its parameter {label} is not indexed by the layer's own indices"
    indices = next(iter(occ)).indices if occ else ()
    for value in (sp.S.Zero, sp.S.One):
        if value == 0 and (label.is_positive or label.is_nonzero):
            continue
        if all(sp.expand(_substitute(e, p, value) - _entry(m, w)[0]) == 0 for w, e in exprs.items()):
            acts = tuple(w for w, e in exprs.items() if e.has(p))
            return Family(p, value, tuple(indices), acts)
    return f"no value of its parameter {label} gives the identity (W' = W, X' = X)"


def _substitute(expr, p, value):
    if isinstance(p, IndexedBase):
        return expr.replace(lambda e: isinstance(e, Indexed) and e.base == p, lambda e: value)
    return expr.xreplace({p: value})


def _direction(f: Family):
    """The free direction v of the parameter: v[l] (per component) or a scalar v."""
    return IndexedBase(V)[f.indices] if f.indices else Symbol(V)


def _generator(m: Model, t, f: Family, which: str) -> sp.Expr:
    """:math:`\\xi = \\partial_s W'(\\theta_0 + s v)|_{s=0}`, by ``sympy.diff`` of the registry's W' (or X')."""
    e = _primed(m, t, which)
    v = IndexedBase(V)
    if isinstance(f.param, IndexedBase):
        moved = e.replace(lambda x: isinstance(x, Indexed) and x.base == f.param,
                          lambda x: f.identity + S * v[x.indices])
    else:
        moved = e.xreplace({f.param: f.identity + S * Symbol(V)})
    return sp.expand(sp.diff(moved, S).subs(S, 0))


def _generator_u(m: Model, t, which: str) -> sp.Expr:
    """:math:`\\partial_s W'(W + s U)|_{s=0}` at a fixed parameter, by ``sympy.diff``."""
    entry, idx, _ = _entry(m, which)
    base = m.W if which == "W" else m.X
    e = _primed(m, t, which)
    moved = e.replace(lambda x: isinstance(x, Indexed) and x.base == base,
                      lambda x: x + S * IndexedBase(U)[x.indices])
    return sp.expand(sp.diff(moved, S).subs(S, 0))


def _sum(body, idx, sizes, outer=()):
    """Sum of ``body`` over ``idx`` (1..size), the indices in ``outer`` outermost."""
    inner = [(k, 1, n) for k, n in zip(idx, sizes) if k not in outer]
    outs = [(k, 1, n) for k, n in zip(idx, sizes) if k in outer]
    limits = inner + outs
    return Sum(body, *limits) if limits else body


def _size_of(m: Model, index) -> sp.Symbol:
    return next(ax.size for ax in (*m.axes, m.input) if ax.index == index)


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
        self.defs = {"W'": byname["W'"], "X'": byname["X'"]}
        v = _direction(f)
        terms = []
        for w in f.acts_on:
            entry, idx, sizes = _entry(m, w)
            xi = _generator(m, t, f, w)
            self.defs[XI[w].label.name] = _def(XI[w].label.name, XI[w][idx], xi,
                                               f"the generator: d{w}'/ds at the identity along v (sympy.diff of {w}')")
            terms.append(_sum(GRAD[w][idx] * XI[w][idx], idx, sizes, outer=f.indices))
        self.defs["chain rule"] = _def("chain rule", DPHI, sp.Add(*terms),
                                       "the derivative of phi(s) = L(h(W'(s), X'(s))) at s = 0 along v (chain rule)")
        self.defs["invariance"] = _def("invariance", DPHI, sp.S.Zero,
                                       f"h' = h for every parameter (the certificate of {self.norm.id} x {t.id}), "
                                       "so phi is constant and its derivative is 0")
        form = sum_normal_form(unfold(sp.Add(*terms), [Rule(e.lhs, e.rhs) for k, e in self.defs.items()
                                                        if k.startswith("xi")]))
        coeff = _coefficient(form, v, f.indices, m)
        self.c = _quantity(C, f)
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
            self.scaling_reason = "the family moves both W and X"
        # conserved quantities: weights only
        self.weights_reason = None if f.acts_on == ("W",) else \
            "the family moves the data X, which training does not update"
        if self.weights_reason is None:
            entry, idx, sizes = _entry(m, "W")
            qexpr = coeff.xreplace({GRAD["W"]: m.W})
            self.Q = _quantity(Q, f)
            self.defs[Q] = _def(Q, self.Q, qexpr, "the conserved quantity <xi(W), W>: the constraint with W for the gradient")
            qdot = sp.diff(qexpr.replace(lambda x: isinstance(x, Indexed) and x.base == m.W,
                                         lambda x: x - S * GRAD["W"][x.indices]), S).subs(S, 0)
            self.Qdot = _quantity(QDOT, f)
            self.defs[QDOT] = _def(QDOT, self.Qdot, qdot,
                                   "its derivative along gradient flow dW/dt = -dL/dW (sympy.diff)")
            for name, base, rhs, words in (
                    ("W^+", W_SGD, m.W[idx] - ETA * GRAD["W"][idx], "one SGD step at learning rate eta"),
                    ("W^wd", W_WD, (1 - ETA * LAM) * m.W[idx] - ETA * GRAD["W"][idx],
                     "one SGD step at learning rate eta with weight decay lambda")):
                self.defs[name] = _def(name, base[idx], rhs, words)
            for name, base, words in ((Q_SGD, W_SGD, "Q after one SGD step"), (Q_WD, W_WD, "Q after one step with weight decay")):
                self.defs[name] = _def(name, _quantity(name, f), qexpr.xreplace({m.W: base}), words)

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
        if kind == "gradient-orthogonality":
            return self.c, sp.S.Zero
        if kind == "gradient-scaling":
            idx = self.idx
            return GRAD_T[self.var][idx], GRAD[self.var][idx] / self.factor
        if kind == "conserved-quantity":
            return self.Qdot, sp.S.Zero
        if kind == "hessian-scaling":
            both = self.idx + self.idx2
            return HESS_T[self.var][both], HESS[self.var][both] / (self.factor * self.factor2)
        if kind == "effective-learning-rate":
            idx, Wp = self.idx, self.cell_defs[0].lhs.base
            return W_SGD[idx], (Wp[idx] - ETA * self.factor ** 2 * GRAD_T["W"][idx]) / self.factor
        name = Q_SGD if kind == "sgd-norm-growth" else Q_WD
        full = self.step_law(name)
        return _quantity(name, self.f), full.xreplace({self.c: 0})

    def step_law(self, name: str) -> sp.Expr:
        """Q after the step, written as a Q + b c + rest (read off the sum normal form)."""
        expanded = sum_normal_form(unfold(self.defs[name].rhs, [Rule(self.defs[k].lhs, self.defs[k].rhs)
                                                                for k in ("W^+", "W^wd")]))
        qn, cn = sum_normal_form(self.defs[Q].rhs), sum_normal_form(self.defs[C].rhs)
        out = {qn: sp.S.Zero, cn: sp.S.Zero}
        rest = sp.S.Zero
        for term in sp.Add.make_args(expanded):
            coeff, body = term.as_independent(*[s for s in term.free_symbols if s not in (ETA, LAM)], as_Add=False)
            if body in out:
                out[body] += coeff
            else:
                rest += term
        return sp.factor(out[qn]) * self.Q + sp.factor(out[cn]) * self.c + rest

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
        names |= {"W'", "X'"}
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
        if kind == "effective-learning-rate":
            if self.scaling_reason or self.weights_reason:
                return self.scaling_reason or self.weights_reason
            if self.factor == 1:
                return "the family does not change the size of the gradient (its factor is 1)"
            return None
        if kind in ("conserved-quantity", "sgd-norm-growth", "weight-decay-law"):
            return self.weights_reason
        return None


def _coefficient(form: sp.Expr, v, indices, m: Model) -> sp.Expr:
    """c with form = sum_l v_l c_l (or v c): read off the sum normal form."""
    if not indices:
        c = sp.expand(form / v)
        if c.has(v):
            raise ValueError(f"not linear in {v}: {form}")
        return c
    body = form
    for k in reversed(indices):
        if not (isinstance(body, Sum) and body.limits[-1][0] == k):
            raise ValueError(f"expected a sum over {k}: {form}")
        body = Sum(body.function, *body.limits[:-1]) if len(body.limits) > 1 else body.function
    c = sp.expand(body / v)
    if c.has(v.base):
        raise ValueError(f"not linear in {v}: {form}")
    return c