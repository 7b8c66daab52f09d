"""What invariance implies for training (Ba et al. 2016, section 5.2; Kunin et al. 2021).

If a cell is invariant, :math:`h(W'(\\theta), X'(\\theta)) = h(W, X)` for every
parameter :math:`\\theta` of the transformation, so any loss :math:`L(h)`
downstream is constant along the family.  Differentiating that identity gives:

- ``gradient-orthogonality``: at the identity :math:`\\theta_0`, along any
  direction :math:`v` of the parameter, the generator
  :math:`\\xi = \\partial_s (W', X')(\\theta_0 + s v)|_{s=0}` (``sympy.diff`` of
  the registry's own W' and X') is orthogonal to the gradient:
  :math:`\\sum \\partial L/\\partial W \\, \\xi^W + \\sum \\partial L/\\partial X \\, \\xi^X = 0`;
  its coefficient of each :math:`v_l` is the constraint :math:`c_l = 0`
  (:math:`\\sum_{ij} W_{ij}\\, \\partial L/\\partial W_{ij} = 0` for
  :math:`W \\to \\delta W`, :math:`\\sum_i \\partial L/\\partial W_{ij} = 0` for
  layer norm's re-centering, ...);
- ``gradient-scaling``: differentiating in W (or X) instead, at a fixed
  parameter: :math:`\\partial L/\\partial W|_{W'} = \\partial L/\\partial W / \\delta`
  for a re-scaling, unchanged for a re-centering; ``hessian-scaling``: the
  Hessian by :math:`1/\\delta^2` (by :math:`1/(\\delta_i\\delta_k)` per pair of units);
  ``effective-learning-rate``: one SGD step on W is a step at rate
  :math:`\\eta\\delta^2` on :math:`\\delta W`, so :math:`\\eta/\\lVert w \\rVert^2` on the unit-norm weights;
- ``conserved-quantity``: :math:`Q_l = \\langle \\xi_l(W), W \\rangle` (the squared
  norm for a re-scaling, a column sum for a re-centering) does not change
  under gradient flow :math:`\\dot W = -\\partial L/\\partial W`;
- ``sgd-norm-growth`` and ``weight-decay-law``: after one step of SGD
  :math:`W^+ = (1 - \\eta\\lambda) W - \\eta \\partial L/\\partial W` (with
  :math:`\\lambda = 0` for plain SGD), exactly
  :math:`Q^+ = (1-\\eta\\lambda)^2 Q + \\eta^2 \\lVert \\partial L/\\partial W \\rVert^2`
  for a re-scaling: the norm grows, the paper's implicit learning-rate decay.

Everything is derived from the registry (the transformation's W' and X', the
cell's verdict and conditions); nothing is typed per cell.  Each consequence
is a chain of :class:`invariance.core.records.Equation` steps, each checked by
:func:`invariance.core.algebra.holds`, plus one structural rule, *coefficients*:
two linear forms in a free direction that are equal for every direction have
equal coefficients.  :func:`check_consequence` re-checks an entry read from
JSON (see its docstring for what it trusts).

>>> [c.consequence for c in derive_consequences("layer-norm", "weight-matrix-recentering") if c.applies]
['gradient-orthogonality', 'gradient-scaling', 'hessian-scaling', 'conserved-quantity', 'sgd-norm-growth', 'weight-decay-law']
>>> c = derive_consequences("batch-norm", "weight-vector-rescaling")[0]
>>> c.statement
'Gradient orthogonal to the generator of the symmetry: Sum(W[i, j]*dL/dW[i, j], (j, 1, D)) = 0 for every i'
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy as sp
from sympy import Indexed, IndexedBase, Sum, Symbol

from ..core.algebra import Rule, holds, sum_normal_form, unfold
from ..core.cells import conditions as cell_conditions, definitions as cell_definitions
from ..core.model import EPS, Model
from ..core.records import INVARIANT, Equation
from ..catalogue.registry import normalizer as _normalizer, transformation as _transformation
from ..catalogue.transformations import Transformation

__all__ = ["CONSEQUENCES", "Family", "Consequence", "family", "derive_consequences", "consequence_json",
           "document", "check_consequence", "verify_document", "tex", "COEFFICIENTS"]

CONSEQUENCES = ("gradient-orthogonality", "gradient-scaling", "hessian-scaling", "effective-learning-rate",
                "conserved-quantity",
                "sgd-norm-growth",
                "weight-decay-law")
TITLES = {"gradient-orthogonality": "Gradient orthogonal to the generator of the symmetry",
          "gradient-scaling": "How the gradient changes along the symmetry",
          "conserved-quantity": "Quantity conserved under gradient flow",
          "sgd-norm-growth": "One SGD step, exactly",
          "weight-decay-law": "One SGD step with weight decay, exactly",
          "hessian-scaling": "How the Hessian changes along the symmetry",
          "effective-learning-rate": "One SGD step on W is a step at rate eta delta^2 on the re-scaled W'"}
COEFFICIENTS = "coefficients"   # the one structural rule (see _coefficients)

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

_TEX = {"dL/dW": r"(\partial_{W} L)", "dL/dX": r"(\partial_{X} L)",      # the gradient at (W, X) ...
        "dL/dW'": r"(\partial_{W} L')", "dL/dX'": r"(\partial_{X} L')",  # ... and at (W', X')
        "xi^W": r"\xi^{W}", "xi^X": r"\xi^{X}", "xi_U^W": r"\xi_{U}^{W}", "xi_U^X": r"\xi_{U}^{X}",
        "d2L/dW2": r"(\partial^{2}_{W} L)", "d2L/dX2": r"(\partial^{2}_{X} L)",
        "d2L/dW2'": r"(\partial^{2}_{W} L')", "d2L/dX2'": r"(\partial^{2}_{X} L')",
        "xi_U2^W": r"\xi_{U_2}^{W}", "xi_U2^X": r"\xi_{U_2}^{X}", "U2": "U_{2}",
        "D_U D_U2 L": r"D_{U} D_{U_2} L", "D_U D_U2 L'": r"D_{U} D_{U_2} L'",
        "D_v phi": r"D_{v}\phi", "D_U L": r"D_{U} L", "D_U L'": r"D_{U} L'", "dQ/dt": r"\dot{Q}",
        "W^+": "W^{+}", "W^wd": r"W^{\lambda}", "Q^+": "Q^{+}", "Q^wd": r"Q^{\lambda}"}


def tex(expr: sp.Basic) -> str:
    """LaTeX with this chapter's names (the gradient as a fraction of partials ...)."""
    from ..core.notation import _Printer, _name
    names = {}
    for s in expr.atoms(Symbol):
        if s.name in _TEX:
            names[s] = _TEX[s.name]
        elif s.name.endswith("'") or "^" in s.name or s.name in ("delta", "gamma", "eta", "lambda"):
            names[s] = _name(s.name) if s.name not in ("eta", "lambda") else "\\" + s.name
    return _Printer({"symbol_names": names}).doprint(expr)


