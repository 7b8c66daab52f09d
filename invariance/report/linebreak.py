"""Long displays broken into lines: a rough width of LaTeX maths, and an ``aligned``
block cut at the top-level ``+`` and ``-`` of the right-hand side.

LaTeX does not break a display by itself.  The one package of TeX Live's
``latex-base`` and ``latex-recommended`` that does, breqn (``dmath``), cannot be
loaded beside this document's maths: by default it stops at the notation's
``\\rVert'^{2}`` ("Double superscript"), and with ``mathstyleoff`` it sets every
``\\tfrac`` of a counterexample's matrices as a full ``\\frac`` and drops the space
around relations in the caveats table.  amsmath's ``multline`` and ``split`` and
mathtools break only where they are told to, which is what :func:`break_display`
computes.  The width estimate also decides what :mod:`.latex` sets inline or as
a display, and when rows are aligned in one block.
"""
from __future__ import annotations

import re

__all__ = ["LINE", "maths_width", "break_display", "pieces", "gathered"]

LINE = 60          # widest display (in letter widths, see maths_width) before it is broken

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}_^&]|\s+|.")
_RELATION = {"=", "<", ">", "+", "-", r"\leq", r"\geq", r"\neq", r"\to", r"\le", r"\ge", r"\cdot", r"\times"}
_NARROW = {",": 0.5, ".": 0.3, "'": 0.3, "(": 0.6, ")": 0.6, "[": 0.6, "]": 0.6, "|": 0.4, "/": 0.7,
           r"\,": 0.3, r"\;": 0.4, r"\!": -0.2, r"\quad": 2.0, r"\qquad": 4.0, r"\lVert": 0.6,
           r"\rVert": 0.6, r"\lfloor": 0.6, r"\rfloor": 0.6, r"\left": 0.0, r"\right": 0.0,
           r"\\": 0.0, "&": 0.0, r"\dots": 2.0, r"\ldots": 2.0}


def maths_width(maths: str) -> float:
    """Rough width of LaTeX maths in letters (fractions stack, scripts are smaller)."""
    tokens = [t for t in _TOKEN.findall(maths) if not t.isspace()]
    width, _ = _seq(tokens, 0)
    return width


def _seq(tokens, i, until="}"):
    """Width of a sequence up to ``until``; a ``\\\\`` starts a new line (the widest counts)."""
    lines, w = [], 0.0
    while i < len(tokens):
        t = tokens[i]
        if t == until:
            return max(lines + [w]), i + 1
        if t == r"\\":
            lines.append(w)
            w, i = 0.0, i + 1
            continue
        dw, i = _atom(tokens, i)
        w += dw
    return max(lines + [w]), i


def _arg(tokens, i):
    if i < len(tokens) and tokens[i] == "{":
        return _seq(tokens, i + 1)
    return _atom(tokens, i) if i < len(tokens) else (0.0, i)


def _atom(tokens, i):
    t = tokens[i]
    if t == "{":
        return _seq(tokens, i + 1)
    if t in ("_", "^"):
        w, i = _arg(tokens, i + 1)
        return 0.7 * w, i
    if t in (r"\frac", r"\dfrac", r"\tfrac"):
        a, i = _arg(tokens, i + 1)
        b, i = _arg(tokens, i)
        return max(a, b) + 0.4, i
    if t == r"\sqrt":
        i += 1
        if i < len(tokens) and tokens[i] == "[":
            while tokens[i] != "]":
                i += 1
            i += 1
        a, i = _arg(tokens, i)
        return a + 1.2, i
    if t in (r"\left", r"\right"):
        return 0.6, i + 2
    if t in (r"\sum", r"\prod"):
        i, limits = i + 1, [0.0]
        while i < len(tokens) and tokens[i] in ("_", "^"):
            w, i = _arg(tokens, i + 1)
            limits.append(0.7 * w)
        return max(1.6, max(limits)) + 0.4, i
    if t in (r"\text", r"\mathrm", r"\mathbf", r"\operatorname", r"\substack", r"\mathit"):
        return _arg(tokens, i + 1)
    if t in (r"\begin", r"\end"):
        _, i = _arg(tokens, i + 1)
        return 0.0, i
    if t in _RELATION:
        return 1.8, i + 1
    return _NARROW.get(t, 1.0), i + 1


def _cuts(maths: str) -> list[int]:
    """Positions of the top-level `` = ``, `` + ``, `` - `` (outside braces and \\left...\\right)."""
    depth, cuts, i = 0, [], 0
    while i < len(maths):
        if maths.startswith(r"\left", i) and not maths.startswith(r"\leftarrow", i):
            depth, i = depth + 1, i + 5
            continue
        if maths.startswith(r"\right", i) and not maths.startswith(r"\rightarrow", i):
            depth, i = depth - 1, i + 6
            continue
        ch = maths[i]
        if ch == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and i > 0 and maths[i - 1] == " " and ch in "=+-" and maths[i + 1:i + 2] == " ":
            cuts.append(i - 1)
        i += 1
    return cuts


def break_display(maths: str, limit: float = LINE) -> str:
    """``maths`` as it is if it fits, else an ``aligned`` block broken at top-level
    ``+`` and ``-`` of the right-hand side (lines filled greedily)."""
    if maths_width(maths) <= limit:
        return maths
    cuts = _cuts(maths)
    eq = next((c for c in cuts if maths[c + 1] == "="), None)
    if eq is not None:
        lhs, rhs, cuts = maths[:eq], maths[eq + 3:], [c - eq - 3 for c in cuts if c > eq]
        head = lhs + " &= "
    else:
        lhs, rhs, head = "", maths, "& "
    pieces, start = [], 0
    for c in cuts:
        if c > 0:
            pieces.append(rhs[start:c].strip())
            start = c
    pieces.append(rhs[start:].strip())
    if len(pieces) == 1:
        return maths  # nothing to break at: leave it to LaTeX (the log shows any overfull box)
    lines, current = [], pieces[0]
    for piece in pieces[1:]:
        budget = limit - (maths_width(lhs) + 2 if not lines else 4)
        if maths_width(current + " " + piece) > budget:
            lines.append(current)
            current = piece
        else:
            current += " " + piece
    lines.append(current)
    body = (" \\\\\n" + r"&\quad ").join(lines)
    return "\\begin{aligned}\n" + head + body + "\n\\end{aligned}"


def pieces(maths: str) -> list[str]:
    """``maths`` cut before each top-level `` + `` and `` - `` (a sum's summands, each with its sign)."""
    out, start = [], 0
    for c in _cuts(maths):
        if maths[c + 1] in "+-" and c > 0:
            out.append(maths[start:c].strip())
            start = c
    out.append(maths[start:].strip())
    return [p for p in out if p]


def gathered(items, limit: float, gap: float = 0.0) -> str:
    """``items`` ((width, maths), ...) set several to a line, a new line before one that would
    pass ``limit``: the body of a ``gathered`` environment."""
    lines, current, width = [], [], 0.0
    for wide, maths in items:
        if current and width + wide > limit:
            lines.append(current)
            current, width = [], 0.0
        current.append(maths)
        width += wide + gap
    lines.append(current)
    return "\\begin{gathered}\n" + " \\\\\n".join(r", \quad ".join(line) for line in lines) + "\n\\end{gathered}"
