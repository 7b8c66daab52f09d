"""Your own normalizer: Dynamic Tanh (Zhu et al. 2025), y = g tanh(alpha a) + b.

It has no statistics, so only its output formula is new.  Registering it is
all it takes to get its row, proofs, counterexamples and numeric check:

    python -m invariance table --load examples/dynamic_tanh.py --normalizers dynamic-tanh --numeric
"""
import numpy as np
import sympy as sp

import invariance

ALPHA = sp.Symbol("alpha", positive=True)   # DyT's learnable scalar; proofs hold for every alpha
ALPHA_VALUE = sp.Rational(1, 2)             # its value, stated once: counterexamples and NumPy use it


def dyt_output(c, at):
    """h = g tanh(alpha a) + b."""
    return c.g(at) * sp.tanh(ALPHA * c.a(at)) + c.b(at)


def dyt_numeric(a, W, eps=0.0):
    """The NumPy side: tanh(alpha a) (layers.layer applies gain and bias)."""
    return np.tanh(float(ALPHA_VALUE) * a)


DYNAMIC_TANH = invariance.register(invariance.Normalizer(
    id="dynamic-tanh", title="Dynamic Tanh", model=invariance.DENSE, stats=(),
    output=dyt_output, numeric=dyt_numeric, constants={ALPHA: ALPHA_VALUE},
    source="Zhu et al. 2025", trainable=(ALPHA,)))   # alpha is trained: `symmetries` treats it as a parameter

if __name__ == "__main__":
    for cell in invariance.derive_row(DYNAMIC_TANH):
        print(cell.transformation, cell.verdict)