def _plain(expr) -> str:
    from ..core.notation import plain
    return plain(expr)


def _eq_plain(lhs, rhs) -> str:
    return f"{_plain(lhs)} = {_plain(rhs)}"


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


def _primed(m: Model, t: Transformation, which: str) -> sp.Expr:
    i, j, pt = m.axis("unit").index, m.input.index, m.point
    if which == "W":
        return t.w(m, i, j)
    return t.x(m, pt["case"], j, tuple(pt[ax.name] for ax in m.axes[2:]))


def family(m: Model, t: Transformation) -> Family | str:
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


def _generator(m: Model, t: Transformation, f: Family, which: str) -> sp.Expr:
    """:math:`\\xi = \\partial_s W'(\\theta_0 + s v)|_{s=0}`, by ``sympy.diff`` of the registry's W' (or X')."""
    e = _primed(m, t, which)
    v = IndexedBase(V)
    if isinstance(f.param, IndexedBase):
        moved = e.replace(lambda x: isinstance(x, Indexed) and x.base == f.param,
                          lambda x: f.identity + S * v[x.indices])
    else:
        moved = e.xreplace({f.param: f.identity + S * Symbol(V)})
    return sp.expand(sp.diff(moved, S).subs(S, 0))


def _generator_u(m: Model, t: Transformation, which: str) -> sp.Expr:
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


# --- the derivation ----------------------------------------------------------------

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

    @property
    def conclusion(self) -> Equation | None:
        return self.steps[-1] if self.steps else None

    @property
    def statement(self) -> str:
        return statement(self)


def _def(name, lhs, rhs, meaning):
    return Equation(name, lhs, rhs, meaning)


def _quantity(name: str, f: Family):
    """A named quantity with the parameter's components: c[l] or a scalar c."""
    return IndexedBase(name)[f.indices] if f.indices else Symbol(name)


