"""A rewrite's verdict for a person: the chains of equalities, the counterexample, the repair.

Rendered from the document that ``verify`` checks (:func:`invariance.core.rewrite.document`),
so what a person reads is what was checked.  A proof reads as one chain from the original
block to the rewritten one: the left side's steps down to the common normal form, then the
right side's steps read backwards.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..catalogue.rewrites import recipe as find_recipe, recipe_of
from ..core.rewrite import PROVED, REFUTED
from ..core.rules import RULES
from ..core.terms import Exact, canonical, evaluate, from_json, latex, show
from .linebreak import gathered

__all__ = ["render_text", "render_markdown", "render_latex", "outputs"]


def _steps(r, goal, entry):
    """(term, reason) pairs of one goal, the original side first (the side without a rewritten
    parameter), each reason on the term it leads to.  The left side's steps reach the common
    normal form and the right side's are read backwards; where the chain comes back to a term it
    has shown, the detour between is left out (each equality still holds by the step shown)."""
    def term(data):
        return from_json(data, r.decl, r.sizes)
    left = [(goal.lhs, None)] + [(term(s["term"]), s["rule"]) for s in entry["lhs"]]
    right = [(goal.rhs, None)] + [(term(s["term"]), s["rule"]) for s in entry["rhs"]]
    out = list(left)
    for k in range(len(right) - 1, 0, -1):   # read backwards: each step's reason moves to the term it leads to
        out.append((right[k - 1][0], right[k][1]))
    if _rewritten(r, goal.lhs) and not _rewritten(r, goal.rhs):
        out = [(out[-1][0], None)] + [(out[k - 1][0], out[k][1]) for k in range(len(out) - 1, 0, -1)]
    return _without_detours(out)


def _rewritten(r, term) -> bool:
    """Whether ``term`` holds a rewritten (primed) parameter."""
    from ..core.rewrite import free_names
    return bool(free_names(term) & set(r.definitions))


def _without_detours(rows):
    """The chain with every loop cut out: from a term, straight on from its last occurrence."""
    keys = [canonical(t) for t, _ in rows]
    out, k = [], 0
    while k < len(rows):
        last = max(j for j in range(k, len(rows)) if keys[j] == keys[k])
        out.append(rows[k])
        k = last + 1
    return out


def _width() -> int:
    """The terminal's width when printing to one, else 100 (piped output keeps its lines)."""
    import shutil
    import sys
    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100


def _sides(doc, r):
    """(original, rewritten) outputs of the counterexample, and the two instance terms."""
    left, right = outputs(doc)
    if _rewritten(r, r.instance.lhs) and not _rewritten(r, r.instance.rhs):
        return (right, left), (r.instance.rhs, r.instance.lhs)
    return (left, right), (r.instance.lhs, r.instance.rhs)


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
        out.append(f"  output entry {j + 1}: original {_decimal(left[j])}")   # counted from 1, as the document does
        out.append(f"  output entry {j + 1}: rewritten {_decimal(right[j])}   (certainly different)")
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
        steps = _steps(r, goal, entry)
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


#: The widest term of a chain's row, in letter widths (:func:`.linebreak.maths_width`): the
#: rest of the line holds the relation and the rule's name.
TERM_WIDTH = 46


def label(recipe_id: str) -> str:
    """The document's label of a recipe's verdict."""
    return "rw:" + recipe_id


def rule_name(rule: str) -> str:
    """A rule's name as a reader reads it (the rules' table and the chains): words, no hyphens."""
    return rule.replace("-", " ")


def render_latex(doc, labels=frozenset(), cite=lambda text: text, standalone: bool = True) -> str:
    """The verdict for the document: the claim, the verdict with its conditions, each goal's
    proof as aligned equalities with the rule of each step, the counterexample with its two
    outputs evaluated exactly again, the repair and the corrected recipe.  ``labels``: the
    recipes with a section of their own (the corrected recipe is referred to); ``cite`` adds
    citations to the words of who uses it; ``standalone``: the model's shape and each goal's
    words are said here (in the document, once in the chapter's introduction)."""
    r = recipe_of(doc)
    # ragged right: a claim's formulas are long and break only at their relations
    out = [rf"\subsection{{{words_tex(r.title)}}}\label{{{label(r.id)}}}" "\n"
           + r"{\raggedright " + _sentence(words_tex(r.words))[:-1] + ". Source: " + cite(_tex_text(r.source))
           + ". " + _verdict_tex(doc) + "".join(" " + _sentence(words_tex(n)) for n in r.notes) + r"\par}"]
    if "proof" in doc:
        out += _proof_latex(r, doc["proof"], standalone)
    if "counterexample" in doc:
        out += _counterexample_latex(doc, r)
    if "repair" in doc:
        out.append(r"It holds when additionally " + words_tex("; ".join(doc["repair"]["conditions_text"])) + ":")
        out += _proof_latex(r, doc["repair"]["proof"], standalone)
    if "correction" in doc:
        out.append(f"The corrected recipe is {_recipe_ref(doc['correction'], labels)}.")
    return "\n\n".join(out)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _verdict_tex(doc) -> str:
    if doc["verdict"] == PROVED:
        conds = "; ".join(doc["conditions_text"])
        return r"\textbf{Proved} for every size" + (f", when {words_tex(conds)}." if conds else ", with no condition.")
    if doc["verdict"] == REFUTED:
        return r"\textbf{Refuted} by an exact counterexample."
    return r"\textbf{Unknown}: neither a proof nor a counterexample was found."


