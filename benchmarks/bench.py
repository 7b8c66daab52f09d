"""Wall-time figures for the issues' targets. Run: python benchmarks/bench.py

Prints, each the best of REPEATS fresh processes (Python start-up included):
- the whole Table 1 derived fresh (`python -m invariance table`; target <= 3 s),
- Table 1 with the numeric cross-check (1,000 instances per cell; target: the
  cross-check adds <= 1 s),
- every registered normalizer with the numeric cross-check (`table --all
  --numeric`; target <= 6 s),
- `verify proofs/`, every committed certificate re-checked (target <= 7.2 s,
  twice round 1's 3.6 s, now that the checker also parses, spot-checks and
  regenerates every display field and Markdown file),
and, in process, the slowest Table 1 cell and the numeric cross-check alone.
"""
from __future__ import annotations

import time
from pathlib import Path

from timing import wall   # benchmarks/timing.py, beside this script


def main() -> None:
    import invariance
    from invariance.numeric.crosscheck import cross_check

    table = wall(["table"])
    table_numeric = wall(["table", "--numeric"])
    everything = wall(["table", "--all", "--numeric"])
    print(f"table (Table 1, fresh process):           {table:6.2f} s   target <= 3 s")
    print(f"table --numeric (Table 1):                {table_numeric:6.2f} s   "
          f"cross-check adds {table_numeric - table:5.2f} s, target <= 1 s")
    print(f"table --all --numeric ({len(invariance.NORMALIZERS)} rows):          {everything:6.2f} s   target <= 6 s")
    proofs = Path(__file__).resolve().parent.parent / "proofs"
    verify = wall(["verify", str(proofs)])
    print(f"verify proofs/ ({len(list(proofs.glob('*.json')))} certificates):         {verify:6.2f} s   "
          "target <= 7.2 s")

    times, cells = [], []
    for n in invariance.TABLE1:
        for t in invariance.TRANSFORMATIONS:
            start = time.perf_counter()
            cells.append(invariance.derive(n, t))
            times.append((time.perf_counter() - start, f"{n} x {t}"))
    slow, name = max(times)
    print(f"slowest Table 1 cell, in process:         {slow:6.3f} s   ({name})")
    start = time.perf_counter()
    for c in cells:
        cross_check(invariance.NORMALIZERS[c.normalizer], invariance.TRANSFORMATIONS[c.transformation], c)
    print(f"numeric cross-check alone, 18 x 1000:     {time.perf_counter() - start:6.2f} s   target <= 1 s")


if __name__ == "__main__":
    main()
