"""What a normalizer is: named statistics and an output formula, on a model.

A statistic is a SymPy expression at a point of the summed inputs, written
with :meth:`Context.mean` / :meth:`Context.total` over some axes; the axes it
keeps (its indices) are read off the expression.  The output is the general
form of the paper's Eq. 5 unless a normalizer says otherwise:

.. math:: h_{n,i} = g_i \\frac{a_{n,i} - \\mu}{\\sigma} + b_i

The same definitions are instantiated twice, for the original layer and for
the transformed one (every symbol primed), which is all the proofs and the
exact counterexamples need.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy import IndexedBase

from .algebra import Rule
from .model import EPS, Model, prime

__all__ = ["Statistic", "Normalizer", "TorchOp", "Context", "Built", "general_form", "InvalidNormalizer",
           "primed_scalar", "is_primed_scalar"]


class InvalidNormalizer(ValueError):
    """A normalizer whose definition cannot be used: the message says what failed and why."""


@dataclass(frozen=True)
class Statistic:
    """A named statistic; ``define(c, at)`` gives its value at point ``at``."""

    name: str
    define: Callable[["Context", dict], sp.Expr]


def general_form(c: "Context", at: dict) -> sp.Expr:
    """Eq. 5 without f: ``g (a - mu) / sigma + b`` (``mu = 0`` if undefined)."""
    mu = c.stat("mu", at) if c.has("mu") else 0
    return c.g(at) * (c.a(at) - mu) / c.stat("sigma", at) + c.b(at)


@dataclass(frozen=True)
class TorchOp:
    """A normalizer's PyTorch counterpart: what it calls, how the module's
    parameters map to W, g, b, and where PyTorch's semantics differ from ours.

    ``layer(W, X, g, b, eps)`` computes h for one instance from torch tensors
    (the summed inputs inside it, from W and X); the backend batches it with
    ``torch.func.vmap``.  ``default_eps(dtype)`` is PyTorch's default epsilon
for a dtype name ("float32", "float64").
    """

    name: str                             # e.g. "F.layer_norm"
    parameters: str                       # e.g. "weight = g, bias = b"
    layer: Callable
    default_eps: Callable = lambda dtype: 1e-5
    has_eps: bool = True                  # False: PyTorch has none; run at eps = 0
    vmap: bool = True                     # False: ``layer`` takes leading instance axes itself
    semantics: str = ""                   # where PyTorch differs, and what we do about it


@dataclass(frozen=True)
class Normalizer:
    """A catalogue entry: symbolic definition beside its NumPy implementation."""

    id: str
    title: str
    model: Model
    stats: tuple[Statistic, ...]
    numeric: Callable                     # op(a, W, eps=0.0, **numeric_kwargs)
    output: Callable[["Context", dict], sp.Expr] = general_form
    numeric_kwargs: dict = field(default_factory=dict)
    source: str = ""
    groups: int | None = None             # number of groups, for statistics over a Group
    constants: dict = field(default_factory=dict)  # symbol -> exact value used in counterexamples
    torch: TorchOp | None = None          # the PyTorch counterpart (the [torch] extra), if any
    trainable: tuple = ()                 # the normalizer's own trainable scalars (e.g. DyT's alpha)

    def build(self, eps: sp.Expr = EPS) -> "Built":
        return Built(self, eps)


def primed_scalar(s: sp.Symbol) -> IndexedBase:
    """A trainable scalar of the transformed layer, theta'_i: one value, read at each unit (the
    one kind of indexed base that is declared real, which is how :func:`is_primed_scalar` knows it)."""
    return IndexedBase(s.name + "'", real=True)


def is_primed_scalar(base) -> bool:
    return isinstance(base, IndexedBase) and base.label.name.endswith("'") and bool(base.assumptions0.get("real"))


class Context:
    """The symbols one instance of the layer is written with (original or primed).

    A normalizer's statistics and output are functions ``(c, at)`` of a context
    ``c`` and a point ``at`` of the summed inputs, a dict from axis name to
    index (``{"case": n, "unit": i}`` on the dense model, plus ``"position"``
    on the conv model).  The same functions are called twice, with the
    original and with the transformed (primed) symbols, so they must build
    their expressions from ``c`` alone.
    """

    def __init__(self, m: Model, primed: bool, kept: dict[str, tuple[str, ...]], eps,
                 moved: frozenset = frozenset()):
        p = prime if primed else (lambda base: base)
        self.m, self.primed, self.kept, self.eps = m, primed, kept, eps
        self.moved = moved   # the gain and bias a transformation moves ("g", "b"): primed too
        self.A, self.Wb, self.Xb = p(m.a), p(m.W), p(m.X)
        self._p = p

    def has(self, name: str) -> bool:
        """Whether a statistic called ``name`` is defined (so far: statistics are defined in order)."""
        return name in self.kept

    def base(self, name: str) -> IndexedBase:
        """The symbol ``name`` of this instance (primed for the transformed layer)."""
        return self._p(IndexedBase(name))

    def a(self, at):
        """The summed input :math:`a_{n,i}` (conv: :math:`a_{n,i,p}`) at ``at``."""
        return self.m.at(self.A, at)

    def W(self, i, j):
        """The weight :math:`W_{i,j}` from input ``j`` to unit ``i`` (row ``i`` is :math:`w_i`)."""
        return self.Wb[i, j]

    def g(self, at):
        """The gain :math:`g_i` of the unit at ``at`` (primed only where a transformation moves it)."""
        return (prime(self.m.g) if "g" in self.moved else self.m.g)[at["unit"]]

    def b(self, at):
        """The bias :math:`b_i` of the unit at ``at`` (primed only where a transformation moves it)."""
        return (prime(self.m.b) if "b" in self.moved else self.m.b)[at["unit"]]

    def stat(self, name: str, at):
        """The statistic ``name`` at ``at``, as a symbol indexed by the axes it keeps (e.g. ``mu[n]``).

        Only statistics defined earlier in ``stats`` can be used; the proofs
        unfold the symbol into its definition.
        """
        if name not in self.kept:
            raise InvalidNormalizer(f"the statistic {name!r} is used but not defined (defined before it: "
                                    f"{', '.join(self.kept) or 'none'}); define it in stats, or give an output=")
        return self.base(name)[tuple(at[ax] for ax in self.kept[name])]

    def mean(self, f, at, over):
        """:math:`\\frac{1}{|over|} \\sum_{over} f`: the mean of ``f(t)`` over the axes ``over``.

        ``over`` is a tuple of axis names (``"case"``, ``"unit"``,
        ``"position"``) or :class:`~invariance.core.model.Group`; ``f`` receives the
        point ``t`` with those axes bound, e.g. layer norm's mean is
        ``c.mean(lambda t: c.a(t), at, ("unit",))``.
        """
        return self.m.mean(f, at, over)

    def total(self, f, at, over):
        """:math:`\\sum_{over} f`: like :meth:`mean`, without dividing by the count."""
        return self.m.total(f, at, over)


def _call(norm, what: str, f, c, at) -> sp.Expr:
    """Call a user's definition; a failure names the normalizer, the definition and the reason."""
    try:
        value = f(c, at)
    except InvalidNormalizer as err:
        raise InvalidNormalizer(f"normalizer {norm.id!r}: {what}: {err}") from err
    except Exception as err:  # a user's function: say which one failed, keep the cause chained
        raise InvalidNormalizer(f"normalizer {norm.id!r}: {what} raised {type(err).__name__}: {err}") from err
    if isinstance(value, sp.Expr):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return sp.sympify(value)
    got = "None" if value is None else f"{type(value).__name__} {value!r:.60}"
    raise InvalidNormalizer(f"normalizer {norm.id!r}: {what} returned {got}; it must return a SymPy expression")