def _recipe_ref(recipe_id: str, labels) -> str:
    if recipe_id in labels:
        return f"that of Section~\\ref{{{label(recipe_id)}}}"
    return r"\emph{" + words_tex(find_recipe(recipe_id).title[:1].lower() + find_recipe(recipe_id).title[1:]) + "}"


def chain_rows(r, goal, entry) -> list[str]:
    """One goal's chain as rows of an ``align*``: a term too wide for a row is broken at its
    top-level sums onto rows of its own."""
    from .linebreak import maths_width, pieces
    rows = []
    for k, (term, rule) in enumerate(_steps(r, goal, entry)):
        maths = latex(term)
        lines = [maths]
        if maths_width(maths) > TERM_WIDTH:
            lines, current = [], None
            for piece in pieces(maths):
                if current is not None and maths_width(current + " " + piece) > TERM_WIDTH - (0 if not lines else 4):
                    lines.append(current)
                    current = piece
                else:
                    current = piece if current is None else current + " " + piece
            lines.append(current)
        reason = rf" && \text{{\small {rule_name(rule)}}}" if rule else ""
        rows.append(("& " if k == 0 else "&= ") + lines[0] + reason)
        rows += [r"&\quad " + line for line in lines[1:]]
    return rows


def _proof_latex(r, proof, standalone: bool) -> list[str]:
    out = []
    for goal, entry in zip(r.goals, proof):
        if r.kind == "model":
            lead = rf"Goal \emph{{{goal.name}}}" + (f": {words_tex(goal.words)}." if standalone else ".")
        else:
            lead = _sentence(words_tex(goal.words))[:-1] + ":"
        steps = _steps(r, goal, entry)
        if len(steps) == 2 and lead:   # one step: said in the sentence
            (first, _), (second, rule) = steps[0], steps[-1]
            out.append(f"{lead.rstrip('.:')}: ${latex(first)} = {latex(second)}$ ({rule_name(rule)}).")
            continue
        body = "\\begin{align*}\n" + " \\\\\n".join(chain_rows(r, goal, entry)) + "\n\\end{align*}"
        out.append(lead + "\n" + body)
    return out


def _counterexample_latex(doc, r) -> list[str]:
    cx = doc["counterexample"]
    (original, rewritten), _ = _sides(doc, r)
    j = cx["entry"]
    sizes = ", ".join(f"${k} = {v}$" for k, v in cx["sizes"].items())
    what = "the one-block model" if r.kind == "model" else "the block"
    return [f"\\emph{{Counterexample}}, at {sizes}: {what} with",
            r"\[" "\n" + _matrices(cx["values"]) + "\n" r"\]",
            f"gives entry ${j + 1}$ of the output as {_number_tex(original[j])} originally and {_number_tex(rewritten[j])} "
            f"after the rewrite, evaluated exactly again: they differ."]


#: The widest line of a counterexample's values, in characters of their matrices.
VALUES_WIDTH = 88


def _matrices(values: dict) -> str:
    """The counterexample's values as small matrices, several to a line."""
    shown = []
    for name, rows in values.items():
        body = r" \\ ".join(" & ".join(rows_q for rows_q in row) for row in rows)
        wide = sum(max(len(q) for q in col) + 2 for col in zip(*rows)) + len(name) + 4
        shown.append((wide, f"{_maths_tex(_TOKEN.findall(name))} = "
                            rf"\left[\begin{{smallmatrix}}{body}\end{{smallmatrix}}\right]"))
    return gathered(shown, VALUES_WIDTH)


