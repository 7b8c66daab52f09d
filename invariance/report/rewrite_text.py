"""A rewrite's verdict for a person: the chains of equalities, the counterexample, the repair.

Rendered from the document that ``verify`` checks (:func:`invariance.core.rewrite.document`),
so what a person reads is what was checked.  A proof reads as one chain from the original
block to the rewritten one: the left side's steps down to the common normal form, then the
right side's steps read backwards.
"""
from __future__ import annotations

from fractions import Fraction

from ..catalogue.rewrites import recipe_of
from ..core.rewrite import PROVED, REFUTED
from ..core.rules import RULES
from ..core.terms import Exact, evaluate, from_json, latex, show

__all__ = ["render_text", "render_markdown", "render_latex", "outputs"]


def _steps(r, goal, entry, fmt: str):
    """(term, reason) pairs of one goal, original side first."""
    def term(data):
        return from_json(data, r.decl, r.sizes)
    left = [(goal.lhs, None)] + [(term(s["term"]), s["rule"]) for s in entry["lhs"]]
    right = [(goal.rhs, None)] + [(term(s["term"]), s["rule"]) for s in entry["rhs"]]
    out = list(left)
    for k in range(len(right) - 1, 0, -1):   # read backwards: each step's reason moves to the term it leads to
        out.append((right[k - 1][0], right[k][1]))
    return out


def _width() -> int:
    """The terminal's width when printing to one, else 100 (piped output keeps its lines)."""
    import shutil
    import sys
    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100


def _reason(rule: str | None) -> str:
    return "" if rule is None else RULES[rule].words


def _decimal(v) -> str:
    from ..core.balls import Ball
    if isinstance(v, Ball):
        return f"{float(v.m):.12g} (an enclosure of radius {float(v.r):.1e})"
    return f"{v.numerator}/{v.denominator} = {float(v):.12g}" if v.denominator != 1 else str(v.numerator)


def outputs(doc):
    """The counterexample's two outputs, original then rewritten, evaluated exactly again."""
    r = recipe_of(doc)
    cx = doc["counterexample"]
    env = {k: [[Fraction(q) for q in row] for row in rows] for k, rows in cx["values"].items()}
    for name, term in r.definitions.items():
        env[name] = evaluate(term, env, cx["sizes"], Exact)
    return (evaluate(r.instance.lhs, env, cx["sizes"], Exact)[0],
            evaluate(r.instance.rhs, env, cx["sizes"], Exact)[0])


def _matrix(rows) -> str:
    return "[" + "; ".join(" ".join(q for q in row) for row in rows) + "]"


def _verdict_line(doc, r) -> str:
    if doc["verdict"] == PROVED:
        conds = "; ".join(doc["conditions_text"]) or "none"
        return f"PROVED for every size (conditions: {conds})"
    if doc["verdict"] == REFUTED:
        return "REFUTED by an exact counterexample"
    return "UNKNOWN: neither a proof nor a counterexample was found"


def render_text(doc) -> str:
    r = recipe_of(doc)
    out = [f"{r.id}: {r.title}", f"  claim: {r.words}", f"  used by: {r.source}",
           f"  assumed: {'; '.join(c for c in _assumed(r)) or 'nothing'}",
           f"  verdict: {_verdict_line(doc, r)}"]
    if r.kind == "model":
        out.append("  a model's proof has three goals (embedding, one block, head): by induction on the residual "
                   "they give every depth L")
    for note in r.notes:
        out.append(f"  note: {note}")
    if "proof" in doc:
        out += _proof_text(r, doc["proof"])
    if "counterexample" in doc:
        cx = doc["counterexample"]
        out.append("")
        what = "the model at depth 1, " if r.kind == "model" else ""
        out.append(f"Counterexample (sizes {', '.join(f'{k} = {v}' for k, v in cx['sizes'].items())}; "
                   f"{what}both sides evaluated exactly):")
        out.append(f"  original:  {show(r.instance.lhs)}")
        out.append(f"  rewritten: {show(r.instance.rhs)}")
        for k, rows in cx["values"].items():
            out.append(f"  {k} = {_matrix(rows)}")
        if r.assumptions:
            out.append(f"  (checked exactly: {'; '.join(_assumed(r))})")
        left, right = outputs(doc)
        j = cx["entry"]
        out.append(f"  output {j}: original {_decimal(left[j])}")
        out.append(f"  output {j}: rewritten {_decimal(right[j])}   (certainly different)")
    if "repair" in doc:
        out.append("")
        out.append("It holds when additionally: " + "; ".join(doc["repair"]["conditions_text"]))
        out += _proof_text(r, doc["repair"]["proof"])
    if "correction" in doc:
        out.append("")
        out.append(f"Corrected recipe: {doc['correction']} (python -m invariance rewrite {doc['correction']})")
    return "\n".join(out)


