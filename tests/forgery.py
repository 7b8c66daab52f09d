"""What every forgery test asserts: the forgery is rejected, each problem on one line,
naming one of the reasons given."""
from __future__ import annotations

from invariance.report.certificates import verify


def rejected(doc, *reason: str) -> list[str]:
    """The forgery is rejected, each problem on one line, naming one of ``reason``."""
    problems = verify(doc)
    assert problems, "forgery accepted"
    assert all("\n" not in p for p in problems)
    assert any(r in p for p in problems for r in reason), problems
    return problems
