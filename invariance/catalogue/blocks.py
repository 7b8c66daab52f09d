"""Blocks: a per-token computation as a term, and the families of parameter maps tried on it.

A block is a term over one token (a row, ``x`` of 1 x d, or ``t`` for a model's input) and its
parameters, at symbolic sizes.  A family maps the parameters by terms in a generator (W1' :=
W1 diag(s)); it is a symmetry when block(params') = block(params) is proved for every size by
the rewrite rules (:mod:`invariance.derive.block_symmetries`).  A generator is

=========================  ==========================  ========  ===============================
kind                       condition                   identity  directions (tangents at it)
=========================  ==========================  ========  ===============================
``positive`` / ``nonzero``  every entry > 0 / != 0      ones      each entry: rows x columns
``shift``                  none                        zeros     each entry: rows x columns
``rotation``               Q Q^T = I                   I         skew A: n (n - 1) / 2
``rotation-fixing-ones``   and Q 1^T = 1^T             I         skew A, A 1^T = 0: (n-1)(n-2)/2
=========================  ==========================  ========  ===============================

(Q = Cayley(A) = (I - A)^-1 (I + A) is orthogonal for skew A, fixes 1^T when A 1^T = 0, and its
tangent at A = 0 is 2A.)  The families listed per block are candidates, not claims: the tanh MLP's
re-scaling and the layer-norm model's full rotation are there to be refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..core.rules import EPS
from ..core.terms import T, add, diag, dot, neg, var

__all__ = ["Generator", "Family", "Block", "BLOCKS", "block", "FORMULA", "formula_block", "as_block",
           "SIZE_COUNTS", "GENERATOR_KINDS", "substitute", "primed"]

GENERATOR_KINDS = ("positive", "nonzero", "shift", "rotation", "rotation-fixing-ones")


@dataclass(frozen=True)
class Generator:
    name: str
    kind: str
    shape: tuple           # (rows, columns): sizes or 1

    def conditions(self) -> tuple:
        if self.kind in ("positive", "nonzero"):
            return ((self.kind, self.name),)
        if self.kind.startswith("rotation"):
            return (("orthogonal", self.name),) + ((("fixes-ones", self.name),) if "ones" in self.kind else ())
        return ()

    def count(self) -> sp.Expr:
        """Its number of directions, in the sizes."""
        r, c = (sp.Integer(1) if s == 1 else sp.Symbol(s) for s in self.shape)
        if self.kind == "rotation":
            return r * (r - 1) / 2
        if self.kind == "rotation-fixing-ones":
            return (r - 1) * (r - 2) / 2
        return r * c


@dataclass(frozen=True)
class Family:
    id: str
    words: str
    generators: tuple
    definitions: dict       # primed parameter -> term
    assumptions: tuple = ()  # beyond the generators' conditions

    def conditions(self) -> tuple:
        return tuple(c for g in self.generators for c in g.conditions()) + tuple(self.assumptions)

    def count(self) -> sp.Expr:
        return sp.Add(*[g.count() for g in self.generators])


@dataclass(frozen=True)
class Block:
    id: str
    title: str
    words: str
    sizes: dict              # size name -> meaning
    token: str
    decl: dict               # the token and the parameters -> (rows, columns)
    output: tuple            # the term
    families: tuple
    notes: tuple = ()

    @property
    def params(self) -> tuple:
        """The parameters, in the order of the Jacobian's columns."""
        return tuple(n for n in self.decl if n != self.token)


def primed(name: str) -> str:
    return name + "'"


def substitute(term, names: dict):
    """``term`` with each variable in ``names`` replaced by its value (a term)."""
    if term[0] == "var":
        return names.get(term[1], term)
    return (term[0],) + tuple(substitute(a, names) if isinstance(a, tuple) else a for a in term[1:])


# --- the pieces -------------------------------------------------------------------------------
x, t = var("x"), var("t")
W1, b1, W2, b2, g, beta, E, H = (var(n) for n in ("W1", "b1", "W2", "b2", "g", "beta", "E", "H"))
s, a, c, q, Q = var("s"), var("a"), var("c"), var("q"), var("Q")


def ones(n):
    return ("ones", n)


def P(v):
    return var(primed(v[1]))


def _mlp(u, act="relu"):
    return add(dot((act, add(dot(u, W1), b1)), W2), b2)


def _hidden(act="relu"):
    return Family("hidden-scale", "each hidden unit's input re-scaled by s_j > 0, its output by 1/s_j",
                  (Generator("s", "positive", (1, "m")),),
                  {"W1'": dot(W1, diag(s)), "b1'": dot(b1, diag(s)), "W2'": dot(diag(("recip", s)), W2)})