class _Derivation:
    """Every definition and target a cell's consequences rest on, derived from the registry.

    The checker builds the same object: it is the registry's side of every check."""

    def __init__(self, norm_id: str, t_id: str, eps_zero: bool):
        self.norm, self.t = _normalizer(norm_id), _transformation(t_id)
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
        self.extra_sizes = dict(zip(self.idx2, sizes))
        if xi_u.has(m.W if w == "W" else m.X):
            self.hessian_reason = f"{w}' is not affine in {w}: its own curvature would enter the Hessian"
            return
        self.hessian_reason = None
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

    # -- chains ----------------------------------------------------------------
    def orthogonality_steps(self) -> list[Equation]:
        """D_v phi = sum grad xi = sum_l v_l c_l, D_v phi = 0, hence c = 0."""
        chain = self.defs["chain rule"]
        xis = tuple(k for k in self.defs if k.startswith("xi^"))
        return [
            Equation("step 1", DPHI, self.linear_form, "", ("chain rule", *xis, C)),
            Equation("step 2", DPHI, sp.S.Zero, "", ("invariance",)),
            Equation("step 3", self.c, sp.S.Zero, "", (COEFFICIENTS, "step 1", "step 2")),
        ] if chain else []

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

    def steps(self, kind: str) -> list[Equation]:
        ortho = self.orthogonality_steps()
        n = len(ortho)
        if kind == "gradient-orthogonality":
            return ortho
        if kind == "gradient-scaling":
            w, idx, sizes = self.var, self.idx, self.sizes
            Uw = IndexedBase(U)[idx]
            lhs, rhs = self.target(kind)
            return [
                Equation("step 1", DL, _sum(Uw * GRAD[w][idx], idx, sizes), "", ("chain rule U",)),
                Equation("step 2", DL, _sum(Uw * (self.factor * GRAD_T[w][idx]), idx, sizes), "",
                         ("invariance U", "chain rule U'", XI_U[w].label.name)),
                Equation("step 3", GRAD[w][idx], self.factor * GRAD_T[w][idx], "", (COEFFICIENTS, "step 1", "step 2")),
                Equation("step 4", lhs, rhs, "", ("step 3",)),
            ]
        if kind == "hessian-scaling":
            w, idx, idx2, sizes = self.var, self.idx, self.idx2, self.sizes
            both = idx + idx2
            scaled = self.factor * self.factor2 * HESS_T[w][both]
            inner = lambda body: _sum(IndexedBase(U2)[idx2] * body, idx2, sizes)   # noqa: E731
            lhs, rhs = self.target(kind)
            return [
                Equation("step 1", DDL, self.hess_form(HESS[w][both]), "", ("chain rule UU",)),
                Equation("step 2", DDL, self.hess_form(scaled), "",
                         ("invariance UU", "chain rule UU'", XI_U[w].label.name, XI_U2[w].label.name)),
                Equation("step 3", inner(HESS[w][both]), inner(scaled), "", (COEFFICIENTS, "step 1", "step 2")),
                Equation("step 4", HESS[w][both], scaled, "", (COEFFICIENTS, "step 3")),
                Equation("step 5", lhs, rhs, "", ("step 4",)),
            ]
        if kind == "effective-learning-rate":
            lhs, rhs = self.target(kind)
            return self.steps("gradient-scaling") + [Equation("step 5", lhs, rhs, "", ("W^+", "W'", "step 4"))]
        if kind == "conserved-quantity":
            ratio = sp.cancel(sum_normal_form(self.defs[QDOT].rhs) / sum_normal_form(self.defs[C].rhs))
            return ortho + [
                Equation(f"step {n + 1}", self.Qdot, ratio * self.c, "", (QDOT, C)),
                Equation(f"step {n + 2}", self.Qdot, sp.S.Zero, "", (f"step {n + 1}", f"step {n}")),
            ]
        name, w = (Q_SGD, "W^+") if kind == "sgd-norm-growth" else (Q_WD, "W^wd")
        lhs, rhs = self.target(kind)
        return ortho + [
            Equation(f"step {n + 1}", lhs, self.step_law(name), "", (name, w, Q, C)),
            Equation(f"step {n + 2}", lhs, rhs, "", (f"step {n + 1}", f"step {n}")),
        ]

    def used_definitions(self, kind: str, steps=None) -> tuple[Equation, ...]:
        """The definitions the steps (the toolkit's, or ``steps``) rest on, shown with them."""
        names = {u for e in (self.steps(kind) if steps is None else steps) for u in e.uses if u in self.defs}
        names |= {"W'", "X'"}
        return tuple(e for k, e in self.defs.items() if k in names)

    def reason(self, kind: str, verdict: str) -> str | None:
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


