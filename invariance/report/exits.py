"""Exit codes and the one error a command raises for bad input."""
from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "BadInput"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class BadInput(Exception):
    """Bad input: printed as one line on stderr (what was wrong, what is valid), exit status 2."""
