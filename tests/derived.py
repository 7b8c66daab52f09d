"""The derived table, once per test session: every module reads the same cells."""
from __future__ import annotations

from functools import lru_cache

import invariance
from invariance.core.records import Cell


@lru_cache(maxsize=None)
def cell_of(norm_id: str, trans_id: str) -> Cell:
    """The derived cell (the symbolic side) of a registered normalizer."""
    return invariance.derive(invariance.NORMALIZERS[norm_id], invariance.TRANSFORMATIONS[trans_id])


def all_cells(normalizers=None) -> list[Cell]:
    """Cells in the registry's order (rows, then columns), for the given normalizer ids."""
    return [cell_of(n, t) for n in (normalizers or list(invariance.NORMALIZERS))
            for t in invariance.TRANSFORMATIONS]
