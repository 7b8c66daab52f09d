"""The rewrites people apply to blocks: what each recipe claims, as equations between terms.

A recipe names its sizes, its variables (with shapes), what the user assumes of them (Q
orthogonal, s > 0), the rewritten parameters' definitions (W1' := Q^T W1) and its goals.  One
token is one row: every block here acts on each token alone, so one row is the general case.

Two shapes of claim:

- ``equation``: the goal is the claim (fold a gain: the block computes the same function).
- ``model``: a residual stack  x_0 = t E,  x_{l+1} = x_l + f_l(N(x_l)),  y = N(x_L) H, rewritten
  so that every residual x'_l = x_l M (M = Q, or C Q).  Three goals prove it for every depth
  L by induction: the embedding (t E' = t E M), one block (x M + f'(N'(x M)) = (x + f(N(x))) M,
  for any x) and the head (N'(x M) H' = N(x) H).  ``instance`` is the depth-1 model: a
  counterexample must show the model itself computing another function, not a lemma failing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import re

from ..core.syntax import BlockError, parse_many
from ..core.terms import T, add, diag, dot, neg, show, var

__all__ = ["Recipe", "Goal", "RECIPES", "recipe", "claim", "recipe_of", "ClaimError", "CLAIM"]


@dataclass(frozen=True)
class Goal:
    name: str
    words: str
    lhs: tuple
    rhs: tuple


@dataclass(frozen=True)
class Recipe:
    id: str
    title: str
    words: str                  # what the recipe does, for a person
    source: str                 # who uses it
    sizes: dict                 # name -> meaning
    decl: dict                  # variable -> (rows, columns)
    assumptions: tuple          # ((kind, name), ...): what the user states
    definitions: dict           # primed variable -> term
    goals: tuple
    instance: Goal              # the claim at depth 1 (original = rewritten), refuted by a counterexample
    kind: str = "equation"      # or "model"
    correction: str | None = None   # a recipe that does what this one meant, when this one is wrong
    notes: tuple = field(default=())
    statement: dict | None = None   # a claim given as text (``rewrite --claim``): what it was parsed from

    @property
    def primed(self) -> tuple:
        return tuple(self.definitions)


# --- the pieces ---------------------------------------------------------------------------------
x, t, u, z = var("x"), var("t"), var("u"), var("z")
W, c, g, beta, s, Q = var("W"), var("c"), var("g"), var("beta"), var("s"), var("Q")
W1, b1, W2, b2, E, H = var("W1"), var("b1"), var("W2"), var("b2"), var("E"), var("H")


def _mlp(n, w1, bb1, w2, bb2, act="relu"):
    """f(n) = act(n W1 + b1) W2 + b2."""
    return add(dot((act, add(dot(n, w1), bb1)), w2), bb2)


def _block(norm, xx, w1, bb1, w2, bb2, gain=None, post=False):
    """Pre-norm x + f(N(x)) (N's output times diag(g) if there is a gain), or post-norm N(x + f(x))."""
    if post:
        return (norm, add(xx, _mlp(xx, w1, bb1, w2, bb2)))
    n = (norm, xx) if gain is None else dot((norm, xx), diag(gain))
    return add(xx, _mlp(n, w1, bb1, w2, bb2))


_PRE = "a pre-norm stack: x_0 = t E, x_(l+1) = x_l + f(N(x_l)), y = N(x_L) H, f(z) = ReLU(z W1 + b1) W2 + b2"
_POST = "a post-norm stack: x_0 = t E, x_(l+1) = N(x_l + f(x_l)), y = x_L H, f(z) = ReLU(z W1 + b1) W2 + b2"


_MODEL_SIZES = {"v": "the width of the input t", "d": "the width of the residual stream",
                "m": "the MLP's hidden width", "k": "the width of the output"}
_MODEL_DECL = {"t": (1, "v"), "x": (1, "d"), "E": ("v", "d"), "W1": ("d", "m"), "b1": (1, "m"),
               "W2": ("m", "d"), "b2": (1, "d"), "H": ("d", "k"), "Q": ("d", "d")}


def _model(id, title, words, source, norm, M, defs, rewritten_norm=None, gain=False, assumptions=(),
           correction=None, notes=(), post=False):
    """A residual stack rewritten so that x'_l = x_l M (pre-norm, or post-norm with ``post``)."""
    n2 = rewritten_norm or norm
    decl = dict(_MODEL_DECL)
    if gain:
        decl["g"] = (1, "d")
    for name in defs:
        decl[name] = decl[name.rstrip("'")]
    P = {name.rstrip("'"): var(name) for name in defs}
    E_, W1_, b1_, W2_, b2_, H_ = (P.get(k, var(k)) for k in ("E", "W1", "b1", "W2", "b2", "H"))
    G = g if gain else None
    xM = dot(x, *M)
    m = show(dot(*M)) if len(M) > 1 else show(M[0])
    goals = (
        Goal("embedding", f"the rewritten embedding writes the rewritten residual: t E' = (t E) {m}",
             dot(t, E_), dot(t, E, *M)),
        Goal("block", f"one block maps x {m} to its output times {m}, for every x: by induction, every "
                      f"residual of the rewritten stack is the original's times {m}",
             _block(n2, xM, W1_, b1_, W2_, b2_, G, post), dot(_block(norm, x, W1, b1, W2, b2, G, post), *M)),
        Goal("head", f"the head reads the same output from x {m}: " + (f"(x {m}) H' = x H" if post else
                                                                         f"N'(x {m}) H' = N(x) H"),
             dot(xM if post else (n2, xM), H_), dot(x if post else (norm, x), H)),
    )

    def depth1(nn, e, w1, bb1, w2, bb2, h):
        x1 = _block(nn, dot(t, e), w1, bb1, w2, bb2, G, post)
        return dot(x1 if post else (nn, x1), h)

    instance = Goal("model", "the rewritten one-block model computes the same output from the same t",
                    depth1(norm, E, W1, b1, W2, b2, H), depth1(n2, E_, W1_, b1_, W2_, b2_, H_))
    return Recipe(id, title, words, source, _MODEL_SIZES, decl, tuple(assumptions), dict(defs), goals,
                  instance, "model", correction, (_POST if post else _PRE,) + tuple(notes))


def _equation(id, title, words, source, sizes, decl, defs, lhs, rhs, assumptions=(), correction=None,
              notes=()):
    goal = Goal("function", "the rewritten block computes the same function", lhs, rhs)
    return Recipe(id, title, words, source, sizes, decl, tuple(assumptions), dict(defs), (goal,), goal,
                  "equation", correction, tuple(notes))


_ORTH = (("orthogonal", "Q"),)
_C = ("C", "d")

RECIPES_LIST = (
    _equation(
        "fold-gain", "Fold layer norm's gain and bias into the next linear map",
        "(LN(u) diag(g) + beta) W + c = LN(u) W' + c' with W' = diag(g) W and c' = beta W + c",
        "SliceGPT and QuaRot, before rotating",
        {"d": "the normalized width", "k": "the linear map's output width"},
        {"u": (1, "d"), "g": (1, "d"), "beta": (1, "d"), "W": ("d", "k"), "c": (1, "k"),
         "W'": ("d", "k"), "c'": (1, "k")},
        {"W'": dot(diag(g), W), "c'": add(dot(beta, W), c)},
        add(dot(add(dot(("ln", u), diag(g)), beta), W), c), add(dot(("ln", u), var("W'")), var("c'"))),
    _equation(
        "fold-rms-gain", "Fold RMSNorm's gain into the next linear map",
        "RMS(u) diag(g) W = RMS(u) W' with W' = diag(g) W",
        "SliceGPT and QuaRot, before rotating",
        {"d": "the normalized width", "k": "the linear map's output width"},
        {"u": (1, "d"), "g": (1, "d"), "W": ("d", "k"), "W'": ("d", "k")},
        {"W'": dot(diag(g), W)},
        dot(("rms", u), diag(g), W), dot(("rms", u), var("W'"))),
    _equation(
        "fold-batch-norm", "Fold batch norm at inference into the previous linear map",
        "(x W + c - mu) diag(g / sqrt(v + eps)) + beta = x W' + c', with W' = W diag(g / sqrt(v + eps)) "
        "and c' = (c - mu) diag(g / sqrt(v + eps)) + beta: the running mean mu and variance v are constants",
        "every inference compiler (conv-BN fusion)",
        {"n": "the linear map's input width", "d": "the normalized width"},
        {"x": (1, "n"), "W": ("n", "d"), "c": (1, "d"), "mu": (1, "d"), "v": (1, "d"), "g": (1, "d"),
         "beta": (1, "d"), "W'": ("n", "d"), "c'": (1, "d")},
        {"W'": dot(W, diag(dot(g, diag(("istd", var("v")))))),
         "c'": add(dot(add(c, neg(var("mu"))), diag(dot(g, diag(("istd", var("v")))))), beta)},
        add(dot(add(dot(x, W), c, neg(var("mu"))), diag(dot(g, diag(("istd", var("v")))))), beta),
        add(dot(x, var("W'")), var("c'")),
        notes=("valid wherever v + eps > 0 (the layer is defined)",)),
    _equation(
        "absorb-mean", "Absorb layer norm's mean into the previous linear map (layer norm -> RMSNorm)",
        "LN(x W + c) = RMS(x W' + c') with W' = W C and c' = c C, C = I - 1^T 1 / d",
        "SliceGPT (converting layer norm to RMSNorm)",
        {"n": "the linear map's input width", "d": "the normalized width"},
        {"x": (1, "n"), "W": ("n", "d"), "c": (1, "d"), "W'": ("n", "d"), "c'": (1, "d")},
        {"W'": dot(W, _C), "c'": dot(c, _C)},
        ("ln", add(dot(x, W), c)), ("rms", add(dot(x, var("W'")), var("c'")))),
    _model(
        "rotate-rms", "Rotate the residual stream of an RMSNorm model (gains folded)",
        "E' = E Q, W1' = Q^T W1, W2' = W2 Q, b2' = b2 Q, H' = Q^T H, for an orthogonal Q",
        "SliceGPT's computational invariance; QuaRot's Hadamard rotation",
        "rms", [Q], {"E'": dot(E, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, Q), "b2'": dot(b2, Q),
                     "H'": dot(T(Q), H)}, assumptions=_ORTH),
    _model(
        "rotate-rms-unfolded", "Rotate an RMSNorm model whose gains are not folded",
        "E' = E Q, W1' = Q^T W1, W2' = W2 Q, b2' = b2 Q, H' = Q^T H, for an orthogonal Q, with each RMSNorm's gain g left in place",
        "a mistake the rotation papers warn against",
        "rms", [Q], {"E'": dot(E, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, Q), "b2'": dot(b2, Q),
                     "H'": dot(T(Q), H)}, gain=True, assumptions=_ORTH, correction="rotate-rms",
        notes=("fold every gain into the next linear map first (RMS(u) diag(g) W = RMS(u) W' with W' = diag(g) W), then rotate",)),
    _model(
        "rotate-layer-norm", "Rotate the residual stream of a layer-norm model (gains folded)",
        "E' = E Q, W1' = Q^T W1, W2' = W2 Q, b2' = b2 Q, H' = Q^T H, for an orthogonal Q, in a pre-norm layer-norm model",
        "QuaRot issue 29: layer norm is not invariant under a Hadamard rotation",
        "ln", [Q], {"E'": dot(E, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, Q), "b2'": dot(b2, Q),
                    "H'": dot(T(Q), H)}, assumptions=_ORTH, correction="absorb-mean-rotate"),
    _model(
        "absorb-mean-rotate", "Absorb layer norm's mean into every residual write, then rotate",
        "E' = E C Q, W1' = Q^T W1, W2' = W2 C Q, b2' = b2 C Q, H' = Q^T H, and RMSNorm in place of "
        "layer norm: every residual is centred, so layer norm is RMSNorm of it",
        "SliceGPT (layer norm converted, then rotated)",
        "ln", [_C, Q], {"E'": dot(E, _C, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, _C, Q),
                        "b2'": dot(b2, _C, Q), "H'": dot(T(Q), H)},
        rewritten_norm="rms", assumptions=_ORTH),
    _model(
        "rotate-post-rms", "Rotate the residual stream of a post-norm RMSNorm model (no gains)",
        "E' = E Q, W1' = Q^T W1, W2' = W2 Q, b2' = b2 Q, H' = Q^T H, for an orthogonal Q, with RMSNorm "
        "after each residual addition",
        "post-norm transformers (the original Transformer's order)",
        "rms", [Q], {"E'": dot(E, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, Q), "b2'": dot(b2, Q),
                     "H'": dot(T(Q), H)}, assumptions=_ORTH, post=True),
    _model(
        "rotate-post-layer-norm", "Rotate the residual stream of a post-norm layer-norm model (no gains)",
        "E' = E Q, W1' = Q^T W1, W2' = W2 Q, b2' = b2 Q, H' = Q^T H, for an orthogonal Q, with layer norm after each residual addition",
        "post-norm transformers (BERT's order)",
        "ln", [Q], {"E'": dot(E, Q), "W1'": dot(T(Q), W1), "W2'": dot(W2, Q), "b2'": dot(b2, Q),
                    "H'": dot(T(Q), H)}, assumptions=_ORTH, post=True),
    _equation(
        "smoothquant", "Migrate a per-channel scale from the activations into the weights",
        "(LN(u) diag(g) + beta) W = (LN(u) diag(g') + beta') W' with g' = g / s, beta' = beta / s, "
        "W' = diag(s) W",
        "SmoothQuant",
        {"d": "the normalized width", "k": "the linear map's output width"},
        {"u": (1, "d"), "g": (1, "d"), "beta": (1, "d"), "s": (1, "d"), "W": ("d", "k"),
         "g'": (1, "d"), "beta'": (1, "d"), "W'": ("d", "k")},
        {"g'": dot(g, diag(("recip", s))), "beta'": dot(beta, diag(("recip", s))), "W'": dot(diag(s), W)},
        dot(add(dot(("ln", u), diag(g)), beta), W),
        dot(add(dot(("ln", u), diag(var("g'"))), var("beta'")), var("W'")),
        assumptions=(("nonzero", "s"),)),
    _equation(
        "migrate-scale-relu", "Move a per-unit scale through a ReLU MLP's hidden layer",
        "ReLU(z W1 + b1) W2 = ReLU(z W1' + b1') W2' with W1' = W1 diag(s), b1' = b1 diag(s), "
        "W2' = diag(1/s) W2",
        "the positive re-scaling symmetry of ReLU networks",
        {"d": "the input width", "m": "the hidden width", "k": "the output width"},
        {"z": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "k"), "s": (1, "m"),
         "W1'": ("d", "m"), "b1'": (1, "m"), "W2'": ("m", "k")},
        {"W1'": dot(W1, diag(s)), "b1'": dot(b1, diag(s)), "W2'": dot(diag(("recip", s)), W2)},
        dot(("relu", add(dot(z, W1), b1)), W2),
        dot(("relu", add(dot(z, var("W1'")), var("b1'"))), var("W2'")),
        assumptions=(("nonzero", "s"),)),
    _equation(
        "migrate-scale-tanh", "Move a per-unit scale through a tanh MLP's hidden layer",
        "tanh(z W1 + b1) W2 = tanh(z W1' + b1') W2' with W1' = W1 diag(s), b1' = b1 diag(s), W2' = diag(1/s) W2",
        "a tempting generalisation: tanh is not positively homogeneous",
        {"d": "the input width", "m": "the hidden width", "k": "the output width"},
        {"z": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "k"), "s": (1, "m"),
         "W1'": ("d", "m"), "b1'": (1, "m"), "W2'": ("m", "k")},
        {"W1'": dot(W1, diag(s)), "b1'": dot(b1, diag(s)), "W2'": dot(diag(("recip", s)), W2)},
        dot(("tanh", add(dot(z, W1), b1)), W2),
        dot(("tanh", add(dot(z, var("W1'")), var("b1'"))), var("W2'")),
        assumptions=(("positive", "s"),)),
)

