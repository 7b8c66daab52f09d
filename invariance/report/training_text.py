"""The consequences for a person at a terminal, and as Markdown: the maths typeset, each thing said once.

``python -m invariance consequences`` prints, per cell, the definitions and
premises its consequences cite (once), then each consequence with its
statement and its steps.  A step shared with an earlier consequence of the
cell (the gradient constraint, which the conserved quantity and the SGD laws
start from; the gradient's scaling, which the effective learning rate starts
from) is not printed again: the later consequence refers to it.  Cells
without any consequence are listed together, once per reason.

Maths goes through SymPy's pretty printer in the paper's symbols (ASCII when
the terminal cannot show unicode), never as SymPy's own text or as LaTeX;
the Markdown puts it in ``$...$`` (:func:`invariance.core.consequence.tex`).
The words are the terminal's own: the JSON's ``statement`` and
``justification`` (which the kernel regenerates and compares) are not shown.
"""
from __future__ import annotations

import sympy as sp
from sympy import Indexed, Symbol
from sympy.printing.pretty.stringpict import prettyForm

from ..catalogue.registry import FAMILIES, normalizer as _normalizer, titles
from ..core.consequence import Consequence, tex
from ..core.notation import _SUB, _rebuild, inline, pretty_form
from ..core.training import COEFFICIENTS, PREMISES
from .explain import _Out, _paper, _term_width, supports_unicode

__all__ = ["render_text", "render_markdown", "display"]


# --- the chapter's symbols as the paper writes them -------------------------------------------

def _sub(indices, unicode: bool) -> str:
    text = "".join(str(i) for i in indices)
    if unicode and all(ch in _SUB for ch in text):
        return "".join(_SUB[ch] for ch in text)
    return "_" + text if text else ""


#: A tensor's name as a superscript (unicode).
_UP = {"W": "\u1d42", "X": "\u02e3", "g": "\u1d4d", "b": "\u1d47", "c": "\u1d9c"}

#: Symbols without indices: (unicode, ASCII).
_SYMBOLS = {"D_v phi": ("D\u1d65\u03c6", "D_v phi"), "D_U L": ("D_U L", "D_U L"), "D_U L'": ("D_U L'", "D_U L'"),
            "D_U D_U2 L": ("D_U D_U\u2082 L", "D_U D_U2 L"), "D_U D_U2 L'": ("D_U D_U\u2082 L'", "D_U D_U2 L'"),
            "Q^+": ("Q\u207a", "Q^+"), "Q^wd": ("Q\u207a\u02b7\u1d48", "Q^+wd"), "dQ/dt": ("dQ/dt", "dQ/dt"),
            "c_v": ("c\u1d65", "c_v"),
            **{f"D_U{k} D_v phi": (f"D_U{_UP[k]} D\u1d65\u03c6", f"D_U{k} D_v phi") for k in "Wgbc"}}


def _indexed(name: str, idx: tuple, u: bool) -> str | None:
    """The display name of an entry of one of the chapter's arrays (None: the model's own)."""
    primed = "'" if name.endswith("'") else ""
    if name.startswith("dL/d"):                      # the gradient at (W, X), or at (W', X')
        w = name[4]
        return f"\u2202L/\u2202{w}{primed}{_sub(idx, u)}" if u else f"dL/d{w}{primed}{_sub(idx, u)}"
    if name.startswith("d2L/d"):                     # the Hessian: two entries (of one tensor, or of two)
        w, v = (name[5], name[5]) if name[6] == "2" else (name[5], name[7])
        half = len(idx) // 2 if w == v else 2 if w == "W" else 1
        first, second = f"{w}{primed}{_sub(idx[:half], u)}", f"{v}{primed}{_sub(idx[half:], u)}"
        return f"\u2202\u00b2L/\u2202{first}\u2202{second}" if u else f"d2L/d{first} d{second}"
    if name.startswith("xi^"):                       # the generator
        w = name[3]
        return ("\u03be" + _UP[w] if u else f"xi^{w}") + _sub(idx, u)
    if name.startswith("U_"):                        # a direction of one tensor, for the Hessian identity
        return ("U" + _UP[name[2]] if u else name) + _sub(idx, u)
    if name == "c_v":
        return ("c\u1d65" if u else "c_v") + _sub(idx, u)
    if name.startswith("xi_U"):                      # dW'/ds along W + s U at a fixed parameter
        w, which = name[-1], ("U\u2082" if u else "U2") if name.startswith("xi_U2") else "U"
        return f"(\u2202_{which} {w}')" + _sub(idx, u) if u else f"(d_{which} {w}')" + _sub(idx, u)
    if name == "U2":
        return ("U\u2082" if u else "U2") + _sub(idx, u)
    if "^" in name and name.split("^")[0] in ("W", "g", "b", "c", "Q") and name.split("^")[1] in ("+", "wd"):
        mark = {"+": ("\u207a", "^+"), "wd": ("\u207a\u02b7\u1d48", "^+wd")}[name.split("^")[1]]
        return name[0] + mark[0 if u else 1] + _sub(idx, u)
    if name == "dQ/dt":
        return f"dQ{_sub(idx, u)}/dt"
    return None


