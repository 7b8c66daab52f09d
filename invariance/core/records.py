"""Frozen records: an equation of a proof, a proof, a counterexample, a cell."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from .notation import plain

__all__ = ["Equation", "Link", "Chain", "Proof", "Counterexample", "Breaks", "Cell", "INVARIANT", "NOT_INVARIANT", "UNKNOWN", "reads"]

INVARIANT, NOT_INVARIANT, UNKNOWN = "invariant", "not-invariant", "unknown"

#: How a cell is read, registered by the layer that knows (a record imports nothing above it):
#: "json" (:mod:`invariance.core.certificate`), "explain" (:mod:`invariance.report.explain`),
#: "titles" (:mod:`invariance.catalogue.registry`).
_READERS: dict[str, Callable] = {}


def reads(what: str):
    """Register ``f`` as the way a cell is read as ``what`` ("json", "explain" or "titles")."""
    def register(f):
        _READERS[what] = f
        return f
    return register


def _reader(what: str) -> Callable:
    try:
        return _READERS[what]
    except KeyError:
        raise RuntimeError(f"no {what} reader is registered: import invariance first") from None


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs``: a definition (taken as given) or a step (checked).

    A step is checked by unfolding the equations named in ``uses`` (in that
    order) on both sides, then sum linearity and ``expand``: see
    :func:`invariance.core.algebra.holds`.
    """

    name: str
    lhs: sp.Expr
    rhs: sp.Expr
    justification: str
    uses: tuple[str, ...] = ()

    @property
    def is_definition(self) -> bool:
        return not self.uses


@dataclass(frozen=True)
class Link:
    """``= expr``: holds by unfolding the equations named in ``uses`` (none: by algebra
    alone); ``why`` says so in words and maths, derived from the link itself
    (:func:`invariance.core.proof.link_words`)."""

    expr: sp.Expr
    uses: tuple[str, ...]
    why: tuple


@dataclass(frozen=True)
class Chain:
    """``lhs = links[0].expr = links[1].expr = ...``: a chain of equalities that a
    student would write, concluding ``lhs = rhs`` under the name ``name``
    (``mu' law``; ``invariance`` for h' = h), which later chains may substitute."""

    name: str
    lhs: sp.Expr
    links: tuple[Link, ...]

    @property
    def rhs(self) -> sp.Expr:
        return self.links[-1].expr

    def conclusion(self) -> Equation:
        """``lhs = rhs`` as one equation (display wrappers removed), using what its links use."""
        rhs = self.rhs.replace(lambda e: isinstance(e, sp.UnevaluatedExpr), lambda e: e.args[0])
        uses = tuple(dict.fromkeys(u for link in self.links for u in link.uses))
        return Equation(self.name, self.lhs, rhs, "", uses or ("algebra",))


@dataclass(frozen=True)
class Proof:
    """The one proof object: chains of equalities, each link with its reason.  The
    certificate stores exactly these, ``verify`` checks every link, and ``check``,
    the Markdown and the document render them.

    The search may hand a function that writes the chains instead of the chains
    themselves: they are written when first read (``table`` reads only the verdict)."""

    written: "tuple[Chain, ...] | Callable[[], tuple[Chain, ...]]"

    @property
    def chains(self) -> tuple[Chain, ...]:
        if callable(self.written):
            object.__setattr__(self, "written", tuple(self.written()))
        return self.written

    def steps(self) -> tuple[Equation, ...]:
        """What the chains conclude, one equation each (the a' law, each statistic's law, h' = h)."""
        return tuple(c.conclusion() for c in self.chains)


@dataclass(frozen=True)
class Counterexample:
    """Concrete exact values for which the two outputs differ.

    ``values`` holds the layer's inputs by name (``W``, ``X``, ``g``, ``b``) as
    nested lists of SymPy rationals; ``parameters`` the transformation's, by
    the names it declares (``delta``, ``gamma``, ``case``); indices are 1-based.
    """

    sizes: dict[str, int]
    values: dict[str, object]          # "W", "X", "g", "b" -> exact nested lists
    parameters: dict[str, object]      # the transformation's parameters, by name
    point: dict[str, int]              # the output entry that differs (1-based)
    output: sp.Expr
    transformed_output: sp.Expr
    breaks: "Breaks | None" = None     # where the derivation of h' = h stops, checked like a proof


@dataclass(frozen=True)
class Breaks:
    """Where a refuted cell's derivation stops: the laws that hold (``chains[:-1]``), then
    the chain of the first quantity without one (``chains[-1]``), which is not ``wanted``,
    what the rule needs (:func:`invariance.core.proof.wanted`)."""

    chains: tuple[Chain, ...]
    wanted: sp.Expr


@dataclass(frozen=True)
class Cell:
    """One cell of the table: a verdict and its evidence.

    ``definitions`` are the registry's equations the evidence rests on (W', X',
    a, a', the statistics, h, h'); ``proof`` holds the checked steps of an
    invariant cell (None otherwise); ``counterexample`` refutes a non-invariant one.
    """

    normalizer: str
    transformation: str
    verdict: str
    conditions: tuple[sp.Basic, ...] = ()   # relationals, e.g. delta > 0
    proof: Proof | None = None
    counterexample: Counterexample | None = None
    definitions: tuple[Equation, ...] = ()
    laws: dict[str, sp.Expr] = field(default_factory=dict)   # how each statistic transforms

    # Reading a cell: each delegates to the layer that renders it, registered with :func:`reads`.
    def to_dict(self) -> dict:
        """The cell as JSON-ready data, in the certificates' format (:func:`invariance.core.certificate.cell_json`)."""
        return _reader("json")(self)

    def explain(self, caveats: bool = False) -> str:
        """What ``python -m invariance check`` prints: verdict, conditions, each proof step or the
        counterexample.  With ``caveats``, also an invariant cell's caveats (a negative factor,
        epsilon > 0, degenerate sizes), derived for the registered normalizer of this id."""
        return _reader("explain")(self, caveats)

    def __str__(self) -> str:
        """One line: what was asked, the verdict, its evidence and its conditions.

        >>> from invariance import derive
        >>> print(derive("layer-norm", "weight-matrix-recentering"))
        Layer norm under weight matrix re-centering: invariant (proof in 5 checked steps; given sigma[n] != 0)
        """
        titles = self._titles()
        if self.verdict == INVARIANT:
            evidence = f"proof in {len(self.proof.steps())} checked steps"
        elif self.counterexample is not None:
            sizes = ", ".join(f"{k} = {v}" for k, v in self.counterexample.sizes.items())
            evidence = f"exact counterexample with {sizes}"
        else:
            evidence = "no proof and no counterexample found"
        if self.conditions:
            evidence += "; given " + ", ".join(plain(c) for c in self.conditions)
        return (f"{titles[self.normalizer]} under {titles[self.transformation].lower()}: "
                f"{self.verdict} ({evidence})")

    def _titles(self) -> dict[str, str]:
        """Registered titles; the id stands in for a normalizer that is not registered."""
        return {self.normalizer: self.normalizer, self.transformation: self.transformation, **_reader("titles")()}
