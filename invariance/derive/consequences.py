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
- ``hessian-identity``: differentiating the constraint, which holds at every
  point, along :math:`P + s U_P` for each parameter tensor P:
  :math:`H\\xi + (D\\xi)^T \\partial L/\\partial P = 0`, one coefficients step per row
  (:math:`H W = -\\partial L/\\partial W` for a re-scaling, :math:`H\\xi = 0` for a shift);
- ``sgd-norm-growth`` and ``weight-decay-law``: after one step of SGD
  :math:`W^+ = (1 - \\eta\\lambda) W - \\eta \\partial L/\\partial W` (with
  :math:`\\lambda = 0` for plain SGD), exactly
  :math:`Q^+ = (1-\\eta\\lambda)^2 Q + \\eta^2 \\lVert \\partial L/\\partial W \\rVert^2`
  for a re-scaling: the norm grows, the paper's implicit learning-rate decay.

Everything is derived from the registry (the transformation's W', X', g', b', c',
the cell's verdict and conditions); nothing is typed per cell.  Besides the
table's cells, :func:`direction_cells` gives the families of each layer's symmetry
basis (:func:`invariance.derive.symmetries.basis`), whose consequences are derived
the same way.  What a consequence
rests on (the family, its generator, the definitions, the statement it must
end with) is read off the registry by :mod:`invariance.core.training`; this
module is the search: it writes each consequence as a chain of
:class:`invariance.core.records.Equation` steps, each an identity once the
equations it names are substituted, plus one rule of its own, *coefficients*:
two linear forms in a free direction that are equal for every direction have
equal coefficients.  The kernel's :func:`invariance.kernel.consequences.check_consequence`
re-checks an entry read from JSON without this module (see its docstring
for what it trusts); :func:`check_consequence` here calls it with the cited
cell derived afresh.

>>> [c.consequence for c in derive_consequences("layer-norm", "weight-matrix-recentering") if c.applies]
['gradient-orthogonality', 'gradient-scaling', 'hessian-scaling', 'conserved-quantity', 'sgd-norm-growth', 'weight-decay-law', 'hessian-identity']
>>> c = derive_consequences("batch-norm", "weight-vector-rescaling")[0]
>>> c.statement
'Gradient orthogonal to the generator of the symmetry: Sum(W[i, j]*dL/dW[i, j], (j, 1, D)) = 0 for every i'
"""
from __future__ import annotations

import functools

import sympy as sp
from sympy import IndexedBase

from ..catalogue.registry import acting as _transformation, normalizer as _normalizer
from ..core.consequence import (TITLES, Consequence, applying, consequence_json, document, justify,
                                not_applying, tex)
from ..core.model import EPS
from ..core.records import INVARIANT, Equation
from ..core.training import (C, COEFFICIENTS, CONSEQUENCES, DDL, DL, DPHI, ETA, GRAD, GRAD_T, HESS, HESS_T, LAM, Q,
                             QDOT, Q_SGD, Q_WD, U, U2, XI_U, XI_U2, Definitions, Family, _sum, family)
from ..kernel import consequences as _kernel

__all__ = ["CONSEQUENCES", "TITLES", "Family", "Consequence", "family", "derive_consequences", "direction_cells",
           "consequence_json", "document", "check_consequence", "verify_document", "tex", "COEFFICIENTS",
           "justify", "C", "Q", "QDOT", "ETA", "LAM", "GRAD", "GRAD_T"]


class _Derivation(Definitions):
    """The definitions of a cell's consequences (:class:`invariance.core.training.Definitions`)
    and the steps the toolkit proves each consequence with."""

    def __init__(self, norm_id: str, t_id: str, eps_zero: bool):
        super().__init__(_normalizer(norm_id), _transformation(t_id), eps_zero)

    def orthogonality_steps(self) -> list[Equation]:
        """D_v phi = sum grad xi = sum_l v_l c_l, D_v phi = 0, hence c = 0."""
        xis = tuple(k for k in self.defs if k.startswith("xi^"))
        return [
            Equation("step 1", DPHI, self.linear_form, "", ("chain rule", *xis, C)),
            Equation("step 2", DPHI, sp.S.Zero, "", ("invariance",)),
            Equation("step 3", self.c, sp.S.Zero, "", (COEFFICIENTS, "step 1", "step 2")),
        ]

    def steps(self, kind: str) -> list[Equation]:
        ortho = self.orthogonality_steps()
        n = len(ortho)
        if kind == "gradient-orthogonality":
            return ortho
        if kind == "hessian-identity":
            out = []
            for R, UR, ridx, rsizes, dd, K in self.rows:
                k = len(out)
                out += [Equation(f"step {k + 1}", dd, _sum(UR[ridx] * K, ridx, rsizes), "", (f"chain rule vU {R}",)),
                        Equation(f"step {k + 2}", dd, sp.S.Zero, "", (f"invariance vU {R}",)),
                        Equation(f"step {k + 3}", K, sp.S.Zero, "", (COEFFICIENTS, f"step {k + 1}", f"step {k + 2}"))]
            return out
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
            return ortho + [
                Equation(f"step {n + 1}", self.Qdot, -self.kappa * self.c, "", (QDOT, C)),
                Equation(f"step {n + 2}", self.Qdot, sp.S.Zero, "", (f"step {n + 1}", f"step {n}")),
            ]
        name, sup = (Q_SGD, "+") if kind == "sgd-norm-growth" else (Q_WD, "wd")
        lhs, rhs = self.target(kind)
        return ortho + [
            Equation(f"step {n + 1}", lhs, self.step_law(name), "", (name, *[f"{w}^{sup}" for w in self.stepped], Q, C)),
            Equation(f"step {n + 2}", lhs, rhs, "", (f"step {n + 1}", f"step {n}")),
        ]


    def used_definitions(self, steps) -> tuple[Equation, ...]:
        """The definitions the steps rest on (a kind's own steps when ``steps`` is a kind)."""
        return super().used_definitions(self.steps(steps) if isinstance(steps, str) else steps)


@functools.lru_cache(maxsize=None)
def _derivation(norm_id: str, t_id: str, eps_zero: bool) -> _Derivation:
    return _Derivation(norm_id, t_id, eps_zero)


@functools.lru_cache(maxsize=None)
def _cell(norm_id: str, t_id: str):
    from .engine import derive
    return derive(norm_id, _transformation(t_id))


def derive_consequences(norm_id: str, t_id: str, cell=None) -> list[Consequence]:
    """Every consequence of one cell (those that do not apply say why)."""
    cell = cell or _cell(norm_id, t_id)
    eps_zero = any(c == sp.Eq(EPS, 0) for c in cell.conditions)
    d = _derivation(norm_id, t_id, eps_zero)
    out = []
    for kind in CONSEQUENCES:
        why = d.reason(kind, cell.verdict)
        if why:
            out.append(not_applying(norm_id, t_id, kind, why))
            continue
        steps = [Equation(e.name, e.lhs, e.rhs, justify(e, d), e.uses) for e in d.steps(kind)]
        out.append(applying(d, kind, cell.conditions, steps))
    return out


# --- the cell a consequence rests on, derived afresh (a callback of verify's) ------------

def _default_invariant(norm_id: str, t_id: str) -> tuple[str, ...] | None:
    return _certified(norm_id, t_id)


@functools.lru_cache(maxsize=None)
def _certified(norm_id: str, t_id: str) -> tuple[str, ...] | None:
    """The conditions of the cell, derived and its certificate checked, if it is invariant."""
    from ..core.certificate import cell_json
    from ..core.notation import plain
    from ..kernel.cells import check_cell
    cell = _cell(norm_id, t_id)
    if cell.verdict != INVARIANT or check_cell(cell_json(cell)):
        return None
    return tuple(plain(c) for c in cell.conditions)


def check_consequence(data, invariant=None) -> list[str]:
    """The kernel's :func:`invariance.kernel.consequences.check_consequence`, with the cited
    cell derived by the engine and its certificate checked unless ``invariant`` is given."""
    return _kernel.check_consequence(data, invariant or _default_invariant)


def verify_document(doc, invariant=None) -> list[str]:
    """The kernel's :func:`invariance.kernel.consequences.verify_document`, likewise."""
    return _kernel.verify_document(doc, invariant or _default_invariant)


def direction_cells(norm_ids, listed=(), linear_bias: bool = False) -> list[tuple[str, str]]:
    """(normalizer, family) for every direction of the basis of each layer's parameter symmetries
    (:func:`invariance.derive.symmetries.basis`) that ``listed`` does not hold already; with
    ``linear_bias``, the dense layers with a linear bias too: their consequences come from the
    directions, not from the table's columns."""
    from ..catalogue.registry import normalizer
    from ..core.model import DENSE
    from .symmetries import basis
    ids = list(norm_ids) + ([f"{n}-linear-bias" for n in norm_ids if normalizer(n).model is DENSE]
                            if linear_bias else [])
    seen = set(listed)
    return [(n, t.id) for n in ids for t in basis(n) if (n, t.id) not in seen]
