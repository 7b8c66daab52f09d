"""Blocks written as people write them: ``x + ReLU(LN(x) diag(g) W1 + b1) W2 + b2``.

The grammar (a product is juxtaposition, as in the paper; ``^T`` transposes)::

    expr   := ["-"] term (("+" | "-") term)*
    term   := factor factor*
    factor := atom ("^T")*
    atom   := NAME | FUNC "(" expr ")" | "(" expr ")" | "C" | "I" | "1/" atom
    FUNC   := LN | RMS | ReLU | tanh | GELU | diag

``x`` is one token, a row of width ``d``.  Every other name is a parameter whose shape is
inferred: each shape starts as two unknown sizes, a product equates the inner sizes, a sum
equates shapes, ``diag(v)`` makes v a row; the unknowns left are named m, k, n, p ... in the
order they appear.  Nothing is evaluated: the text is tokenized and parsed by hand.
"""
from __future__ import annotations

import re

from .terms import TermError, canonical, shape

__all__ = ["parse_block", "parse_many", "BlockError", "FUNCS", "MAX_TEXT"]

FUNCS = {"LN": "ln", "RMS": "rms", "ReLU": "relu", "relu": "relu", "tanh": "tanh", "GELU": "gelu",
         "gelu": "gelu", "diag": "diag"}
MAX_TEXT = 2_000
MAX_DEPTH = 60        # nesting of parentheses, functions, 1/ and ^T: the paper's blocks nest under 10
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z][A-Za-z0-9_]*'*)|(?P<op>\^T|1/|[()+\-]))")
_NAMES = ("m", "k", "n", "p", "q", "r", "s2", "s3")


class BlockError(ValueError):
    """A block that does not parse or whose shapes do not fit."""