def _number_tex(v) -> str:
    from ..core.balls import Ball
    if isinstance(v, Ball):
        mantissa, exponent = f"{float(v.r):.1e}".split("e")
        return (f"${float(v.m):.12g}\\ldots$ (an enclosure of radius ${mantissa} \\cdot 10^{{{int(exponent)}}}$)")
    if v.denominator == 1:
        return f"${v.numerator}$"
    sign = "-" if v < 0 else ""
    return rf"${sign}\frac{{{abs(v.numerator)}}}{{{v.denominator}}} = {float(v):.12g}$"


_TEX_CHARS = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%", "#": r"\#",
              "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\~{}"}


def _tex_text(s: str) -> str:
    return "".join(_TEX_CHARS.get(ch, ch) for ch in s)


# --- words with their formulas as maths ---------------------------------------------------------
_FUNCTIONS = {"LN": r"\operatorname{LN}", "RMS": r"\operatorname{RMS}", "ReLU": r"\operatorname{ReLU}",
              "GELU": r"\operatorname{GELU}", "diag": r"\operatorname{diag}", "tanh": r"\tanh", "max": r"\max",
              "sqrt": r"\sqrt"}
_GREEK = {"eps": r"\epsilon", "mu": r"\mu", "sigma": r"\sigma", "beta": r"\beta", "gamma": r"\gamma",
          "delta": r"\delta"}
_TOKEN = re.compile(r"[A-Za-z]+'s(?![A-Za-z'])|[A-Za-z]+(?:-[A-Za-z]+)+|\^T|\^-?[0-9]+|_\([^()]*\)|_[A-Za-z0-9]+|[A-Za-z]+[0-9]*'*|[0-9]+|:=|->|!=|>=|<=|\s+|.")
_OPERATORS = {"=", "+", "-", "/", "*", "<", ">", ":=", "->", "!=", ">=", "<="}


def _is_name(tok: str) -> bool:
    """A formula's name: one letter (not the article a), a letter with digits or primes, a
    function or a Greek letter's name."""
    base = tok.rstrip("'")
    return (tok in _FUNCTIONS or base in _GREEK or bool(re.fullmatch(r"[A-Za-z][0-9]*'*", tok)) and tok != "a")


def _maths_kind(tok: str) -> str | None:
    """'name', 'number', 'script', 'op', 'open', 'close', 'comma' for what may be in a formula;
    None for a word, a space or punctuation that ends one."""
    if tok.startswith(("^", "_")) and len(tok) > 1:
        return "script"
    if re.fullmatch(r"[0-9]+", tok):
        return "number"
    if re.fullmatch(r"[A-Za-z]+[0-9]*'*", tok):
        return "name" if _is_name(tok) else None
    if tok in _OPERATORS:
        return "op"
    return {"(": "open", ")": "close", ",": "comma"}.get(tok)


def _runs(tokens):
    """The tokens cut into ('words', [..]) and ('maths', [..]) runs: a formula is a run of names,
    numbers, scripts, operators and balanced parentheses (a comma only inside them), with its
    spaces; a parenthesis it does not close, and a trailing operator, go to the words."""
    kinds = [_maths_kind(t) for t in tokens]
    solid = [k for k, t in enumerate(tokens) if not t.isspace()]
    for n, k in enumerate(solid):   # the article a is a name beside an operator: "by a > 0", "-a W", "by a, "
        if tokens[k] == "a":
            prev = tokens[solid[n - 1]] if n else None
            nxt = tokens[solid[n + 1]] if n + 1 < len(solid) else None
            if nxt in _OPERATORS - {"-"} or (prev, nxt) == ("by", ",") or prev == "-" and (n < 2 or tokens[solid[n - 2]] not in ("a", "an")):
                kinds[k] = "name"
    in_maths = [False] * len(tokens)
    k = 0
    while k < len(tokens):
        if kinds[k] in ("name", "number", "script", "open") or (kinds[k] == "op" and tokens[k] == "-"):
            j, depth, last, opens = k, 0, None, []
            while j < len(tokens):
                kind = kinds[j]
                if tokens[j].isspace():
                    j += 1
                    continue
                if kind is None or (kind == "comma" and depth == 0) or (kind == "close" and depth == 0):
                    break
                if kind == "open":
                    depth += 1
                    opens.append(j)
                elif kind == "close":
                    depth -= 1
                    opens.pop()
                last = j
                j += 1
            if last is not None:
                span = set(range(k, last + 1))
                # a parenthesis left open is a word; so is an operator at either end
                span -= set(opens)
                for q in range(k, last + 1):
                    if q in span:
                        in_maths[q] = True
                for q in opens:
                    in_maths[q] = False
                k = last + 1
                continue
        k += 1
    # a formula does not end (or start) with a space or an operator other than a minus sign at its start
    runs, cur, kind = [], [], None
    for tok, m in zip(tokens, in_maths):
        want = "maths" if m else "words"
        if want != kind and cur:
            runs.append((kind, cur))
            cur = []
        kind = want
        cur.append(tok)
    if cur:
        runs.append((kind, cur))
    out = []
    for kind, toks in runs:
        if kind == "maths":
            lead = []
            while toks and (toks[-1].isspace() or toks[-1] == "," or toks[-1] in _OPERATORS - {"-"}):
                lead.insert(0, toks.pop())
            if toks:
                out.append(("maths", toks))
            if lead:
                out.append(("words", lead))
        else:
            out.append((kind, toks))
    return out


