"""A term as a chain of real ``torch.nn`` modules, weights read from the term's constants.

The term's products are flattened (``(X A) B`` is ``X A B``; sums are kept as written, so a
residual ``x + f(x)`` stays one sum), then read from the output
down to the input, each pattern becoming PyTorch's own module (a row is one token; a module
computes ``x A^T + b``, so a term's ``x M + c`` is ``nn.Linear`` with weight M^T, bias c):

=============================================================  ===============================
term                                                           modules
=============================================================  ===============================
``X M..`` (M.. constants), ``+ c``                             X, ``nn.Linear`` (M.., c)
``LN(X) diag(g) [M..]``, ``+ beta``                            X, ``nn.LayerNorm`` (g, beta) ..
``RMS(X) diag(g) [M..]``                                       X, ``nn.RMSNorm`` (g) ..
``LN(X)``, ``RMS(X)``                                          X, the norm without affine
``(Y - mu) diag(g diag(istd(v))) + beta``                      Y, ``nn.BatchNorm1d`` in eval
                                                               mode (running mu, v; g, beta)
``ReLU(X)``, ``tanh(X)``, ``GELU(X)``                          X, ``nn.ReLU`` ..
``X + F`` with X inside F                                      X, :class:`Residual` (F at X)
=============================================================  ===============================

A constant (a subterm without the input) is evaluated by :func:`invariance.core.terms.evaluate`
in float64 from the environment: the drawn values and the primed parameters computed from the
recipe's definitions.  Every normalizer gets the same ``eps``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..core.rewrite import free_names
from ..core.terms import evaluate, shape, subterms
from .rewrite_terms import Float, SideError

__all__ = ["build", "describe", "flat", "ACTIVATIONS"]

_HOLE = "(the residual's input)"
#: The torch.nn module of each activation term (GELU: PyTorch's default, the exact erf form).
ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "gelu": "GELU"}


def build(term, inp: str, env: dict, sizes: dict, decl: dict, eps: float):
    """The term as an ``nn.Sequential`` in float64, eval mode; ``decl`` the variables' shapes."""
    import torch
    from torch import nn
    mods = _Compiler(inp, env, sizes, dict(decl), eps, torch, nn).chain(flat(term), inp)
    return nn.Sequential(*mods).double().eval()


def describe(module) -> str:
    """One line: ``Linear(5->8) > Residual(RMSNorm(8) > Linear(8->12) > ReLU > ..) > ..``."""
    from torch import nn
    parts = []
    for m in module:
        if isinstance(m, nn.Linear):
            parts.append(f"Linear({m.in_features}->{m.out_features}{'' if m.bias is not None else ', no bias'})")
        elif isinstance(m, (nn.LayerNorm, nn.RMSNorm)):
            affine = "" if m.weight is None else (", gain" + (", bias" if getattr(m, "bias", None) is not None else ""))
            parts.append(f"{type(m).__name__}({m.normalized_shape[0]}{affine})")
        elif isinstance(m, nn.BatchNorm1d):
            parts.append(f"BatchNorm1d({m.num_features}, eval)")
        elif type(m).__name__ == "Residual":
            parts.append(f"Residual({describe(m.f)})")
        else:
            parts.append(type(m).__name__)
    return " > ".join(parts)