def _gain_fold(with_beta: bool):
    defs = {"g'": dot(g, diag(s)), "W1'": dot(diag(("recip", s)), W1)}
    if with_beta:
        defs["beta'"] = dot(beta, diag(s))
    return Family("gain-fold", "the normalizer's gain" + (" and bias" if with_beta else "") + " re-scaled by "
                  "s_i != 0, the next map's row i by 1/s_i", (Generator("s", "nonzero", (1, "d")),), defs)


_MLP_SIZES = {"d": "the token's width", "m": "the MLP's hidden width", "k": "the output width"}
_BLOCK_SIZES = {"d": "the residual stream's width", "m": "the MLP's hidden width"}
_MODEL_SIZES = {"v": "the input's width (at least d)", "d": "the residual stream's width",
                "m": "the MLP's hidden width", "k": "the output's width"}
_BLOCK_DECL = {"x": (1, "d"), "g": (1, "d"), "beta": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"),
               "W2": ("m", "d"), "b2": (1, "d")}


def _decl(*names, base=_BLOCK_DECL):
    return {n: base[n] for n in names}


def _model(id, norm, families, title):
    decl = {"t": (1, "v"), "E": ("v", "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "d"),
            "b2": (1, "d"), "H": ("d", "k")}
    x0 = dot(t, E)
    x1 = add(x0, add(dot(("relu", add(dot((norm, x0), W1), b1)), W2), b2))
    return Block(id, title, f"t E -> x + ReLU({norm.upper()}(x) W1 + b1) W2 + b2 -> "
                 f"{norm.upper()}(x) H", _MODEL_SIZES, "t", decl, dot((norm, x1), H), families,
                 notes=("the formula is for v >= d (as at every certified size): a narrower embedding leaves "
                        "stream directions that the input never writes, and the maps that read only them "
                        "gain directions",))


def _rotation(kind):
    return Family("rotation" if kind == "rotation" else "rotation-fixing-ones",
                  "the residual stream rotated by an orthogonal Q" + (" that fixes the all-ones vector"
                                                                      if "ones" in kind else ""),
                  (Generator("Q", kind, ("d", "d")),),
                  {"E'": dot(E, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, Q), "b2'": dot(b2, Q),
                   "H'": dot(T(Q), H)})


_SCALE = Family("stream-scale", "the residual stream re-scaled by a > 0 (its normalizers ignore the scale)",
                (Generator("a", "positive", (1, 1)),),
                {"E'": dot(E, diag(dot(a, ones("d")))), "W2'": dot(W2, diag(dot(a, ones("d")))),
                 "b2'": dot(b2, diag(dot(a, ones("d"))))}, (EPS,))


def _shift(id, words, gen_shape, defs):
    return Family(id, words, (Generator(defs[0], "shift", gen_shape),), defs[1])


_W2_ONES = _shift("write-ones", "each hidden unit writes an extra multiple of 1 (the normalizer centres it away)",
                  (1, "m"), ("c", {"W2'": add(W2, dot(T(c), ones("d")))}))
_B2_ONES = _shift("bias-ones", "the output bias moves along 1", (1, 1), ("q", {"b2'": add(b2, dot(q, ones("d")))}))

BLOCKS_LIST = (
    Block("relu-mlp", "ReLU MLP", "relu(x W1 + b1) W2 + b2", _MLP_SIZES, "x",
          {"x": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "k"), "b2": (1, "k")},
          _mlp(x), (_hidden(),)),
    Block("tanh-mlp", "tanh MLP", "tanh(x W1 + b1) W2 + b2", _MLP_SIZES, "x",
          {"x": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "k"), "b2": (1, "k")},
          _mlp(x, "tanh"), (_hidden("tanh"),)),
    Block("pre-rms-block", "pre-RMSNorm residual block", "x + relu(RMS(x) diag(g) W1 + b1) W2 + b2",
          _BLOCK_SIZES, "x", _decl("x", "g", "W1", "b1", "W2", "b2"),
          add(x, _mlp(dot(("rms", x), diag(g)))), (_hidden(), _gain_fold(False))),
    Block("pre-ln-block", "pre-LN residual block", "x + relu((LN(x) diag(g) + beta) W1 + b1) W2 + b2",
          _BLOCK_SIZES, "x", _decl("x", "g", "beta", "W1", "b1", "W2", "b2"),
          add(x, _mlp(add(dot(("ln", x), diag(g)), beta))),
          (_hidden(), _gain_fold(True),
           Family("bias-fold", "the normalizer's bias moved by a, the next map's bias by -a W1",
                  (Generator("a", "shift", (1, "d")),), {"beta'": add(beta, a), "b1'": add(b1, neg(dot(a, W1)))}),
           Family("read-ones", "the next map's rows moved along 1 / g (layer norm's output sums to 0), its "
                  "bias compensating", (Generator("c", "shift", (1, "m")),),
                  {"W1'": add(W1, dot(diag(("recip", g)), T(ones("d")), c)),
                   "b1'": add(b1, neg(dot(beta, diag(("recip", g)), T(ones("d")), c)))}, (("nonzero", "g"),)))),
    Block("post-ln-block", "post-LN residual block", "LN(x + relu(x W1 + b1) W2 + b2) diag(g) + beta",
          _BLOCK_SIZES, "x", _decl("x", "W1", "b1", "W2", "b2", "g", "beta"),
          add(dot(("ln", add(x, _mlp(x))), diag(g)), beta), (_hidden(), _W2_ONES, _B2_ONES)),
    Block("post-rms-block", "post-RMSNorm residual block", "RMS(x + relu(x W1 + b1) W2 + b2) diag(g)",
          _BLOCK_SIZES, "x", _decl("x", "W1", "b1", "W2", "b2", "g"),
          dot(("rms", add(x, _mlp(x))), diag(g)), (_hidden(),)),
    _model("rms-model", "rms", (_rotation("rotation"), _hidden(), _SCALE),
           "one-block RMSNorm model (gains folded)"),
    _model("ln-model", "ln", (_rotation("rotation-fixing-ones"), _rotation("rotation"), _hidden(), _SCALE,
                              _shift("embed-ones", "each input writes an extra multiple of 1", (1, "v"),
                                     ("c", {"E'": add(E, dot(T(c), ones("d")))})),
                              _W2_ONES, _B2_ONES,
                              _shift("read-ones", "the MLP's input map moves along 1 (layer norm's output sums "
                                     "to 0)", (1, "m"), ("c", {"W1'": add(W1, dot(T(ones("d")), c))})),
                              _shift("head-ones", "the head moves along 1", (1, "k"),
                                     ("c", {"H'": add(H, dot(T(ones("d")), c))}))),
           "one-block layer-norm model (gains folded)"),
)

