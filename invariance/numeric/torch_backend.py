"""The PyTorch backend of the numeric cross-check (the optional ``[torch]`` extra).

Each catalogue entry's :class:`invariance.core.definition.TorchOp` computes one
instance, ``h = layer(W, X, g, b, eps)``, with PyTorch's own functions; here it
is batched over the leading instance axis with :func:`torch.func.vmap`, so K
instances cost one call, as they do in the NumPy layers.  W and X are the
module's weight and input: a transformation is applied to them, never to the
summed inputs.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["available", "BackendError", "check_device", "layer", "DEVICES"]

DEVICES = ("cpu", "cuda")


class BackendError(ValueError):
    """The backend or device asked for is not usable here; the message says why, in one line."""


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    if not available():
        raise BackendError("the torch backend needs PyTorch: pip install '.[torch]'")
    import torch
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendError("--device cuda: no CUDA device is available to this PyTorch "
                           f"({torch.__version__}); use --device cpu")


@lru_cache(maxsize=None)
def _batched(op, eps: float):
    if not op.vmap:
        return lambda W, X, g, b: op.layer(W, X, g, b, eps)
    from torch.func import vmap
    return vmap(lambda W, X, g, b: op.layer(W, X, g, b, eps))


def layer(norm, W, X, g, b, eps: float, dtype: str = "float64", device: str = "cpu") -> np.ndarray:
    """K instances (leading axis) through the entry's PyTorch counterpart, in ``dtype``.

    Returns h as a NumPy array of that dtype.  Raises :class:`BackendError` if
    the entry names no PyTorch counterpart.
    """
    import torch
    if norm.torch is None:
        raise BackendError(f"normalizer {norm.id!r} names no PyTorch counterpart (Normalizer.torch)")
    tdt = getattr(torch, dtype)
    args = [torch.as_tensor(np.ascontiguousarray(v), dtype=tdt, device=device) for v in (W, X, g, b)]
    # The instances are tiny (tens of values each): with several intra-op threads the
    # 1x1 convolution under vmap spends its time synchronising them (measured here: 15 ms
    # a call with 2 threads, 0.5 ms with 1), so the call runs on one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            h = _batched(norm.torch, float(eps))(*args)
    finally:
        torch.set_num_threads(threads)
    return h.cpu().numpy()
