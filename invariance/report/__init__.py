"""What people read: the table (``table``), ``check``'s text (``explain``), the
certificates written and verified with their display (``certificates``), the
training report (``training_report``) and the LaTeX document (``docs``, which puts
together ``sections``, ``derivations``, ``cell_pages``, ``errata`` and
``symmetry_chapter``, written with ``latex`` and ``linebreak`` and compiled by
``pdf``)."""
