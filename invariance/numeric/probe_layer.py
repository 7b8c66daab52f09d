"""What the probe runs: your ``torch.nn.Module`` as it is, or your NumPy function.

:class:`TorchLayer` deep-copies the module into float32 and float64 and runs it
in the mode it was given (``mode="train"`` or ``"eval"`` to choose): a layer
with batch statistics then normalizes over the N cases of each call, which the
probe says.  The probed weight W is any 2-D parameter (or a 1x1 convolution's)
named by its dotted name; without a name, the candidates are listed and the
first whose columns take the module's input is taken.  The module's input X is
N cases of D features (conv: N x D x P positions), D found by running it.  A
tuple or dict output is read at ``output=`` (an index or a key).

Every refusal is a :class:`ValueError` whose message is one line.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["TorchLayer", "FunctionLayer", "wrap", "select_output", "TORCH_HINT", "Unusable", "RowTensors"]

TORCH_HINT = "pip install '.[torch]' (from the invariance checkout)"
TRIAL_CASES = 3        # cases of the trial batch that finds the input size and checks determinism
POSITIONS = 3          # positions of a conv layer's input (kept fixed, so the output size is fixed)


class Unusable(ValueError):
    """The module ran, but its output cannot be probed as it is (a tuple to choose from, no row a case)."""


def select_output(out, output, what: str = "the module"):
    """The array to probe from a module's output: ``out`` itself, or its entry ``output``."""
    if isinstance(out, dict) or (hasattr(out, "keys") and hasattr(out, "__getitem__")
                                 and not hasattr(out, "shape")):
        keys = list(out.keys())
        if output is None:
            raise Unusable(f"{what} returns a dict with keys {', '.join(map(str, keys))}; choose one "
                             "with --output KEY (output= in Python)")
        if str(output) not in map(str, keys):
            raise Unusable(f"--output {output}: {what} returns a dict with keys {', '.join(map(str, keys))}")
        return out[next(k for k in keys if str(k) == str(output))]
    if isinstance(out, (tuple, list)):
        if output is None:
            raise Unusable(f"{what} returns a {type(out).__name__} of {len(out)}; choose one entry with "
                             f"--output INDEX (0 to {len(out) - 1}; output= in Python)")
        try:
            k = int(output)
        except (TypeError, ValueError):
            k = None
        if k is None or not -len(out) <= k < len(out):
            raise Unusable(f"--output {output}: {what} returns a {type(out).__name__} of {len(out)}; "
                             f"give an index from 0 to {len(out) - 1}")
        return out[k]
    if output is not None:
        raise Unusable(f"--output {output}: {what} returns a single array; leave --output out")
    return out


def _mode(module) -> str:
    flags = {m.training for m in module.modules()}
    return "train" if flags == {True} else "eval" if flags == {False} else "mixed"


@dataclass(frozen=True)
class Weight:
    """The probed weight: its name, shape as a matrix (H, D), and what holds it."""

    name: str
    H: int
    D: int
    conv: int            # 0: a matrix; 1: a Conv1d's kernel-1 weight; 2: a Conv2d's 1x1 weight
    owner: str           # e.g. "0 (Linear, bias)"
    owner_name: str      # the dotted name of the sub-module that holds it
    bias: bool           # the linear map has a bias c of its own (a = W x + c)
    normalized: bool     # the weight is parametrized (e.g. weight_norm): its bias comes after


@dataclass(frozen=True)
class RowTensors:
    """Where a registered row's tensors are among the module's trainable parameters: W, g, b, c
    by dotted name (None: the module has none, and the row's value is taken: g = 1, b = 0)."""

    names: dict               # "W", "g", "b", "c" -> a parameter's dotted name, or None
    where: str                # one line saying what was found
    running: tuple | None     # (running mean, running var + eps), per unit, of the batch norm that
                              # follows W in eval mode: the row's constants m, v are these here
    groups: int | None        # the number of groups of the GroupNorm that follows W


