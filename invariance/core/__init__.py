"""What a layer, a cell and a proof are: the model's symbols (``model``), what a
normalizer is (``definition``), exact algebra (``algebra``), a cell's
definitions and exact instances (``cells``), the records of a verdict
(``records``), the certificate's JSON (``certificate``), the paper's notation
(``notation``), and what a consequence for training rests on (``training``:
the family, its generator, the definitions) and is (``consequence``: the
record, its words, its JSON).  Imports nothing else of the package."""
