"""Compiling a generated document: ``latexmk -pdf`` (else ``pdflatex`` up to three
times) in the document's directory, with a one-line error on stderr if LaTeX fails
and no auxiliary files left behind.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["compile_pdf"]

_AUX = (".aux", ".fls", ".fdb_latexmk", ".out", ".toc")
_FLAGS = ("-interaction=nonstopmode", "-halt-on-error", "-file-line-error")


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if re.match(r"^(\S*\.tex:\d+: |! )", line):
            return line.strip()
    return "see the log"


def compile_pdf(tex_path: Path, timeout: float = 600) -> int:
    """Compile ``tex_path`` in its directory: 0 and a PDF; 1 and a one-line error on stderr if LaTeX
    fails; 2 and one line naming the install command if there is no TeX (a missing dependency)."""
    tex_path = Path(tex_path).resolve()
    cwd, stem = tex_path.parent, tex_path.stem
    pdf, log = cwd / f"{stem}.pdf", cwd / f"{stem}.log"
    if shutil.which("latexmk"):
        runs = [["latexmk", "-pdf", *_FLAGS, tex_path.name]]
    elif shutil.which("pdflatex"):
        runs = [["pdflatex", *_FLAGS, tex_path.name]] * 3   # the third only if LaTeX asks to rerun
    else:
        print("python -m invariance docs: neither latexmk nor pdflatex is on PATH; install TeX Live "
              "(apt-get install texlive-latex-base texlive-latex-recommended latexmk)", file=sys.stderr)
        return 2
    for k, cmd in enumerate(runs):
        if k == 2 and "Rerun to get" not in log.read_text(errors="replace"):
            break
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"python -m invariance docs: {cmd[0]} took more than {timeout:.0f} s on {tex_path}",
                  file=sys.stderr)
            return 1
        if proc.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else proc.stdout
            for ext in (".pdf", *_AUX):   # no stale PDF, no half-written aux file for the next run
                (cwd / f"{stem}{ext}").unlink(missing_ok=True)
            print(f"python -m invariance docs: LaTeX error in {tex_path}: {_first_error(text)} "
                  f"(log: {log})", file=sys.stderr)
            return 1
    for ext in _AUX:
        (cwd / f"{stem}{ext}").unlink(missing_ok=True)
    pages = re.search(r"Output written on \S+ \((\d+) pages?", log.read_text(errors="replace"))
    print(f"wrote {pdf}" + (f" ({pages.group(1)} pages)" if pages else ""))
    return 0
