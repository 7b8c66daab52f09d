"""Wall-time figures for issue 20 (rewrites of blocks). Run: python benchmarks/rewrites.py

Prints, each the best of the fresh processes `timing.wall` runs (Python start-up included):
- `rewrite --all --format json`: every recipe proved or refuted afresh,
- `verify` of those documents,
and, in process, each recipe's search (proof, repair, counterexample) and check, slowest named.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from timing import wall   # benchmarks/timing.py, beside this script


def main() -> None:
    from invariance.catalogue.rewrites import RECIPES
    from invariance.core.rewrite import document
    from invariance.derive.rewrite import rewrite
    from invariance.kernel.rewrites import check_rewrite

    every = wall(["rewrite", "--all", "--format", "json"])
    print(f"rewrite --all --format json ({len(RECIPES)} recipes): {every:6.2f} s")
    docs = []
    for rid in RECIPES:
        t = time.perf_counter()
        doc = json.loads(json.dumps(document(rewrite(rid), RECIPES[rid])))
        search = time.perf_counter() - t
        t = time.perf_counter()
        assert check_rewrite(doc) == []
        docs.append((search, time.perf_counter() - t, rid, doc))
    with tempfile.TemporaryDirectory() as d:
        for *_, rid, doc in docs:
            (Path(d) / f"rewrite__{rid}.json").write_text(json.dumps(doc))
        print(f"verify of the {len(docs)} rewrite documents: {wall(['verify', d]):6.2f} s")
    search, _, which, _ = max(docs, key=lambda x: x[0])
    check, _, slowest, _ = max(((c, s, r, d) for s, c, r, d in docs), key=lambda x: x[0])
    print(f"in process: search {sum(x[0] for x in docs):.3f} s in all (slowest {which}, {search:.3f} s); "
          f"check {sum(x[1] for x in docs):.3f} s in all (slowest {slowest}, {check:.3f} s)")


if __name__ == "__main__":
    main()
