"""What a layer, a cell and a proof are: the model's symbols (``model``), what a
normalizer is (``definition``), exact algebra (``algebra``), a cell's
definitions and exact instances (``cells``), the records of a verdict
(``records``), the certificate's JSON (``certificate``) and the paper's notation
(``notation``).  Imports nothing else of the package."""