@functools.lru_cache(maxsize=None)
def _derivation(norm_id: str, t_id: str, eps_zero: bool) -> _Derivation:
    return _Derivation(norm_id, t_id, eps_zero)


@functools.lru_cache(maxsize=None)
def _cell(norm_id: str, t_id: str):
    from .engine import derive
    return derive(norm_id, t_id)


def derive_consequences(norm_id: str, t_id: str, cell=None) -> list[Consequence]:
    """Every consequence of one cell (those that do not apply say why)."""
    cell = cell or _cell(norm_id, t_id)
    eps_zero = any(c == sp.Eq(EPS, 0) for c in cell.conditions)
    d = _derivation(norm_id, t_id, eps_zero)
    out = []
    for kind in CONSEQUENCES:
        why = d.reason(kind, cell.verdict)
        if why:
            out.append(Consequence(norm_id, t_id, kind, False, why))
            continue
        steps = d.steps(kind)
        steps = tuple(Equation(e.name, e.lhs, e.rhs, justify(e, d), e.uses) for e in steps)
        out.append(Consequence(norm_id, t_id, kind, True, "", tuple(cell.conditions),
                               d.used_definitions(kind), steps))
    return out


# --- words, derived from the checked content ------------------------------------------

def justify(step: Equation, d: _Derivation) -> str:
    """The words beside a step, from the names it uses (never stored apart from them)."""
    if step.uses and step.uses[0] == COEFFICIENTS:
        return (f"compare the coefficients of the direction in {' and '.join(step.uses[1:])}: two linear forms "
                "that agree for every direction have equal coefficients")
    words = [f"{d.defs[u].justification} [{u}]" if u in d.defs else f"substitute {u}" for u in step.uses]
    return "; ".join(words + ["linearity of the sum, expanded"])


def statement(c: Consequence) -> str:
    """One line: the title, and what the last step states, with c and Q written out."""
    title = TITLES[c.consequence]
    if not c.applies:
        return f"{title}: does not apply ({c.reason})"
    d = _derivation(c.normalizer, c.transformation, any(x == sp.Eq(EPS, 0) for x in c.conditions))
    last = c.conclusion
    if c.consequence in ("gradient-scaling", "hessian-scaling"):
        return f"{title}: {_eq_plain(last.lhs, last.rhs)}"
    if c.consequence == "effective-learning-rate":
        return (f"{title}: {_eq_plain(last.lhs, last.rhs)}; with the factor 1/||w|| that makes the "
                "re-scaled weights unit-norm, the effective rate is eta/||w||^2")
    every = f" for every {', '.join(map(str, d.f.indices))}" if d.f.indices else ""
    if c.consequence == "gradient-orthogonality":
        return f"{title}: {_eq_plain(d.defs[C].rhs, last.rhs)}{every}"
    where = f"Q = {_plain(d.defs[Q].rhs)}" if not d.f.indices else f"{_plain(d.Q)} = {_plain(d.defs[Q].rhs)}"
    return f"{title}: {_eq_plain(last.lhs, last.rhs)}{every}, where {where}"


# --- JSON -----------------------------------------------------------------------------

def _eq_json(e: Equation, step: bool) -> dict:
    out = {"name": e.name, "statement": _eq_plain(e.lhs, e.rhs), "latex": f"{tex(e.lhs)} = {tex(e.rhs)}"}
    if step:
        out |= {"justification": e.justification, "uses": list(e.uses)}
    else:
        out["meaning"] = e.justification
    return out | {"lhs": sp.srepr(e.lhs), "rhs": sp.srepr(e.rhs)}


def consequence_json(c: Consequence) -> dict:
    """One self-contained entry: ids, statement, applicability, the cell it rests on, proof."""
    from ..core.notation import plain
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
    from ..core.certificate import FORMAT
    return {"schema": FORMAT, "consequences": [consequence_json(c) for c in consequences]}


# --- the checker ------------------------------------------------------------------------

