"""Probe your own layer, numerically: its row of the table, without writing SymPy.

``probe(layer)`` takes a ``torch.nn.Module`` taking X, run as it is (in the
mode it was given, or ``mode=``; see :mod:`invariance.numeric.probe_layer`
for how its weight W and input are found), or a NumPy function ``fn(X, W)``
with an example weight ``W``.  For each of the six transformations it draws
random instances (W and X standard normal, N from 2 to 5 cases), applies the
transformation to the weight and the input, never to the summed inputs, and
compares the outputs.

The tolerance is measured, as in :func:`invariance.numeric.measured_tolerance`:
the layer runs in float32 and again in float64 on the same rounded inputs, and
an instance counts as unchanged when
:math:`\\max|h' - h| \\le 2(e + e') + M u \\max|h|`, with e, e' the measured
float32 errors of h and h'.  The ratio of the two sides is reported (the
margin): well below 1 for every instance of an invariant column, far above 1
somewhere in a refuted one.

With ``against=`` a registered normalizer, its derived row is printed beside
yours, the row whose model matches the module (dense, dense with a bias in the
linear map, or a 1x1 convolution; a mismatch is refused in one line), and any
difference is a disagreement.  A column the proof finds invariant only at
epsilon = 0, measured on a module with epsilon > 0, is checked against the
proven epsilon bound instead (:func:`invariance.numeric.crosscheck.eps_bound_function`).
The values are compared too, at the module's own epsilon.

For a module, the symmetries of the module itself are measured as well: the
null space of the Jacobian of its output with respect to all its trainable
parameters (:mod:`invariance.numeric.nullspace`); with ``against=``, against the
row's proved symmetries, named directions, missing and extra ones, and the
dimension: a different dimension is a disagreement.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .crosscheck import EPS_DEPENDENT, WITHIN_EPS_BOUND, Setup, _within_bound, measured_tolerance, transform
from .probe_layer import TORCH_HINT, wrap
from ..core.model import DENSE, EPS
from ..core.records import INVARIANT, NOT_INVARIANT
from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS

__all__ = ["probe", "ProbeResult", "load"]

WORDS = {INVARIANT: "Invariant", NOT_INVARIANT: "No", WITHIN_EPS_BOUND: "eps bound", EPS_DEPENDENT: "eps"}
CASES = (2, 5)          # N of the row's instances, from 2 to 5


@dataclass(frozen=True)
class ProbeResult:
    name: str
    verdicts: dict[str, str]          # transformation id -> invariant / not-invariant / within-eps-bound
    ratios: dict[str, float]          # transformation id -> max deviation / tolerance
    instances: int
    against: str | None = None        # the row compared with (e.g. layer-norm-linear-bias)
    derived: dict[str, str] = field(default_factory=dict)   # the registered row, if asked
    values: object = None             # invariance.values.ValueCheck against the registered definition
    header: tuple[str, ...] = ()      # what was probed: mode, weight, input, eps, the row compared with
    notes: tuple[str, ...] = ()       # after the table: the eps bound, the values check, hints
    symmetries: object = None         # invariance.numeric.nullspace.Symmetries, or why not measured (str)
    compared: object = None           # nullspace.Comparison with the row's proved basis, or why not (str)

    @property
    def agrees(self) -> bool:
        return (not self.disagreements and (self.values is None or self.values.agrees)
                and (not hasattr(self.compared, "agrees") or self.compared.agrees))

    @property
    def disagreements(self) -> list[str]:
        return [t for t, v in self.derived.items()
                if self.verdicts[t] != v and not (self.verdicts[t] == WITHIN_EPS_BOUND and v == INVARIANT)]

    def margins(self) -> str:
        inv = [r for t, r in self.ratios.items() if self.verdicts[t] == INVARIANT]
        ref = [r for t, r in self.ratios.items() if self.verdicts[t] == NOT_INVARIANT]
        return ("margins: invariant columns deviation/tolerance <= "
                + (f"{max(inv):.3g}" if inv else "-") + "; refuted columns >= "
                + (f"{min(ref):.3g}" if ref else "-"))

    def table(self) -> str:
        """Everything the probe found, as the command prints it."""
        heads = [TRANSFORMATIONS[t].title for t in self.verdicts]
        rows = [[self.name] + [WORDS[v] for v in self.verdicts.values()],
                ["deviation/tolerance"] + [f"{r:.3g}" for r in self.ratios.values()]]
        if self.against:
            rows.append([f"{self.against} (derived)"] + [WORDS.get(v, v) for v in self.derived.values()])
        widths = [max(len(str(r[k])) for r in [[""] + heads] + rows) for k in range(len(heads) + 1)]
        line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
        out = list(self.header) + [line([""] + heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(r) for r in rows]
        out.append(self.margins() + f" ({self.instances} instances a column)")
        out += [f"DISAGREEMENT {self.name} x {t}: probe {self.verdicts[t]}, {self.against} derived "
                f"{self.derived[t]}" for t in self.disagreements]
        if self.values is not None:
            v = self.values
            eps = v.worst.get("eps", "0") if v.worst else "0"
            out.append(("values" if v.agrees else f"DISAGREEMENT {self.name} values") + f": against "
                       f"{self.against}'s definition (gain 1, bias 0, eps {_eps_text(eps)}) at {v.points} exact "
                       f"rational instances, max deviation {v.max_deviation:.3g} ({v.max_tolerance_ratio:.3g} x "
                       "tolerance)")
        out += list(self.notes)
        if isinstance(self.symmetries, str):
            out.append(f"symmetries: not measured: {self.symmetries}")
        elif self.symmetries is not None:
            out += self.symmetries.lines(directions=not hasattr(self.compared, "lines"))
            if hasattr(self.compared, "lines"):
                out += self.compared.lines(self.name)
            elif isinstance(self.compared, str):
                out.append(f"  not compared with {self.against}'s symmetries: {self.compared}")
            elif self.against is None:
                out.append("  --against a registered row compares them with its proved symmetries")
        return "\n".join(out)


def _eps_text(eps) -> str:
    value = float(sp.Rational(eps)) if not isinstance(eps, float) else eps
    return f"{value:.3g}"


# -- the row compared with ------------------------------------------------------------------
def _kind(run) -> str:
    w = run.weight
    if w.conv:
        return "conv-bias" if w.bias else "conv"
    return "dense-bias" if w.bias and not w.normalized else "dense"


def _row(against: str, run):
    """(the row to compare with, the plain row it comes from, a line saying which); a row whose
    model does not match the module is refused in one line (ValueError)."""
    from ..catalogue.normalizers import with_linear_bias
    from ..catalogue.registry import normalizer
    norm, w, kind = normalizer(against), run.weight, _kind(run)
    dense = [n for n, v in NORMALIZERS.items() if v.model is DENSE]
    model = norm.model.id
    where = f"the probed weight {w.name} belongs to {w.owner}"
    if run.D_in != w.D:
        raise ValueError(f"--against {against}: the probed weight {w.name} takes {w.D} inputs, the module "
                         f"{run.D_in}: the input does not enter it directly, so the registered row (whose X "
                         "is the weight's input) does not apply; probe without --against, or probe the first weight")
    if model == "conv" and kind.startswith("dense"):
        raise ValueError(f"--against {against}: its registered row is for a conv layer (a 1x1 convolution over "
                         f"positions), and {where}, a dense layer: the registry has no dense {against} row "
                         f"(dense rows: {', '.join(dense)}); probe without --against, or register a dense row "
                         "with --load FILE")
    if model != "conv" and kind.startswith("conv"):
        raise ValueError(f"--against {against}: its registered row is for a dense layer, and {where}, a 1x1 "
                         "convolution: probe without --against, or against a conv row (" + ", ".join(
                             n for n, v in NORMALIZERS.items() if v.model.id == "conv") + ")")
    if kind == "conv-bias":
        raise ValueError(f"--against {against}: the registered conv rows have no bias in the 1x1 convolution, "
                         f"and {where}: build it with bias=False, or probe without --against")
    if model == "dense-linear-bias" and kind == "dense":
        raise ValueError(f"--against {against}: its registered row has a bias in the linear map, and {where}, "
                         "without one: compare with the row without it")
    if model == "dense" and kind == "dense-bias":
        try:
            variant = with_linear_bias(norm)
        except ValueError as err:
            raise ValueError(f"--against {against}: {err}") from None
        return variant, norm, (f"compared with: {variant.id}, the {against} row with a bias in the linear "
                               f"map (a = W x + c), as {w.owner} has one")
    note = "" if kind != "dense" or not w.bias else f" (the bias of {w.owner} follows the weight's normalization: it is b)"
    return norm, norm, f"compared with: {norm.id} ({norm.model.title}){note}"


@contextmanager
def _registered(norm):
    """``norm`` in the registry while the probe derives it (a variant is removed again after)."""
    from ..catalogue.registry import register
    added = norm.id not in NORMALIZERS
    if added:
        register(norm)
    try:
        yield
    finally:
        if added:
            NORMALIZERS.pop(norm.id, None)


# -- what was probed --------------------------------------------------------------------------
def _header(run, name: str) -> list[str]:
    w = run.weight
    if run.kind == "function":
        lines = [f"probed: {name} (a NumPy function fn(X, W))"]
    else:
        lines = [f"probed: {name} (torch.nn.Module) in {run.mode} mode ({run.mode_source})"
                 + ("; in train mode: " + ", ".join(run.in_train_mode()) if run.mode == "mixed" else "")]
    shape = f"{w.H} x {w.D}" + (" (a 1x1 convolution's)" if w.conv else "")
    if len(run.candidates) > 1:
        how = ("named with --weight" if run.named else
               f"taken: the first whose {w.D} columns take the input; choose with --weight NAME")
        cands = ", ".join(f"{c.name} ({c.H} x {c.D})" for c in run.candidates)
        lines.append(f"weight: {w.name}, {shape}, of {w.owner} ({how}); candidates: {cands}")
    else:
        lines.append(f"weight: {w.name}, {shape}, of {w.owner}" + (" (the only candidate)" if run.kind == "module" else ""))
    pos = " x P positions (P = 2 to 4)" if w.conv else ""
    lines.append(f"input: N cases x {run.D_in} features{pos}; output: {run.out_size} values a case"
                 + (" (at P = 3)" if w.conv else ""))
    stats = run.batch_statistics()
    if run.mode in ("train", "mixed") or stats:
        from .nullspace import CASES as SYM_CASES
        lines.append(f"batch: {run.mode} mode: each call's N cases are one batch: N = {CASES[0]} to {CASES[1]} in "
                     f"the row's instances, {SYM_CASES} in the symmetries' batches"
                     + (f"; batch statistics over them in {', '.join(stats)}" if stats else ""))
    if run.batch_norms_in_eval():
        lines.append(f"batch: {', '.join(run.batch_norms_in_eval())} in eval mode normalize with running statistics "
                     "(fixed), not the batch's")
    return lines


def _epsilons(run):
    """(eps of the float32 run, eps of the float64 run, a line), or (None, None, line) if several."""
    found = run.epsilons()
    if not found:
        return 0.0, 0.0, None
    distinct = sorted(set(found.values()))
    where = ", ".join(f"{k}: {v[1]:.3g}" for k, v in found.items())
    if len(distinct) > 1:
        return None, None, f"eps: several ({where})"
    return distinct[0][0], distinct[0][1], f"eps: {where}" + (
        f" ({distinct[0][0]:.3g} in float32)" if distinct[0][0] != distinct[0][1] else "")


def _apply(tid: str, on_w: bool, W, X, params):
    """The transformation on the weight, or on the input (whose D may differ from the weight's)."""
    if on_w:
        Wt, _ = transform(tid, W, np.zeros(X.shape[:2] + W.shape[-1:] + X.shape[3:], W.dtype), params)
        return Wt, X
    _, Xt = transform(tid, np.zeros(W.shape[:2] + X.shape[2:3], X.dtype), X, params)
    return W, Xt


class _Shim:
    """The registered op (without its own linear bias) on the module's own summed inputs, for the
    epsilon bound: a = W x + c with the module's c."""

    def __init__(self, base, c):
        self.base, self.c, self.numeric_kwargs = base, c, {}

    def numeric(self, a, W, eps):
        c = 0 if self.c is None else (self.c[:, None] if a.ndim == W.ndim + 1 else self.c)
        return self.base.numeric(a + c, W, eps, **self.base.numeric_kwargs)


def _linear_bias(run):
    if run.kind != "module" or not run.weight.bias or run.weight.normalized:
        return None
    owner = run.weight.owner_name
    params = dict(run.pristine.named_parameters())
    return params[(owner + "." if owner else "") + "bias"].detach().numpy().astype(float)


def probe(layer, weight=None, against: str | None = None, instances: int = 200, seed: int = 0,
          name: str | None = None, mode: str | None = None, output=None, symmetries: bool = True,
          input_directions: bool = False) -> ProbeResult:
    """The six columns of the table for your layer, numerically (see the module docstring).

    ``layer``: a ``torch.nn.Module`` taking X, or a NumPy function ``fn(X, W)``;
    ``weight``: the module's weight parameter by its dotted name (found if None)
    or, for a function, an example W; ``against``: a registered normalizer id;
    ``mode``: "train" or "eval" (default: the module's own); ``output``: the
    index or key of a tuple or dict output; ``symmetries``: measure the null
    space of the module's Jacobian (``input_directions``: with its input too).
    Raises ValueError, with a one-line message, for what cannot be probed.
    """
    try:
        import torch
        threads = torch.get_num_threads()
        torch.set_num_threads(1)   # tiny calls: one thread is faster than synchronising several
    except ImportError:
        torch = None
    try:
        return _probe(layer, weight, against, instances, seed, name, mode, output, symmetries, input_directions)
    finally:
        if torch is not None:
            torch.set_num_threads(threads)


def _probe(layer, weight, against, instances, seed, name, mode, output, symmetries, input_directions):
    run = wrap(layer, weight, mode, output)
    run.named = weight is not None
    if name is None:
        name = type(layer).__name__ if run.kind == "module" else getattr(layer, "__name__", "layer")
    header, notes = _header(run, name), []
    eps32, eps64, eps_line = _epsilons(run)
    if eps_line:
        header.append(eps_line)
    norm = base = None
    if against is not None:
        norm, base, line = _row(against, run)
        header.append(line)
    with _registered(norm) if norm is not None else _nothing():
        result = _measure(run, norm, base, eps32, eps64, instances, seed, notes)
    verdicts, ratios, derived, values = result
    if norm is None and eps32:
        notes.append(f"note: with eps = {eps32:.3g} a column invariant only at eps = 0 measures as No here; "
                     "--against a registered row checks it against the proven eps bound")
    hint = _mode_hint(run, norm, derived, verdicts)
    if hint:
        notes.append(hint)
    notes += [f"note: the module warned: {w}" for w in run.warnings]
    sym = None
    if run.kind == "function":
        sym = ("a NumPy function has no automatic differentiation here; wrap it in a torch.nn.Module "
               "to measure its symmetries") if symmetries else None
    elif symmetries:
        from .nullspace import measure
        try:
            sym = measure(run, input_directions=input_directions, seed=seed)
        except Exception as err:   # the user's module under autograd: one line, not a traceback
            sym = f"its Jacobian could not be computed: {type(err).__name__}: {' '.join(str(err).split())[:200]}"
    compared = None
    if norm is not None and hasattr(sym, "jacobian"):
        from dataclasses import replace
        from .nullspace import compare
        with _registered(norm):
            try:
                compared = compare(sym, run, norm, eps64, seed=seed)
            except Exception as err:   # e.g. a user-registered row whose symmetries fail: one line
                compared = f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
        sym = replace(sym, jacobian=None, null=None)   # up to 2P x P floats: not kept in the result
    return ProbeResult(name, verdicts, ratios, instances, norm.id if norm else None, derived, values,
                       tuple(header), tuple(notes), sym, compared)


@contextmanager
def _nothing():
    yield


def _measure(run, norm, base, eps32, eps64, instances, seed, notes):
    from sympy import Symbol
    i, j = Symbol("i"), Symbol("j")
    on_w = {t.id: t.w(DENSE, i, j) != DENSE.W[i, j] for t in TRANSFORMATIONS.values()}
    cells, bounds = {}, {}
    if norm is not None:
        from ..derive.engine import derive
        from .crosscheck import eps_bound_function
        cells = {t: derive(norm, t) for t in TRANSFORMATIONS}
        for t, cell in cells.items():
            if eps32 and cell.verdict == INVARIANT and sp.Eq(EPS, 0) in cell.conditions:
                bounds[t] = eps_bound_function(cell)
    shape_ok = norm is not None and run.out_size == run.weight.H * (3 if run.weight.conv else 1)
    shim = _Shim(base, _linear_bias(run)) if norm is not None else None
    rng = np.random.default_rng(seed)
    H, Dw, Dx = run.weight.H, run.weight.D, run.D_in
    verdicts, ratios, bound_ratio = {}, {}, {}
    for t in TRANSFORMATIONS.values():
        worst, beyond, needed, b_worst = 0.0, False, False, 0.0
        bound = bounds.get(t.id) if shape_ok else None
        for _ in range(instances):
            s = {"N": int(rng.integers(CASES[0], CASES[1] + 1)), "H": H, "D": Dw if on_w[t.id] else Dx}
            if run.weight.conv:
                s["P"] = int(rng.integers(2, 5))
            W = rng.normal(size=(1, H, Dw)).astype(np.float32)
            X = rng.normal(size=(1, s["N"], Dx) + ((s["P"],) if run.weight.conv else ())).astype(np.float32)
            params = t.sample(rng, 1, s)
            Wt, Xt = _apply(t.id, on_w[t.id], W, X, params)                                # in float32
            Wtw, Xtw = _apply(t.id, on_w[t.id], W.astype(float), X.astype(float), params)  # in float64
            h, ht = run(W[0], X[0], "float32"), run(Wt[0], Xt[0], "float32")
            hw, htw = run(W[0].astype(float), X[0].astype(float), "float64"), run(Wtw[0], Xtw[0], "float64")
            scale = max(float(np.abs(hw).max()), np.finfo(float).tiny)   # the units cancel in the ratio
            tol = measured_tolerance(np.abs(h - hw).max() / scale, np.abs(ht - htw).max() / scale,
                                     h.size, "float32")
            ratio = float(np.abs(ht.astype(float) - h).max() / scale / tol)
            worst = max(worst, ratio)
            if ratio > 1 and bound is not None and not beyond:
                needed = True
                out_shape = (1, s["N"], H) + ((s["P"],) if run.weight.conv else ())
                within, r = _within_bound(bound, shim, Setup(dtype="float32"), eps32, W, X, np.ones((1, H)), t.id,
                                          params, h.reshape(out_shape), ht.reshape(out_shape),
                                          np.array([tol * scale]))
                beyond = not bool(within[0])
                b_worst = max(b_worst, float(r[0]))
            elif ratio > 1:
                beyond = True
        verdicts[t.id] = INVARIANT if worst <= 1 else WITHIN_EPS_BOUND if needed and not beyond else NOT_INVARIANT
        ratios[t.id] = worst
        if verdicts[t.id] == WITHIN_EPS_BOUND:
            bound_ratio[t.id] = b_worst
    if bound_ratio:
        notes.append(f"eps bound: {', '.join(TRANSFORMATIONS[t].short for t in bound_ratio)}: beyond rounding at "
                     f"eps = {eps32:.3g}, within the proven bound for eps > 0 (largest (deviation - tolerance) / "
                     f"bound {max(bound_ratio.values()):.3g}); derived invariant at eps = 0")
    derived = {t: c.verdict for t, c in cells.items()}
    values = None
    if norm is not None:
        values = _values(run, norm, eps64, shape_ok, seed, notes)
    return verdicts, ratios, derived, values


def _values(run, norm, eps64, shape_ok, seed, notes):
    """The module against the registered definition, exactly evaluated, at the module's eps."""
    from .values import compare_values
    if not shape_ok:
        notes.append(f"values check skipped: the module gives {run.out_size} values a case, and {norm.id}'s "
                     f"definition {run.weight.H}" + (" a position" if run.weight.conv else "")
                     + " (one a unit): its output is not the normalized layer alone")
        return None
    if eps64 is None:
        notes.append("values check skipped: the module's layers have several epsilons, and the definition one")
        return None
    H, groups = run.weight.H, norm.groups or 1
    if H % groups:
        notes.append(f"values check skipped: {norm.id}'s definition has {groups} groups, and {H} units are not "
                     "a multiple of it")
        return None
    other = run.group_counts() - {groups} if run.kind == "module" else set()
    if other:
        notes.append(f"note: the module's GroupNorm has {', '.join(map(str, sorted(other)))} groups, {norm.id}'s "
                     f"definition {groups}: its values differ where the groups do")
    if run.kind == "module":
        constants = {str(k): v for k, v in norm.constants.items()}
        op, set_notes = run.values_op(constants)
        notes += [f"values check: {n}" for n in set_notes]
    else:
        op = lambda W, X, g, b, eps: run(W, X, "float64").reshape(X.shape[0], *W.shape[:1], *X.shape[2:])  # noqa: E731
    # the definition's instance has gain 1 and bias 0: a module's own g and b are set so (values_op,
    # where the row finds them); eps is the module's own, exactly (a float64 is a rational)
    values = compare_values(norm, op=op, epsilons=(sp.Rational(eps64),), unit_gain=True, seed=seed,
                            fixed={"unit": H // groups, "input": run.weight.D})   # a grouped row's unit size is S
    if values.points == 0:
        notes.append(f"values check skipped: the module failed at every exact instance of {norm.id}'s definition")
        return None
    return values


def _mode_hint(run, norm, derived, verdicts) -> str | None:
    """A batch norm row disagreeing because the module runs in the other mode: say so."""
    if norm is None or norm.torch is None or all(verdicts[t] == v for t, v in derived.items()):
        return None
    if "training=True" in norm.torch.name and run.batch_norms_in_eval():
        return (f"hint: {', '.join(run.batch_norms_in_eval())} runs in eval mode (running statistics), and "
                f"{norm.id} normalizes over the batch: probe with --mode train, or against batch-norm-inference")
    if "training=False" in norm.torch.name and run.batch_statistics():
        return (f"hint: {', '.join(run.batch_statistics())} normalizes over the batch (train mode), and {norm.id} "
                "with running statistics: probe with --mode eval")
    return None


def _where(err: BaseException, file) -> str:
    """`` line N``: the last line of ``file`` that the traceback of ``err`` passed through."""
    from pathlib import Path
    lines, tb = [], err.__traceback__
    while tb is not None:
        if file is not None and Path(tb.tb_frame.f_code.co_filename).resolve() == Path(file).resolve():
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return f" line {lines[-1]}" if lines else ""


def _failed(what: str, err: BaseException, file=None) -> ValueError:
    """The one line for an exception raised by the user's code; PyTorch missing is named as such."""
    if isinstance(err, ImportError) and (getattr(err, "name", "") or "").split(".")[0] == "torch":
        return ValueError(f"{what} imports torch, and PyTorch is not installed: {TORCH_HINT}")
    return ValueError(f"{what}{_where(err, file)}: {type(err).__name__}: {' '.join(str(err).split())[:300]}")


def load(spec: str):
    """``MODULE:FACTORY`` -> what FACTORY() returns; MODULE is a .py file or a dotted module name.

    FACTORY may return a ``torch.nn.Module`` or a pair ``(fn, W)``.  Whatever the user's code
    raises becomes a ValueError of one line (where, and what).
    """
    import importlib
    import runpy
    from pathlib import Path
    module, sep, factory = spec.rpartition(":")
    if not sep or not module or not factory:
        raise ValueError(f"expected MODULE:FACTORY (a .py file or a module name, and a function in it), got {spec!r}")
    file = None
    if module.endswith(".py") or Path(module).is_file():
        if not Path(module).is_file():
            raise ValueError(f"no such file: {module}")
        file = module
        try:
            namespace = runpy.run_path(module, run_name="invariance_probe")
        except SyntaxError as err:
            raise ValueError(f"{module}: syntax error at line {err.lineno}: {err.msg}") from None
        except Exception as err:   # the user's file: one line
            raise _failed(module, err, file) from None
    else:
        try:
            namespace = vars(importlib.import_module(module))
        except ImportError as err:
            if (getattr(err, "name", "") or "").split(".")[0] == "torch":
                raise _failed(module, err) from None
            raise ValueError(f"cannot import {module!r}: {err}") from None
        except Exception as err:
            raise _failed(module, err) from None
    if not callable(namespace.get(factory)):
        found = [k for k, v in namespace.items() if callable(v) and not k.startswith("_")]
        raise ValueError(f"{module} has no function {factory!r}; it has: {', '.join(found) or 'none'}")
    try:
        return namespace[factory]()
    except Exception as err:
        raise _failed(f"{module}:{factory}()", err, file) from None