def _maths_tex(tokens) -> str:
    """A formula's tokens as LaTeX maths: names with subscripts, ^T as a transpose, the all-ones
    vector bold, sqrt(..) as a root, a space between two factors as a thin space."""
    toks = [t for t in tokens]
    out, roots, depth = [], [], 0
    solid = [k for k, t in enumerate(toks) if not t.isspace()]

    def around(k, step):
        pos = solid.index(k) + step
        return toks[solid[pos]] if 0 <= pos < len(solid) else None

    for k, t in enumerate(toks):
        if t.isspace():
            prev, nxt = around_space(toks, k)
            factor = prev is not None and nxt is not None and _maths_kind(prev) in ("name", "number", "script", "close") \
                and _maths_kind(nxt) in ("name", "number", "open")
            out.append(r"\, " if factor else " ")
            continue
        kind = _maths_kind(t)
        if t == "^T":
            out.append(r"^{\top}")
        elif kind == "script":
            out.append(f"{t[0]}{{{t[1:].strip('()')}}}")
        elif t == "1":
            prev, nxt = around(k, -1), around(k, 1)
            bold = nxt == "^T" or prev in ("^T", "mu") or nxt not in ("/", ")", ",")
            out.append(r"\mathbf{1}" if bold else "1")
        elif kind == "name":
            base = t.rstrip("'")
            primes = t[len(base):]
            if base in _FUNCTIONS:
                out.append(_FUNCTIONS[base])
                if base == "sqrt" and around(k, 1) == "(":
                    roots.append(depth)
            elif base in _GREEK:
                out.append(_GREEK[base] + primes)
            else:
                head = base.rstrip("0123456789")
                sub = base[len(head):]
                out.append(head + (f"_{{{sub}}}" if sub else "") + primes)
        elif t == "(":
            if roots and roots[-1] == depth and out and out[-1] == r"\sqrt":
                out.append("{")
                roots[-1] = -(depth + 1)
            else:
                out.append("(")
            depth += 1
        elif t == ")":
            depth -= 1
            if roots and roots[-1] == -(depth + 1):
                roots.pop()
                out.append("}")
            else:
                out.append(")")
        elif t == "*":
            out.append(r"\cdot")
        elif t == "->":
            out.append(r"\to")
        elif t in ("!=", ">=", "<="):
            out.append({"!=": r"\ne", ">=": r"\ge", "<=": r"\le"}[t])
        else:
            out.append(t)
    return "".join(out).strip()


def around_space(toks, k):
    prev = next((toks[j] for j in range(k - 1, -1, -1) if not toks[j].isspace()), None)
    nxt = next((toks[j] for j in range(k + 1, len(toks)) if not toks[j].isspace()), None)
    return prev, nxt


def words_tex(text: str) -> str:
    """Plain words with formulas (the rules', the recipes' and the conditions' words, as the
    text output prints them) as LaTeX: each formula as maths, the rest escaped; a recipe's id
    is its title, a normalizer's id its name in words (no id in the document's prose)."""
    from ..catalogue.registry import NORMALIZERS
    from ..catalogue.rewrites import RECIPES

    def named(m):
        word = m.group(0)
        if word in RECIPES:
            title = RECIPES[word].title
            return "\x01" + title[:1].lower() + title[1:] + "\x02"
        return word.replace("-", " ") if word in NORMALIZERS else word
    text = re.sub(r"[a-z]+(?:-[a-z]+)+", named, text)
    out = []
    for kind, toks in _runs(_TOKEN.findall(text)):
        out.append(f"${_maths_tex(toks)}$" if kind == "maths"
                   else _tex_text("".join(toks)).replace("->", r"$\to$"))
    return "".join(out).replace("\x01", r"\emph{").replace("\x02", "}")