def _tokens(text: str):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise BlockError(f"unexpected {text[pos:].strip()[:1]!r} at column {pos + 1}")
        out.append((m.group("name") or m.group("op"), m.start(m.lastindex) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text):
        self.toks, self.k, self.n, self.depth = _tokens(text), 0, 0, 0

    def deeper(self, levels=1):
        """One more level of nesting (the parser recurses, and so does every later pass over the
        term: '((((x))))' of 2,000 characters raised RecursionError)."""
        self.depth += levels
        if self.depth > MAX_DEPTH:
            raise BlockError(f"a formula nested more than {MAX_DEPTH} levels deep")

    def peek(self):
        return self.toks[self.k][0] if self.k < len(self.toks) else None

    def take(self, want=None):
        tok = self.peek()
        if tok is None:
            raise BlockError(f"the formula ends early: expected {want!r}" if want else
                             "the formula ends early: expected a name, a function or '('")
        if want is not None and tok != want:
            raise BlockError(f"expected {want!r} at column {self.toks[self.k][1]}, found {tok!r}")
        self.k += 1
        return tok

    def expr(self):
        parts = [("neg", self.term()) if self.peek() == "-" and self.take() else self.term()]
        while self.peek() in ("+", "-"):
            sign = self.take()
            t = self.term()
            parts.append(("neg", t) if sign == "-" else t)
        return parts[0] if len(parts) == 1 else ("add",) + tuple(parts)

    def term(self):
        factors = [self.factor()]
        while self.peek() not in (None, "+", "-", ")"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else ("dot",) + tuple(factors)

    def factor(self):
        t, depth = self.atom(), self.depth
        while self.peek() == "^T":
            self.take()
            self.deeper()
            t = ("T", t)
        self.depth = depth
        return t

    def atom(self):
        self.deeper()
        try:
            return self._atom()
        finally:
            self.depth -= 1

    def _atom(self):
        tok = self.take()
        if tok == "(":
            t = self.expr()
            self.take(")")
            return t
        if tok in FUNCS and self.peek() == "(":
            self.take("(")
            t = self.expr()
            self.take(")")
            return (FUNCS[tok], t)
        if tok == "1/":
            return ("recip", self.atom())
        if tok in ("C", "I"):
            self.n += 1
            return (tok, f"?{self.n}")
        if tok in FUNCS or tok in ("+", "-", ")", "^T"):
            raise BlockError(f"unexpected {tok!r} at column {self.toks[self.k - 1][1]}")
        return ("var", tok)


class _Sizes:
    """Union-find over unknown sizes; 1 and d are known."""

    def __init__(self):
        self.parent = {}

    def find(self, a):
        root = a
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while a != root:   # path compression: without it the chains of a 2,000-character statement made
            self.parent[a], a = root, self.parent[a]   # parsing quadratic (1.2 s for one document)
        return root

    def same(self, a, b, why):
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if not a.startswith("?") and not b.startswith("?"):
            raise BlockError(f"inconsistent shapes: {why} needs {a} = {b}")
        if a.startswith("?"):
            self.parent[a] = b
        else:
            self.parent[b] = a


def parse_block(text: str, width: str = "d"):
    """(term, decl, sizes) of a block: the term over the token ``x`` (1 x width), each
    parameter's inferred shape, and the size names in order.  Raises BlockError."""
    (term,), decl, sizes = parse_many([text], width=width)
    return term, decl, sizes


def _read(text: str, counter: list):
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise BlockError(f"a block is a formula of at most {MAX_TEXT} characters, e.g. "
                         "'x + ReLU(LN(x) diag(g) W1 + b1) W2 + b2'")
    p = _Parser(text)
    p.n = counter[0]
    term = p.expr()
    if _depth(term) > MAX_DEPTH:    # (x^T^T..)^T^T..: each factor within the bound, the term not
        raise BlockError(f"a formula nested more than {MAX_DEPTH} levels deep")
    if p.peek() is not None:
        raise BlockError(f"unexpected {p.peek()!r} at column {p.toks[p.k][1]}")
    counter[0] = p.n
    return term


def parse_many(texts, same=(), width: str = "d", square=(), rows=()):
    """Several formulas sharing their names' shapes: (terms, decl, sizes).  ``same`` lists
    pairs (i, name) whose shapes must agree: formula i and the variable ``name`` (a
    definition), or formulas i and j given as (i, j).  The names in ``square`` are square
    matrices, those in ``rows`` rows.  Every formula is a row."""
    counter = [0]
    terms = [_read(t, counter) for t in texts]
    u, shapes = _Sizes(), {"x": ("1", width)}

    def new():
        counter[0] += 1
        return f"?{counter[0]}"

    def shape_of(name):
        if name not in shapes:
            shapes[name] = (new(), new())
        return shapes[name]

    def infer(t):
        op = t[0]
        if op == "var":
            return shape_of(t[1])
        if op in ("C", "I"):
            return (t[1], t[1])
        s = [infer(a) for a in t[1:]]
        if op == "dot":
            for a, b in zip(s, s[1:]):
                u.same(a[1], b[0], "a product")
            return (s[0][0], s[-1][1])
        if op == "add":
            for a in s[1:]:
                u.same(a[0], s[0][0], "a sum")
                u.same(a[1], s[0][1], "a sum")
            return s[0]
        if op == "T":
            return (s[0][1], s[0][0])
        if op == "diag":
            u.same(s[0][0], "1", "diag of a row")
            return (s[0][1], s[0][1])
        return s[0]

    outs = [infer(t) for t in terms]
    for i, other in same:
        b = outs[other] if isinstance(other, int) else shape_of(other)
        u.same(outs[i][0], b[0], "an equation")
        u.same(outs[i][1], b[1], "an equation")
    u.same(outs[0][0], "1", "the block's output is a row")
    for v in square:
        u.same(shape_of(v)[0], shape_of(v)[1], f"{v} square")
    for v in rows:
        u.same(shape_of(v)[0], "1", f"{v} a row")
    names = {}

    def name(a):
        r = u.find(a)
        if r == "1":
            return 1
        if not r.startswith("?"):
            return r
        if r not in names:
            if len(names) == len(_NAMES):
                raise BlockError("too many independent sizes")
            names[r] = _NAMES[len(names)]
        return names[r]

    decl = {v: (name(r), name(c)) for v, (r, c) in shapes.items()}

    def sized(t):
        if t[0] in ("C", "I"):
            return (t[0], name(t[1]))
        if t[0] == "var":
            return t
        return (t[0],) + tuple(sized(a) for a in t[1:])

    terms = [canonical(sized(t)) for t in terms]
    try:
        for t in terms:
            shape(t, decl)
    except TermError as e:
        raise BlockError(str(e)) from None
    if not any(("var", "x") in _vars(t) for t in terms):
        raise BlockError("a block reads the token x")
    return terms, decl, (width,) + tuple(n for n in _NAMES if n in names.values())


def _depth(t) -> int:
    """The term's nesting, without recursion."""
    deepest, todo = 0, [(t, 1)]
    while todo:
        u, d = todo.pop()
        deepest = max(deepest, d)
        todo.extend((a, d + 1) for a in u[1:] if isinstance(a, tuple))
    return deepest


def _vars(t):
    if t[0] == "var":
        yield t
    for a in t[1:]:
        if isinstance(a, tuple):
            yield from _vars(a)
