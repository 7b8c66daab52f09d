"""The catalogue: each normalizer's statistics (SymPy) beside its NumPy op.

A normalizer is the axes its statistics run over, plus whether it centres.
Adding one is adding an entry here (or passing one to
:func:`invariance.registry.register`); the engine is not edited.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import layers
from .definition import Normalizer, Statistic
from .model import CONV, DENSE, Group, Model

__all__ = ["standardize", "rms", "weight_norm_stats", "NORMALIZERS"]


def standardize(over) -> tuple[Statistic, ...]:
    """Centre and scale over ``over``: mean, biased variance, std with eps.

    .. math:: \\mu = \\tfrac{1}{|S|}\\textstyle\\sum_S a,\\quad
              \\sigma^2 = \\tfrac{1}{|S|}\\textstyle\\sum_S (a-\\mu)^2,\\quad
              \\sigma = \\sqrt{\\sigma^2 + \\epsilon}
    """
    return (
        Statistic("mu", lambda c, at: c.mean(c.a, at, over)),
        Statistic("sigma^2", lambda c, at: c.mean(lambda t: (c.a(t) - c.stat("mu", t)) ** 2, at, over)),
        Statistic("sigma", lambda c, at: sp.sqrt(c.stat("sigma^2", at) + c.eps)),
    )


def rms(over) -> tuple[Statistic, ...]:
    """Scale by the root mean square, no centring (Zhang and Sennrich 2019).

    .. math:: \\sigma = \\sqrt{\\tfrac{1}{|S|}\\textstyle\\sum_S a^2 + \\epsilon}
    """
    return (
        Statistic("nu^2", lambda c, at: c.mean(lambda t: c.a(t) ** 2, at, over)),
        Statistic("sigma", lambda c, at: sp.sqrt(c.stat("nu^2", at) + c.eps)),
    )


#: Running statistics of batch norm at inference (one exact value each, used by counterexamples):
#: estimated on training batches, then frozen, so they follow no transformation.
RUNNING_MEAN, RUNNING_VAR = sp.Symbol("m", real=True), sp.Symbol("v", positive=True)
RUNNING = {RUNNING_MEAN: sp.Rational(1, 2), RUNNING_VAR: sp.Integer(2)}


def running_stats() -> tuple[Statistic, ...]:
    """Batch norm at inference: :math:`\\mu = m`, :math:`\\sigma = \\sqrt{v + \\epsilon}`, fixed."""
    return (Statistic("mu", lambda c, at: RUNNING_MEAN),
            Statistic("sigma", lambda c, at: sp.sqrt(RUNNING_VAR + c.eps)))


def _running_numeric(a, W, eps=0.0):
    return (a - float(RUNNING[RUNNING_MEAN])) / np.sqrt(float(RUNNING[RUNNING_VAR]) + eps)


def weight_norm_stats(m: Model) -> tuple[Statistic, ...]:
    """No centring; :math:`\\sigma_i = \\lVert w_i \\rVert = \\sqrt{\\sum_j W_{i,j}^2 + \\epsilon}`."""
    j = m.input.index
    return (
        Statistic("norm^2", lambda c, at: c.total(lambda t: c.W(t["unit"], j) ** 2, at, ("input",))),
        Statistic("sigma", lambda c, at: sp.sqrt(c.stat("norm^2", at) + c.eps)),
    )


UNITS_PER_GROUP = Group("unit")   # proofs hold for any group size S
GROUPS = 2                        # the number of groups that counterexamples and NumPy use

NORMALIZERS = (
    # -- the paper's Table 1, fully connected layer ---------------------------
    Normalizer("batch-norm", "Batch norm", DENSE, standardize(("case",)), layers.batch_norm,
               source="Ioffe and Szegedy 2015; Ba et al. 2016, Eq. 2"),
    Normalizer("weight-norm", "Weight norm", DENSE, weight_norm_stats(DENSE), layers.weight_norm,
               source="Salimans and Kingma 2016"),
    Normalizer("layer-norm", "Layer norm", DENSE, standardize(("unit",)), layers.layer_norm,
               source="Ba et al. 2016, Eq. 3"),
    # -- beyond the table -----------------------------------------------------
    Normalizer("rms-norm", "RMSNorm", DENSE, rms(("unit",)), layers.rms_norm,
               source="Zhang and Sennrich 2019"),
    Normalizer("conv-batch-norm", "Batch norm (conv)", CONV, standardize(("case", "position")),
               layers.conv_batch_norm, source="Ioffe and Szegedy 2015"),
    Normalizer("conv-layer-norm", "Layer norm (conv)", CONV, standardize(("unit", "position")),
               layers.conv_layer_norm, source="Ba et al. 2016"),
    Normalizer("group-norm", "Group norm", CONV, standardize((UNITS_PER_GROUP, "position")),
               layers.group_norm, numeric_kwargs={"groups": GROUPS}, groups=GROUPS, source="Wu and He 2018"),
    Normalizer("instance-norm", "Instance norm", CONV, standardize(("position",)),
               layers.instance_norm, source="Ulyanov et al. 2016"),
    Normalizer("batch-norm-inference", "Batch norm (eval)", DENSE, running_stats(), _running_numeric,
               source="Ioffe and Szegedy 2015, running statistics", constants=RUNNING),
)