def _assumed(r):
    from ..core.rules import condition_text
    return [condition_text(c) for c in r.assumptions]


def _proof_text(r, proof) -> list[str]:
    out = []
    for goal, entry in zip(r.goals, proof):
        out += ["", f"Goal {goal.name}: {goal.words}"]
        steps = _steps(r, goal, entry, "text")
        for k, (term, rule) in enumerate(steps):
            line = ("    " if k == 0 else "  = ") + show(term)
            reason = f"({_reason(rule)})" if rule else ""
            if reason and len(line) + 6 + len(reason) > _width():
                out += [line, "        " + reason]       # a long step: its reason under it
            else:
                out.append(line + ("      " + reason if reason else ""))
    return out


def render_markdown(doc) -> str:
    r = recipe_of(doc)
    text = render_text(doc).split("\n")
    return f"### `{r.id}`: {r.title}\n\n```\n" + "\n".join(text[1:]) + "\n```"


def render_latex(doc) -> str:
    """The proof as aligned equalities with reasons, for the document."""
    r = recipe_of(doc)
    out = [rf"\paragraph{{{_tex_text(r.title)}}} {_tex_text(r.words)}. Verdict: {_tex_text(_verdict_line(doc, r))}."]
    for key in ("proof",):
        if key in doc:
            out += _proof_latex(r, doc[key])
    if "counterexample" in doc:
        cx = doc["counterexample"]
        left, right = outputs(doc)
        j = cx["entry"]
        vals = "; ".join(f"${k} = {_tex_matrix(rows)}$" for k, rows in cx["values"].items())
        out.append(rf"Counterexample at {', '.join(f'${k}={v}$' for k, v in cx['sizes'].items())}: {vals}. "
                   rf"Output {j} is {_tex_text(_decimal(left[j]))} originally and "
                   rf"{_tex_text(_decimal(right[j]))} after the rewrite.")
    if "repair" in doc:
        out.append(r"It holds when additionally " + _tex_text("; ".join(doc["repair"]["conditions_text"])) + ":")
        out += _proof_latex(r, doc["repair"]["proof"])
    if "correction" in doc:
        out.append(rf"The corrected recipe is \texttt{{{doc['correction']}}}.")
    return "\n\n".join(out)


def _proof_latex(r, proof) -> list[str]:
    out = []
    for goal, entry in zip(r.goals, proof):
        rows = []
        for k, (term, rule) in enumerate(_steps(r, goal, entry, "latex")):
            reason = rf" && \text{{{_tex_text(_reason(rule))}}}" if rule else ""
            rows.append(("" if k == 0 else "&= ") + latex(term) + reason)
        out.append(rf"Goal \emph{{{goal.name}}}: {_tex_text(goal.words)}."
                   "\n" r"\begin{align*}" "\n& " + r" \\" "\n".join(rows) + "\n" r"\end{align*}")
    return out


def _tex_matrix(rows) -> str:
    body = r" \\ ".join(" & ".join(_tex_q(q) for q in row) for row in rows)
    return r"\begin{bmatrix}" + body + r"\end{bmatrix}"


def _tex_q(q: str) -> str:
    if "/" in q:
        n, d = q.split("/")
        return ("-" if n.startswith("-") else "") + rf"\frac{{{n.lstrip('-')}}}{{{d}}}"
    return q


_TEX_CHARS = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%", "#": r"\#",
              "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\~{}"}


def _tex_text(s: str) -> str:
    return "".join(_TEX_CHARS.get(ch, ch) for ch in s)