class TorchLayer:
    """A torch.nn.Module taking X, run in float32 and float64 with its weight W set."""

    kind = "module"

    def __init__(self, module, weight: str | None = None, mode: str | None = None, output=None):
        import torch
        self.torch, self.output = torch, output
        if mode not in (None, "train", "eval"):
            raise ValueError(f"unknown mode {mode!r}; valid: train, eval (default: the module's own)")
        self.given_mode = _mode(module)
        self.mode_source = "as given" if mode is None else f"--mode {mode}"
        self.warnings: list[str] = []
        try:
            self.runs = {dt: copy.deepcopy(module).to(getattr(torch, dt)) for dt in ("float32", "float64")}
        except Exception as err:   # the user's module: one line
            raise ValueError(f"cannot copy the module to float32 and float64: {type(err).__name__}: "
                             f"{_line(err)}") from None
        if mode is not None:
            for m in self.runs.values():
                m.train(mode == "train")
        self.mode = _mode(self.runs["float64"])
        self.pristine = copy.deepcopy(self.runs["float64"])   # as given: the symmetries are measured on it
        self.candidates = self._candidates(self.runs["float64"])
        self.weight, self.D_in, self.out_size = self._choose(weight)
        self.W0 = self._param("float64").detach().numpy().reshape(self.weight.H, self.weight.D).copy()
        self._check_deterministic()

    # -- the weight ------------------------------------------------------------------------
    @staticmethod
    def _candidates(module) -> list[Weight]:
        """Every parameter that is a matrix (H x D) or a 1x1 convolution's weight, in order."""
        import torch
        owners = dict(module.named_modules())
        found = []
        for name, p in module.named_parameters():
            path, _, leaf = name.rpartition(".")
            parts = path.split(".")
            if "parametrizations" in parts:      # weight_norm: original0 = g, original1 = v (the direction)
                k = parts.index("parametrizations")
                owner_name, param_name = ".".join(parts[:k]), parts[k + 1]
                if leaf not in ("original", "original1"):
                    continue
                normalized = True
            else:
                owner_name, param_name, normalized = path, leaf, False
            owner = owners.get(owner_name, module)
            conv = 0
            if isinstance(owner, (torch.nn.Conv1d, torch.nn.Conv2d)) and param_name == "weight":
                conv = p.ndim - 2
                if p.shape[2:] != (1,) * conv:
                    continue                     # a kernel wider than 1: not a per-position linear map
            elif p.ndim != 2:
                continue
            bias = isinstance(owner, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)) \
                and param_name == "weight" and getattr(owner, "bias", None) is not None
            label = f"{owner_name or 'the module'} ({type(owner).__name__}" + (
                ", bias" if bias else ", no bias" if isinstance(owner, (torch.nn.Linear, torch.nn.Conv1d,
                                                                         torch.nn.Conv2d)) else "") + ")"
            found.append(Weight(name, int(p.shape[0]), int(p.shape[1]), conv, label, owner_name, bias, normalized))
        return found

    def _choose(self, name):
        by_name = {w.name: w for w in self.candidates}
        params = dict(self.runs["float64"].named_parameters())
        if name is not None and name not in by_name:
            if name in params:
                raise ValueError(f"--weight {name} has shape {tuple(params[name].shape)}: the probe takes a "
                                 "matrix (H x D), an nn.Linear's weight or a 1x1 convolution's; matrices here: "
                                 + (", ".join(by_name) or "none"))
            raise ValueError(f"the module has no parameter {name!r}; its matrices: {', '.join(by_name) or 'none'}"
                             f" (all parameters: {', '.join(params) or 'none'})")
        if not self.candidates:
            raise ValueError("the module has no matrix parameter (nn.Linear, 1x1 convolution or any 2-D "
                             f"parameter) to probe; its parameters: {', '.join(params) or 'none'}")
        chosen = [by_name[name]] if name is not None else self.candidates
        sizes = list(dict.fromkeys([w.D for w in chosen] + [w.D for w in self.candidates]))
        errors = []
        for D in sizes:
            for w in chosen:
                if w.D != D and name is None:
                    continue
                try:
                    out = self.forward(self.runs["float64"], _trial((TRIAL_CASES, D) + (POSITIONS,) * bool(w.conv)),
                                       w.conv)
                except Unusable:
                    raise
                except ValueError as err:
                    errors.append(f"D = {D}: {err}")
                    break
                return w, D, int(out[0].size)
        raise ValueError(f"the module does not run on a batch of N cases x D features for D in "
                         f"{', '.join(map(str, sizes))}: {errors[0] if errors else 'no candidate'}")

    def _param(self, dtype):
        return dict(self.runs[dtype].named_parameters())[self.weight.name]

    # -- running ---------------------------------------------------------------------------
    def forward(self, module, X, conv: int | None = None):
        """The module on X (N x D, or N x D x P), as a NumPy array (N, ...); errors as one line."""
        torch = self.torch
        conv = self.weight.conv if conv is None else conv
        dtype = next(module.parameters()).dtype
        x = torch.as_tensor(X, dtype=dtype)
        if conv == 2:
            x = x[..., None]
        with warnings.catch_warnings(record=True) as seen, torch.no_grad():
            warnings.simplefilter("always")
            try:
                out = select_output(module(x), self.output)
                h = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
            except Unusable:
                raise
            except Exception as err:   # the user's module: one line
                raise ValueError(f"the module fails on an input of shape {tuple(x.shape)}: "
                                 f"{type(err).__name__}: {_line(err)}") from None
        for w in seen:
            text = f"{w.category.__name__}: {_line(w.message)}"
            if text not in self.warnings:
                self.warnings.append(text)
        if h.ndim == 0 or h.shape[0] != X.shape[0]:
            raise Unusable(f"the module's output has shape {h.shape} for {X.shape[0]} cases; the probe "
                             "needs one row of output per case (N, ...)")
        return h.reshape(X.shape[0], -1)

    def set_weight(self, module, W):
        p = dict(module.named_parameters())[self.weight.name]
        with self.torch.no_grad():
            p.copy_(self.torch.as_tensor(W).reshape(p.shape).to(p.dtype))

    def __call__(self, W, X, dtype):
        m = self.runs[dtype]
        self.set_weight(m, W)
        return self.forward(m, X)

    def _check_deterministic(self):
        m = self.runs["float64"]
        X = _trial((TRIAL_CASES, self.D_in) + (POSITIONS,) * bool(self.weight.conv))
        first, second = self.forward(m, X), self.forward(m, X)
        self.set_weight(m, self.W0)
        if not np.array_equal(first, second):
            import torch
            drop = [n for n, s in m.named_modules()
                    if isinstance(s, torch.nn.modules.dropout._DropoutNd) and s.training and s.p > 0]
            raise ValueError(f"the module's output is random in {self.mode} mode: two runs on the same input "
                             "differ" + (f" (dropout: {', '.join(drop)})" if drop else "")
                             + "; probe it with --mode eval, or with its dropout at 0")

    # -- what the report says --------------------------------------------------------------
    def in_train_mode(self) -> list[str]:
        return [n or "the module" for n, s in self.runs["float64"].named_modules() if s.training]

    def batch_statistics(self) -> list[str]:
        """The layers that normalize over the cases of a call (batch norm in train mode, or without
        running statistics)."""
        from torch.nn.modules.batchnorm import _BatchNorm
        return [f"{n or 'the module'} ({type(s).__name__})" for n, s in self.runs["float64"].named_modules()
                if isinstance(s, _BatchNorm) and (s.training or s.running_mean is None)]

    def epsilons(self) -> dict[str, tuple[float, float]]:
        """Each sub-module's ``eps`` attribute, as the float32 and the float64 run use it (nn.RMSNorm's
        None is the dtype's machine epsilon)."""
        found = {}
        for name, s in self.runs["float64"].named_modules():
            e = getattr(s, "eps", False)
            if e is None and isinstance(s, self.torch.nn.RMSNorm):
                e32, e64 = float(np.finfo(np.float32).eps), float(np.finfo(np.float64).eps)
            elif isinstance(e, (int, float)) and not isinstance(e, bool):
                e32 = e64 = float(e)
            else:
                continue
            found[f"{name or 'the module'} ({type(s).__name__})"] = (e32, e64)
        return found

    def batch_norms_in_eval(self) -> list[str]:
        from torch.nn.modules.batchnorm import _BatchNorm
        return [f"{n or 'the module'} ({type(s).__name__})" for n, s in self.runs["float64"].named_modules()
                if isinstance(s, _BatchNorm) and not s.training and s.running_mean is not None]

    def group_counts(self) -> set[int]:
        return {s.num_groups for s in self.runs["float64"].modules() if isinstance(s, self.torch.nn.GroupNorm)}

    def _called_after(self) -> list:
        """The sub-modules in the order their forward passes end, on a copy (a train-mode batch
        norm's running statistics are not touched)."""
        m, order = copy.deepcopy(self.pristine), []
        hooks = [s.register_forward_hook(lambda mod, i, o: order.append(mod)) for s in m.modules()]
        try:
            self.forward(m, _trial((TRIAL_CASES, self.D_in) + (POSITIONS,) * bool(self.weight.conv)))
        finally:
            for h in hooks:
                h.remove()
        names = {id(s): n for n, s in m.named_modules()}
        return [(names[id(s)], s) for s in order]

    def row_tensors(self, with_c: bool) -> RowTensors:
        """W, g, b (and c) of a registered row among the module's parameters: W is the probed weight;
        with weight_norm, g is its original0 and b the owner's bias (added after the normalization);
        else c is the owner's bias and g, b the affine of the first normalization layer that runs
        after W with one gain per unit (LayerNorm(H), RMSNorm(H), GroupNorm(G, H), BatchNorm,
        InstanceNorm)."""
        from torch.nn.modules.batchnorm import _BatchNorm
        from torch.nn.modules.instancenorm import _InstanceNorm
        nn, w = self.torch.nn, self.weight
        trainable = {n for n, p in self.pristine.named_parameters() if p.requires_grad}
        have = lambda n: n if n in trainable else None   # noqa: E731
        prefix = w.owner_name + "." if w.owner_name else ""
        names = {"W": w.name, "g": None, "b": None, "c": have(prefix + "bias") if with_c else None}
        if w.normalized:
            names["g"], names["b"] = have(w.name.rpartition(".")[0] + ".original0"), have(prefix + "bias")
            return RowTensors(names, f"W = {w.name}, g = {names['g']}, b = {names['b']} (weight_norm)", None, None)
        after, seen, norm, note = self._called_after(), False, None, ""
        for name, s in after:
            seen = seen or name == w.owner_name
            if not seen or name == w.owner_name:
                continue
            if isinstance(s, (nn.LayerNorm, nn.RMSNorm)):
                if tuple(s.normalized_shape) == (w.H,):
                    norm = (name, s)
                else:
                    note = (f"; {name} ({type(s).__name__}) normalizes a shape {tuple(s.normalized_shape)}, "
                            f"not W's {w.H} units")
            elif isinstance(s, nn.GroupNorm) and s.num_channels == w.H or \
                    isinstance(s, (_BatchNorm, _InstanceNorm)) and s.num_features == w.H:
                norm = (name, s)
            if norm:
                break
        running = groups = None
        if norm:
            name, s = norm
            for k in ("g", "b"):
                p = getattr(s, "weight" if k == "g" else "bias", None)
                names[k] = have(f"{name}.{'weight' if k == 'g' else 'bias'}") if p is not None else None
            groups = s.num_groups if isinstance(s, nn.GroupNorm) else None
            if isinstance(s, _BatchNorm) and not s.training and s.running_mean is not None:
                running = (s.running_mean.detach().numpy().astype(float),
                           s.running_var.detach().numpy().astype(float) + float(s.eps))
            note = f" ({name}, {type(s).__name__})" + note
        else:
            note = " (no normalization layer with one gain a unit runs after W)" + note
        shown = ", ".join(f"{k} = {v or '-'}" for k, v in names.items() if k != "c" or with_c)
        return RowTensors(names, shown + note, running, groups)

    def values_op(self, constants: dict):
        """A float64 copy run as ``op(W, X, g, b, eps)``, with the definition's instance set where the
        module holds it: gain 1 and bias 0 (where the row finds them), the linear bias c, the running
        mean m and variance v.  Returns (op, notes)."""
        import torch
        from torch.nn.modules.batchnorm import _BatchNorm
        m, notes = copy.deepcopy(self.runs["float64"]), []
        params = dict(m.named_parameters())
        owner = self.weight.owner_name
        rt = self.row_tensors("c" in constants)
        with torch.no_grad():
            for k, value in (("g", 1.0), ("b", 0.0)):   # the definition's instance: gain 1, bias 0
                name = rt.names.get(k)
                if name in params and not bool((params[name] == value).all()):
                    params[name].fill_(value)
                    notes.append(f"{name} ({'the gain' if k == 'g' else 'the bias'}) set to {value:g}, "
                                 "as in the definition's instance")
            if "c" in constants and self.weight.bias:
                c = params[(owner + "." if owner else "") + "bias"]
                c.copy_(torch.as_tensor([float(v) for v in constants["c"][:c.numel()]], dtype=c.dtype))
                notes.append(f"the linear bias c of {owner} set to the definition's")
            if "m" in constants:
                bns = [(n, s) for n, s in m.named_modules() if isinstance(s, _BatchNorm) and s.running_mean is not None]
                for _, s in bns:
                    s.running_mean.fill_(float(constants["m"]))
                    s.running_var.fill_(float(constants["v"]))
                if bns:
                    notes.append(f"running statistics of {', '.join(n for n, _ in bns)} set to the definition's "
                                 f"m = {constants['m']}, v = {constants['v']}")

        def op(W, X, g, b, eps):
            self.set_weight(m, W)
            h = self.forward(m, X)
            return h.reshape(X.shape[0], W.shape[0], *X.shape[2:])
        return op, notes