class Built:
    """A normalizer's definitions as rewrite rules, for both layer instances."""

    def __init__(self, norm: Normalizer, eps):
        self.norm, self.m, self.eps = norm, norm.model, eps
        m, pt = norm.model, norm.model.point
        kept: dict[str, tuple[str, ...]] = {}
        self.stat_rules: list[Rule] = []
        c = Context(m, False, kept, eps)
        for s in norm.stats:
            expr = _call(norm, f"the statistic {s.name!r}", s.define, c, pt)
            free = expr.free_symbols
            kept[s.name] = tuple(ax.name for ax in m.axes if ax.index in free) or ("unit",)
            self.stat_rules.append(Rule(c.stat(s.name, pt), expr))
        self.kept = kept
        self.orig, self.primed = c, Context(m, True, kept, eps)
        self.primed_stat_rules = [Rule(self.primed.stat(s.name, pt),
                                       _call(norm, f"the statistic {s.name!r}", s.define, self.primed, pt))
                                  for s in norm.stats]
        self.out, self.out_p = IndexedBase("h"), IndexedBase("h'")
        what = "the default output g (a - mu) / sigma + b" if norm.output is general_form else "the output"
        self.out_rule = Rule(m.at(self.out, pt), _call(norm, what, norm.output, c, pt))
        self.out_rule_p = Rule(m.at(self.out_p, pt), _call(norm, what, norm.output, self.primed, pt))

    def output_moving(self, moved: frozenset) -> Rule:
        """h' when a transformation also moves the gain or the bias (``moved``: g', b' in it) or
        the normalizer's trainable scalars ("scalars": each theta read as theta'_i, per unit)."""
        if not moved:
            return self.out_rule_p
        c = Context(self.m, True, self.kept, self.eps, frozenset(moved))
        rhs = _call(self.norm, "the output", self.norm.output, c, self.m.point)
        if "scalars" in moved:
            rhs = rhs.xreplace({s: primed_scalar(s)[self.m.point["unit"]] for s in self.norm.trainable})
        return Rule(self.out_rule_p.lhs, rhs)

    def stat_rule(self, name: str) -> Rule | None:
        """The definition of the statistic called ``name`` (e.g. ``sigma``), if any."""
        return next((r for r in self.stat_rules if r.base.label.name == name), None)

    @property
    def size_symbols(self) -> set[sp.Symbol]:
        """Every size the definitions mention (N, H, D, a group size ...)."""
        return {s for r in self.stat_rules for s in r.rhs.free_symbols
                if s.is_integer and s.is_positive}
