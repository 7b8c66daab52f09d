"""The one timing helper the benchmark scripts share: wall time of a fresh process."""
from __future__ import annotations

import subprocess
import sys
import time

REPEATS = 3


def wall(args: list[str], repeats: int = REPEATS) -> float:
    """Best of ``repeats`` runs of ``python -m invariance ARGS`` (start-up included), in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "invariance", *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best