RECIPES: dict[str, Recipe] = {r.id: r for r in RECIPES_LIST}


def recipe(id: str) -> Recipe:
    from .registry import unknown
    if id not in RECIPES:
        raise unknown("recipe", id, RECIPES)
    return RECIPES[id]


# --- a claim of your own -------------------------------------------------------------------------
CLAIM = "claim"
MAX_PARTS = 20
_PRIMED = re.compile(r"[A-Za-z][A-Za-z0-9_]*'+")
_ASSUME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s+(orthogonal|fixes[- ]ones|positive|nonzero)\s*")


class ClaimError(ValueError):
    """A claim that does not parse: one line, what was wrong and what is valid."""


def claim(original: str, rewritten: str, definitions=(), assumptions=()) -> Recipe:
    """Your own rewrite as a recipe: ``original = rewritten`` over the token x, the rewritten
    parameters defined as ``W' = Q^T W``, assumptions such as ``Q orthogonal``, ``Q fixes ones``,
    ``s positive``, ``s nonzero``.  Shapes are inferred (:mod:`invariance.core.syntax`)."""
    if len(definitions) > MAX_PARTS or len(assumptions) > MAX_PARTS:
        raise ClaimError(f"at most {MAX_PARTS} definitions and {MAX_PARTS} assumptions")
    names, rhs = [], []
    for text in definitions:
        left, eq, right = (text.partition("=") if isinstance(text, str) else ("", "", ""))
        if not eq or not _PRIMED.fullmatch(left.strip()):
            raise ClaimError(f"a definition reads NAME' = formula, e.g. \"W' = Q^T W\"; got {str(text)[:80]!r}")
        names.append(left.strip())
        rhs.append(right)
    conds = []
    for text in assumptions:
        m = _ASSUME.fullmatch(text) if isinstance(text, str) else None
        if not m:
            raise ClaimError("an assumption reads NAME orthogonal, NAME fixes ones, NAME positive or NAME nonzero; "
                             f"got {str(text)[:80]!r}")
        conds.append((m.group(2).replace(" ", "-"), m.group(1)))
    square = [n for k, n in conds if k in ("orthogonal", "fixes-ones")]
    try:
        terms, decl, sizes = parse_many([original, rewritten] + rhs, [(0, 1)] + [(2 + k, n) for k, n in enumerate(names)],
                                        square=square, rows=[n for k, n in conds if k in ("positive", "nonzero")])
    except BlockError as e:
        raise ClaimError(str(e)) from None
    defs = dict(zip(names, terms[2:]))
    if len(defs) != len(names):
        raise ClaimError("each rewritten parameter is defined once")
    for n, t in defs.items():
        from ..core.rewrite import free_names
        if any(v in defs or _PRIMED.fullmatch(v) for v in free_names(t)):
            raise ClaimError(f"{n} is defined in terms of a primed name: define it from the original parameters")
        if "x" in free_names(t):
            raise ClaimError(f"{n} reads the token x: a rewritten parameter is computed from the parameters alone")
    for v in decl:
        if _PRIMED.fullmatch(v) and v not in defs:
            raise ClaimError(f"{v} is used but not defined: add --define \"{v} = ...\"")
    for k, n in conds:
        if n not in decl or n in defs or n == "x":
            raise ClaimError(f"an assumption about {n!r}, which is not a parameter of the claim")
    statement = {"original": original, "rewritten": rewritten, "definitions": list(definitions),
                 "assumptions": list(assumptions)}
    goal = Goal("function", "the rewritten block computes the same function", terms[0], terms[1])
    words = f"{original.strip()} = {rewritten.strip()}" + "".join(f", {d.strip()}" for d in definitions)
    return Recipe(CLAIM, "Your claim", words, "given on the command line", {s: "a size" for s in sizes}, decl,
                  tuple(sorted(set(conds))), defs, (goal,), goal, "equation", statement=statement)


def recipe_of(doc: dict) -> Recipe:
    """The recipe a document is about: the registry's, or the claim it states."""
    if doc.get("recipe") == CLAIM:
        st = doc.get("statement")
        if (not isinstance(st, dict) or set(st) != {"original", "rewritten", "definitions", "assumptions"}
                or not all(isinstance(st[k], str) for k in ("original", "rewritten"))
                or not all(isinstance(st[k], list) and all(isinstance(x, str) for x in st[k])
                           for k in ("definitions", "assumptions"))):
            raise ClaimError("statement: original, rewritten (text), definitions and assumptions (lists of text)")
        return claim(st["original"], st["rewritten"], st["definitions"], st["assumptions"])
    return recipe(doc.get("recipe"))