def display(expr, unicode: bool):
    """``expr`` with the chapter's arrays and symbols renamed as a reader writes them, for
    :func:`invariance.core.notation.pretty_form` (which names the model's own)."""
    if not isinstance(expr, sp.Basic):
        return expr
    names = {}
    for e in expr.atoms(Indexed):
        shown = _indexed(e.base.label.name, e.indices, unicode)
        if shown is not None:
            names[e] = Symbol(shown)
    for s in expr.atoms(Symbol):
        if s.name in _SYMBOLS:
            names[s] = Symbol(_SYMBOLS[s.name][0 if unicode else 1])
    return _rebuild(expr, names)


# --- what a definition means, what a step cites -------------------------------------------------

def _moved(defs: dict) -> str:
    """The variable differentiated at a fixed parameter: the one with a derivative along U."""
    return "X" if any(n.startswith("xi_U") and n.endswith("X") for n in defs) else "W"


def _meaning(e, cell: tuple[str, str], u: bool, defs: dict) -> list:
    """A definition's or premise's meaning, in words and maths (the terminal's own words)."""
    name = e.name
    w = name[-1] if name.startswith("xi") else _moved(defs)
    moved = [k for k in ("W", "X", "g", "b", "c") if k in ("W", "X") or f"{k}'" in defs]
    phi = sp.Eq(sp.Function("phi")(Symbol("s")), sp.Function("L")(sp.Function("h")(
        *[sp.Function(f"{k}'")(Symbol("s")) for k in moved])), evaluate=False)
    d = ("\u2202", "d")[not u]
    if name in ("W'", "X'", "g'", "b'", "c'"):
        t = FAMILIES[cell[1]]
        if name in ("g'", "b'", "c'"):
            return [f"the transformation moves {name[0]} too"]
        return [f"the transformation: {t.title.lower()}, ", (_paper(t.paper, True), _paper(t.paper, False))]
    if name.startswith("chain rule vU "):
        k = name[-1]
        return [f"the chain rule: the derivative of D_v phi along {k} + s U_{k}: the Hessian times xi, plus the "
                "gradient times the derivative of xi"]
    if name.startswith("invariance vU "):
        k = name[-1]
        return [f"the certificate: D_v phi = 0 at every value of the parameters, so its derivative along "
                f"{k} + s U_{k} is 0"]
    if name.startswith("xi^"):
        return [f"the generator: {d}{w}'/{d}s at the identity, along a direction v of the parameter"]
    if name == "chain rule":
        return ["the chain rule: the derivative along v, at s = 0, of ", phi]
    if name == "invariance":
        return ["the certificate: h' = h for every value of the parameter, so ", sp.Function("phi")(Symbol("s")),
                " is constant"]
    if name == "c":
        return ["the constraint: the coefficient of v in the derivative"]
    if name.startswith("xi_U2"):
        return [f"the derivative of {w}' along {w} + s " + ("U\u2082" if u else "U2") +
                " at a fixed parameter, at the second entry"]
    if name.startswith("xi_U"):
        return [f"the derivative of {w}' along {w} + s U at a fixed parameter"]
    if name in ("chain rule U", "chain rule U'"):
        at = "(W', X')" if name.endswith("'") else "(W, X)"
        return [f"the chain rule: the derivative of L(h{at}) along {w} + s U"]
    if name in ("chain rule UU", "chain rule UU'"):
        at = "(W', X')" if name.endswith("'") else "(W, X)"
        return [f"the chain rule: the second derivative of L(h{at}) along U and " + ("U\u2082" if u else "U2")]
    if name == "invariance U":
        return [f"the certificate: h(W', X') = h(W, X) for every W and X, so the two functions of {w} are equal"]
    if name == "invariance UU":
        return ["the certificate: h(W', X') = h(W, X) for every W and X; equal functions have equal "
                "second derivatives"]
    if name == "Q":
        return ["the quantity ", ("\u27e8\u03be(P), P\u27e9", "<xi(P), P>"), ": the constraint with the parameters P "
                "in place of their gradients", *([" (halved where xi has a constant part too)"]
                                                 if "1/2" in e.justification else [])]
    if name == "dQ/dt":
        return ["its derivative along gradient flow, ", (f"dP/dt = -{d}L/{d}P", "dP/dt = -dL/dP")]
    if name.endswith("^+"):
        return ["one SGD step at learning rate ", Symbol("eta"), *([f", on {name[0]}"] if name[0] != "W" else [])]
    if name.endswith("^wd"):
        return ["one SGD step at learning rate ", Symbol("eta"), " with weight decay ", Symbol("lambda"),
                *([f", on {name[0]}"] if name[0] != "W" else [])]
    if name in ("Q^+", "Q^wd"):
        return ["Q after the step"]
    return [name]


