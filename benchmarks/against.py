"""This checkout against an earlier revision, in one run: `table`, `verify proofs/` and
`docs`, alternating fresh processes so that a busy machine slows both alike.

Run: python benchmarks/against.py REV [--repeats N]   (e.g. REV = the commit before a refactor)

Prints, for each command, the best of N wall times of each side and their ratio.  The
earlier revision is checked out in a temporary git worktree, removed afterwards; each side
runs its own `python -m invariance` with its own checkout first on the path.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import ROOT

COMMANDS = (("table", ["table"]), ("verify proofs/", ["verify", "proofs"]),
            ("docs", ["docs", "--out", "{tmp}"]))


def _run(checkout: Path, args: list[str], tmp: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invariance", *[a.format(tmp=tmp) for a in args]],
                   check=True, capture_output=True, cwd=checkout, env=env)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rev", help="the earlier revision (a commit, tag or branch)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), args.rev],
                       check=True)
        try:
            print(f"{'command':<16} {args.rev[:10]:>10} {'this':>8} {'ratio':>6}   (best of {args.repeats}, s)")
            for name, cmd in COMMANDS:
                old, new = [], []
                for _ in range(args.repeats):
                    old.append(_run(before, cmd, tmp))
                    new.append(_run(ROOT, cmd, tmp))
                print(f"{name:<16} {min(old):10.2f} {min(new):8.2f} {min(new) / min(old):6.2f}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=True)


if __name__ == "__main__":
    main()
