"""A layer norm with a real bug, caught by the probe (numeric only, no SymPy).

    python -m invariance probe examples/probe_wrong_axis.py:make_layer --against layer-norm

The statistics are taken over dim 0, the batch, instead of dim -1, the units:
the layer behaves like batch norm, and the probe's row says so.
"""
import torch


class MyLayerNorm(torch.nn.Module):
    def __init__(self, D=4, H=6):
        super().__init__()
        self.linear = torch.nn.Linear(D, H, bias=False)
        self.gain, self.bias = torch.nn.Parameter(torch.ones(H)), torch.nn.Parameter(torch.zeros(H))

    def forward(self, x):
        a = self.linear(x)
        mu = a.mean(0, keepdim=True)                    # bug: dim 0 is the batch; should be -1
        var = a.var(0, keepdim=True, unbiased=False)
        return self.gain * (a - mu) / var.sqrt() + self.bias


def make_layer():
    return MyLayerNorm()
