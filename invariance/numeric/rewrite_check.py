"""The numeric cross-check of a rewrite's verdict: both computations run in float64.

For each recipe, random float64 values satisfying its assumptions (an orthogonal Q from a QR, and
the exact Hadamard / 2 at width 4; positive or nonzero s; a positive running variance) are put
through the original computation y and the rewritten one y' (its primed parameters evaluated from
the recipe's definitions), a model stacked :data:`DEPTH` blocks deep, at eps = 0 and at PyTorch's
default for the original's normalizer (the same eps on both sides: the proofs hold for each).
Backends: ``numpy``, the terms evaluated in float64 (:func:`invariance.core.terms.evaluate`);
``torch``, real ``torch.nn`` modules built from the terms (:mod:`.rewrite_modules`).

The deviation is :math:`\\max |y' - y| / \\max |y|`.  Its tolerance, as the layers'
(:func:`invariance.numeric.crosscheck.tolerance`), is rounding pushed through the conditioning:

- float64 evaluation is, to first order, exact evaluation with each value read or made off by at
  most :math:`\\gamma_K = K u` relative (Higham, Sec. 3.1: a sum of n terms is off by
  :math:`\\gamma_n` times the sum of magnitudes; errors along a path add), K = the widest sum
  (the largest size) times the operations along the longest path (sides plus definitions);
- :math:`\\kappa` is measured: every input and parameter moved by random signs of relative size
  :math:`\\delta = 2^{-20}` (far above rounding, first order), three times, largest
  :math:`\\max|\\Delta y| / (\\max|y|\\,\\delta)` of either side; the worst signs give at most
  :math:`\\sqrt{P}` times random ones (P values), and 4 covers an unlucky draw, as in the layers':
  :math:`\\text{tol} = 4 u (\\sqrt{P} K \\kappa + 1)`.

The bound is checked, not trusted: each side's float64 output is also measured against the same
term evaluated with 200-bit floats (:class:`~.rewrite_terms.Wide`), and an error above the
tolerance is a disagreement (the float64 computation is not the term, or the bound is wrong), so a
broken module cannot hide inside a tolerance made from its own error.

Verdicts: proved agrees when every deviation is within tolerance; refuted when every random
instance and the exact counterexample (replayed in float64 at eps = 0, the values rounded once)
differ by more than :data:`FAR` times it: rounding explains at most 1 tolerance, and a factor 100
keeps a difference the bound merely fails to explain from passing as a refutation.  A refuted
recipe's derived repair (its extra conditions: Q 1^T = 1^T, s > 0) must then make the two agree.
A claim of your own (``rewrite --claim``) is checked as the recipe its document states.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..catalogue.rewrites import Recipe, recipe_of
from ..core.rules import closure
from ..core.terms import subterms
from .rewrite_terms import Float, SideError, Sides, Wide, definitions, depth_of, draw, fraction_values, run, sides

__all__ = ["Comparison", "compare", "check", "check_recipe", "default_eps", "DEPTH", "FAR", "SIZES",
           "HADAMARD_SIZES", "BACKENDS"]

U = float(np.finfo(np.float64).eps) / 2
DEPTH = 2            # blocks of a model: one more than the proof's instance, to exercise the induction
TOKENS = 6
FAR = 100.0
LIFT = 2.0 ** -20
SIZES = {"d": 8, "m": 12, "k": 3, "v": 5, "n": 6}
HADAMARD_SIZES = {"d": 4, "m": 6, "k": 2, "v": 3, "n": 3}
BACKENDS = ("numpy", "torch")
#: PyTorch 2.13's default eps of the module computing each normalizing term (nn.LayerNorm,
#: nn.BatchNorm1d: 1e-5; nn.RMSNorm: None, i.e. finfo(dtype).eps); the rewritten side gets the
#: original's, whatever module it uses (an RMSNorm replacing a LayerNorm keeps 1e-5).
TORCH_DEFAULT_EPS = {"ln": 1e-5, "istd": 1e-5, "rms": float(np.finfo(np.float64).eps)}


@dataclass(frozen=True)
class Comparison:
    label: str
    deviation: float            # max |y' - y| / max |y|
    tolerance: float
    kappa: float
    values: int                 # P
    K: int
    errors: tuple               # each side's float64 output against 200 bits, relative

    @property
    def sound(self) -> bool:
        return max(self.errors) <= self.tolerance

    def agrees(self, verdict: str) -> bool:
        if not self.sound:
            return False
        if verdict == "proved":
            return self.deviation <= self.tolerance
        return self.deviation > FAR * self.tolerance

    def line(self, verdict: str) -> str:
        ratio = self.deviation / self.tolerance
        what = ("float64 is not the term (against 200 bits: "
                f"{max(self.errors):.1e} > tolerance)" if not self.sound else
                f"within (x {ratio:.1e})" if ratio <= 1 else f"differs (x {ratio:.1e})")
        judged = "" if verdict not in ("proved", "refuted") else (": agree" if self.agrees(verdict) else ": DISAGREE")
        return (f"  {self.label}: max relative difference {self.deviation:.2e}, tolerance "
                f"{self.tolerance:.2e}, {what}{judged}")


def _rel(a, b) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), np.finfo(float).tiny))


def default_eps(s: Sides) -> float:
    """PyTorch's default eps for the original computation's normalizer (0 if it has none)."""
    for _, t in subterms(s.original):
        if t[0] in TORCH_DEFAULT_EPS:
            return TORCH_DEFAULT_EPS[t[0]]
    return 0.0


def _outputs(s: Sides, values: dict, sizes: dict, eps: float, backend: str):
    if backend == "numpy":
        return run(s, values, sizes, Float, eps)
    import torch
    from .rewrite_modules import build
    env = definitions(s, values, sizes, Float, eps)
    x = torch.tensor(np.asarray(values[s.input], dtype=float), dtype=torch.float64)
    with torch.no_grad():
        return tuple(build(t, s.input, env, sizes, s.decl, eps)(x).numpy() for t in (s.original, s.rewritten))


def _K(s: Sides, sizes: dict) -> int:
    widest = max([v for v in sizes.values()] + [1])
    defs = max((depth_of(t) for t in s.definitions.values()), default=0)
    return widest * (max(depth_of(s.original), depth_of(s.rewritten)) + defs)


def compare(s: Sides, values: dict, sizes: dict, eps: float, backend: str, label: str,
            seed: int = 0) -> Comparison:
    """One instance: the deviation of the two sides on ``backend``, its tolerance and the check."""
    y, y2 = _outputs(s, values, sizes, eps, backend)
    base = (y, y2) if backend == "numpy" else run(s, values, sizes, Float, eps)
    rng = np.random.default_rng(seed + 7919)
    kappa = 0.0
    for _ in range(3):
        moved = {k: v * (1 + LIFT * rng.choice([-1.0, 1.0], size=np.shape(v))) for k, v in values.items()}
        for new, old in zip(run(s, moved, sizes, Float, eps), base):
            kappa = max(kappa, _rel(new, old) / LIFT)
    P = sum(np.size(v) for v in values.values())
    K = _K(s, sizes)
    tol = 4 * U * (math.sqrt(P) * K * kappa + 1)
    wide = run(s, values, sizes, Wide, eps, Wide.convert)
    errors = (_rel(y, wide[0]), _rel(y2, wide[1]))
    return Comparison(label, _rel(y2, y), tol, kappa, P, K, errors)


def _sizes_label(sizes: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sizes.items())


def _eps_label(eps: float) -> str:
    return "eps=0" if eps == 0 else f"eps={eps:.3g} (PyTorch's default)"


def check(r: Recipe, verdict: str, counterexample: dict | None = None, backend: str = "numpy",
          depth: int = DEPTH, seeds=(0, 1), repair: dict | None = None) -> tuple[list[str], bool]:
    """The numeric cross-check of one verdict: (lines a person reads, agrees).  A recipe whose
    terms this reader cannot build is said in one line and does not agree."""
    try:
        return _check(r, verdict, counterexample, backend, depth, seeds, repair)
    except SideError as err:
        return [f"numeric cross-check of {r.id}: cannot build its computations from the terms: {err}"], False


def _check(r, verdict, counterexample, backend, depth, seeds, repair):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "torch":
        from .torch_backend import available
        if not available():
            return [f"numeric cross-check of {r.id}: the torch backend needs PyTorch: pip install '.[torch]'"], False
    s = sides(r, depth)
    orthogonal = any(kind == "orthogonal" for kind, _ in closure(r.assumptions))
    how = ("the terms evaluated in float64" if backend == "numpy" else "torch.nn modules built from the terms")
    lines = [f"numeric cross-check of {r.id} ({verdict}), {backend}, float64: {how}"
             + (f", {s.depth} blocks deep" if r.kind == "model" else "")]
    if backend == "torch":
        from .rewrite_modules import build, describe
        env = definitions(s, draw(s, r.assumptions, _used(r, SIZES), np.random.default_rng(0), 1), _used(r, SIZES),
                          Float, 0.0)
        for name, t in (("original", s.original), ("rewritten", s.rewritten)):
            lines.append(f"  {name + ':':10} {describe(build(t, s.input, env, _used(r, SIZES), s.decl, 0.0))}")
    comparisons = _instances(r, s, backend, seeds, orthogonal)
    lines += [c.line(verdict) for c in comparisons]
    worst = max(comparisons, key=lambda c: max(c.errors) / c.tolerance)
    lines.append(f"  tolerance = 4 u (sqrt(P) K kappa + 1), u = 2^-53: P <= {max(c.values for c in comparisons)} "
                 f"values, K <= {max(c.K for c in comparisons)}, kappa <= {max(c.kappa for c in comparisons):.3g}; "
                 f"float64 against 200 bits: at most {max(worst.errors):.1e} "
                 f"({max(worst.errors) / worst.tolerance:.1e} of the tolerance)")
    ok = all(c.agrees(verdict) for c in comparisons) if verdict in ("proved", "refuted") else True
    if counterexample is not None:
        c = replay(r, counterexample, backend)
        lines.append(c.line(verdict))
        ok = ok and (c.agrees("refuted") if verdict in ("proved", "refuted") else True)
        if verdict == "proved":   # a proved recipe with a counterexample: a contradiction
            ok = False
    if repair is not None and verdict == "refuted":
        more, fine = _repaired(r, repair, backend, depth)
        lines += more
        ok = ok and fine
    if verdict not in ("proved", "refuted"):
        lines.append(f"  verdict {verdict}: measured, not judged")
    else:
        lines.append(f"  numeric {'agrees with' if ok else 'DISAGREES with'} the verdict: {verdict}")
    return lines, ok


def _instances(r: Recipe, s: Sides, backend: str, seeds, hadamard_too: bool) -> list[Comparison]:
    """Random instances: at :data:`SIZES` (Q from a QR) and, with ``hadamard_too``, at
    :data:`HADAMARD_SIZES` (Q = Hadamard / 2); eps 0 and PyTorch's default; each seed."""
    orthogonal = any(kind == "orthogonal" for kind, _ in closure(r.assumptions))
    fixes = any(kind == "fixes-ones" for kind, _ in closure(r.assumptions))
    out = []
    for base_sizes, hadamard in [(SIZES, False)] + ([(HADAMARD_SIZES, True)] if hadamard_too and not fixes else []):
        sizes = _used(r, base_sizes, hadamard)
        q = "" if not orthogonal else (", Q = Hadamard / 2" if hadamard else ", Q from a QR"
                                       + (" fixing 1^T" if fixes else ""))
        for eps in sorted({0.0, default_eps(s)}):
            for seed in seeds:
                values = draw(s, r.assumptions, sizes, np.random.default_rng([seed, int(hadamard)]), TOKENS, hadamard)
                label = f"{_sizes_label(sizes)}{q}, {_eps_label(eps)}, seed {seed}"
                out.append(compare(s, values, sizes, eps, backend, label, seed))
    return out


