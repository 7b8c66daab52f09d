"""The one list of normalizers and transformations that everything reads.

The table, the CLI's choices and help, the certificates, the docs and the
tests' parametrisation all come from here.
"""
from __future__ import annotations

import difflib
import re

from ..core.definition import InvalidNormalizer, Normalizer
from ..core.records import reads
from .normalizers import NORMALIZERS as _BUILTIN
from .families import FAMILIES as _FAMILIES
from .transformations import TRANSFORMATIONS as _TRANSFORMATIONS, Transformation

__all__ = ["NORMALIZERS", "TRANSFORMATIONS", "FAMILIES", "acting", "TABLE1", "register", "normalizer", "transformation",
           "UnknownId", "InvalidNormalizer", "unknown", "did_you_mean", "titles"]

NORMALIZERS: dict[str, Normalizer] = {n.id: n for n in _BUILTIN}
_BUILTIN_IDS = frozenset(NORMALIZERS)
TRANSFORMATIONS: dict[str, Transformation] = {t.id: t for t in _TRANSFORMATIONS}
#: Every family a symmetry may be proved with: the table's columns, then the other candidates.
FAMILIES: dict[str, Transformation] = {**TRANSFORMATIONS, **{t.id: t for t in _FAMILIES}}
#: The rows of the Layer Normalization paper's Table 1, in its order.
TABLE1: tuple[str, ...] = ("batch-norm", "weight-norm", "layer-norm")


class UnknownId(KeyError):
    """An id that the registry does not hold; the message names the valid ones."""

    def __str__(self) -> str:
        return self.args[0]


#: What an id may be: ids name rows, command-line arguments and certificate files.
ID = re.compile(r"[a-z0-9][a-z0-9-]*")


def register(norm: Normalizer) -> Normalizer:
    """Add a normalizer (e.g. your own) to the registry; returns it.

    It is checked first, so that a mistake shows here rather than in the
    middle of a table: the id (lower-case letters, digits and hyphens, as it
    names files), that no other normalizer has it, that its statistics and
    output build SymPy expressions, and that its NumPy op returns finite
    values of the summed inputs' shape.  Raises :class:`InvalidNormalizer`.
    """
    if not isinstance(norm, Normalizer):
        raise InvalidNormalizer(f"register takes an invariance.Normalizer, got {type(norm).__name__}")
    if not isinstance(norm.id, str) or not ID.fullmatch(norm.id):
        slug = re.sub(r"[^a-z0-9]+", "-", str(norm.id).lower()).strip("-") or "my-norm"
        raise InvalidNormalizer(f"normalizer id {norm.id!r} is not valid: use lower-case letters, digits "
                                f"and hyphens, starting with a letter or digit (ids name files), e.g. {slug!r}")
    if norm.id in NORMALIZERS and NORMALIZERS[norm.id] is not norm:
        whose = "built in" if norm.id in _BUILTIN_IDS else "registered earlier, e.g. by the same file loaded twice"
        raise InvalidNormalizer(f"a normalizer with id {norm.id!r} is already registered ({whose}); "
                                "give each normalizer its own id")
    norm.build()
    from .layers import check_op
    check_op(norm)
    NORMALIZERS[norm.id] = norm
    return norm


def did_you_mean(word: str, valid) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``valid`` to ``word``, or ``""``."""
    key = word.strip().lower().replace("_", "-")
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(what: str, word: str, valid) -> "UnknownId":
    """The error for an unknown ``what``: names the close match, if any, and every valid choice."""
    valid = list(valid)
    return UnknownId(f"unknown {what} {word!r}{did_you_mean(word, valid)}; valid: {', '.join(valid)}")


def _lookup(table: dict, key: str, what: str):
    try:
        return table[key]
    except KeyError:
        raise unknown(what, key, table) from None


def normalizer(id: str) -> Normalizer:
    """The registered normalizer ``id`` (``<id>-linear-bias``: a dense one with a bias in its
    linear map); :class:`UnknownId` (with the close match) otherwise."""
    suffix = "-linear-bias"
    if isinstance(id, str) and id.endswith(suffix) and id not in NORMALIZERS:
        base = NORMALIZERS.get(id[:-len(suffix)])
        if base is not None and base.model.id == "dense":
            from .normalizers import with_linear_bias
            return with_linear_bias(base)
    return _lookup(NORMALIZERS, id, "normalizer")


def transformation(id: str) -> Transformation:
    """The transformation ``id``; :class:`UnknownId` (with the close match) otherwise."""
    return _lookup(TRANSFORMATIONS, id, "transformation")


def acting(id: str) -> Transformation:
    """A column of the table or another family of :data:`FAMILIES`; :class:`UnknownId` otherwise."""
    return _lookup(FAMILIES, id, "transformation")


@reads("titles")
def titles() -> dict[str, str]:
    """id -> title, for every registered normalizer and transformation."""
    from .normalizers import with_linear_bias
    variants = {v.id: v.title for v in (with_linear_bias(n) for n in NORMALIZERS.values() if n.model.id == "dense")}
    return {**{k: v.title for k, v in NORMALIZERS.items()}, **variants,
            **{k: v.title for k, v in FAMILIES.items()}}
