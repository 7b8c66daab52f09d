"""Prove, with SymPy, how normalization layers behave under re-scaling and re-centering.

>>> from invariance import derive
>>> derive("layer-norm", "weight-matrix-recentering").verdict
'invariant'
>>> derive("weight-norm", "dataset-rescaling").verdict
'not-invariant'
"""
from __future__ import annotations

from .core.definition import InvalidNormalizer, Normalizer, Statistic, general_form
from .derive.engine import derive, derive_row
from .core.model import CONV, DENSE, Group
from .catalogue.normalizers import rms, standardize, weight_norm_stats
from .core.records import INVARIANT, NOT_INVARIANT, UNKNOWN, Cell, reads
from .catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS, UnknownId, register, titles
from .core import certificate as _certificate  # noqa: F401  (registers how a cell reads as JSON)

__all__ = ["derive", "derive_row", "table", "titles", "Normalizer", "Statistic", "general_form",
           "standardize", "rms", "weight_norm_stats", "Group", "DENSE", "CONV", "register",
           "NORMALIZERS", "TRANSFORMATIONS", "TABLE1", "Cell", "INVARIANT", "NOT_INVARIANT", "UNKNOWN",
           "UnknownId", "InvalidNormalizer", "probe"]


@reads("explain")
def _explain(cell: Cell, caveats: bool = False) -> str:
    """``cell.explain()``, with the report layer imported only when a cell is read so."""
    from .report.explain import explain_cell
    return explain_cell(cell, caveats)


def probe(layer, weight=None, against=None, instances: int = 200, seed: int = 0, name=None, **options):
    """Your own layer's row of the table, numerically, and its measured symmetries: see
    :func:`invariance.numeric.probe.probe` (options: mode, output, symmetries, input_directions)."""
    from .numeric.probe import probe as _probe
    return _probe(layer, weight, against, instances, seed, name, **options)


def table(normalizers=TABLE1, transformations=None) -> list[Cell]:
    """Every cell of the table, derived afresh (rows in the order given)."""
    cols = [TRANSFORMATIONS[t] for t in transformations] if transformations else None
    return [cell for n in normalizers for cell in derive_row(n, cols)]


