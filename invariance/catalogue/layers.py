"""NumPy model layers of Layer Normalization (Ba, Kiros & Hinton, 2016).

Two models, both batched over optional leading "instance" axes ``...``
(which must broadcast between the arrays):

* dense: W (..., H, D) with rows w_i, X (..., N, D) holding N cases;
  summed inputs a[..., n, i] = w_i . x_n, of shape (..., N, H).
* conv (a 1x1 convolution): W (..., C, D), X (..., N, D, P) with P positions;
  a[..., n, c, p] = sum_d W[c, d] X[n, d, p], of shape (..., N, C, P).

Each normalization op is ``op(a, W, eps=0.0) -> (a - mu) / sigma`` with the
biased variance and sigma = sqrt(var + eps); ``layer`` computes Eq. 5,
h = f(g * op(a) + b).  ``transform`` applies the re-scalings and re-centerings
of section 5.1 to W and X (never to a).  Degenerate inputs raise ValueError.

>>> W, X = np.eye(3), np.array([[1.0, 2.0, 3.0]])
>>> np.round(layer_norm(summed_inputs(W, X), W), 4)
array([[-1.2247,  0.    ,  1.2247]])
"""
from contextlib import contextmanager

import numpy as np

from ..core.definition import InvalidNormalizer

__all__ = [
    "complex_step", "summed_inputs", "layer", "Operands", "check_op", "random_sizes",
    "batch_norm", "layer_norm", "rms_norm", "weight_norm",
    "conv_batch_norm", "conv_layer_norm", "instance_norm", "group_norm",
    "conv_weight_norm", "conv_rms_norm",
]

# ----------------------------------------------------------------- helpers
_KINDS = "fiu"   # dtype kinds accepted; complex_step() adds "c"


@contextmanager
def complex_step():
    """Accept complex arrays inside this block, for complex-step differentiation
    (:mod:`invariance.numeric.training`).  Every op is an analytic function of its
    inputs away from sigma = 0 (no abs, no conjugate: squares are ``d * d``),
    so ``f(x + i h e_k)`` carries ``h df/dx_k`` in its imaginary part."""
    global _KINDS
    saved, _KINDS = _KINDS, "fiuc"
    try:
        yield
    finally:
        _KINDS = saved


def _array(x, name):
    """x as a float array (integers become float64); reject NaN and inf."""
    x = np.asarray(x)
    if x.dtype.kind not in _KINDS:
        raise ValueError(f"{name} must be a real numeric array, got dtype {x.dtype}")
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _eps(eps):
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return eps


def _is_conv(W, X):
    """True for the conv model, False for dense; validates all shapes."""
    if W.ndim < 2 or X.ndim not in (W.ndim, W.ndim + 1):
        raise ValueError(
            f"W has shape {W.shape} but X has shape {X.shape}: need W (..., H, D) "
            "with X (..., N, D) (dense, X.ndim == W.ndim) or X (..., N, D, P) "
            "(conv, X.ndim == W.ndim + 1)")
    conv = X.ndim == W.ndim + 1
    d_axis, where = (-2, "second-to-last") if conv else (-1, "last")
    if X.shape[d_axis] != W.shape[-1]:
        raise ValueError(f"W has shape {W.shape} but X has shape {X.shape}: the {where} "
                         f"axis of X must equal W's D = {W.shape[-1]}")
    try:
        np.broadcast_shapes(W.shape[:-2], X.shape[:X.ndim - 2 - conv])
    except ValueError:
        raise ValueError(f"W has shape {W.shape} but X has shape {X.shape}: their "
                         "leading instance axes do not broadcast") from None
    return conv


def _prep(a, W, eps, conv, name, need_W=False):
    """Validate a (and W, if given) for a dense or conv op; returns (a, eps, W)."""
    a, eps = _array(a, "a"), _eps(eps)
    kind, core = ("conv", 3) if conv else ("dense", 2)
    if a.ndim < core:
        raise ValueError(f"{name}: a has shape {a.shape}; a {kind} op needs "
                         + ("(..., N, C, P)" if conv else "(..., N, H)"))
    if W is None:
        if need_W:
            raise ValueError(f"{name} needs the weight matrix W")
        return a, eps, None
    W = _array(W, "W")
    if W.ndim < 2 or a.ndim != W.ndim + conv or a.shape[-1 - conv] != W.shape[-2]:
        raise ValueError(f"{name}: a has shape {a.shape} but W has shape {W.shape}; a {kind} "
                         f"op expects a.ndim == W.ndim{' + 1' if conv else ''} and "
                         f"a.shape[{-1 - conv}] == W.shape[-2]")
    return a, eps, W


