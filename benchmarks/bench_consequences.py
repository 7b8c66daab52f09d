"""Wall-time figures for issue 12. Run: python benchmarks/bench_consequences.py

Prints, each the best of REPEATS fresh processes (Python start-up included):
- `python -m invariance consequences --all` (every cell derived, every consequence proved),
- the same with `--numeric` (complex-step gradients, SGD runs; target: <= 15 s on one core),
and, in process: re-checking every consequence entry with check_consequence (the cost
`verify` would add; the cited cells' certificates are checked once each, memoised),
and the document chapter with its figure.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from timing import wall   # benchmarks/timing.py, beside this script





def main() -> None:
    import invariance
    from invariance.derive.consequences import check_consequence, consequence_json
    from invariance.report.training_report import chapter_tex, collect

    print(f"consequences --all (fresh process):             {wall(['consequences', '--all']):6.2f} s")
    print(f"consequences --all --numeric (fresh process):   "
          f"{wall(['consequences', '--all', '--numeric', '--format', 'json']):6.2f} s   target <= 15 s")
    cells = [(n, t) for n in invariance.NORMALIZERS for t in invariance.TRANSFORMATIONS]
    found = collect(cells, numeric=True)
    entries = [json.loads(json.dumps(consequence_json(c))) for c in found]
    t = time.perf_counter()
    problems = sum(len(check_consequence(e)) for e in entries)
    print(f"check_consequence, {len(entries)} entries:            {time.perf_counter() - t:6.2f} s   "
          f"({problems} problems)")
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        chapter_tex(Path(out), found)
        print(f"chapter with its figure:                        {time.perf_counter() - t:6.2f} s")


if __name__ == "__main__":
    sys.exit(main())
