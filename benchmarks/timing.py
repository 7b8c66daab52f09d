"""The one timing helper the benchmark scripts share: wall time of a fresh process."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPEATS = 3
ROOT = Path(__file__).resolve().parent.parent   # the checkout the figures are about
sys.path.insert(0, str(ROOT))                    # so `import invariance` is this checkout's, installed or not


def wall(args: list[str], repeats: int = REPEATS) -> float:
    """Best of ``repeats`` runs of ``python -m invariance ARGS`` (start-up included), in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "invariance", *args], check=True, capture_output=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
    return best