def _where(zero, labels, core):
    """Describe the first True entry of `zero`, e.g. 'unit 2 (instance (1,))'."""
    idx = tuple(int(i) for i in np.argwhere(zero)[0])
    text = ", ".join(f"{word} {idx[ax]}" for ax, word in labels.items())
    lead = idx[:zero.ndim - core]
    return text + (f" (instance {lead})" if lead else "")


def _standardize(a, eps, axes, name, over, labels, core, few, centre=True):
    """(a - mu) / sqrt(var + eps) with mu, var over `axes` (mu = 0 if not centre)."""
    if centre and np.prod([a.shape[ax] for ax in axes]) < 2:  # one value: its variance is 0
        raise ValueError(f"{name}: {few} (a has shape {a.shape})")
    d = a
    with np.errstate(over="ignore", invalid="ignore"):
        if centre:  # corrected two-pass: a - mu is exact near mu, so re-centre on its own mean
            d = a - a.mean(axis=axes, keepdims=True)
            d = d - d.mean(axis=axes, keepdims=True)
        var = np.mean(d * d, axis=axes, keepdims=True)
    if not np.all(np.isfinite(var)):
        raise ValueError(f"{name}: the statistics overflow (|a| too large); rescale the inputs")
    if eps == 0:
        zero = var == 0  # exact: all values equal (or, for RMS, all zero / underflow)
        if centre:
            zero |= a.max(axis=axes, keepdims=True) == a.min(axis=axes, keepdims=True)
        if zero.any():
            stat = "variance" if centre else "mean square (RMS)"
            raise ValueError(f"{name}: the {stat} over the {over} is zero for "
                             f"{_where(zero, labels, core)}; sigma = 0 with eps = 0")
    return (d / np.sqrt(var + eps)).astype(a.dtype, copy=False)


def _weight_scale(a, W, eps, name, shape):
    """a / sigma with sigma_i = sqrt(||w_i||^2 + eps), reshaped by `shape`."""
    with np.errstate(over="ignore"):
        sq = np.sum(W * W, axis=-1)  # (..., H)
    if not np.all(np.isfinite(sq)):
        raise ValueError(f"{name}: ||w||^2 overflows (W too large); rescale W")
    if eps == 0 and np.any(sq == 0):
        raise ValueError(f"{name}: {_where(sq == 0, {-1: 'row'}, 1)} of W is a zero weight "
                         "vector; sigma = ||w|| = 0 with eps = 0")
    return (a / shape(np.sqrt(sq + eps))).astype(a.dtype, copy=False)


# ------------------------------------------------------------ dense model
def summed_inputs(W, X):
    """Summed inputs: dense a[n, i] = w_i . x_n; conv a[n, c, p] = sum_d W[c, d] X[n, d, p]."""
    W, X = _array(W, "W"), _array(X, "X")
    conv = _is_conv(W, X)
    with np.errstate(over="ignore", invalid="ignore"):
        a = W[..., None, :, :] @ X if conv else X @ np.swapaxes(W, -1, -2)
    if not np.all(np.isfinite(a)):
        raise ValueError("the summed inputs a = W x overflow (non-finite values)")
    return a                                    # (..., N, C, P) or (..., N, H)


def batch_norm(a, W, eps=0.0):
    """Batch norm (Eq. 2), per unit i: mu_i = mean_n a[n, i], sigma_i^2 = mean_n (a[n, i] - mu_i)^2 + eps."""
    a, eps, _ = _prep(a, W, eps, False, "batch norm")
    return _standardize(a, eps, (-2,), "batch norm", "cases", {-1: "unit"}, 2,
                        "batch statistics need at least 2 cases, got a batch of one case")


def layer_norm(a, W, eps=0.0):
    """Layer norm (Eq. 3), per case n: mu = mean_i a[n, i], sigma^2 = mean_i (a[n, i] - mu)^2 + eps."""
    a, eps, _ = _prep(a, W, eps, False, "layer norm")
    return _standardize(a, eps, (-1,), "layer norm", "units", {-2: "case"}, 2,
                        "statistics over the units need at least 2 units, got a layer of one unit")


def rms_norm(a, W, eps=0.0):
    """RMSNorm, per case n: a[n, i] / sqrt(mean_i a[n, i]^2 + eps) (no centring)."""
    a, eps, _ = _prep(a, W, eps, False, "rms norm")
    return _standardize(a, eps, (-1,), "rms norm", "units", {-2: "case"}, 2,
                        "statistics over the units need at least 2 units, got a layer of one unit",
                        centre=False)


def weight_norm(a, W, eps=0.0):
    """Weight norm: mu = 0, sigma_i = sqrt(||w_i||^2 + eps), i.e. a[n, i] / sigma_i."""
    a, eps, W = _prep(a, W, eps, False, "weight norm", need_W=True)
    return _weight_scale(a, W, eps, "weight norm", lambda s: s[..., None, :])


