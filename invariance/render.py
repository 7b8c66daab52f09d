"""Text renderings of a table of cells: markdown, LaTeX (booktabs), CSV, JSON."""
from __future__ import annotations

import csv
import io
import json
import shutil

from .certificates import to_json
from .records import INVARIANT, NOT_INVARIANT, Cell

__all__ = ["FORMATS", "render_table", "cell_word"]

FORMATS = ("markdown", "latex", "csv", "json")
_WORD = {INVARIANT: "Invariant", NOT_INVARIANT: "No"}


def cell_word(cell: Cell) -> str:
    """The paper's word for a verdict: Invariant, No (or Unknown)."""
    return _WORD.get(cell.verdict, "Unknown")


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
    rows, cols, at = _grid(cells)
    body = [[titles[r]] + [cell_word(at[r, c]) for c in cols] for r in rows]

    def table(header):
        w = [max(len(x) for x in col) for col in zip(header, *body)]
        line = lambda xs: "| " + " | ".join(x.ljust(n) for x, n in zip(xs, w)) + " |"  # noqa: E731
        return [line(header), "|" + "|".join("-" * (n + 2) for n in w) + "|"] + [line(r) for r in body]

    out = table([""] + [titles[c] for c in cols])
    if max(len(x) for x in out) > width:  # too wide for the terminal: the short headers
        out = table([""] + [short[c] for c in cols])
    return "\n".join(out)


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


def render_table(cells: list[Cell], fmt: str, titles: dict[str, str], short: dict[str, str],
                 extra: dict | None = None, width: int | None = None) -> str:
    """The table in ``fmt``; ``extra`` maps (normalizer, transformation) to more JSON fields."""
    if fmt == "markdown":
        return _markdown(cells, titles, short, width or shutil.get_terminal_size((100, 24)).columns)
    if fmt == "latex":
        return _latex(cells, titles)
    if fmt == "csv":
        return _csv(cells, titles)
    if fmt == "json":
        items = []
        for c in cells:
            d = to_json(c)
            d.pop("equations", None)
            d.update((extra or {}).get((c.normalizer, c.transformation), {}))
            items.append(d)
        return json.dumps(items, indent=1, ensure_ascii=False)
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