def _repaired(r: Recipe, repair: dict, backend: str, depth: int) -> tuple[list[str], bool]:
    """The refuted recipe under its derived repair (the extra conditions): it must agree as proved."""
    extra = tuple(tuple(c) for c in repair.get("conditions", []))
    r2 = dataclasses.replace(r, assumptions=tuple(r.assumptions) + extra)
    comparisons = _instances(r2, sides(r2, depth), backend, (0,), False)
    words = "; ".join(repair.get("conditions_text", [])) or ", ".join(map(str, extra))
    lines = [f"  under the repair ({words}), which must make it hold:"]
    lines += ["  " + c.line("proved") for c in comparisons]
    return lines, all(c.agrees("proved") for c in comparisons)


def _used(r: Recipe, sizes: dict, hadamard: bool = False) -> dict:
    """The recipe's sizes from ``sizes`` (a claim's own size names get 6, or 3 beside a
    Hadamard); with ``hadamard``, an orthogonal matrix's width is 4."""
    out = {k: sizes.get(k, 3 if hadamard else 6) for k in r.sizes}
    if hadamard:
        for kind, name in closure(r.assumptions):
            if kind == "orthogonal" and r.decl[name][0] in out:
                out[r.decl[name][0]] = 4
    return out


def replay(r: Recipe, counterexample: dict, backend: str = "numpy") -> Comparison:
    """The exact counterexample (its rational values rounded once to float64) through the
    depth-1 instance, at eps = 0 (where it was found)."""
    s = sides(r, 1)
    sizes = {k: int(v) for k, v in counterexample["sizes"].items()}
    values = fraction_values(counterexample["values"])
    missing = set(s.drawn) - set(values)
    if missing:
        raise ValueError(f"the counterexample of {r.id} gives no value to {', '.join(sorted(missing))}")
    label = f"the exact counterexample ({_sizes_label(sizes)}, rational values rounded once), eps=0"
    return compare(s, values, sizes, 0.0, backend, label)


def check_recipe(recipe_id: str, doc: dict, backend: str = "numpy") -> tuple[list[str], bool]:
    """The command's entry: the recipe's verdict and counterexample as the document states them
    (a claim of your own, ``rewrite --claim``, is the recipe its document states)."""
    r = recipe_of(doc)
    if r.id != recipe_id:
        raise ValueError(f"the document is about {r.id!r}, not {recipe_id!r}")
    return check(r, doc["verdict"], doc.get("counterexample"), backend, repair=doc.get("repair"))