class FunctionLayer:
    """A NumPy function fn(X, W); it computes in the dtype of its inputs."""

    kind = "function"
    mode = None
    warnings: list[str] = []

    def __init__(self, fn, W, output=None):
        W = np.asarray(W)
        if W.ndim != 2:
            raise ValueError(f"the example weight W has shape {W.shape}; give a matrix (H, D)")
        self.fn, self.output, self.W0 = fn, output, W.astype(float)
        self.weight = Weight("W", int(W.shape[0]), int(W.shape[1]), 0, "the function's argument", "", False, False)
        self.D_in, self.candidates = self.weight.D, [self.weight]
        self.out_size = self(_trial(W.shape), _trial((TRIAL_CASES, self.D_in)), "float64")[0].size

    def __call__(self, W, X, dtype):
        try:
            out = select_output(self.fn(X, W), self.output, "the function")
        except Unusable:
            raise
        except Exception as err:
            raise ValueError(f"the function fails on X of shape {X.shape} and W of shape {W.shape}: "
                             f"{type(err).__name__}: {_line(err)}") from None
        h = np.asarray(out)
        if h.ndim == 0 or h.shape[0] != X.shape[0]:
            raise Unusable(f"the function's output has shape {h.shape} for {X.shape[0]} cases; the probe "
                             "needs one row of output per case (N, ...)")
        return h.reshape(X.shape[0], -1)

    def epsilons(self):
        return {}

    def batch_statistics(self):
        return []

    def batch_norms_in_eval(self):
        return []


def _trial(shape) -> np.ndarray:
    """A trial input: random, so that no statistic of it is zero."""
    return np.random.default_rng(1).normal(size=shape)


def _line(err) -> str:
    return " ".join(str(err).split())[:300]


def wrap(layer, weight=None, mode=None, output=None):
    """The probe's runner for ``layer``: a torch.nn.Module, or a NumPy function with ``weight=W``."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(layer, torch.nn.Module):
        if weight is not None and not isinstance(weight, str):
            raise ValueError(f"for a torch.nn.Module the weight is named by its dotted name (e.g. '0.weight'), "
                             f"not given as {type(weight).__name__}; a FACTORY returns the module alone")
        return TorchLayer(layer, weight, mode, output)
    if not callable(layer) or weight is None or isinstance(weight, str):
        raise ValueError("probe takes a torch.nn.Module, or a NumPy function fn(X, W) with weight=W "
                         "(an example weight matrix of shape (H, D))")
    if mode is not None:
        raise ValueError(f"--mode {mode}: a NumPy function has no train or eval mode; leave --mode out")
    return FunctionLayer(layer, weight, output)
