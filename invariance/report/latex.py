"""Text for LaTeX: the escaping every generated document shares."""
from __future__ import annotations

__all__ = ["esc"]


_ESCAPE = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%",
           "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


_UNICODE = {"\u2019": "'", "\u2018": "`", "\u201c": "``", "\u201d": "''", "\u2014": "---",
            "\u2013": "--", "\u2026": r"\dots{}", "\u00a0": "~", "\u00b5": r"$\mu$", "\u03bc": r"$\mu$",
            "\u03c3": r"$\sigma$", "\u03b4": r"$\delta$", "\u03b3": r"$\gamma$"}


def esc(text: str) -> str:
    """Plain text (any characters) as LaTeX text."""
    out = []
    for ch in text:
        if ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) > 127:
            raise ValueError(f"docs: no LaTeX for the character {ch!r} in {text!r}")
        else:
            out.append(ch)
    return "".join(out)

