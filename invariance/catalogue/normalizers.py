"""The catalogue: each normalizer's statistics (SymPy) beside its NumPy op.

A normalizer is the axes its statistics run over, plus whether it centres.
Adding one is adding an entry here (or passing one to
:func:`invariance.catalogue.registry.register`); the engine is not edited.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import layers
from ..core.definition import Normalizer, Statistic, TorchOp
from ..core.model import CONV, DENSE, DENSE_BIAS, Group, Model

__all__ = ["standardize", "rms", "weight_norm_stats", "NORMALIZERS", "with_linear_bias", "LINEAR_BIAS"]


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


# -- PyTorch counterparts (the [torch] extra): one instance, W and X to h -----------
def _F():
    import torch.nn.functional as F   # torch is optional: imported only when asked for
    return F


def _linear(W, X):
    """nn.Linear(D, H, bias=False) with weight W: a = X W^T."""
    return _F().linear(X, W)


def _conv1x1(W, X):
    """nn.Conv2d(D, C, 1, bias=False) with weight W[:, :, None, None], X (N, D, P) as P x 1 images."""
    return _F().conv2d(X[..., None], W[..., None, None])[..., 0]


def _batch_norm(a, g, b, eps):
    # F.batch_norm raises "eps must be positive during training" for eps = 0; the
    # op it calls, torch.batch_norm, computes the same batch statistics and takes 0.
    import torch
    if eps > 0:
        return _F().batch_norm(a, None, None, g, b, training=True, eps=eps)
    return torch.batch_norm(a, g, b, None, None, True, 0.0, eps, False)


def _running_batch_norm(a, g, b, eps):
    """Batch norm in eval mode: the running statistics m and v (one value for every unit)."""
    import torch
    stat = {k: torch.full(a.shape[-1:], float(v), dtype=a.dtype, device=a.device) for k, v in RUNNING.items()}
    return _F().batch_norm(a, stat[RUNNING_MEAN], stat[RUNNING_VAR], g, b, training=False, eps=eps)


_BN_SEMANTICS = ("F.batch_norm refuses eps = 0 in training (ValueError); at eps = 0 the raw op it "
                 "calls, torch.batch_norm(training=True), is used; no running statistics")
_PER_CHANNEL = "weight = g, bias = b (per channel); the linear map is a 1x1 nn.Conv2d without bias"


def _torch_weight_norm(W, X, g, b, conv):
    """Any leading instance axes (vmap has no batching rule for torch._weight_norm, so
    the rows of every instance go through it at once: it normalizes each row alike)."""
    # parametrizations.weight_norm(module, dim=0): original0 = g (H, 1), original1 = W;
    # the module's weight is torch._weight_norm(original1, original0, 0) = g w_i / ||w_i||
    import torch
    V = torch._weight_norm(W.reshape(-1, W.shape[-1]), g.reshape(-1, 1), 0).reshape(W.shape)
    if conv:   # a 1x1 convolution: a[n, c, p] = sum_d V[c, d] X[n, d, p]
        return V.unsqueeze(-3) @ X + b[..., None, :, None]
    return X @ V.transpose(-1, -2) + b[..., None, :]


UNITS_PER_GROUP = Group("unit")   # proofs hold for any group size S
GROUPS = 2                        # the number of groups that counterexamples and NumPy use

NORMALIZERS = (
    # -- the paper's Table 1, fully connected layer ---------------------------
    Normalizer("batch-norm", "Batch norm", DENSE, standardize(("case",)), layers.batch_norm,
               source="Ioffe and Szegedy 2015; Ba et al. 2016, Eq. 2",
               torch=TorchOp("F.batch_norm(training=True)", "nn.BatchNorm1d(H): weight = g, bias = b",
                             lambda W, X, g, b, eps: _batch_norm(_linear(W, X), g, b, eps),
                             semantics=_BN_SEMANTICS)),
    Normalizer("weight-norm", "Weight norm", DENSE, weight_norm_stats(DENSE), layers.weight_norm,
               source="Salimans and Kingma 2016",
               torch=TorchOp("torch.nn.utils.parametrizations.weight_norm",
                             "nn.Linear(D, H): parametrizations.weight.original0 = g, original1 = W, bias = b",
                             lambda W, X, g, b, eps: _torch_weight_norm(W, X, g, b, conv=False),
                             default_eps=lambda dtype: 0.0, has_eps=False, vmap=False,
                             semantics="no epsilon: ||w_i|| alone; run at eps = 0 whatever --eps says")),
    Normalizer("layer-norm", "Layer norm", DENSE, standardize(("unit",)), layers.layer_norm,
               source="Ba et al. 2016, Eq. 3",
               torch=TorchOp("F.layer_norm", "nn.LayerNorm(H): weight = g, bias = b",
                             lambda W, X, g, b, eps: _F().layer_norm(_linear(W, X), g.shape, g, b, eps))),
    # -- beyond the table -----------------------------------------------------
    Normalizer("rms-norm", "RMSNorm", DENSE, rms(("unit",)), layers.rms_norm,
               source="Zhang and Sennrich 2019",
               torch=TorchOp("F.rms_norm", "nn.RMSNorm(H): weight = g; b added after (nn.RMSNorm has no bias)",
                             lambda W, X, g, b, eps: _F().rms_norm(_linear(W, X), g.shape, g, eps) + b,
                             default_eps=lambda dtype: float(np.finfo(dtype).eps),  # = torch.finfo
                             semantics="no bias; eps=None (the default) is the dtype's machine epsilon")),
    Normalizer("conv-batch-norm", "Batch norm (conv)", CONV, standardize(("case", "position")),
               layers.conv_batch_norm, source="Ioffe and Szegedy 2015",
               torch=TorchOp("F.batch_norm(training=True)", "nn.BatchNorm1d(C): " + _PER_CHANNEL,
                             lambda W, X, g, b, eps: _batch_norm(_conv1x1(W, X), g, b, eps),
                             semantics=_BN_SEMANTICS)),
    Normalizer("conv-layer-norm", "Layer norm (conv)", CONV, standardize(("unit", "position")),
               layers.conv_layer_norm, source="Ba et al. 2016",
               torch=TorchOp("F.layer_norm", "nn.LayerNorm((C, P)): weight = g, bias = b repeated over "
                             "the positions; the linear map is a 1x1 nn.Conv2d without bias",
                             lambda W, X, g, b, eps: _F().layer_norm(
                                 _conv1x1(W, X), (g.shape[0], X.shape[-1]), g[:, None].expand(-1, X.shape[-1]),
                                 b[:, None].expand(-1, X.shape[-1]), eps),
                             semantics="nn.LayerNorm's affine is per element; a per-channel gain is its special case")),
    Normalizer("group-norm", "Group norm", CONV, standardize((UNITS_PER_GROUP, "position")),
               layers.group_norm, numeric_kwargs={"groups": GROUPS}, groups=GROUPS, source="Wu and He 2018",
               torch=TorchOp("F.group_norm", f"nn.GroupNorm({GROUPS}, C): " + _PER_CHANNEL,
                             lambda W, X, g, b, eps: _F().group_norm(_conv1x1(W, X), GROUPS, g, b, eps))),
    Normalizer("instance-norm", "Instance norm", CONV, standardize(("position",)),
               layers.instance_norm, source="Ulyanov et al. 2016",
               torch=TorchOp("F.instance_norm", "nn.InstanceNorm1d(C, affine=True): " + _PER_CHANNEL,
                             lambda W, X, g, b, eps: _F().instance_norm(
                                 _conv1x1(W, X), None, None, g, b, use_input_stats=True, eps=eps))),
    Normalizer("batch-norm-inference", "Batch norm (eval)", DENSE, running_stats(), _running_numeric,
               source="Ioffe and Szegedy 2015, running statistics", constants=RUNNING,
               torch=TorchOp("F.batch_norm(training=False)",
                             "nn.BatchNorm1d(H).eval(): weight = g, bias = b, running_mean = m, running_var = v",
                             lambda W, X, g, b, eps: _running_batch_norm(_linear(W, X), g, b, eps))),
)


# -- the dense layer with a bias in its linear map: a = W x + c (nn.Linear's default) ----
# The bias c is a parameter of the layer that no transformation touches.  Counterexamples,
# the values check and the numeric cross-check all use this one c (its first H entries), as
# they use one alpha for Dynamic Tanh; the engine derives every verdict from the definitions.
LINEAR_BIAS = (sp.Rational(1, 2), sp.Integer(-1), sp.Rational(3, 2), sp.Integer(2),
               sp.Rational(-3, 4), sp.Integer(1), sp.Integer(-2), sp.Rational(5, 4))
_C = np.array([float(v) for v in LINEAR_BIAS])


def _biased_op(op):
    def with_bias(a, W, eps=0.0, **kw):
        if a.shape[-1] > len(_C):
            raise ValueError(f"the linear bias has {len(_C)} entries; H = {a.shape[-1]} is too many")
        return op(a + _C[:a.shape[-1]].astype(a.dtype), W, eps, **kw)
    return with_bias


def _biased_torch(op: TorchOp) -> TorchOp:
    """nn.Linear(D, H) with bias c: computed as W~ x~ with x~ = (x, 1) and W~ = (W, c)."""
    def layer(W, X, g, b, eps):
        import torch
        c = torch.as_tensor(_C[:W.shape[0]], dtype=W.dtype, device=W.device)
        ones = torch.ones(X.shape[:-1] + (1,), dtype=X.dtype, device=X.device)
        return op.layer(torch.cat([W, c[:, None]], -1), torch.cat([X, ones], -1), g, b, eps)
    return TorchOp(op.name, op.parameters.replace("nn.Linear(D, H)", "nn.Linear(D, H, bias=c)")
                   + "; the linear map is nn.Linear(D, H) with its bias c", layer, op.default_eps,
                   op.has_eps, op.vmap, op.semantics)


_VARIANTS: dict[str, Normalizer] = {}


def with_linear_bias(norm: Normalizer) -> Normalizer:
    """``norm`` on the dense layer with a bias in the linear map, id ``<id>-linear-bias``.

    .. math:: a_{n,i} = \\textstyle\\sum_j W_{i,j} x_{n,j} + c_i

    Only dense normalizers written with the model's helpers (so their statistics
    follow the model) have this variant; the same object is returned each time.
    """
    if norm.model is not DENSE:
        dense = ", ".join(n.id for n in NORMALIZERS if n.model is DENSE)
        raise ValueError(f"--linear-bias: {norm.id} is not a dense-layer normalizer; the variant "
                         f"exists for the dense rows ({dense}, and your own dense ones)")
    if norm.id not in _VARIANTS:
        # PyTorch's weight-normed nn.Linear adds its bias after the normalization, i.e. it is
        # our output bias b, not c: that variant has no PyTorch counterpart
        torch = None if norm.torch is None or not norm.torch.vmap else _biased_torch(norm.torch)
        _VARIANTS[norm.id] = Normalizer(
            f"{norm.id}-linear-bias", f"{norm.title}, linear bias", DENSE_BIAS, norm.stats,
            _biased_op(norm.numeric), norm.output, norm.numeric_kwargs, norm.source, norm.groups,
            {**norm.constants, DENSE_BIAS.c: list(LINEAR_BIAS)}, torch)
    return _VARIANTS[norm.id]