# ------------------------------------------------------------- conv model
def conv_batch_norm(a, W, eps=0.0):
    """Conv batch norm, per channel c: statistics over the cases n and positions p."""
    a, eps, _ = _prep(a, W, eps, True, "conv batch norm")
    return _standardize(a, eps, (-3, -1), "conv batch norm", "cases and positions",
                        {-2: "channel"}, 3, "batch statistics need at least 2 cases "
                        "(or positions), got a batch of one case at one position")


def conv_layer_norm(a, W, eps=0.0):
    """Conv layer norm, per case n: statistics over the channels c and positions p."""
    a, eps, _ = _prep(a, W, eps, True, "conv layer norm")
    return _standardize(a, eps, (-2, -1), "conv layer norm", "channels and positions",
                        {-3: "case"}, 3, "statistics need at least 2 values, got one "
                        "channel at one position")


def instance_norm(a, W, eps=0.0):
    """Instance norm, per case n and channel c: statistics over the positions p."""
    a, eps, _ = _prep(a, W, eps, True, "instance norm")
    return _standardize(a, eps, (-1,), "instance norm", "positions",
                        {-3: "case", -2: "channel"}, 3,
                        "statistics over the positions need at least 2 positions, got one")


def group_norm(a, W, eps=0.0, groups=2):
    """Group norm, per case n and group g of C/G channels: statistics over those channels and p."""
    a, eps, _ = _prep(a, W, eps, True, "group norm")
    *lead, N, C, P = a.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1 or C % groups:
        raise ValueError(f"group norm: the number of channels C = {C} must be divisible "
                         f"by groups = {groups} (a positive integer)")
    g = a.reshape(*lead, N, groups, C // groups, P)
    out = _standardize(g, eps, (-2, -1), "group norm", "channels of the group and positions",
                       {-4: "case", -3: "group"}, 4, "statistics need at least 2 values, "
                       "got one channel per group at one position")
    return out.reshape(a.shape)


def conv_weight_norm(a, W, eps=0.0):
    """Conv weight norm: a[n, c, p] / sigma_c with sigma_c = sqrt(||w_c||^2 + eps)."""
    a, eps, W = _prep(a, W, eps, True, "conv weight norm", need_W=True)
    return _weight_scale(a, W, eps, "conv weight norm", lambda s: s[..., None, :, None])


def conv_rms_norm(a, W, eps=0.0):
    """Conv RMSNorm, per case n: a / sqrt(mean_{c,p} a^2 + eps) (no centring)."""
    a, eps, _ = _prep(a, W, eps, True, "conv rms norm")
    return _standardize(a, eps, (-2, -1), "conv rms norm", "channels and positions",
                        {-3: "case"}, 3, "statistics need at least 2 values, got one "
                        "channel at one position", centre=False)


# ---------------------------------------------------------- layer, transforms
def layer(W, X, gain, bias, op, eps=0.0, f=None, **op_kwargs):
    """h = f(g * op(a, W, eps) + b) (Eq. 5); g, b of shape (..., H), per unit/channel; f=None is identity."""
    W, X = _array(W, "W"), _array(X, "X")
    gain, bias = _array(gain, "gain"), _array(bias, "bias")
    a = summed_inputs(W, X)
    conv, H = X.ndim == W.ndim + 1, W.shape[-2]
    vs = []
    for name, v in (("gain", gain), ("bias", bias)):
        if v.ndim and v.shape[-1] not in (1, H):
            raise ValueError(f"{name} has shape {v.shape} but W has shape {W.shape}: "
                             f"the last axis of {name} must equal H = {H}")
        v = v.astype(a.dtype, copy=False)  # compute in the dtype of the summed inputs
        vs.append(v if v.ndim == 0 else (v[..., None, :, None] if conv else v[..., None, :]))
    z = op(a, W, eps, **op_kwargs)
    try:
        h = vs[0] * z + vs[1]
    except ValueError:
        raise ValueError(f"gain {gain.shape} and bias {bias.shape} do not broadcast with the "
                         f"summed inputs of shape {a.shape}") from None
    return h if f is None else f(h)


def _param(params, key, lead, tail, name):
    """params[key] as an array of shape (lead'..., *tail), lead' broadcasting with lead."""
    if key not in params:
        raise ValueError(f"transform {name!r} needs params[{key!r}]")
    p = _array(params[key], key)
    k = p.ndim - len(tail)
    ok = k >= 0 and p.shape[k:] == tuple(tail) and k <= len(lead)
    try:
        ok = ok and np.broadcast_shapes(p.shape[:k], lead) is not None
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"transform {name!r}: params[{key!r}] has shape {p.shape}, expected "
                         f"(..., {', '.join(map(str, tail))}) with leading axes broadcasting "
                         f"with the instance axes {lead}".replace(", )", ")"))
    return p


