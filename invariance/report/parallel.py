"""Work spread over processes, and the count of how completeness was certified: shared by the
symmetries command and the document's chapters on layers and blocks."""
from __future__ import annotations

import os

__all__ = ["parallel_map", "certified_how"]


def parallel_map(fn, items, jobs: int | None = None) -> list:
    """``[fn(x) for x in items]``, one process per core by default (forked: the registry, ``--load``
    included, is inherited)."""
    items = list(items)
    jobs = jobs or min(len(items), os.cpu_count() or 1)
    if jobs > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return pool.map(fn, items, chunksize=1)
    return [fn(x) for x in items]


def certified_how(certificates) -> dict:
    """How many complete certificates rest on an exact rank over Q, and how many on Rump's test."""
    how = {"exact": 0, "Rump": 0}
    for c in certificates:
        if c.complete:
            how["exact" if c.how.startswith("exact") else "Rump"] += 1
    return how
