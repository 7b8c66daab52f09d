"""A recipe's two sides as numbers: read from its terms, stacked to depth L, drawn, evaluated.

- :func:`sides` reads a recipe's depth-1 instance: the *rewritten* side is the one that names a
  primed parameter, the *input* is the one variable that is neither a summand (a bias), nor a
  right factor (a weight), nor inside diag / istd / recip (a gain, a statistic).  For a ``model``
  recipe the block is the recipe's own (its ``block`` goal: B(x) M on the original side, B'(x M)
  on the rewritten one; pre-norm x + f(N(x)) or post-norm N(x + f(x)) alike), and the instance's
  B(t E) becomes x_L with x_{l+1} = B_l(x_l), each block with its own W1@l, b1@l ... and its own
  primed definitions (W1'@l := Q^T W1@l), Q shared by the whole stream.
- :func:`draw` gives random float64 values satisfying the assumptions: an orthogonal Q from the
  QR of a Gaussian (signs fixed so that Q is Haar), or Sylvester's Hadamard / 2 at width 4
  (exact in binary); positive / nonzero entries in [1/2, 2]; a variable under istd (a variance)
  positive, since the term is defined only there.
- :func:`run` evaluates both sides token by token with :func:`invariance.core.terms.evaluate`,
  the primed parameters from the definitions, in a number field: :class:`Float` (float64),
  :class:`Wide` (200-bit binary floats, mpmath) for the reference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from mpmath.ctx_mp import MPContext

from ..catalogue.rewrites import Recipe
from ..core.rules import closure
from ..core.terms import ACTIVATIONS, evaluate, subterms
from ..core.rewrite import free_names

__all__ = ["Sides", "sides", "input_name", "draw", "definitions", "run", "Float", "Wide", "depth_of", "SideError",
           "fraction_values"]


class SideError(ValueError):
    """A term this reader cannot map to a computation (no single input, no residual to stack)."""


class Float:
    """float64 (Python floats are IEEE doubles), each operation rounded once."""
    zero, one = 0.0, 1.0
    rational = staticmethod(float)                     # a Fraction, correctly rounded
    sqrt = staticmethod(math.sqrt)
    recip = staticmethod(lambda x: 1.0 / x)
    relu = staticmethod(lambda x: x if x > 0 else 0.0)
    tanh = staticmethod(math.tanh)
    gelu = staticmethod(lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))))   # exact GELU


_MP = MPContext()
_MP.prec = 200


class Wide:
    """Binary floats of 200 bits: the reference a float64 run is measured against (its own
    rounding, ~2^-200, is 2^-147 of float64's)."""
    zero, one = _MP.mpf(0), _MP.mpf(1)
    rational = staticmethod(lambda q: _MP.mpf(q.numerator) / q.denominator)
    sqrt = staticmethod(_MP.sqrt)
    recip = staticmethod(lambda x: 1 / x)
    relu = staticmethod(lambda x: x if x > 0 else _MP.mpf(0))
    tanh = staticmethod(_MP.tanh)
    gelu = staticmethod(lambda x: x * (1 + _MP.erf(x / _MP.sqrt(2))) / 2)
    convert = staticmethod(_MP.mpf)                    # a float64 value, exactly


@dataclass(frozen=True)
class Sides:
    recipe: str
    original: tuple           # the term without primed names
    rewritten: tuple
    definitions: dict         # primed name (per layer: W1'@2) -> term
    decl: dict                # name -> (rows, columns), every name the sides and definitions use
    input: str
    depth: int

    @property
    def drawn(self) -> list[str]:
        """The values to draw: every free name but the primed ones."""
        names = free_names(self.original) | free_names(self.rewritten)
        for t in self.definitions.values():
            names |= free_names(t)
        return sorted(n for n in names if n not in self.definitions)


def input_name(*terms) -> str:
    """The one variable that is acted on: not a summand, right factor, or inside diag/istd/recip."""
    cand, bad = set(), set()

    def walk(t, ok):
        op = t[0]
        if op == "var":
            (cand if ok else bad).add(t[1])
        elif op == "add":
            for a in t[1:]:
                walk(a, ok and a[0] != "var" and not (a[0] == "neg" and a[1][0] == "var"))
        elif op == "dot":
            walk(t[1], ok)
            for a in t[2:]:
                walk(a, False)
        elif op in ("diag", "istd", "recip"):
            walk(t[1], False)
        elif op in ("neg", "T", "ln", "rms") + ACTIVATIONS:
            walk(t[1], ok)
    for t in terms:
        walk(t, True)
    found = cand - bad
    if len(found) != 1:
        raise SideError(f"no single input among {sorted(found) or sorted(cand)}")
    return found.pop()


def _primed_side(goal, primed):
    """(rewritten, original) of a goal: the rewritten side is the one naming a primed parameter."""
    lhs, rhs = goal.lhs, goal.rhs
    rewritten, original = (lhs, rhs) if free_names(lhs) & primed else (rhs, lhs)
    if free_names(original) & primed:
        raise SideError(f"both sides of the goal {goal.name!r} name a primed parameter")
    return rewritten, original


def _blocks(r: Recipe):
    """A model recipe's own statement of one block, read from its goals: the original block B(x)
    (the block goal's original side is B(x) M), the rewritten B'(x) (its side is B'(x M), x M
    replaced by x), the residual's name x and the embeddings t E and t E' (the embedding goal:
    t E' = t E M)."""
    goals, primed = {g.name: g for g in r.goals}, set(r.definitions)
    if "block" not in goals or "embedding" not in goals:
        raise SideError(f"{r.id}: a model recipe without its block and embedding goals")
    new, old = _primed_side(goals["block"], primed)
    if old[0] != "dot":
        raise SideError(f"{r.id}: the block goal's original side is not B(x) M")
    block, M = old[1], old[2:]
    names = set()
    for m in M:
        names |= free_names(m) if m[0] != "C" else set()
    found = free_names(block) - free_names(r.instance.lhs) - free_names(r.instance.rhs) - names
    if len(found) != 1:
        raise SideError(f"{r.id}: no single residual variable in the block goal ({sorted(found)})")
    x = found.pop()
    block_new = _substitute(new, ("dot", ("var", x)) + tuple(M), ("var", x))
    e_new, e_old = _primed_side(goals["embedding"], primed)
    if e_old[0] != "dot" or tuple(e_old[-len(M):]) != tuple(M):
        raise SideError(f"{r.id}: the embedding goal's original side is not t E M")
    e_old = e_old[:-len(M)] if len(e_old) - len(M) > 2 else e_old[1]
    return x, (block, e_old), (block_new, e_new)


def _substitute(t, old, new):
    if t == old:
        return new
    if t[0] == "var" or not any(isinstance(a, tuple) for a in t[1:]):
        return t
    return (t[0],) + tuple(_substitute(a, old, new) if isinstance(a, tuple) else a for a in t[1:])


def _rename(t, names, layer):
    return _substitute_all(t, {n: ("var", f"{n}@{layer}") for n in names})


def _substitute_all(t, table):
    if t[0] == "var":
        return table.get(t[1], t)
    return (t[0],) + tuple(_substitute_all(a, table) if isinstance(a, tuple) else a for a in t[1:])


def _stack(t, x, block, x0, per_layer, depth):
    """The instance ``t`` with its one block B(x0) replaced by B_L(..B_1(x0)), each B_l with its
    own per-layer names."""
    once = _substitute(block, ("var", x), x0)
    if not any(sub == once for _, sub in subterms(t)):
        raise SideError("the instance does not contain the block goal's block")
    h = x0
    for layer in range(1, depth + 1):
        h = _substitute(_rename(block, per_layer, layer), ("var", x), h)
    return _substitute(t, once, h)


def sides(r: Recipe, depth: int = 1) -> Sides:
    """The recipe's instance as original and rewritten computations; a model stacked to ``depth``
    blocks (an equation is one block whatever ``depth`` says)."""
    primed = set(r.definitions)
    rewritten, original = _primed_side(r.instance, primed)
    inp = input_name(original, rewritten)
    defs, decl = dict(r.definitions), dict(r.decl)
    if r.kind == "model" and depth > 1:
        x, (b_old, x0_old), (b_new, x0_new) = _blocks(r)
        per_layer = (free_names(b_old) | free_names(b_new)) - {x}
        original = _stack(original, x, b_old, x0_old, per_layer, depth)
        rewritten = _stack(rewritten, x, b_new, x0_new, per_layer, depth)
        defs = {}
        for name, term in r.definitions.items():
            if name in per_layer:
                defs.update({f"{name}@{layer}": _rename(term, per_layer, layer) for layer in range(1, depth + 1)})
            else:
                defs[name] = term
        for n in per_layer:
            for layer in range(1, depth + 1):
                decl[f"{n}@{layer}"] = r.decl[n]
    else:
        depth = 1
    return Sides(r.id, original, rewritten, defs, decl, inp, depth)


def _base(name: str) -> str:
    return name.split("@")[0]


def _hadamard(n: int) -> np.ndarray:
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    if h.shape[0] != n:
        raise SideError(f"no Sylvester Hadamard matrix of width {n}")
    return h / math.sqrt(n)                      # exact in binary at n = 4 (entries +-1/2)


def _orthogonal(n: int, rng, hadamard: bool, fixes_ones: bool) -> np.ndarray:
    if hadamard and not fixes_ones:
        return _hadamard(n)
    q, rr = np.linalg.qr(rng.normal(size=(n, n)))
    q = q * np.sign(np.diag(rr))
    if fixes_ones:   # 1^T 1 / n plus a rotation of the complement of 1
        u, *_ = np.linalg.svd(np.eye(n) - np.ones((n, n)) / n)
        basis = u[:, :n - 1]
        inner = _orthogonal(n - 1, rng, False, False)
        q = np.ones((n, n)) / n + basis @ inner @ basis.T
    return q


def _under(op, *terms) -> set:
    out = set()
    for t in terms:
        for _, s in subterms(t):
            if s[0] == op:
                out |= free_names(s[1])
    return out


def draw(s: Sides, assumptions, sizes: dict, rng: np.random.Generator, tokens: int,
         hadamard: bool = False) -> dict:
    """Random float64 values (name -> array) satisfying ``assumptions``; the input has
    ``tokens`` rows.  Weights are N(0, 1/fan-in), rows N(0, 1)."""
    conds = closure(assumptions)
    terms = (s.original, s.rewritten, *s.definitions.values())
    variances = _under("istd", *terms)
    out = {}
    for name in s.drawn:
        base = _base(name)
        rows, cols = (1 if x == 1 else sizes[x] for x in s.decl[name])
        if name == s.input:
            rows = tokens
        if ("orthogonal", base) in conds:
            out[name] = _orthogonal(rows, rng, hadamard, ("fixes-ones", base) in conds)
        elif ("positive", base) in conds or name in variances:
            out[name] = rng.uniform(0.5, 2.0, size=(rows, cols))
        elif ("nonzero", base) in conds:
            out[name] = rng.uniform(0.5, 2.0, size=(rows, cols)) * rng.choice([-1.0, 1.0], size=(rows, cols))
        else:
            out[name] = rng.normal(size=(rows, cols)) / (math.sqrt(rows) if rows > 1 and name != s.input else 1)
    return out


def definitions(s: Sides, values: dict, sizes: dict, field, eps: float, convert=float) -> dict:
    """The environment: the drawn values and the primed parameters from their definitions."""
    env = {k: [[convert(float(x)) for x in row] for row in v] for k, v in values.items() if k != s.input}
    e = convert(float(eps))
    for name, term in s.definitions.items():
        env[name] = evaluate(term, env, sizes, field, e)
    return env


def run(s: Sides, values: dict, sizes: dict, field=Float, eps: float = 0.0, convert=float):
    """Both sides token by token: (original, rewritten), arrays of shape (tokens, out)."""
    env = definitions(s, values, sizes, field, eps, convert)
    e = convert(float(eps))
    outs = ([], [])
    for row in np.asarray(values[s.input], dtype=float):
        env[s.input] = [[convert(float(x)) for x in row]]
        for out, term in zip(outs, (s.original, s.rewritten)):
            out.append([float(x) for x in evaluate(term, env, sizes, field, e)[0]])
    return np.array(outs[0]), np.array(outs[1])


def depth_of(t) -> int:
    """Operations along the longest path from the output to a leaf."""
    return 1 + max((depth_of(a) for a in t[1:] if isinstance(a, tuple)), default=0)


def fraction_values(doc_values: dict) -> dict:
    """A counterexample's values (fraction text) as float64 arrays, each rounded once."""
    return {k: np.array([[float(Fraction(x)) for x in row] for row in rows]) for k, rows in doc_values.items()}