class Operands:
    """W and X of a (batched) layer, and the parameters of a transformation, checked.

    The transformations themselves live in :mod:`invariance.catalogue.transformations`,
    beside their symbolic definitions; each reads its parameters from here.
    """

    def __init__(self, name, W, X, params):
        self.name, self.params = name, params
        self.W, self.X = _array(W, "W"), _array(X, "X")
        self.conv = _is_conv(self.W, self.X)
        self.lead_w = self.W.shape[:-2]
        self.lead_x = self.X.shape[:self.X.ndim - 2 - self.conv]
        self.H, self.D = self.W.shape[-2:]
        self.N = self.X.shape[-2 - self.conv]

    def param(self, key, on, tail=()):
        """params[key], shape (instances..., *tail), instances broadcasting with W's or X's."""
        return _param(self.params, key, self.lead_w if on == "W" else self.lead_x, tail, self.name)

    def scalar(self, key, on):
        """A per-instance scalar parameter, shaped to multiply W or X."""
        extra = 2 if on == "W" else 2 + self.conv
        return self.param(key, on)[(...,) + (None,) * extra]

    def case(self):
        """A mask of the re-scaled case ``params["case"]``, 1-based as in the paper."""
        m = self.params.get("case", 1)
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= self.N:
            raise ValueError(f"{self.name}: case must be an int from 1 to {self.N}, got {m!r}")
        return (np.arange(1, self.N + 1) == m).reshape((self.N,) + (1,) * (1 + self.conv))


# ----------------------------------------------------------------- a catalogue entry's op, checked
def random_sizes(norm, rng: np.random.Generator) -> dict[str, int]:
    """Sizes with at least two entries along every axis, so that sigma > 0 almost surely."""
    sizes = {"N": int(rng.integers(2, 6)), "H": int(rng.integers(2, 7)), "D": int(rng.integers(1, 6))}
    if norm.model.id == "conv":
        sizes["P"] = int(rng.integers(2, 5))
        groups = norm.groups or 1
        sizes["H"] = groups * int(rng.integers(max(1, 2 // groups), 4))
    elif norm.groups:   # a dense layer's groups: H a multiple of them, two units a group at least
        sizes["H"] = norm.groups * int(rng.integers(2, 4))
    return sizes


def _draw(norm, rng: np.random.Generator, K: int, s: dict):
    """K instances: standard normal weights and data, gains bounded away from 0."""
    x_shape = (K, s["N"], s["D"]) + ((s["P"],) if "P" in s else ())
    W = rng.normal(size=(K, s["H"], s["D"]))
    X = rng.normal(size=x_shape)
    g = rng.uniform(0.5, 2.0, size=(K, s["H"])) * rng.choice([-1.0, 1.0], size=(K, s["H"]))
    b = rng.normal(size=(K, s["H"]))
    return W, X, g, b


def _checked(norm):
    """``norm.numeric``, failing with a clear :class:`InvalidNormalizer` unless it returns finite
    values of the summed inputs' shape (a user's op is called here first)."""
    def op(a, W, eps=0.0, **kw):
        try:
            z = norm.numeric(a, W, eps, **kw)
        except Exception as err:  # a user's function: name it, keep the cause chained
            raise InvalidNormalizer(f"the NumPy op of normalizer {norm.id!r} raised {type(err).__name__}: "
                                    f"{err} (on summed inputs of shape {np.shape(a)})") from err
        if not isinstance(z, np.ndarray) or z.shape != np.shape(a):
            got = f"an array of shape {z.shape}" if isinstance(z, np.ndarray) else type(z).__name__
            raise InvalidNormalizer(f"the NumPy op of normalizer {norm.id!r} returned {got}; it must return "
                                    f"an array of the summed inputs' shape {np.shape(a)}")
        if z.dtype.kind != "f" or not np.all(np.isfinite(z)):
            what = ("NaN" if z.dtype.kind == "f" and np.isnan(z).any() else
                    "inf" if z.dtype.kind == "f" else f"values of dtype {z.dtype}")
            raise InvalidNormalizer(f"the NumPy layer of normalizer {norm.id!r} produced {what} on finite "
                                    f"summed inputs of shape {np.shape(a)}; its op must return finite floats")
        return z
    return op


def check_op(norm, seed: int = 0) -> None:
    """Run the NumPy op of ``norm`` on one small random batch; :class:`InvalidNormalizer` if it fails."""
    rng = np.random.default_rng(seed)
    W, X, _, _ = _draw(norm, rng, 2, random_sizes(norm, rng))
    _checked(norm)(summed_inputs(W, X), W, 0.0, **norm.numeric_kwargs)
