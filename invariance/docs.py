"""Placeholder: the LaTeX document is written by a later change."""


def build(out, pdf=False) -> int:
    raise SystemExit("docs: not written yet")
