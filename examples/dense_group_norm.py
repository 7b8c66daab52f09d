"""Group norm on a dense layer, as a row of your own: nn.GroupNorm(G, H) after nn.Linear.

The built-in group-norm row is for a 1x1 convolution, whose statistics also run
over the positions; after an nn.Linear there are none, and the verdicts differ
(re-centering W shifts every unit of a group alike, so it is invariant here).
Register this row and probe against it:

    python -m invariance probe MODULE:FACTORY --load examples/dense_group_norm.py --against dense-group-norm

Its statistics are the catalogue's own (standardize over the units of a group);
the NumPy op is what the numeric checks run.
"""
import numpy as np

import invariance
from invariance.catalogue.normalizers import GROUPS, UNITS_PER_GROUP, standardize
from invariance.core.model import DENSE


def dense_group_norm(a, W, eps=0.0, groups=GROUPS):
    """a (..., N, H) -> each case's units standardized within each of ``groups`` groups."""
    g = a.reshape(a.shape[:-1] + (groups, a.shape[-1] // groups))
    d = g - g.mean(-1, keepdims=True)
    return (d / np.sqrt((d * d).mean(-1, keepdims=True) + eps)).reshape(a.shape)


invariance.register(invariance.Normalizer(
    "dense-group-norm", "Group norm (dense)", DENSE, standardize((UNITS_PER_GROUP,)), dense_group_norm,
    numeric_kwargs={"groups": GROUPS}, groups=GROUPS, source="Wu and He 2018, on a fully connected layer"))
