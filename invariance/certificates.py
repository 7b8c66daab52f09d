"""Certificates: one JSON file per cell that can be re-checked from the file alone.

The JSON holds every equation as SymPy ``srepr`` (symbols keep their
assumptions, e.g. ``positive=True``), the names of the equations each step
unfolds, and for a counterexample the exact values and both outputs.
:func:`verify` re-checks the steps with :func:`invariance.algebra.holds` and
re-evaluates the counterexample exactly; it never re-runs the search.
A Markdown rendering with LaTeX maths sits beside each JSON file.
"""
from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import sympy as sp

from .algebra import Rule, evaluate, exact_nonzero, holds
from .engine import (bind_definitions, conditions, definitions, evaluate_outputs, random_instance,
                     refutation_conditions, with_groups)
from .model import EPS
from .notation import plain, tex
from .records import INVARIANT, NOT_INVARIANT, Cell, Equation
from .registry import UnknownId, normalizer, transformation

__all__ = ["FORMAT", "to_json", "verify", "verify_path", "render_markdown", "write", "filename"]

FORMAT = "invariance-certificate/1"


def filename(cell: Cell) -> str:
    return f"{cell.normalizer}__{cell.transformation}"


def _num(v):
    return [_num(x) for x in v] if isinstance(v, (list, tuple)) else str(v)


def _parse_num(v):
    return [_parse_num(x) for x in v] if isinstance(v, list) else sp.sympify(v, rational=True)


def _eq(e: Equation) -> dict:
    return {"name": e.name, "lhs": sp.srepr(e.lhs), "rhs": sp.srepr(e.rhs),
            "justification": e.justification, "uses": list(e.uses),
            "latex": f"{tex(e.lhs)} = {tex(e.rhs)}"}


def to_json(cell: Cell) -> dict:
    """The cell as a JSON-ready dict (the CLI's ``--format json`` uses it too)."""
    out = {"normalizer": cell.normalizer, "transformation": cell.transformation,
           "verdict": cell.verdict, "conditions": [plain(c) for c in cell.conditions]}
    if cell.verdict == INVARIANT:
        out["proof"] = [{"equation": plain(sp.Eq(e.lhs, e.rhs, evaluate=False)),
                         "latex": f"{tex(e.lhs)} = {tex(e.rhs)}",
                         "justification": e.justification, "uses": list(e.uses)}
                        for e in cell.proof.steps()]
    ce = cell.counterexample
    if ce is not None:
        out["counterexample"] = {
            "sizes": ce.sizes,
            "values": {str(k): _num(v) for k, v in ce.values.items()},
            "symbols": {sp.srepr(k): _num(v) for k, v in ce.values.items()},
            "parameters": {k: _num(v) if not isinstance(v, int) else v for k, v in ce.parameters.items()},
            "point": ce.point, "output": str(ce.output), "transformed_output": str(ce.transformed_output)}
    if cell.proof is not None:
        out["equations"] = [_eq(e) for e in cell.proof.equations]
    return out


def _load_equations(data: dict) -> list[Equation]:
    return [Equation(e["name"], sp.sympify(e["lhs"]), sp.sympify(e["rhs"]), e["justification"],
                     tuple(e["uses"])) for e in data.get("equations", [])]


