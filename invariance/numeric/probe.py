"""Probe your own layer, numerically: its row of the table, without writing SymPy.

``probe(layer)`` takes a ``torch.nn.Module`` taking X (its linear map, an
``nn.Linear`` or a 1x1 ``nn.Conv2d``, is found, or named with ``weight=``),
or a NumPy function ``fn(X, W)`` with an example weight ``W``.  For each of
the six transformations it draws random instances (W and X standard normal,
N from 2 to 5 cases), applies the transformation to the weight and the input,
never to the summed inputs, and compares the outputs.

The tolerance is measured, as in :func:`invariance.numeric.measured_tolerance`:
the layer runs in float32 and again in float64 on the same rounded inputs, and
an instance counts as unchanged when
:math:`\\max|h' - h| \\le 2(e + e') + M u \\max|h|`, with e, e' the measured
float32 errors of h and h'.  The ratio of the two sides is reported (the
margin): well below 1 for every instance of an invariant column, far above 1
somewhere in a refuted one.  With ``against=`` a registered normalizer, its
derived row is printed beside yours and any difference is a disagreement.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .crosscheck import measured_tolerance, transform
from ..core.records import INVARIANT, NOT_INVARIANT
from ..catalogue.registry import TRANSFORMATIONS

__all__ = ["probe", "ProbeResult"]


@dataclass(frozen=True)
class ProbeResult:
    name: str
    verdicts: dict[str, str]          # transformation id -> invariant / not-invariant
    ratios: dict[str, float]          # transformation id -> max deviation / tolerance
    instances: int
    against: str | None = None
    derived: dict[str, str] = field(default_factory=dict)   # the registered row, if asked
    values: object = None             # invariance.values.ValueCheck against the registered definition

    @property
    def agrees(self) -> bool:
        return not self.disagreements and (self.values is None or self.values.agrees)

    @property
    def disagreements(self) -> list[str]:
        return [t for t, v in self.derived.items() if self.verdicts[t] != v]

    def margins(self) -> str:
        inv = [r for t, r in self.ratios.items() if self.verdicts[t] == INVARIANT]
        ref = [r for t, r in self.ratios.items() if self.verdicts[t] == NOT_INVARIANT]
        return ("margins: invariant columns deviation/tolerance <= "
                + (f"{max(inv):.3g}" if inv else "-") + "; refuted columns >= "
                + (f"{min(ref):.3g}" if ref else "-"))

    def table(self) -> str:
        word = {INVARIANT: "Invariant", NOT_INVARIANT: "No"}
        heads = [TRANSFORMATIONS[t].title for t in self.verdicts]
        rows = [[self.name] + [word[v] for v in self.verdicts.values()],
                ["deviation/tolerance"] + [f"{r:.3g}" for r in self.ratios.values()]]
        if self.against:
            rows.append([f"{self.against} (derived)"] + [word.get(v, v) for v in self.derived.values()])
        widths = [max(len(str(r[k])) for r in [[""] + heads] + rows) for k in range(len(heads) + 1)]
        line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
        out = [line([""] + heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(r) for r in rows]
        out.append(self.margins() + f" ({self.instances} instances a column)")
        out += [f"DISAGREEMENT {self.name} x {t}: probe {self.verdicts[t]}, {self.against} derived "
                f"{self.derived[t]}" for t in self.disagreements]
        if self.values is not None:
            v = self.values
            out.append(("values" if v.agrees else f"DISAGREEMENT {self.name} values") + f": against "
                       f"{self.against}'s definition (gain 1, bias 0, eps 0) at {v.points} exact rational "
                       f"instances, max deviation {v.max_deviation:.3g} ({v.max_tolerance_ratio:.3g} x tolerance)")
        return "\n".join(out)


class _Module:
    """A torch.nn.Module taking X, run in float32 and float64 with the weight W set."""

    def __init__(self, module, weight: str | None):
        import torch
        self.torch = torch
        self.runs = {dt: copy.deepcopy(module).to(getattr(torch, dt)).eval() for dt in ("float32", "float64")}
        self.names = {dt: self._find(m, weight) for dt, m in self.runs.items()}
        W = self._param(self.runs["float64"], self.names["float64"])
        self.conv = W.ndim == 4
        if self.conv and W.shape[2:] != (1, 1):
            raise ValueError(f"the weight {self.names['float64']} has shape {tuple(W.shape)}: the probe "
                             "takes an nn.Linear or a 1x1 nn.Conv2d")
        self.H, self.D = W.shape[:2]

    @staticmethod
    def _find(module, weight):
        import torch
        if weight is not None:
            return weight
        for name, sub in module.named_modules():
            if isinstance(sub, (torch.nn.Linear, torch.nn.Conv2d)):
                prefix = name + "." if name else ""
                if hasattr(sub, "parametrizations") and "weight" in sub.parametrizations:
                    return prefix + "parametrizations.weight.original1"   # weight norm: W is original1
                return prefix + "weight"
        raise ValueError("no nn.Linear or nn.Conv2d in the module; name its weight with weight=")

    @staticmethod
    def _param(module, name):
        params = dict(module.named_parameters())
        if name not in params:
            raise ValueError(f"the module has no parameter {name!r}; it has: {', '.join(params)}")
        return params[name]

    def __call__(self, W, X, dtype):
        torch, m = self.torch, self.runs[dtype]
        p = self._param(m, self.names[dtype])
        with torch.no_grad():
            p.copy_(torch.as_tensor(W[..., None, None] if self.conv else W).to(p.dtype))
            x = torch.as_tensor(X[..., None] if self.conv else X, dtype=p.dtype)
            h = m(x)
        return h.numpy().reshape(X.shape[0], -1)


class _Function:
    """A NumPy function fn(X, W); it computes in the dtype of its inputs."""

    def __init__(self, fn, W):
        self.fn, W = fn, np.asarray(W)
        self.conv, (self.H, self.D) = False, W.shape

    def __call__(self, W, X, dtype):
        return np.asarray(self.fn(X, W)).reshape(X.shape[0], -1)


def _wrap(layer, weight):
    try:
        import torch
        if isinstance(layer, torch.nn.Module):
            return _Module(layer, weight if isinstance(weight, str) else None)
    except ImportError:
        pass
    if not callable(layer) or weight is None or isinstance(weight, str):
        raise ValueError("probe takes a torch.nn.Module, or a NumPy function fn(X, W) with weight=W "
                         "(an example weight matrix of shape (H, D))")
    return _Function(layer, weight)


def probe(layer, weight=None, against: str | None = None, instances: int = 200, seed: int = 0,
          name: str | None = None) -> ProbeResult:
    """The six columns of the table for your layer, numerically (see the module docstring).

    ``layer``: a ``torch.nn.Module`` taking X, or a NumPy function ``fn(X, W)``;
    ``weight``: the module's weight parameter name (found if None) or, for a
    function, an example W; ``against``: a registered normalizer id to compare with.
    """
    run = _wrap(layer, weight)
    rng = np.random.default_rng(seed)
    verdicts, ratios = {}, {}
    for t in TRANSFORMATIONS.values():
        worst = 0.0
        for _ in range(instances):
            s = {"N": int(rng.integers(2, 6)), "H": run.H, "D": run.D}
            if run.conv:
                s["P"] = int(rng.integers(2, 5))
            W = rng.normal(size=(1, run.H, run.D)).astype(np.float32)
            X = rng.normal(size=(1, s["N"], run.D) + ((s["P"],) if run.conv else ())).astype(np.float32)
            params = t.sample(rng, 1, s)
            Wt, Xt = transform(t.id, W, X, params)                      # in float32
            Wtw, Xtw = transform(t.id, W.astype(float), X.astype(float), params)  # in float64
            h, ht = run(W[0], X[0], "float32"), run(Wt[0], Xt[0], "float32")
            hw, htw = run(W[0].astype(float), X[0].astype(float), "float64"), run(Wtw[0], Xtw[0], "float64")
            scale = max(float(np.abs(hw).max()), np.finfo(float).tiny)   # the units cancel in the ratio
            tol = measured_tolerance(np.abs(h - hw).max() / scale, np.abs(ht - htw).max() / scale,
                                     h.size, "float32")
            worst = max(worst, float(np.abs(ht.astype(float) - h).max() / scale / tol))
        verdicts[t.id], ratios[t.id] = (INVARIANT if worst <= 1 else NOT_INVARIANT), worst
    derived, values = {}, None
    if against is not None:
        from ..derive.engine import derive
        from ..catalogue.registry import normalizer
        from .values import EPSILONS, compare_values
        norm = normalizer(against)
        derived = {t: derive(norm, t).verdict for t in TRANSFORMATIONS}
        # values too, at the layer's own sizes, in float64; the layer's gain and bias are taken
        # to be 1 and 0 (a fresh module's), so a layer initialised otherwise shows as different
        if norm.model.id.startswith("dense") != run.conv:
            values = compare_values(
                norm, op=lambda W, X, g, b, eps: run(W, X, "float64").reshape(X.shape[0], *W.shape[:1],
                                                                              *X.shape[2:]),
                epsilons=EPSILONS[:1], unit_gain=True, seed=seed,
                fixed={"unit": run.H, "input": run.D})
    if name is None:
        name = type(layer).__name__ if isinstance(run, _Module) else getattr(layer, "__name__", "layer")
    return ProbeResult(name, verdicts, ratios, instances, against, derived, values)


def load(spec: str):
    """``MODULE:FACTORY`` -> what FACTORY() returns; MODULE is a .py file or a dotted module name.

    FACTORY may return a ``torch.nn.Module`` or a pair ``(fn, W)``.
    """
    import importlib
    import runpy
    from pathlib import Path
    module, sep, factory = spec.rpartition(":")
    if not sep or not module or not factory:
        raise ValueError(f"expected MODULE:FACTORY (a .py file or a module name, and a function in it), got {spec!r}")
    if module.endswith(".py") or Path(module).is_file():
        if not Path(module).is_file():
            raise ValueError(f"no such file: {module}")
        namespace = runpy.run_path(module, run_name="invariance_probe")
    else:
        try:
            namespace = vars(importlib.import_module(module))
        except ImportError as err:
            raise ValueError(f"cannot import {module!r}: {err}") from None
    if not callable(namespace.get(factory)):
        found = [k for k, v in namespace.items() if callable(v) and not k.startswith("_")]
        raise ValueError(f"{module} has no function {factory!r}; it has: {', '.join(found) or 'none'}")
    return namespace[factory]()
