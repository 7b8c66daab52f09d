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
from pathlib import Path

import sympy as sp

from .algebra import Rule, exact_nonzero, holds
from .notation import plain, tex
from .records import INVARIANT, NOT_INVARIANT, Cell, Equation

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


def verify(data: dict) -> list[str]:
    """Problems found in one certificate (empty if every claim holds)."""
    where = f"{data.get('normalizer')} x {data.get('transformation')}"
    if data.get("format") != FORMAT:
        return [f"{where}: not an {FORMAT} file"]
    eqs = _load_equations(data)
    byname = {e.name: e for e in eqs}
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
    elif data["verdict"] == NOT_INVARIANT:
        problems += _verify_counterexample(data, eqs, where)
    else:
        problems.append(f"{where}: verdict {data['verdict']!r} carries no evidence")
    return problems


def _verify_counterexample(data: dict, eqs: list[Equation], where: str) -> list[str]:
    from .engine import evaluate_outputs
    ce = data["counterexample"]
    symbols = {sp.sympify(k): _parse_num(v) for k, v in ce["symbols"].items()}
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
             f"*Generated by `python -m invariance proofs`; do not edit.*", "",
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
