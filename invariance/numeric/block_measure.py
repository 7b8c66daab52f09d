"""The dimension of a block's symmetries, measured: the null space of a float64 Jacobian.

The block's term is evaluated by :func:`invariance.core.terms.evaluate` with every number a NumPy
complex array over the P parameters: entry k carries the complex step i t e_k (t = 1e-30), so
Im(output) / t is the Jacobian's column k exactly up to the rounding of the operations (no
subtraction, no truncation beyond t^2).  ReLU takes the branch of the real part (the points
have no pre-activation near 0).  Stacked over the tokens of :func:`~invariance.derive.
block_symmetries.stacked` at standard normal parameters and tokens (redrawn until every ReLU unit
is on at some token and off at another), its numerical rank is read off the singular values
with the threshold max(rows, columns) eps64 sigma_max (:func:`~invariance.numeric.nullspace.
from_singular_values`): dimension = columns - rank.  A measurement, never a certificate.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..catalogue.blocks import as_block
from ..core.block_jacobian import columns, shape_at
from ..core.terms import evaluate, subterms, shape
from ..derive.block_symmetries import BALANCE, stacked
from .nullspace import Spectrum, from_singular_values

__all__ = ["BlockMeasurement", "measure_block", "check_block", "complex_step"]

STEP = 1e-30
EPS64 = float(np.finfo(np.float64).eps)


class _Arrays:
    """Numbers for :func:`evaluate`: NumPy arrays (complex for the step, real for a sign check)."""

    zero, one = 0.0, 1.0
    rational = staticmethod(float)
    sqrt = staticmethod(np.sqrt)
    tanh = staticmethod(np.tanh)

    @staticmethod
    def recip(x):
        return 1.0 / x

    @staticmethod
    def relu(x):
        return np.where(np.real(x) > 0, x, 0.0 * x)


@dataclass(frozen=True)
class BlockMeasurement:
    sizes: dict
    spectrum: Spectrum
    expected: int

    @property
    def dimension(self) -> int:
        return self.spectrum.dimension

    @property
    def agrees(self) -> bool:
        return self.dimension == self.expected


def _covered(b, sizes, values, tokens) -> bool:
    for _, (op, *rest) in subterms(b.output):
        if op != "relu":
            continue
        pre = np.array([evaluate(rest[0], {**values, b.token: [list(t)]}, sizes, _Arrays)[0] for t in tokens])
        on = (pre > 0).sum(axis=0)
        if (np.minimum(on, len(tokens) - on) < len(tokens) // BALANCE).any():
            return False
    return True


def measure_block(id: str, sizes: dict, seed: int = 0, backend: str = "numpy") -> Spectrum:
    """The numerical rank of the block's Jacobian at ``sizes`` (a float64 measurement): the
    complex step (``numpy``) or PyTorch's reverse mode (``torch``, :mod:`.block_torch`)."""
    b = as_block(id)
    rng = np.random.default_rng([seed, zlib.crc32(f"{b.id}|{sorted(sizes.items())}".encode())])
    width = shape_at(b.decl[b.token], sizes)[1]
    for _ in range(200):
        values = {p: rng.normal(size=shape_at(b.decl[p], sizes)).tolist() for p in b.params}
        tokens = rng.normal(size=(stacked(b, sizes), width))
        if _covered(b, sizes, values, tokens):
            break
    if backend == "torch":
        from .block_torch import torch_jacobian
        J = torch_jacobian(b, sizes, values, tokens)
    else:
        J = complex_step(b, sizes, values, tokens)
    return from_singular_values(np.linalg.svd(J, compute_uv=False), J.shape, max(J.shape) * EPS64)


def complex_step(b, sizes: dict, values: dict, tokens) -> np.ndarray:
    """d output / d parameters (columns in :func:`~invariance.core.block_jacobian.columns` order),
    stacked over ``tokens``, by the complex step, in float64."""
    cols = columns(b.params, b.decl, sizes)
    values = {p: [[float(v) for v in row] for row in values[p]] for p in b.params}
    P = len(cols)
    env = {p: [[None] * len(row) for row in values[p]] for p in b.params}
    for k, (p, i, j) in enumerate(cols):
        e = np.zeros(P, dtype=complex)
        e[k] = 1j * STEP
        env[p][i][j] = values[p][i][j] + e
    rows = []
    for t in tokens:
        out = evaluate(b.output, {**env, b.token: [[float(v) for v in t]]}, sizes, _Arrays)
        rows += [np.imag(np.broadcast_to(y, (P,))) / STEP for y in out[0]]
    J = np.array(rows)
    assert J.shape == (len(tokens) * np.prod(shape_at(shape(b.output, b.decl), sizes)), P)
    return J


def check_block(analysis, seed: int = 0, backend: str = "numpy") -> list[BlockMeasurement]:
    """Measure at each certified set of sizes of ``analysis`` (a BlockSymmetries)."""
    return [BlockMeasurement(c.sizes, measure_block(analysis.spec, c.sizes, seed, backend), c.expected)
            for c in analysis.certificates if c.rank is not None]
