"""A red team's forgeries against certificate format 3 (chains of equalities): new classes,
each rejected with a one-line reason.

Each forgery starts from a genuine certificate and is re-serialized with the toolkit's own
writer (:func:`invariance.core.certificate.cell_json`), so every display field and every
reason is what the kernel regenerates: the only flaw is the one the test names.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import sympy as sp

import invariance
from forgery import rejected
from invariance.core.certificate import cell_json
from invariance.core.proof import action, link_words, wanted
from invariance.core.records import Breaks, Chain, Link, Proof
from invariance.kernel import cells as kernel
from invariance.report.certificates import verify

PROOFS = Path(__file__).parent.parent / "proofs"


class Forger:
    """A genuine cell, checked, with what a forger needs to write chains the kernel would word alike."""

    def __init__(self, norm: str, trans: str):
        self.doc = json.loads((PROOFS / f"{norm}__{trans}.json").read_text())
        assert verify(self.doc) == [], "the starting point must be a genuine certificate"
        data = self.doc["cells"][0]
        self.cell = kernel._checked_cell(data)
        self.t = invariance.TRANSFORMATIONS[trans]
        self.b = kernel._build_for(invariance.NORMALIZERS[norm], self.t, data)
        self.known = {e.name: e for e in kernel.definitions(self.b, self.t)}
        self.act = action(self.b, self.known)

    def chain(self, name: str, lhs, links) -> Chain:
        """A chain ``lhs = links[0][0] = ...``, each link (expr, uses), worded as the kernel words it."""
        out, prev = [], lhs
        for expr, uses in links:
            out.append(Link(expr, tuple(uses), link_words(prev, expr, [self.known[u] for u in uses], self.act)))
            prev = expr
        c = Chain(name, lhs, tuple(out))
        self.known[name] = c.conclusion()
        return c

    def _doc(self, cell) -> dict:
        doc = copy.deepcopy(self.doc)
        doc["cells"][0] = json.loads(json.dumps(cell_json(cell)))
        return doc

    def with_proof(self, chains) -> dict:
        return self._doc(dataclasses.replace(self.cell, proof=Proof(tuple(chains))))

    def with_breaks(self, chains, wanted_rhs) -> dict:
        ce = dataclasses.replace(self.cell.counterexample, breaks=Breaks(tuple(chains), wanted_rhs))
        return self._doc(dataclasses.replace(self.cell, counterexample=ce))


# --- a refuted cell's breaks -----------------------------------------------------------------

def test_breaks_that_end_at_a_law_that_holds_are_rejected():
    """Weight norm under dataset re-centering: the genuine breaks go on to h'; cut after the
    sigma' law, they would show "sigma'[i] = sigma[i], which is not sigma'[i] = sigma[i], what
    the rule needs": the derivation does not stop there."""
    f = Forger("weight-norm", "dataset-recentering")
    chains = f.cell.counterexample.breaks.chains
    assert chains[-2].name == "sigma' law"
    doc = f.with_breaks(chains[:-1], wanted(f.b, "sigma", f.act))
    assert doc["cells"][0]["counterexample"]["breaks"]["wanted"] == "sigma'[i] = sigma[i]"
    rejected(doc, "has the law the rule needs")


# --- links kept as written whose display reads false ------------------------------------------

U = sp.UnevaluatedExpr


def _unevaluated(kind: str, beta, mu):
    """beta + mu, written so that one of SymPy's printers shows something else."""
    neg = lambda x: sp.Mul(-1, x, evaluate=False)  # noqa: E731
    if kind == "minus a wrapped sum":          # LaTeX: - - beta - mu (reads beta - mu)
        return neg(U(sp.Add(neg(beta), neg(mu), evaluate=False)))
    if kind == "a wrapped negative product":   # LaTeX: mu + 2 - beta + 3 beta (reads 2 minus beta)
        return sp.Add(mu, sp.Mul(2, U(neg(beta)), evaluate=False), sp.Mul(3, beta, evaluate=False), evaluate=False)
    if kind == "a wrapped sum as a term":      # text: mu - (beta + 2*beta) (reads mu - 3 beta)
        return sp.Add(mu, U(sp.Add(neg(beta), sp.Mul(2, beta, evaluate=False), evaluate=False)), evaluate=False)
    raise ValueError(kind)


import pytest  # noqa: E402


@pytest.mark.parametrize("kind", ["minus a wrapped sum", "a wrapped negative product", "a wrapped sum as a term"])
def test_a_link_whose_display_reads_other_than_what_it_holds_is_rejected(kind):
    """A link kept as written (evaluate=False) that holds, but that SymPy's text or LaTeX printer
    shows as a different expression: what a reader reads is not what verify checked."""
    from invariance.core.notation import plain, tex
    f = Forger("layer-norm", "weight-matrix-recentering")
    chains = list(f.cell.proof.chains)
    k = next(n for n, c in enumerate(chains) if c.name == "mu' law")
    mu_law = chains[k]
    beta, mu = sp.IndexedBase("beta")[sp.Symbol("n", integer=True)], sp.IndexedBase("mu")[sp.Symbol("n", integer=True)]
    odd = _unevaluated(kind, beta, mu)
    assert sp.expand(odd.doit() - (beta + mu)) == 0   # it holds
    shown = {plain(odd), tex(odd)}
    assert not {"beta[n] + mu[n]", r"{\beta}_{n} + {\mu}_{n}"} & shown   # but reads otherwise somewhere
    f.known = {k2: v for k2, v in f.known.items() if not k2.endswith(" law") and k2 != "invariance"}
    for c in chains[:k]:
        f.known[c.name] = c.conclusion()
    links = [(link.expr, link.uses) for link in mu_law.links] + [(odd, ()), (mu_law.rhs, ())]
    forged = [*chains[:k], f.chain(mu_law.name, mu_law.lhs, links)]
    for c in chains[k + 1:]:
        forged.append(f.chain(c.name, c.lhs, [(link.expr, link.uses) for link in c.links]))
    rejected(f.with_proof(forged), "prints as something else")