def check_consequence(data, invariant=None) -> list[str]:
    """Problems found in one consequence entry (empty when every claim holds).

    Written like :mod:`invariance.kernel.cells`, on its parser; the entry is
    untrusted and nothing in it is run.

    Trusted (not re-derived here): what :mod:`invariance.kernel.cells` trusts (the
    registry, SymPy's constructors, ``expand``/``cancel`` behind
    :func:`invariance.core.algebra.holds`, Python's ``json``/``ast``); SymPy's
    ``diff`` of a polynomial in one symbol ``s`` (the generator); the chain
    rule (the definitions ``chain rule``: a derivative of L(h(...)) is the sum
    of the gradient times the derivative of the arguments, for a loss and a
    layer differentiable at the point, which the cell's conditions give);
    and the rule *coefficients* below.  ``invariant(normalizer,
    transformation)`` gives the conditions of the cited cell when it is
    invariant with a certificate that verifies (None otherwise); by default the
    cell is derived by the engine and its certificate is checked by
    :func:`invariance.kernel.cells.check_cell`.  Whether epsilon = 0 is a condition
    comes from the cell, never from the entry.

    Re-derived, never taken from the file:

    - the definitions: W', X' from the registry; the generator by
      ``sympy.diff`` of the registry's W' and X' at the identity; the chain
      rule's sums, the constraint c, the quantity Q, the SGD steps, all from
      them; the premise (``invariance``) from the cited cell, which must be
      invariant under the entry's stated conditions (the registry's);
    - applicability and its reason (a non-invariant cell, a transformation
      that is not a continuous family, a family acting on the data for the
      training laws);
    - each step: parsed by :func:`invariance.kernel.cells.parse` with this cell's
      vocabulary; it holds by unfolding, in order, the definitions and earlier
      steps it names (a Symbol by substitution, an indexed quantity as a rule
      with distinct symbolic indices) and :func:`invariance.core.algebra.holds`;
      it divides by nothing that may be zero;
    - *coefficients*: from two earlier steps ``E = sum_l v_l A_l`` and
      ``E = sum_l v_l B_l`` (or ``E = 0``), with v a direction symbol that
      nothing constrains, the step states ``A_l = B_l``: read off the
      structure, not trusted from the file;
    - the conclusion: the last step is the statement derived here for that
      consequence;
    - every display field (statement, LaTeX, justification, meaning, names,
      conditions) is regenerated from the checked content and must be equal.
      ``numeric`` is an annotation (a measurement), not a claim.
    """
    from ..kernel.cells import CertificateError, compare_fields
    if not isinstance(data, dict):
        return ["a consequence must be a JSON object"]
    try:
        c = _checked(data, invariant)
    except CertificateError as err:
        return [str(err)]
    except KeyError as err:   # an unknown id
        return [str(err.args[0]) if err.args else "unknown id"]
    except Exception as err:  # anything unforeseen rejects the entry, never the whole run
        return [f"could not be checked ({type(err).__name__}: {str(err)[:200]})"]
    got = {k: v for k, v in data.items() if k != "numeric"}
    if "numeric" in data and not isinstance(data["numeric"], dict):
        return ["numeric must be an object"]
    return compare_fields("", consequence_json(c), got)


def verify_document(doc, invariant=None) -> list[str]:
    """Problems in a ``{"schema": ..., "consequences": [...]}`` document, one line each,
    prefixed with the entry's cell and consequence (for ``verify``)."""
    from ..core.certificate import FORMAT
    if not (isinstance(doc, dict) and doc.get("schema") == FORMAT and isinstance(doc.get("consequences"), list)
            and set(doc) == {"schema", "consequences"}):
        return [f'not a consequences document: expected {{"schema": "{FORMAT}", "consequences": [...]}}']
    if not doc["consequences"]:
        return ["no consequences"]
    problems = []
    for k, entry in enumerate(doc["consequences"], 1):
        where = " x ".join(str(entry.get(f)) for f in ("normalizer", "transformation", "consequence")) \
            if isinstance(entry, dict) else f"entry {k}"
        problems += [f"{where}: {p}" for p in check_consequence(entry, invariant)]
    return problems


def _default_invariant(norm_id: str, t_id: str) -> tuple[str, ...] | None:
    return _certified(norm_id, t_id)


@functools.lru_cache(maxsize=None)
def _certified(norm_id: str, t_id: str) -> tuple[str, ...] | None:
    """The conditions of the cell, derived and its certificate checked, if it is invariant."""
    from ..core.certificate import cell_json
    from ..kernel.cells import check_cell
    from ..core.notation import plain
    cell = _cell(norm_id, t_id)
    if cell.verdict != INVARIANT or check_cell(cell_json(cell)):
        return None
    return tuple(plain(c) for c in cell.conditions)