BLOCKS: dict[str, Block] = {b.id: b for b in BLOCKS_LIST}


#: The id of a block given as a formula (``symmetries --block``): its document carries the formula.
FORMULA = "your-block"


def formula_block(text: str) -> Block:
    """A block written in the paper's notation over the token x, shapes inferred
    (:func:`invariance.core.syntax.parse_block`); its families are those read off its shapes."""
    from ..core.syntax import BlockError, parse_block
    term, decl, sizes = parse_block(text)
    if len(sizes) > max(SIZE_COUNTS):
        raise BlockError(f"a block of at most {max(SIZE_COUNTS)} independent sizes (this one has {len(sizes)})")
    if len(decl) == 1:
        raise BlockError("a block has parameters: this formula reads x alone")
    return Block(FORMULA, "Your block", " ".join(text.split()), {n: "a size" for n in sizes}, "x", decl, term, ())


def as_block(b) -> Block:
    """A block, or a registered block's id."""
    return b if isinstance(b, Block) else block(b)


#: How many independent sizes a block may have (the search has sets of sizes for each count).
SIZE_COUNTS = (1, 2, 3, 4, 5)


def block(id: str) -> Block:
    from .registry import unknown
    if id not in BLOCKS:
        raise unknown("block", id, BLOCKS)
    return BLOCKS[id]


def recipe_of(b: Block, f: Family):
    """The claim that ``f`` is a symmetry of ``b``, as a rewrite recipe: block(params') =
    block(params), params' the family's definitions, under the family's conditions."""
    from .rewrites import Goal, Recipe
    decl = dict(b.decl)
    decl.update({gen.name: gen.shape for gen in f.generators})
    decl.update({name: b.decl[name[:-1]] for name in f.definitions})
    lhs = substitute(b.output, {name[:-1]: var(name) for name in f.definitions})
    goal = Goal("function", "the block with the family's parameters computes the same function", lhs, b.output)
    return Recipe(f"{b.id}:{f.id}", f.words, f.words, "", b.sizes, decl, f.conditions(), dict(f.definitions),
                  (goal,), goal)


__all__ += ["recipe_of"]