def _symbol(e, u: bool) -> str:
    """The symbol a definition defines, as a step cites it (without its indices)."""
    if isinstance(e.lhs, Indexed):
        name = e.lhs.base.label.name
        return _indexed(name, (), u) or inline(Symbol(name), u)
    return inline(display(e.lhs, u), u)


def _and(items: list) -> list:
    """``a``, ``a and b``, ``a, b and c`` (each item a symbol, kept on one line)."""
    out = []
    for k, x in enumerate(items):
        out += ([", " if k < len(items) - 1 else " and "] if k else []) + [(x, x)]
    return out


def _cites(step, labels: dict, defs: dict, u: bool) -> list:
    """What a step rests on, in words: the definitions and steps it substitutes, or the coefficients."""
    if step.uses and step.uses[0] == COEFFICIENTS:
        return ["equal coefficients of the free direction in ", *_and([labels[s] for s in step.uses[1:]])]
    steps = [labels[n] for n in step.uses if n in labels]
    rules = [_symbol(defs[n], u) for n in step.uses if n.startswith("chain rule") and n in defs]
    named = [_symbol(defs[n], u) for n in step.uses
             if n in defs and n not in PREMISES and not n.startswith("chain rule")]
    out = []
    if any(n in PREMISES for n in step.uses):
        out.append(["the certificate"])
    if rules:
        out.append(["the chain rule for ", *_and(rules)])
    if named:
        out.append([f"the definition{'s' if len(named) > 1 else ''} of ", *_and(named)])
    if steps:
        out.append(["by " if not out else "and ", *_and(steps)])
    return sum(([", "] + x if k else x for k, x in enumerate(out)), [])


# --- a consequence's title and statement -----------------------------------------------------

def _title(kind: str) -> list:
    if kind == "effective-learning-rate":
        return ["One SGD step on W is a step at rate ", Symbol("eta") * Symbol("delta") ** 2,
                " on the re-scaled W'"]
    from ..core.consequence import TITLES
    return [TITLES[kind]]


def _cell_definitions(consequences) -> dict:
    """(normalizer, transformation) -> every definition its consequences use, by name."""
    out: dict = {}
    for c in consequences:
        defs = out.setdefault((c.normalizer, c.transformation), {})
        defs |= {e.name: e for e in c.definitions if e.name not in defs}
    return out