def _checked(data: dict, invariant) -> Consequence:
    from ..kernel.cells import CertificateError, Vocabulary, parse_step
    from ..core.notation import plain
    norm_id, t_id, kind = data.get("normalizer"), data.get("transformation"), data.get("consequence")
    for key, value in (("normalizer", norm_id), ("transformation", t_id), ("consequence", kind)):
        if not isinstance(value, str):
            raise CertificateError(f"{key} must be an id string")
    _normalizer(norm_id), _transformation(t_id)
    if kind not in CONSEQUENCES:
        raise CertificateError(f"unknown consequence {kind!r}; valid: {', '.join(CONSEQUENCES)}")
    proven = (invariant or _default_invariant)(norm_id, t_id)   # the cell's conditions, or None
    verdict = INVARIANT if proven is not None else "not-invariant"
    conds = data.get("conditions", [])
    # epsilon = 0 exactly when the cell's own proof needed it: never the entry's choice
    eps_zero = plain(sp.Eq(EPS, 0)) in (proven if proven is not None else conds if isinstance(conds, list) else [])
    d = _derivation(norm_id, t_id, eps_zero)
    if proven is not None and tuple(plain(x) for x in d.conditions) != tuple(proven):
        raise CertificateError(f"the conditions {[plain(x) for x in d.conditions]} are not the proven cell's "
                               f"{list(proven)}")
    why = d.reason(kind, verdict)
    if why:
        if data.get("applies") is not False:
            raise CertificateError(f"does not apply: {why}")
        return Consequence(norm_id, t_id, kind, False, why)
    if data.get("applies") is not True:
        raise CertificateError("applies: the cell is invariant and the consequence applies")
    if not isinstance(conds, list) or conds != [plain(x) for x in d.conditions]:
        raise CertificateError("the conditions are not the cell's conditions (from the registry)")
    known = {e.name: e for e in d.defs.values()}
    extra = [IndexedBase(V), IndexedBase(U), IndexedBase(U2)]
    vocab = Vocabulary.of(list(d.defs.values()) + list(d.cell_defs) + [
        Equation("", Symbol(V), IndexedBase(V)[(EPS,)], ""), Equation("", GRAD_T["W"][(EPS,)], GRAD_T["X"][(EPS,)], ""),
        Equation("", Symbol(C), Symbol(Q), "")] + [Equation("", x[(EPS,)], x[(EPS,)], "") for x in extra]
        + ([Equation("", *d.target("hessian-scaling"), "")] if kind == "hessian-scaling" else []))
    steps_data = data.get("steps")
    if not isinstance(steps_data, list) or not 1 <= len(steps_data) <= 16:
        raise CertificateError("steps must be a list of 1 to 16 steps")
    steps: list[Equation] = []
    for k, s in enumerate(steps_data, 1):
        lhs, rhs = parse_step(s, k, vocab)
        name, uses = f"step {k}", s.get("uses")
        if not (isinstance(uses, list) and all(isinstance(u, str) for u in uses) and len(uses) <= 12):
            raise CertificateError(f"step {k}: uses must be a list of names")
        missing = [u for u in uses if u not in known and u != COEFFICIENTS]
        if missing:
            raise CertificateError(f"step {k} uses {missing}, not stated before it")
        _no_division_by_zero(lhs, rhs, name)
        step = Equation(name, lhs, rhs, "", tuple(uses))
        if uses and uses[0] == COEFFICIENTS:
            _coefficients(step, known, d)
        elif COEFFICIENTS in uses:
            raise CertificateError(f"step {k}: {COEFFICIENTS} is a rule of its own, named first")
        elif not _holds(step, known):
            raise CertificateError(f"step {k} does not hold: {plain(lhs)} = {plain(rhs)}")
        step = Equation(name, lhs, rhs, justify(step, d), tuple(uses))
        steps.append(step)
        known[name] = step
    want = d.target(kind)
    if (steps[-1].lhs, steps[-1].rhs) != want:
        raise CertificateError(f"the last step is not the toolkit's {kind}: {_eq_plain(*want)}")
    return Consequence(norm_id, t_id, kind, True, "", tuple(d.conditions), d.used_definitions(kind, steps),
                       tuple(steps))


