"""The numbers: the numeric cross-check of each verdict (``crosscheck``), numeric
ops against their exact definitions (``values``), the PyTorch backend
(``torch_backend``), the probe of a user's own layer (``probe``) and the
training laws measured (``training``)."""
