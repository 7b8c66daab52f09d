"""The one list of normalizers and transformations that everything reads.

The table, the CLI's choices and help, the certificates, the docs and the
tests' parametrisation all come from here.
"""
from __future__ import annotations

from .definition import Normalizer
from .normalizers import NORMALIZERS as _BUILTIN
from .transformations import TRANSFORMATIONS as _TRANSFORMATIONS, Transformation

__all__ = ["NORMALIZERS", "TRANSFORMATIONS", "TABLE1", "register", "normalizer", "transformation",
           "UnknownId"]

NORMALIZERS: dict[str, Normalizer] = {n.id: n for n in _BUILTIN}
TRANSFORMATIONS: dict[str, Transformation] = {t.id: t for t in _TRANSFORMATIONS}
#: The rows of the Layer Normalization paper's Table 1, in its order.
TABLE1: tuple[str, ...] = ("batch-norm", "weight-norm", "layer-norm")


class UnknownId(KeyError):
    """An id that the registry does not hold; the message names the valid ones."""

    def __str__(self) -> str:
        return self.args[0]


def register(norm: Normalizer) -> Normalizer:
    """Add a normalizer (e.g. your own) to the registry; returns it."""
    if norm.id in NORMALIZERS and NORMALIZERS[norm.id] is not norm:
        raise ValueError(f"a normalizer with id {norm.id!r} is already registered")
    NORMALIZERS[norm.id] = norm
    return norm


def _lookup(table: dict, key: str, what: str):
    try:
        return table[key]
    except KeyError:
        raise UnknownId(f"unknown {what} {key!r}; valid: {', '.join(table)}") from None


def normalizer(id: str) -> Normalizer:
    return _lookup(NORMALIZERS, id, "normalizer")


def transformation(id: str) -> Transformation:
    return _lookup(TRANSFORMATIONS, id, "transformation")
