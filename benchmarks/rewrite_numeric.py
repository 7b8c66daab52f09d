"""The rewrites' numeric cross-check (issue 20): `rewrite --all --numeric` on each backend.

Prints a Markdown table: the whole command (fresh process, best of 3, start-up and the symbolic
verdicts included) and the cross-check alone in process (best of 3), for numpy and torch.
"""
from __future__ import annotations

import time

from timing import REPEATS, wall


def in_process(backend: str) -> float:
    from invariance.catalogue.rewrites import RECIPES
    from invariance.core.rewrite import document
    from invariance.derive.rewrite import rewrite
    from invariance.numeric.rewrite_check import check_recipe
    docs = {rid: document(rewrite(rid), RECIPES[rid]) for rid in RECIPES}
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        assert all(check_recipe(rid, d, backend)[1] for rid, d in docs.items())
        best = min(best, time.perf_counter() - t)
    return best


if __name__ == "__main__":
    print("| backend | `rewrite --all --numeric` (fresh process) | cross-check alone (in process) |")
    print("|---|---|---|")
    for backend in ("numpy", "torch"):
        whole = wall(["rewrite", "--all", "--numeric", "--backend", backend])
        print(f"| {backend}, float64 | {whole:.2f} s | {in_process(backend):.2f} s |")
