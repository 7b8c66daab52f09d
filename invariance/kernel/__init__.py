"""What ``verify`` trusts: the certificate checker (``cells``), its parser
(``parse``), the consequences' checker (``consequences``) and the reading of
untrusted files (``files``).  Imports only :mod:`invariance.core` and
:mod:`invariance.catalogue`, never the search, the numeric side or the reports
(an import-linter contract in ``pyproject.toml`` keeps it so)."""