def statement(c: Consequence, defs: dict) -> list:
    """What ``c`` states: maths and words, from its last step and ``defs``, the definitions its
    cell's consequences use (the conserved quantity's Q is defined for the SGD laws)."""
    last = c.conclusion
    if c.consequence == "hessian-identity":   # one identity per parameter tensor: each coefficients step
        rows = [sp.Eq(e.lhs, e.rhs, evaluate=False) for e in c.steps if e.uses[:1] == (COEFFICIENTS,)]
        return [*sum(([";  ", r] for r in rows), [])[1:], " for every direction v"]
    if c.consequence == "gradient-orthogonality":
        lhs = defs["c"].rhs
    else:
        lhs = last.lhs
    out = [sp.Eq(lhs, last.rhs, evaluate=False)]
    quantity = defs.get("c") if c.consequence == "gradient-orthogonality" else defs.get("Q")
    indices = quantity.lhs.indices if quantity is not None and isinstance(quantity.lhs, Indexed) else ()
    if indices and c.consequence not in ("gradient-scaling", "hessian-scaling", "effective-learning-rate"):
        out.append(f" for every {', '.join(map(str, indices))}")
    if c.consequence in ("conserved-quantity", "sgd-norm-growth", "weight-decay-law") and "Q" in defs:
        out += [", where ", sp.Eq(defs["Q"].lhs, defs["Q"].rhs, evaluate=False)]
    if c.consequence == "effective-learning-rate":   # the norm this direction preserves: its Q
        q = defs["Q"]
        out += ["; with the factor ", 1 / sp.sqrt(q.lhs), " that makes ", q.lhs, " = 1, where ",
                sp.Eq(q.lhs, q.rhs, evaluate=False), ", the effective rate is ", Symbol("eta") / q.lhs]
    return out


# --- the terminal ----------------------------------------------------------------------------

_INTRO = ["What invariance implies for training, for any loss L(h) downstream of the layer. Each step holds "
          "once the definitions and steps it cites are substituted (sums split by linearity, everything "
          "expanded), or by comparing coefficients: two linear forms equal for every direction have equal "
          "coefficients. ", ("python -m invariance verify",) * 2, " checks every step again."]


def _numeric_line(c: Consequence) -> str:
    r = c.numeric
    what = f"{r['steps']} SGD steps" if "steps" in r else f"{r['points']} value{'s' * (r['points'] != 1)}"
    return (f"numeric: {'passed' if r['passed'] else 'FAILED'} ({what}, worst residual {r['max_ratio']:.2g} "
            f"of its tolerance, {r['max_relative_residual']:.1e} relative)")


def _shows(e, u: bool, width: int, label: str = ""):
    """``e`` as a displayed equation (after ``label``); wider than ``width``, its right side goes
    below its left."""
    lhs = prettyForm(*pretty_form(display(e.lhs, u), u).left(label))
    rhs = pretty_form(display(e.rhs, u), u)
    one = prettyForm(*lhs.right(" = ", rhs))
    if one.width() <= width:
        return one
    top, bottom = prettyForm(*lhs.right(" =")), prettyForm(*rhs.left(" " * (len(label) + 4)))
    wide = max(top.width(), bottom.width())   # stacked forms are centred: pad both to one width
    top, bottom = (prettyForm(*f.right(" " * (wide - f.width()))) for f in (top, bottom))
    return prettyForm(*top.below(bottom))


def _parts(parts, u: bool) -> list:
    return [display(p, u) if isinstance(p, sp.Basic) else p for p in parts]


class _Names(dict):
    """id -> title: the registry's, and a layer it resolves (``<id>-linear-bias``)."""

    def __missing__(self, key):
        return _normalizer(key).title


def _names() -> dict:
    return _Names(titles())


def _identity(e) -> bool:
    """W' = W or X' = X: the family leaves it alone."""
    return isinstance(e.lhs, Indexed) and e.rhs == e.lhs.func(sp.IndexedBase(e.name[:-1]), *e.lhs.indices)