class _Compiler:
    def __init__(self, inp, env, sizes, decl, eps, torch, nn):
        self.inp, self.env, self.sizes, self.decl = inp, env, sizes, decl
        self.eps, self.torch, self.nn = float(eps), torch, nn

    # -- constants ---------------------------------------------------------------------------
    def has(self, t, inp) -> bool:
        return inp in free_names(t)

    def value(self, t):
        """A constant subterm, evaluated in float64, as a float64 tensor."""
        return self.torch.tensor(np.array(evaluate(t, self.env, self.sizes, Float, self.eps)),
                                 dtype=self.torch.float64)

    def product(self, factors):
        return self.value(factors[0] if len(factors) == 1 else ("dot",) + tuple(factors))

    def total(self, summands):
        return self.value(summands[0] if len(summands) == 1 else ("add",) + tuple(summands))[0]

    # -- modules -----------------------------------------------------------------------------
    def linear(self, M, bias):
        nn = self.nn
        lin = nn.Linear(M.shape[0], M.shape[1], bias=bias is not None, dtype=self.torch.float64)
        with self.torch.no_grad():
            lin.weight.copy_(M.T)
            if bias is not None:
                lin.bias.copy_(bias)
        return lin

    def norm(self, op, width, gain=None, bias=None):
        nn, f64 = self.nn, self.torch.float64
        if op == "ln":
            m = nn.LayerNorm(width, eps=self.eps, elementwise_affine=gain is not None,
                             bias=bias is not None, dtype=f64)
            extra = []
        else:
            m = nn.RMSNorm(width, eps=self.eps, elementwise_affine=gain is not None, dtype=f64)
            extra = [] if bias is None else [_bias(self.nn, bias)]
        with self.torch.no_grad():
            if gain is not None:
                m.weight.copy_(gain)
            if bias is not None and op == "ln":
                m.bias.copy_(bias)
        return [m] + extra

    def batch_norm(self, mu, v, g, beta):
        bn = self.nn.BatchNorm1d(len(mu), eps=self.eps, dtype=self.torch.float64)
        with self.torch.no_grad():
            bn.running_mean.copy_(mu)
            bn.running_var.copy_(v)
            bn.weight.copy_(g)
            bn.bias.copy_(beta)
        return bn.eval()

    # -- the reading ---------------------------------------------------------------------------
    def chain(self, t, inp) -> list:
        op = t[0]
        if op == "var" and t[1] == inp:
            return []
        if op == "add":
            return self.add(t, inp)
        if op == "dot":
            return self.dot(t, inp, None)
        if op in ("ln", "rms"):
            return self.chain(t[1], inp) + self.norm(op, self.width(t[1]))
        act = ACTIVATIONS.get(op)
        if act:
            return self.chain(t[1], inp) + [getattr(self.nn, act)()]
        raise SideError(f"no module computes a term {op!r} of the input")

    def width(self, t) -> int:
        c = shape(t, self.decl)[1]
        return 1 if c == 1 else self.sizes[c]

    def add(self, t, inp):
        live = [a for a in t[1:] if self.has(a, inp)]
        const = [a for a in t[1:] if not self.has(a, inp)]
        bias = self.total(const) if const else None
        if len(live) == 1:
            if live[0][0] == "dot":
                return self.dot(live[0], inp, bias)
            return self.chain(live[0], inp) + ([] if bias is None else [_bias(self.nn, bias)])
        if len(live) == 2:
            for x, f in (live, live[::-1]):
                if _contains(f, x):
                    self.decl[_HOLE] = shape(x, self.decl)
                    inner = _swap(("add", f, *const) if const else f, x, ("var", _HOLE))
                    body = self.nn.Sequential(*self.chain(inner, _HOLE))
                    return self.chain(x, inp) + [_residual(self.nn, body)]
        raise SideError("a sum of computations that is no residual x + f(x)")

    def dot(self, t, inp, bias):
        first, rest = t[1], list(t[2:])
        if any(self.has(a, inp) for a in rest):
            raise SideError("a product with the input right of the first factor")
        if (first[0] == "add" and len(rest) == 1 and rest[0][0] == "diag" and rest[0][1][0] == "dot"
                and len(rest[0][1]) == 3 and rest[0][1][2][0] == "diag" and rest[0][1][2][1][0] == "istd"):
            means = [a for a in first[1:] if a[0] == "neg" and not self.has(a, inp)]
            if len(means) == 1:            # (Y - mu) diag(g diag(istd(v))) + beta: batch norm
                others = [a for a in first[1:] if a is not means[0]]
                y = others[0] if len(others) == 1 else ("add",) + tuple(others)
                g, v = rest[0][1][1], rest[0][1][2][1][1]
                zero = np.zeros(len(self.value(g)[0]))
                beta = bias if bias is not None else self.torch.tensor(zero, dtype=self.torch.float64)
                return self.chain(y, inp) + [self.batch_norm(self.value(means[0][1])[0], self.value(v)[0],
                                                             self.value(g)[0], beta)]
        if first[0] in ("ln", "rms") and rest and rest[0][0] == "diag":
            gain = self.value(rest[0][1])[0]
            head = self.chain(first[1], inp)
            if len(rest) == 1:
                return head + self.norm(first[0], len(gain), gain, bias)
            return head + self.norm(first[0], len(gain), gain) + [self.linear(self.product(rest[1:]), bias)]
        if not rest:
            return self.chain(first, inp) + ([] if bias is None else [_bias(self.nn, bias)])
        return self.chain(first, inp) + [self.linear(self.product(rest), bias)]


def flat(t):
    """Nested products flattened (the product is associative); nothing else changed."""
    if t[0] == "var" or not any(isinstance(a, tuple) for a in t[1:]):
        return t
    args = [flat(a) if isinstance(a, tuple) else a for a in t[1:]]
    if t[0] == "dot":
        args = [b for a in args for b in (a[1:] if a[0] == "dot" else (a,))]
    return (t[0],) + tuple(args)


def _prefix(t, old) -> bool:
    """``t`` is a flat product that starts with the flat product ``old`` (x = t E inside t E W1)."""
    return t[0] == old[0] == "dot" and len(t) > len(old) and t[:len(old)] == old


def _contains(t, old) -> bool:
    return any(s == old or _prefix(s, old) for _, s in subterms(t))


def _swap(t, old, new):
    """``old`` replaced by ``new`` in ``t``, also where it begins a longer flat product."""
    if t == old:
        return new
    if _prefix(t, old):
        return ("dot", new) + t[len(old):]
    if t[0] == "var":
        return t
    return (t[0],) + tuple(_swap(a, old, new) if isinstance(a, tuple) else a for a in t[1:])


@lru_cache(maxsize=None)
def _classes(nn):
    class Residual(nn.Module):
        """x + f(x): a pre-norm block's skip connection."""

        def __init__(self, f):
            super().__init__()
            self.f = f

        def forward(self, x):
            return x + self.f(x)

    class Bias(nn.Module):
        """x + b (a bias no PyTorch module of the term carries)."""

        def __init__(self, b):
            super().__init__()
            self.register_buffer("b", b.clone())

        def forward(self, x):
            return x + self.b
    return Residual, Bias


def _residual(nn, body):
    return _classes(nn)[0](body)


def _bias(nn, b):
    return _classes(nn)[1](b)
