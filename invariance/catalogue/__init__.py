"""Where a user adds a layer: the normalizers (symbolic definition beside its
NumPy op, ``normalizers`` and ``layers``), the transformations of the paper's
section 5.1 (``transformations``) and the one registry everything reads
(``registry``).  Imports only :mod:`invariance.core`."""
