"""The search, untrusted: the proof tactic and counterexample search (``engine``),
reasons in words (``reasons``), caveats (``caveats``), what invariance implies
for training (``consequences``: the steps) and the sources' claims (``claims``).  Nothing
here can change what :mod:`invariance.kernel` accepts."""
