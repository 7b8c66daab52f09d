"""A block's Jacobian by PyTorch's reverse mode: the term evaluated on tensors, every token a row.

Each operator of :mod:`invariance.core.terms` maps to PyTorch's own (``@``, ``torch.relu``,
``torch.tanh``, a row's mean and square root for RMS and LN), and the tokens are stacked as the
rows of one matrix: every operator of a block acts on each row alone, and a parameter's term (a
bias row, ``diag(g)``) broadcasts over them.  ``torch.autograd.functional.jacobian`` then gives
d output / d parameters in float64: a computation independent of both the exact Dual field and
the complex step through :func:`~invariance.core.terms.evaluate`.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.block_jacobian import columns, shape_at
from ..core.terms import subterms

__all__ = ["torch_jacobian", "NoCounterpart"]


class NoCounterpart(ValueError):
    """A term this evaluator does not batch over tokens (a transpose or diag of a token's row)."""


def _ev(t, env, sizes, token, eps=0.0):
    import torch
    op = t[0]
    n = (lambda s: 1 if s == 1 else sizes[s])
    f64 = torch.float64
    if op == "var":
        return env[t[1]]
    if op == "I":
        return torch.eye(n(t[1]), dtype=f64)
    if op == "C":
        k = n(t[1])
        return torch.eye(k, dtype=f64) - torch.full((k, k), 1.0 / k, dtype=f64)
    if op == "ones":
        return torch.ones(1, n(t[1]), dtype=f64)
    if op == "zero":
        return torch.zeros(n(t[1]), n(t[2]), dtype=f64)
    if op in ("T", "diag", "recip", "istd") and any(s == ("var", token) for _, s in subterms(t[1])):
        raise NoCounterpart(f"{op} of a token's row is not batched over tokens here")
    args = [_ev(a, env, sizes, token, eps) for a in t[1:]]
    if op == "dot":
        return functools.reduce(lambda a, b: a @ b, args)
    if op == "add":
        return functools.reduce(lambda a, b: a + b, args)
    (a,) = args
    if op == "neg":
        return -a
    if op == "T":
        return a.T
    if op == "diag":
        return torch.diag(a.reshape(-1))
    if op == "recip":
        return 1.0 / a
    if op == "istd":
        return 1.0 / torch.sqrt(a + eps)
    if op in ("rms", "ln"):
        if op == "ln":
            a = a - a.mean(dim=-1, keepdim=True)
        return a / torch.sqrt((a * a).mean(dim=-1, keepdim=True) + eps)
    return {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[op](a)


def torch_jacobian(b, sizes: dict, values: dict, tokens) -> np.ndarray:
    """d output / d parameters, stacked over ``tokens`` (rows in token order), by reverse mode."""
    import torch
    cols = columns(b.params, b.decl, sizes)
    theta0 = torch.tensor([float(values[p][i][j]) for p, i, j in cols], dtype=torch.float64)
    X = torch.tensor([[float(v) for v in t] for t in tokens], dtype=torch.float64)
    shapes = {p: shape_at(b.decl[p], sizes) for p in b.params}

    def output(theta):
        env, k = {b.token: X}, 0
        for p in b.params:
            r, c = shapes[p]
            env[p] = theta[k:k + r * c].reshape(r, c)
            k += r * c
        return _ev(b.output, env, sizes, b.token).reshape(-1)
    return torch.autograd.functional.jacobian(output, theta0).numpy()
