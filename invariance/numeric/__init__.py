"""The numbers: the numeric cross-check of each verdict (``crosscheck``), numeric
ops against their exact definitions (``values``), the PyTorch backend
(``torch_backend``), the probe of a user's own layer (``probe``), the
training laws measured (``training``) and the rewrites' two computations run in
float64, as terms or as torch.nn modules (``rewrite_check``)."""
