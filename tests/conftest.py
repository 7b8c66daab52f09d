"""Hypothesis profiles, registered once.

``ci`` (the default): derandomized, so every run tries the same examples; no
deadline (the first call of a cell pays for SymPy); a fixed number of examples;
failing examples printed with their reproduction blob.  ``thorough``: many more
examples, randomised.  Select with ``INVARIANCE_PROFILE=thorough``.
"""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=20, print_blob=True,
                          database=None)
settings.register_profile("thorough", derandomize=False, deadline=None, max_examples=500,
                          print_blob=True)
settings.load_profile(os.environ.get("INVARIANCE_PROFILE", "ci"))
