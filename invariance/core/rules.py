"""The rules a rewrite's proof may use: equations between terms, each true for every size.

A proof step applies one rule at one place of a term (:func:`applications` lists every way);
the search and the kernel both call this module, so what a rule may do is written once.  Each
rule states its reason in words and the conditions it needs, as pairs ``(kind, name)`` about a
declared variable (:data:`CONDITIONS`).  Why each rule holds:

- ``definition``: a primed parameter is its recipe's definition (W1' := Q^T W1).
- ``layer-norm``: LN(u) = RMS(u C) with C = I - 1^T 1 / d: u C = u - mu 1 and (u C)(u C)^T / d
  = sigma^2, for every eps (the same on both sides).
- ``distribute``, ``sign``, ``zero``, ``cancel``, ``transpose``, ``identity``: matrix algebra
  ((A + B) C = A C + B C, (A B)^T = B^T A^T, A I = A, A - A = 0 ...).
- ``orthogonal``: Q Q^T = Q^T Q = I for an orthogonal Q.
- ``reciprocal``: diag(1/s) diag(s) = I when no entry of s is 0.
- ``diagonal``: diag(u diag(v)) = diag(u) diag(v) (the entrywise product of two rows).
- ``rms-rotation``: RMS(u Q) = RMS(u) Q for an orthogonal Q: (u Q)(u Q)^T = u Q Q^T u^T = u u^T,
  so each row keeps its mean square, and (u Q) / r = (u / r) Q.
- ``centring-rotation``: Q C = C Q when Q is orthogonal and Q 1^T = 1^T: then 1 Q = (Q^T 1^T)^T
  = 1 (Q^T = Q^-1 fixes 1^T too), so Q 1^T 1 = 1^T 1 Q.
- ``centring-idempotent``: C C = C (centring a centred row changes nothing).
- ``relu-scaling``: ReLU(u diag(s)) = ReLU(u) diag(s) when every s_j > 0 (ReLU is positively
  homogeneous: max(0, s t) = s max(0, t) for s > 0); false for tanh and GELU.
- ``ones-centred``: 1 C = 0: 1 C = 1 - (1 1^T) 1 / d, and 1 1^T = d.  With ``layer-norm`` and
  ``distribute`` it gives LN(u + c 1) = LN(u): (u + c 1) C = u C.
- ``centred-rms-ones``: RMS(u C) 1^T = 0: RMS(u C) is u C divided by a number per row, and
  C 1^T = 0 (C is symmetric and 1 C = 0).  Only for an argument whose every summand ends with C.
- ``scalar``: diag(a 1) M = M diag(a 1) for a scalar a (a variable of one row and one column):
  diag(a 1) is a times the identity, which commutes with every matrix.
- ``rms-scale``: RMS(u diag(a 1)) = RMS(u) for a scalar a > 0 at eps = 0: the mean square of a u
  is a^2 times that of u, and its square root a times that of u when a > 0; with eps > 0 (a^2 m +
  eps differs from a^2 (m + eps)), or with a < 0 (the sign flips), it is not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .terms import canonical, replace_at, shape, subterms

__all__ = ["Rule", "RULES", "CONDITIONS", "EPS", "IMPLIES", "closure", "condition_text", "applications", "Context"]

CONDITIONS = {
    "orthogonal": "{0} is orthogonal ({0} {0}^T = I)",
    "fixes-ones": "{0} fixes the all-ones vector ({0} 1^T = 1^T)",
    "positive": "every entry of {0} is positive",
    "nonzero": "no entry of {0} is zero",
    "eps-zero": "the normalizers' {0} is 0",
}
EPS = ("eps-zero", "eps")   # the one condition about no declared variable: the normalizers' epsilon


#: What a condition gives for free: every entry positive means none is zero.
IMPLIES = {"positive": ("nonzero",)}


def closure(conds) -> frozenset:
    """The conditions, with what they imply."""
    out = set(map(tuple, conds))
    for kind, name in list(out):
        out.update((k, name) for k in IMPLIES.get(kind, ()))
    return frozenset(out)


def condition_text(cond) -> str:
    kind, name = cond
    return CONDITIONS[kind].format(name)


@dataclass(frozen=True)
class Context:
    """What a rule may read: the variables' shapes and the primed parameters' definitions."""

    decl: dict
    definitions: dict


@dataclass(frozen=True)
class Rule:
    name: str
    words: str
    rewrite: Callable          # (subterm, Context) -> [(new subterm, conditions)]


def _named(m, ctx):
    """The square variable of a factor Q or Q^T (a condition is about a declared matrix)."""
    v = m[1] if m[0] == "T" else m
    if v[0] != "var":
        return None
    rows, cols = ctx.decl[v[1]]
    return v[1] if rows == cols and rows != 1 else None


def _dot(factors):
    return factors[0] if len(factors) == 1 else ("dot",) + tuple(factors)


def _pairs(t, match):
    """Rewrite two adjacent factors of a product: match(a, b) -> (replacement factors, conds) or None."""
    if t[0] != "dot":
        return []
    f, out = t[1:], []
    for k in range(len(f) - 1):
        hit = match(f[k], f[k + 1])
        if hit is not None:
            rest = f[:k] + tuple(hit[0]) + f[k + 2:]
            out.append((_dot(rest) if rest else hit[0][0], hit[1]))
    return out


def _strip_right(u, m):
    """u = rest m (every summand of u ends with the factor m): rest, else None."""
    if u[0] == "dot" and u[-1] == m:
        return _dot(u[1:-1])
    if u[0] == "add":
        parts = [_strip_right(a, m) for a in u[1:]]
        return None if any(p is None for p in parts) else ("add",) + tuple(parts)
    return None


def _last_factor(u):
    while u[0] == "add":
        u = u[1]
    return u[-1] if u[0] == "dot" else None


# --- the rules --------------------------------------------------------------------------------
def _definition(t, ctx):
    return [(ctx.definitions[t[1]], ())] if t[0] == "var" and t[1] in ctx.definitions else []


def _layer_norm(t, ctx):
    if t[0] != "ln":
        return []
    return [(("rms", ("dot", t[1], ("C", shape(t[1], ctx.decl)[1]))), ())]


def _distribute(t, ctx):
    if t[0] != "dot":
        return []
    f, out = t[1:], []
    for k, a in enumerate(f):
        if a[0] == "add":
            out.append((("add",) + tuple(_dot(f[:k] + (s,) + f[k + 1:]) for s in a[1:]), ()))
    return out


def _sign(t, ctx):
    if t[0] == "neg" and t[1][0] == "neg":
        return [(t[1][1], ())]
    if t[0] == "neg" and t[1][0] == "add":
        return [(("add",) + tuple(("neg", a) for a in t[1][1:]), ())]
    if t[0] == "T" and t[1][0] == "neg":
        return [(("neg", ("T", t[1][1])), ())]
    if t[0] == "dot":
        f = t[1:]
        return [(("neg", _dot(f[:k] + (a[1],) + f[k + 1:])), ()) for k, a in enumerate(f) if a[0] == "neg"]
    return []


def _zero(t, ctx):
    if t[0] == "dot" and any(a[0] == "zero" for a in t[1:]):
        r, c = shape(t, ctx.decl)
        return [(("zero", r, c), ())]
    if t[0] == "add":
        keep = tuple(a for a in t[1:] if a[0] != "zero")
        if len(keep) < len(t) - 1:
            return [((("add",) + keep) if len(keep) > 1 else (keep[0] if keep else t[1]), ())]
    if t[0] == "neg" and t[1][0] == "zero":
        return [(t[1], ())]
    return []


def _cancel(t, ctx):
    if t[0] != "add":
        return []
    args, out = list(t[1:]), []
    for k, a in enumerate(args):
        if a[0] == "neg" and a[1] in args:
            rest = list(args)
            rest.pop(k)
            rest.remove(a[1])
            r, c = shape(t, ctx.decl)
            new = ("zero", r, c) if not rest else (rest[0] if len(rest) == 1 else ("add",) + tuple(rest))
            out.append((new, ()))
    return out


def _transpose(t, ctx):
    if t[0] != "T":
        return []
    a = t[1]
    if a[0] == "dot":
        return [(("dot",) + tuple(("T", b) for b in reversed(a[1:])), ())]
    if a[0] == "add":
        return [(("add",) + tuple(("T", b) for b in a[1:]), ())]
    if a[0] == "T":
        return [(a[1], ())]
    if a[0] in ("diag", "I", "C"):
        return [(a, ())]
    return []


def _orthogonal(t, ctx):
    def match(a, b):
        name = _named(a, ctx)
        if name and (b == ("T", a) or a == ("T", b)):
            return [("I", shape(a, ctx.decl)[0])], (("orthogonal", name),)
        return None
    return _pairs(t, match)


def _identity(t, ctx):
    if t[0] != "dot":
        return []
    f = t[1:]
    return [(_dot(f[:k] + f[k + 1:]), ()) for k, a in enumerate(f) if a[0] == "I"][:1]


def _reciprocal(t, ctx):
    def match(a, b):
        for p, q in ((a, b), (b, a)):
            if p[0] == "diag" and p[1][0] == "recip" and q[0] == "diag" and p[1][1] == q[1] and q[1][0] == "var":
                return [("I", shape(p, ctx.decl)[0])], (("nonzero", q[1][1]),)
        return None
    return _pairs(t, match)


def _diagonal(t, ctx):
    if t[0] == "diag" and t[1][0] == "dot" and len(t[1]) == 3 and t[1][2][0] == "diag":
        return [(("dot", ("diag", t[1][1]), t[1][2]), ())]
    return []


def _rms_rotation(t, ctx):
    if t[0] != "rms":
        return []
    m = _last_factor(t[1])
    name = _named(m, ctx) if m else None
    rest = _strip_right(t[1], m) if name else None
    if rest is None:
        return []
    return [(("dot", ("rms", rest), m), (("orthogonal", name),))]


def _centring_rotation(t, ctx):
    def match(a, b):
        name = _named(a, ctx)
        if name and b[0] == "C":
            return [b, a], (("orthogonal", name), ("fixes-ones", name))
        return None
    return _pairs(t, match)


def _centring_idempotent(t, ctx):
    return _pairs(t, lambda a, b: ([a], ()) if a[0] == "C" and a == b else None)


def _relu_scaling(t, ctx):
    if t[0] != "relu":
        return []
    m = _last_factor(t[1])
    if not m or m[0] != "diag" or m[1][0] != "var":
        return []
    rest = _strip_right(t[1], m)
    return [] if rest is None else [(("dot", ("relu", rest), m), (("positive", m[1][1]),))]


def _ones_centred(t, ctx):
    return _pairs(t, lambda a, b: ([("zero", 1, a[1])], ()) if a[0] == "ones" and b == ("C", a[1]) else None)


def _centred(u) -> bool:
    """Every summand of u ends with the centring matrix C."""
    m = _last_factor(u)
    return m is not None and m[0] == "C" and _strip_right(u, m) is not None


def _centred_rms_ones(t, ctx):
    def match(a, b):
        if a[0] == "rms" and b[0] == "T" and b[1][0] == "ones" and _centred(a[1]):
            return [("zero", 1, 1)], ()
        return None
    return _pairs(t, match)


def _scalar_name(m, ctx):
    """The 1 x 1 variable a of a factor diag(a 1), else None."""
    if m is None or m[0] != "diag" or m[1][0] != "dot" or len(m[1]) != 3:
        return None
    a, ones = m[1][1], m[1][2]
    return a[1] if a[0] == "var" and ones[0] == "ones" and ctx.decl.get(a[1]) == (1, 1) else None


def _scalar(t, ctx):
    def match(a, b):
        if _scalar_name(a, ctx) is None or _scalar_name(b, ctx) is not None:
            return None
        return [b, ("diag", ("dot", a[1][1], ("ones", shape(b, ctx.decl)[1])))], ()
    return _pairs(t, match)


def _rms_scale(t, ctx):
    if t[0] != "rms":
        return []
    m = _last_factor(t[1])
    name = _scalar_name(m, ctx)
    rest = _strip_right(t[1], m) if name else None
    return [] if rest is None else [(("rms", rest), (("positive", name), EPS))]


RULES = {r.name: r for r in (
    Rule("definition", "the definition of the rewritten parameter", _definition),
    Rule("layer-norm", "layer norm is RMS of the centred row: LN(u) = RMS(u C), C = I - 1^T 1/d", _layer_norm),
    Rule("transpose", "the transpose of a product is the product of the transposes, reversed", _transpose),
    Rule("sign", "a minus sign moves out of a product", _sign),
    Rule("distribute", "a product distributes over a sum", _distribute),
    Rule("zero", "a product with 0 is 0; adding 0 changes nothing", _zero),
    Rule("cancel", "A - A = 0", _cancel),
    Rule("diagonal", "diag(u diag(v)) = diag(u) diag(v)", _diagonal),
    Rule("orthogonal", "Q Q^T = Q^T Q = I for an orthogonal Q", _orthogonal),
    Rule("reciprocal", "diag(1/s) diag(s) = I", _reciprocal),
    Rule("identity", "A I = I A = A", _identity),
    Rule("centring-idempotent", "C C = C: centring a centred row changes nothing", _centring_idempotent),
    Rule("centring-rotation", "Q C = C Q for an orthogonal Q that fixes the all-ones vector", _centring_rotation),
    Rule("rms-rotation", "RMS(u Q) = RMS(u) Q for an orthogonal Q: u Q Q^T u^T = u u^T", _rms_rotation),
    Rule("relu-scaling", "ReLU(u diag(s)) = ReLU(u) diag(s) for s > 0 (positive homogeneity)", _relu_scaling),
    Rule("ones-centred", "1 C = 0: the all-ones row centred is zero", _ones_centred),
    Rule("centred-rms-ones", "RMS(u C) 1^T = 0: a centred row, divided by its RMS, sums to zero", _centred_rms_ones),
    Rule("scalar", "diag(a 1) M = M diag(a 1): a multiple of the identity commutes", _scalar),
    Rule("rms-scale", "RMS(u a) = RMS(u) for a scalar a > 0 at eps = 0", _rms_scale),
)}


def applications(term, rule: Rule, ctx: Context):
    """Every way to apply ``rule`` once inside the canonical ``term``: (result, conditions),
    outermost place first, the result in canonical form."""
    for path, sub in subterms(term):
        for new, conds in rule.rewrite(sub, ctx):
            yield canonical(replace_at(term, path, new)), conds