def verify(data: dict, spot_checks: int = 1) -> list[str]:
    """Problems found in one certificate (empty if every claim holds).

    From the file: every step holds by :func:`invariance.algebra.holds` and
    on ``spot_checks`` random rational instances (sizes 2 to 3), where both sides
    are evaluated exactly from the definitions alone; the counterexample's
    outputs are what the definitions give, and differ.  Against the registry
    (no search is run): the definitions are the toolkit's definitions of that
    normalizer and transformation, the conditions are those the proof used,
    and the counterexample's parameters are admissible (e.g. delta > 0).
    """
    where = f"{data.get('normalizer')} x {data.get('transformation')}"
    if data.get("format") != FORMAT:
        return [f"{where}: not an {FORMAT} file"]
    try:
        norm, t = normalizer(data["normalizer"]), transformation(data["transformation"])
    except UnknownId as err:
        return [f"{where}: {err} (a normalizer of your own: verify --load FILE)"]
    eqs = _load_equations(data)
    byname = {e.name: e for e in eqs}
    built = _matching_definitions(norm, t, [e for e in eqs if e.is_definition])
    if built is None:
        return [f"{where}: the definitions are not the toolkit's definitions of this cell"]
    problems = []
    if data["verdict"] == INVARIANT:
        steps = [e for e in eqs if not e.is_definition]
        if not steps or steps[-1].lhs != byname["h'"].lhs or steps[-1].rhs != byname["h"].lhs:
            problems.append(f"{where}: the last step is not h' = h")
        for e in steps:
            missing = [u for u in e.uses if u not in byname or eqs.index(byname[u]) >= eqs.index(e)]
            if missing:
                problems.append(f"{where}: step {e.name!r} uses {missing}, not stated before it")
            elif not holds(e.lhs, e.rhs, [Rule(byname[u].lhs, byname[u].rhs) for u in e.uses]):
                problems.append(f"{where}: step {e.name!r} does not hold: {tex(e.lhs)} = {tex(e.rhs)}")
            elif not all(_spot_check(eqs, e, built, t, seed) for seed in range(spot_checks)):
                problems.append(f"{where}: step {e.name!r} fails at a rational point: {tex(e.lhs)} = {tex(e.rhs)}")
        if not problems and data["conditions"] != _proof_conditions(built, t, byname):
            problems.append(f"{where}: the conditions {data['conditions']} are not those the proof uses")
    elif data["verdict"] == NOT_INVARIANT:
        problems += _verify_counterexample(data, eqs, where, t)
        if data["conditions"] != [plain(c) for c in refutation_conditions(norm)]:
            problems.append(f"{where}: the conditions {data['conditions']} are not the counterexample's")
    else:
        problems.append(f"{where}: verdict {data['verdict']!r} carries no evidence")
    return problems


def _matching_definitions(norm, t, defs: list[Equation]):
    """The Built (with symbolic or zero epsilon) whose definitions the certificate states, or None."""
    stated = [(e.name, e.lhs, e.rhs) for e in defs]
    for eps in (EPS, sp.S.Zero):
        b = norm.build(eps)
        if stated == [(e.name, e.lhs, e.rhs) for e in definitions(b, t)]:
            return b
    return None


def _proof_conditions(b, t, byname) -> list[str]:
    law = byname["a' law"].rhs
    a = byname["a"].lhs
    alpha = sp.expand((law - law.as_independent(a, as_Add=True)[0]) / a)
    return [plain(c) for c in conditions(b, t, alpha, b.eps == 0)]


def _spot_check(eqs: list[Equation], step: Equation, b, t, seed: int) -> bool:
    """Both sides of ``step`` on a random rational instance, at every entry,
    evaluated from the definitions.

    Independent of the rewriting that :func:`holds` does; False only if the
    two exact values certainly differ somewhere.
    """
    rng = random.Random(seed)
    m = b.m
    sizes = with_groups(b, {ax.size: rng.randint(2, 3) for ax in (*m.axes, m.input)})
    _, values, _ = random_instance(b, t, rng, sizes, unit_gain=False)
    arrays, env = bind_definitions(eqs, values, {**sizes, EPS: sp.Rational(1, 7)})
    for point in itertools.product(*[range(1, sizes[ax.size] + 1) for ax in m.axes]):
        at = {**env, **{ax.index: v for ax, v in zip(m.axes, point)}}
        try:
            left, right = evaluate(step.lhs, arrays, at), evaluate(step.rhs, arrays, at)
        except ZeroDivisionError:
            continue   # a statistic vanishes here: no evidence either way
        if left.is_finite and right.is_finite and exact_nonzero(left - right):
            return False
    return True


def _verify_counterexample(data: dict, eqs: list[Equation], where: str, t) -> list[str]:
    ce = data["counterexample"]
    symbols = {sp.sympify(k): _parse_num(v) for k, v in ce["symbols"].items()}
    params = {k: v if isinstance(v, int) else _parse_num(v) for k, v in ce["parameters"].items()}
    dims = dict(ce["sizes"])
    dims.setdefault("H", dims.get("C"))
    expected = t.values(params, dims)
    if any(symbols.get(k) != v for k, v in expected.items()):
        return [f"{where}: the values of the transformation's symbols are not its parameters'"]
    if not all(_admissible(c, expected) for c in t.conditions):
        return [f"{where}: the parameters {ce['parameters']} break the transformation's conditions"]
    size_syms = {s for e in eqs for s in e.rhs.free_symbols if s.is_integer and s.is_positive}
    sizes = {s: ce["sizes"][s.name] for s in size_syms if s.name in ce["sizes"]}
    h = next(e for e in eqs if e.name == "h").lhs
    point = tuple(ce["point"][ax] for ax in ce["point"])
    if len(point) != len(h.indices):
        return [f"{where}: the point {ce['point']} does not match h's indices"]
    out = evaluate_outputs(eqs, symbols, sizes, [point])
    got, got_p = out["h"][point], out["h'"][point]
    problems = []
    recorded = sp.sympify(ce["output"], rational=True), sp.sympify(ce["transformed_output"], rational=True)
    if sp.expand(got - recorded[0]) != 0 or sp.expand(got_p - recorded[1]) != 0:
        problems.append(f"{where}: the recorded outputs are not what the definitions give ({got}, {got_p})")
    if not exact_nonzero(got_p - got):
        problems.append(f"{where}: the two outputs do not differ")
    return problems


