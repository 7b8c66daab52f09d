"""Candidate families read off a block's shapes, for a block nobody wrote families for.

For each size n, a *writer* is a parameter whose columns are n (it writes into an n-wide space:
x W, a bias, a gain) and a *reader* one whose rows are n (it reads from that space).  The
templates, each tried for every choice of writers and readers (the rules decide which hold):

- ``scale[n: writers | readers]``: writers times diag(s), readers diag(1/s) times, s > 0 (n);
- ``rotate[n: ...]``, ``rotate-fixing-ones[n: ...]``: writers times Q, readers Q^T times (n(n-1)/2,
  or (n-1)(n-2)/2 when Q fixes 1^T); ``...-through-gains``: a reader R that the block multiplies
  by a gain, diag(g) R, becomes diag(1/g) Q^T diag(g) R (the gain stays, the reader undoes it);
- ``scalar[n: writers]``: writers times a > 0, at eps = 0 (1);
- ``write-ones[P]``: a writer P + c^T 1 (its rows); ``read-ones[P]``: a reader P + 1^T c (its columns);
- ``bias-fold[beta>W>b]``: a row beta moved by a, the bias b after beta W by -a W (n);
- ``read-ones[g>W]`` (and with beta, b): W + diag(1/g) 1^T c, b - beta diag(1/g) 1^T c: a reader of
  LN(u) diag(g) + beta moved along 1 / g (the columns of W).

The ids name the choice, so the kernel regenerates the same family from the id.
"""
from __future__ import annotations

from itertools import combinations

from ..core.rules import EPS
from ..core.terms import T, add, canonical, diag, dot, neg, subterms, var
from .blocks import Family, Generator

__all__ = ["generated", "candidates", "MAX_ROLE"]

MAX_ROLE = 5   # writers (or readers) of one size taken in every combination: 2^5 - 1 choices at most


def _subsets(names):
    names = names[:MAX_ROLE]
    return [c for r in range(1, len(names) + 1) for c in combinations(names, r)]


def _gains(b) -> dict:
    """reader -> the gain row g that multiplies it in the block (a product's factors diag(g) R)."""
    out = {}
    for _, t in subterms(canonical(b.output)):
        if t[0] == "dot":
            for a, r in zip(t[1:], t[2:]):
                if a[0] == "diag" and a[1][0] == "var" and r[0] == "var" and r[1] in b.decl:
                    out[r[1]] = a[1][1]
    return out


def _move(writers, readers, right, left, gains=None):
    """writers -> P right, readers -> left P (a parameter in both: left P right); a reader behind
    a gain g -> diag(1/g) left diag(g) P (the gain stays where it is, the reader undoes it)."""
    out = {}
    for p in dict.fromkeys(writers + readers):
        t = var(p)
        if p in readers:
            g = (gains or {}).get(p)
            t = dot(diag(("recip", var(g))), left, diag(var(g)), t) if g else dot(left, t)
        if p in writers:
            t = dot(t, right)
        out[p + "'"] = t
    return out


def generated(b) -> tuple:
    """Every candidate of the templates for the block ``b`` (its own families excepted)."""
    out = []
    decl, gains = b.decl, _gains(b)
    for n in b.sizes:
        writers = [p for p in b.params if decl[p][1] == n]
        readers = [p for p in b.params if decl[p][0] == n and decl[p][1] != 1]
        rows = [p for p in b.params if decl[p] == (1, n)]
        s, Q, a, c = var("s"), var("Q"), var("a"), var("c")
        for W in _subsets(writers):
            for R in _subsets(readers):
                tag = f"{n}: {', '.join(W)} | {', '.join(R)}"
                out.append(Family(f"scale[{tag}]", f"the {n}-wide space re-scaled by s > 0: {tag}",
                                  (Generator("s", "positive", (1, n)),), _move(W, R, diag(s), diag(("recip", s)))))
                for kind in ("rotation", "rotation-fixing-ones"):
                    name = "rotate" if kind == "rotation" else "rotate-fixing-ones"
                    out.append(Family(f"{name}[{tag}]", f"the {n}-wide space rotated" + (" fixing 1" if "ones" in kind
                                      else "") + f": {tag}", (Generator("Q", kind, (n, n)),), _move(W, R, Q, T(Q))))
                    behind = {r: gains[r] for r in R if r in gains and gains[r] not in W}
                    if behind:   # the readers behind a gain undo it around Q^T
                        out.append(Family(f"{name}-through-gains[{tag}]", f"the {n}-wide space rotated"
                                          + (" fixing 1" if "ones" in kind else "") + f", each reader behind a gain "
                                          f"undoing it: {tag}", (Generator("Q", kind, (n, n)),),
                                          _move(W, R, Q, T(Q), behind),
                                          tuple(("nonzero", g) for g in sorted(set(behind.values())))))
            scalar = diag(dot(a, ("ones", n)))
            out.append(Family(f"scalar[{n}: {', '.join(W)}]", f"the {n}-wide space re-scaled by a > 0: "
                              f"{', '.join(W)}", (Generator("a", "positive", (1, 1)),),
                              {p + "'": dot(var(p), scalar) for p in W}, (EPS,)))
        for p in writers:
            r = decl[p][0]
            out.append(Family(f"write-ones[{p}]", f"each row of {p} moved along 1", (Generator("c", "shift", (1, r)),),
                              {p + "'": add(var(p), dot(T(c), ("ones", n)))}))
        for p in readers:
            k = decl[p][1]
            out.append(Family(f"read-ones[{p}]", f"each column of {p} moved along 1", (Generator("c", "shift", (1, k)),),
                              {p + "'": add(var(p), dot(T(("ones", n)), c))}))
        for W in readers:
            k = decl[W][1]
            after = [p for p in b.params if decl[p] == (1, k)]
            for beta in rows:
                for bb in after:
                    out.append(Family(f"bias-fold[{beta}>{W}>{bb}]", f"{beta} moved by a, {bb} by -a {W}",
                                      (Generator("a", "shift", (1, n)),),
                                      {beta + "'": add(var(beta), a), bb + "'": add(var(bb), neg(dot(a, var(W))))}))
            for g in rows:
                along = dot(diag(("recip", var(g))), T(("ones", n)), c)
                for beta in [None] + [r for r in rows if r != g]:
                    for bb in [None] + (after if beta else []):
                        defs = {W + "'": add(var(W), along)}
                        if bb:
                            defs[bb + "'"] = add(var(bb), neg(dot(var(beta), along)))
                        tag = ">".join(x for x in (g, beta, W, bb) if x)
                        out.append(Family(f"read-ones[{tag}]", f"the columns of {W} moved along 1/{g}",
                                          (Generator("c", "shift", (1, k)),), defs, (("nonzero", g),)))
    return tuple(out)


def candidates(b) -> tuple:
    """The block's own families, then those read off its shapes."""
    return b.families + generated(b)
