"""NumPy against PyTorch for the numeric cross-check. Run: python benchmarks/backends.py

Target (issue 11): `table --all --numeric --backend torch` within 2x of the
NumPy backend, for float32 and float64.  Prints, for each backend and dtype:

- the whole command in a fresh process, best of REPEATS (Python start-up,
  the symbolic derivation of every cell, PyTorch's import of about 1 s, the
  cross-check and the values check included);
- the cross-check alone, in process, over every cell (1,000 instances each),
  after one warm-up cell, best of REPEATS.

The ratio torch / numpy is printed for both.  Needs the [torch] extra.
"""
from __future__ import annotations

import time

from timing import REPEATS, wall   # benchmarks/timing.py, beside this script

CONFIGS = [("numpy", "float64"), ("torch", "float64"), ("numpy", "float32"), ("torch", "float32")]




def cross_check_only(cells, setup) -> float:
    import invariance
    from invariance.numeric.crosscheck import cross_check
    run = lambda c: cross_check(invariance.NORMALIZERS[c.normalizer],  # noqa: E731
                                invariance.TRANSFORMATIONS[c.transformation], c, setup=setup)
    run(cells[0])   # warm-up: imports, vmap's first trace
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        for c in cells:
            run(c)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    import invariance
    from invariance.numeric.crosscheck import Setup
    cells = invariance.table(list(invariance.NORMALIZERS))
    whole, alone = {}, {}
    for backend, dtype in CONFIGS:
        whole[backend, dtype] = wall(["table", "--all", "--numeric", "--backend", backend, "--dtype", dtype])
        alone[backend, dtype] = cross_check_only(cells, Setup(backend, dtype))
    print(f"{len(cells)} cells x 1000 instances; best of {REPEATS}")
    print(f"{'backend, dtype':16} {'table --all --numeric':>22} {'cross-check alone':>18}")
    for key in CONFIGS:
        print(f"{', '.join(key):16} {whole[key]:20.2f} s {alone[key]:16.2f} s")
    for dtype in ("float32", "float64"):
        print(f"torch / numpy, {dtype}: whole command {whole['torch', dtype] / whole['numpy', dtype]:.2f}x, "
              f"cross-check alone {alone['torch', dtype] / alone['numpy', dtype]:.2f}x   target <= 2x")


if __name__ == "__main__":
    main()
