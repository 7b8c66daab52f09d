"""Wall-time figures for issue 17 (every symmetry of a layer). Run: python benchmarks/symmetries.py

Prints, each the best of REPEATS fresh processes (Python start-up included):
- `symmetries --all --linear-bias --format json`: every built-in layer and the dense ones with a
  linear bias, both kinds (target <= 10 s on this 2-core machine),
- `verify` of the symmetry documents in proofs/ alone, against `verify` of the rest of proofs/
  (target: the new documents within 2x of what verify proofs/ took before them),
and, in process and one core, each layer's time (the slowest named).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from timing import ROOT, wall   # benchmarks/timing.py, beside this script


def main() -> None:
    from invariance.report.commands import _symmetry_ids, symmetry_documents

    ids = _symmetry_ids(None, True, True)
    every = wall(["symmetries", "--all", "--linear-bias", "--format", "json"])
    print(f"symmetries --all --linear-bias --format json ({len(ids)} layers): {every:6.2f} s   target <= 10 s")
    proofs = ROOT / "proofs"
    with tempfile.TemporaryDirectory() as sym, tempfile.TemporaryDirectory() as rest:
        for f in proofs.glob("*"):
            shutil.copy(f, Path(sym if f.name.startswith("symmetries__") else rest) / f.name)
        new = wall(["verify", sym])
        old = wall(["verify", rest])
    print(f"verify of the {len(list(proofs.glob('symmetries__*.json')))} symmetry documents: {new:6.2f} s   "
          f"verify of the other certificates: {old:6.2f} s   ratio {new / old:4.2f} (target <= 2)")
    times = []
    for norm_id in ids:
        t = time.perf_counter()
        symmetry_documents([norm_id], jobs=1)
        times.append((time.perf_counter() - t, norm_id))
    total = sum(t for t, _ in times)
    slow, which = max(times)
    print(f"one core, in process: {total:5.2f} s in all; slowest layer {which} {slow:5.2f} s")


if __name__ == "__main__":
    main()