def _holds(step: Equation, known: dict) -> bool:
    from ..kernel.cells import _rule as checker_rule
    from ..kernel.parse import MAX_TERMS, CertificateError, expansion_terms
    lhs, rhs = step.lhs, step.rhs
    for u in step.uses:
        e = known[u]
        if isinstance(e.lhs, Symbol):
            lhs, rhs = lhs.xreplace({e.lhs: e.rhs}), rhs.xreplace({e.lhs: e.rhs})
            continue
        if not isinstance(e.lhs, Indexed):
            raise CertificateError(f"{u} cannot be used as a rule: it needs distinct symbolic indices")
        rule = [checker_rule(e, trusted=False)]   # the cell checker's conditions on a rule
        try:
            lhs, rhs = unfold(lhs, rule), unfold(rhs, rule)
        except ValueError as err:
            raise CertificateError(f"{step.name} cannot be checked: {err}") from None
    if expansion_terms(lhs - rhs) > MAX_TERMS:   # what holds will expand, as for a cell's steps
        raise CertificateError(f"{step.name}: unfolded, it expands to more than {MAX_TERMS} terms")
    return holds(lhs, rhs)


def _linear_form(expr, direction_base, direction_symbol, limits_of):
    """(v's indices, the coefficient) when expr is sum_l v[l] A (or v A), else None; 0 -> (None, 0)."""
    if expr == 0:
        return None, sp.S.Zero
    body, limits = (expr.function, expr.limits) if isinstance(expr, Sum) else (expr, ())
    vs = [f for f in sp.Mul.make_args(body) if (isinstance(f, Indexed) and f.base == direction_base)
          or f == direction_symbol]
    if len(vs) != 1:
        return False
    v = vs[0]
    coeff = sp.Mul(*[f for f in sp.Mul.make_args(body) if f is not v])
    idx = v.indices if isinstance(v, Indexed) else ()
    if coeff.has(direction_base) or coeff.has(direction_symbol):
        return False
    if not all(isinstance(i, Symbol) for i in idx) or len(set(idx)) != len(idx):
        return False
    if sorted(limits, key=str) != sorted([(i, 1, limits_of(i)) for i in idx], key=str):
        return False
    return idx, coeff


def _coefficients(step: Equation, known: dict, d: _Derivation) -> None:
    """Check a *coefficients* step: uses = [coefficients, E = form A, E = form B]; states A = B."""
    from ..kernel.cells import CertificateError
    if len(step.uses) == 2:      # one step, form = form: compare its two sides
        only = known.get(step.uses[1])
        if only is None or not only.name.startswith("step"):
            raise CertificateError(f"{step.name}: {COEFFICIENTS} needs an earlier step")
        first, second = Equation("", only.lhs, only.lhs, ""), Equation("", only.lhs, only.rhs, "")
    elif len(step.uses) == 3:    # two steps about the same quantity E: E = form, E = form
        first, second = (known.get(u) for u in step.uses[1:])
        if first is None or second is None or not first.name.startswith("step") \
                or not second.name.startswith("step") or first.lhs != second.lhs:
            raise CertificateError(f"{step.name}: {COEFFICIENTS} needs two earlier steps about the same quantity")
    else:
        raise CertificateError(f"{step.name}: {COEFFICIENTS} takes one or two earlier steps")
    sizes = {ax.index: ax.size for ax in (*d.m.axes, d.m.input)} | getattr(d, "extra_sizes", {})
    for base_name in (V, U, U2):
        base, sym = IndexedBase(base_name), Symbol(base_name)
        a = _linear_form(first.rhs, base, sym, sizes.get)
        b = _linear_form(second.rhs, base, sym, sizes.get)
        if a is False or b is False or (a[0] is None and b[0] is None):
            continue
        idx = a[0] if a[0] is not None else b[0]
        if a[0] is not None and b[0] is not None and a[0] != b[0]:
            continue
        if (step.lhs, step.rhs) == (a[1], b[1]) and set(idx) >= (step.lhs.free_symbols | step.rhs.free_symbols) & set(idx):
            return
    raise CertificateError(f"{step.name} is not the coefficients of {step.uses[1]} and {step.uses[2]}")


def _no_division_by_zero(lhs, rhs, where: str) -> None:
    from ..kernel.cells import _no_division_by_zero as the_cells_rule   # one rule for cells and consequences
    the_cells_rule(lhs, rhs, where)