def _admissible(condition: sp.Basic, values: dict) -> bool:
    """A condition such as delta > 0 or delta_i > 0, on every entry of the values given."""
    lhs = condition.lhs
    key = lhs.base if isinstance(lhs, sp.Indexed) else lhs
    if key not in values:
        return True
    flat = values[key] if isinstance(values[key], list) else [values[key]]
    return all(bool(condition.func(sp.sympify(v), condition.rhs)) for v in flat)


def verify_path(path: Path) -> tuple[int, list[str]]:
    """Verify every ``*.json`` certificate under ``path``: (files checked, problems)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    problems = []
    for f in files:
        try:
            problems += verify(json.loads(f.read_text()))
        except (ValueError, KeyError, TypeError, SyntaxError) as err:
            problems.append(f"{f}: unreadable certificate ({type(err).__name__}: {err})")
    return len(files), problems


def render_markdown(cell: Cell, titles: dict[str, str]) -> str:
    """A human-readable certificate: Markdown with $...$ maths."""
    lines = [f"# {titles[cell.normalizer]} under {titles[cell.transformation].lower()}", "",
             "*Generated by `python -m invariance proofs`; do not edit.*", "",
             f"**Verdict: {cell.verdict}.**"]
    if cell.conditions:
        lines += ["", "Conditions: " + ", ".join(f"${tex(c)}$" for c in cell.conditions) + "."]
    lines += ["", "## Definitions", ""]
    for e in cell.proof.equations if cell.proof else ():
        if e.is_definition:
            lines += [f"- {e.justification}:", "", f"  $${tex(e.lhs)} = {tex(e.rhs)}$$", ""]
    if cell.verdict == INVARIANT:
        lines += ["## Proof", "", "Each step is checked by unfolding the equations it uses, "
                  "linearity of the sum, and expansion to literally zero.", ""]
        for k, e in enumerate(cell.proof.steps(), 1):
            lines += [f"{k}. {e.justification} (uses {', '.join(e.uses)}):", "",
                      f"   $${tex(e.lhs)} = {tex(e.rhs)}$$", ""]
    if cell.counterexample is not None:
        ce = cell.counterexample
        lines += ["## Counterexample (exact)", "", "Sizes: " + ", ".join(f"${k} = {v}$" for k, v in ce.sizes.items())
                  + ". Gain $g = 1$, bias $b = 0$, $\\epsilon = 0$.", ""]
        for k, v in ce.values.items():
            lines.append(f"- ${tex(k)} = {_matrix_tex(v)}$")
        point = ", ".join(str(v) for v in ce.point.values())
        lines += ["", f"At entry $({point})$: $h = {sp.latex(ce.output)}$ but $h' = {sp.latex(ce.transformed_output)}$.", ""]
    return "\n".join(lines).rstrip() + "\n"


def _matrix_tex(v) -> str:
    if not isinstance(v, (list, tuple)):
        return sp.latex(v)
    if v and isinstance(v[0], (list, tuple)):
        return r"\left[" + ", ".join(_matrix_tex(r) for r in v) + r"\right]"
    return r"\left[" + ", ".join(sp.latex(x) for x in v) + r"\right]"


def write(cells, directory: Path, titles: dict[str, str]) -> list[Path]:
    """Write ``<normalizer>__<transformation>.json`` and ``.md`` for each cell."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in cells:
        base = directory / filename(cell)
        data = {"format": FORMAT, **to_json(cell)}
        base.with_suffix(".json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        base.with_suffix(".md").write_text(render_markdown(cell, titles))
        written += [base.with_suffix(".json"), base.with_suffix(".md")]
    return written