def _cell(out: _Out, cell: tuple[str, str], found: list[Consequence]) -> None:
    u, name = out.unicode, _names()
    applying = [c for c in found if c.applies]
    conditions = applying[0].conditions
    out.sentence([f"{name[cell[0]]} under {name[cell[1]].lower()}", *(
        [" (given ", *sum(([", ", x] for x in conditions), [])[1:], ")"] if conditions else []),
        ": every consequence below rests on the cell's invariance certificate."], indent="  ")
    defs = _cell_definitions(applying)[cell]
    shown = [e for e in defs.values() if not _identity(e)]
    out.words(["Definitions, and what the certificate gives:"], indent="    ", first="  ")
    for e in shown:
        out.maths(_shows(e, u, out.width - 4), indent=4)
        out.sentence(["[", *_parts(_meaning(e, cell, u, defs), u), "]"], indent=" " * 10, first=" " * 8)
    done: list[tuple[list, str]] = []   # (steps, their label prefix) of the consequences printed
    for k, c in enumerate(applying, 1):
        out.blank()
        out.sentence([f"{k}. ", *_parts(_title(c.consequence), u), ": ", *_parts(statement(c, defs), u)],
                     indent="     ", first="  ")
        labels, shared = {}, 0
        for steps, prefix in done:   # the longest run of first steps already printed
            n = next((s for s, (a, b) in enumerate(zip(steps, c.steps)) if (a.lhs, a.rhs, a.uses) !=
                      (b.lhs, b.rhs, b.uses)), min(len(steps), len(c.steps)))
            if n > shared:
                shared, source = n, prefix
        for s, step in enumerate(c.steps, 1):
            labels[step.name] = f"({source}.{s})" if s <= shared else f"({k}.{s})"
        if shared:
            first, last = labels[c.steps[0].name], labels[c.steps[shared - 1].name]
            out.words([f"Steps {first} to {last}, shown above, then:" if shared < len(c.steps) else
                       f"By steps {first} to {last}, shown above."], indent="     ", first="     ")
        for step in c.steps[shared:]:
            out.maths(_shows(step, u, out.width - 5, f"{labels[step.name]} "), indent=5)
            out.words(["[", *_cites(step, labels, defs, u), "]"], indent=" " * 12, first=" " * 11)
        if c.numeric:
            out.words([_numeric_line(c)], indent="     ", first="     ")
        done.append((list(c.steps), str(k)))
    why: dict = {}
    for c in found:
        if not c.applies:
            why.setdefault(c.reason, []).append(c)
    for reason, missing in why.items():   # each reason once
        out.blank()
        out.sentence([f"Not applicable ({reason}): ", *sum((["; ", *_parts(_title(c.consequence), u)]
                                                           for c in missing), [])[1:], "."],
                     indent="     ", first="  ")


def render_text(consequences, width: int | None = None, unicode: bool | None = None) -> str:
    """The consequences for a terminal ``width`` columns wide (unicode if it can show it)."""
    out = _Out(width or _term_width(), supports_unicode() if unicode is None else unicode)
    out.words(_INTRO)
    by_cell: dict = {}
    for c in consequences:
        by_cell.setdefault((c.normalizer, c.transformation), []).append(c)
    without: dict = {}
    for cell, found in by_cell.items():
        if not any(c.applies for c in found):
            reasons = {c.reason for c in found}
            without.setdefault(reasons.pop() if len(reasons) == 1 else "; ".join(
                f"{c.consequence}: {c.reason}" for c in found), []).append(cell)
            continue
        out.blank()
        _cell(out, cell, found)
    name = _names()
    for reason, cells in without.items():
        out.blank()
        out.words([f"No consequence ({reason}): " + "; ".join(f"{name[n]} under {name[t].lower()}"
                                                             for n, t in cells) + "."])
    applies = sum(c.applies for c in consequences)
    out.blank()
    out.words([f"{applies} consequences proved, {len(consequences) - applies} not applicable"])
    return "\n".join(out.lines)


# --- Markdown ----------------------------------------------------------------------------------

def _markdown_parts(parts) -> str:
    return "".join(p if isinstance(p, str) else p[-1] if isinstance(p, tuple) else f"${tex(p)}$" for p in parts)


BAR = "\\|"   # a | inside a Markdown table's cell


def render_markdown(consequences) -> str:
    """One row per consequence: the cell, what it states ($...$ LaTeX), the numeric check."""
    name, defs = titles(), _cell_definitions(consequences)
    rows = ["| normalizer | transformation | consequence | statement | numeric |", "|---|---|---|---|---|"]
    for c in consequences:
        num = "" if not c.numeric else ("passed" if c.numeric["passed"] else "**FAILED**") + \
            f" ({c.numeric['max_ratio']:.2g} of tolerance)"
        text = _markdown_parts(statement(c, defs[c.normalizer, c.transformation])) if c.applies else f"n/a: {c.reason}"
        rows.append(f"| {name[c.normalizer]} | {name[c.transformation].lower()} | "
                    f"{_markdown_parts(_title(c.consequence))} | {text.replace('|', BAR)} | {num} |")
    return "\n".join(rows)
