"""Text renderings of a table of cells: markdown, LaTeX (booktabs), CSV, JSON."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sys

from ..core.certificate import document
from ..core.records import INVARIANT, NOT_INVARIANT, Cell

__all__ = ["FORMATS", "render_table", "cell_word", "verdict_word"]

FORMATS = ("markdown", "latex", "csv", "json")
_WORD = {INVARIANT: "Invariant", NOT_INVARIANT: "No"}
_COMPACT = {INVARIANT: "Inv", NOT_INVARIANT: "No"}


def verdict_word(verdict: str) -> str:
    """The paper's word for a verdict: Invariant, No (or Unknown)."""
    return _WORD.get(verdict, "Unknown")


def cell_word(cell: Cell) -> str:
    return verdict_word(cell.verdict)


def _grid(cells: list[Cell]):
    rows, cols = [], []
    for c in cells:
        if c.normalizer not in rows:
            rows.append(c.normalizer)
        if c.transformation not in cols:
            cols.append(c.transformation)
    at = {(c.normalizer, c.transformation): c for c in cells}
    return rows, cols, at


def _markdown(cells, titles, short, width):
    """The widest layout that fits ``width``: full headers, short headers, then transposed."""
    rows, cols, at = _grid(cells)

    def table(header, body):
        w = [max(len(x) for x in col) for col in zip(header, *body)]
        line = lambda xs: "| " + " | ".join(x.ljust(n) for x, n in zip(xs, w)) + " |"  # noqa: E731
        return [line(header), "|" + "|".join("-" * (n + 2) for n in w) + "|"] + [line(r) for r in body]

    body = [[titles[r]] + [cell_word(at[r, c]) for c in cols] for r in rows]
    compact = [[titles[r]] + [_COMPACT.get(at[r, c].verdict, "?") for c in cols] for r in rows]
    legend = ["Inv = Invariant", *(("columns: " if k == 1 else "") + f"{k} = {titles[c]}"
                                   for k, c in enumerate(cols, 1))]
    layouts = [table([""] + [titles[c] for c in cols], body),
               table([""] + [short[c] for c in cols], body),
               table([""] + [str(k) for k in range(1, len(cols) + 1)], compact)]
    fitting = [t for t in layouts if max(len(x) for x in t[:len(rows) + 2]) <= width]
    best = fitting[0] if fitting else layouts[-1]
    if best is layouts[-1]:  # wrap the legend to the width too, never inside an entry
        best = best + [""] + _pack(legend, max(int(min(width, 100)), 40))
    return "\n".join(best)


def _pack(entries: list[str], width: int) -> list[str]:
    """Lines of ``"; "``-separated entries, each line within ``width`` unless one entry is wider."""
    lines = [entries[0]]
    for e in entries[1:]:
        if len(lines[-1]) + 2 + len(e) + 1 <= width:
            lines[-1] += "; " + e
        else:
            lines[-1] += ";"
            lines.append(e)
    return lines


def _latex(cells, titles):
    rows, cols, at = _grid(cells)
    head = " & ".join(["", *(r"\multicolumn{1}{p{1.6cm}}{\centering " + titles[c] + "}" for c in cols)])
    lines = [r"\begin{tabular}{l" + "c" * len(cols) + "}", r"\toprule", head + r" \\", r"\midrule"]
    lines += [" & ".join([titles[r], *(cell_word(at[r, c]) for c in cols)]) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def _csv(cells, titles):
    rows, cols, at = _grid(cells)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["normalizer", *cols])
    for r in rows:
        w.writerow([r, *(at[r, c].verdict for c in cols)])
    return buf.getvalue().rstrip("\n")


def _terminal_width() -> float:
    """The terminal's width (``COLUMNS`` if set); unlimited when piped, so files get the paper's layout."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return float("inf")


def render_table(cells: list[Cell], fmt: str, titles: dict[str, str], short: dict[str, str],
                 extra: dict | None = None, width: int | None = None) -> str:
    """The table in ``fmt``; ``extra`` maps (normalizer, transformation) to more JSON fields."""
    if fmt == "markdown":
        return _markdown(cells, titles, short, width or _terminal_width())
    if fmt == "latex":
        return _latex(cells, titles)
    if fmt == "csv":
        return _csv(cells, titles)
    if fmt == "json":   # the certificate schema, without the registry's definitions
        return json.dumps(document(cells, definitions=False, annotations=extra), indent=1, ensure_ascii=False)
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
