"""A cell explained for a person, for ``python -m invariance check``.

The transformation in the paper's words and symbols, every symbol defined,
the one-sentence reason (:mod:`invariance.derive.reasons`), then the proof as
chains of equalities with reasons in words, or the counterexample with the
intermediate values (exact and in decimals).  Maths goes through SymPy's
pretty printer: unicode when the output encoding can show it, ASCII
otherwise.  Every line fits ``width`` columns.
"""
from __future__ import annotations

import re
import shutil
import sys
import textwrap

import sympy as sp
from sympy.printing.pretty.stringpict import prettyForm

from ..core.algebra import exact_nonzero
from ..core.cells import definitions
from ..core.notation import inline, pretty_form
from ..derive.reasons import RULE, Eq, action, built, intermediates, reason
from ..core.records import INVARIANT, NOT_INVARIANT, UNKNOWN, Cell
from ..derive.caveats import caveats as find_caveats
from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS, titles

__all__ = ["explain", "supports_unicode", "caveat_lines"]

_GLUE = "\x00"   # a space inside a formula, while wrapping
_VERDICT = {INVARIANT: "INVARIANT", NOT_INVARIANT: "NOT INVARIANT"}


def supports_unicode(stream=None) -> bool:
    enc = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        "\u03c3\u2211\u2500\u2080\u2c7c".encode(enc)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


class _Out:
    def __init__(self, width: int, unicode: bool):
        self.width, self.unicode, self.lines = max(int(width), 40), unicode, []

    def words(self, parts, indent: str = "", first: str | None = None):
        """A sentence of words and maths, wrapped; maths (SymPy, or a (unicode, ASCII) pair of
        ready text) is never broken across lines."""
        # a formula is not broken across lines: its spaces are held together while wrapping
        text = "".join(p if isinstance(p, str) else
                       (p[0] if self.unicode else p[1]).replace(" ", _GLUE) if isinstance(p, tuple) else
                       inline(p, self.unicode).replace(" ", _GLUE) for p in parts)
        lines = textwrap.wrap(text, width=self.width, initial_indent=first if first is not None else indent,
                              subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
        self.lines += [line.replace(_GLUE, " ") for line in lines] or [""]

    def sentence(self, parts, indent: str = "  ", first: str = ""):
        """Words and maths: a formula the pretty printer sets on one line stays in the sentence, a
        taller one (a fraction, a sum) is displayed on lines of its own, and the sentence goes on."""
        run, parts = [], list(parts)
        while parts:
            p = parts.pop(0)
            form = pretty_form(p, self.unicode) if isinstance(p, sp.Basic) else None
            if form is None or form.height() <= 2:   # a root or a subscript still reads in a line
                run.append(p)
                continue
            if run:
                self.words(run, indent=indent, first=first)
                first = indent
            if parts and isinstance(parts[0], str):   # the sentence goes on below the display
                if parts[0][:1] in ",;.":             # a clause that the display ends
                    form = prettyForm(*form.right(parts[0][0]))
                    parts[0] = parts[0][1:]
                parts[0] = parts[0].lstrip()
            self.maths(form, indent=len(indent) + 2)
            run = []
        if run and "".join(x for x in run if isinstance(x, str)).strip():
            self.words(run, indent=indent, first=first)

    def maths(self, form: prettyForm, indent: int = 2):
        form = prettyForm(*form.left(" " * indent))
        text = form.render(wrap_line=True, num_columns=self.width, use_unicode=self.unicode)
        self.lines += [line.rstrip() for line in text.split("\n")]

    def equation(self, lhs, rhs, indent: int = 2):
        u = self.unicode
        self.maths(prettyForm(*pretty_form(lhs, u).right(" = ", pretty_form(rhs, u))), indent)

    def blank(self):
        self.lines.append("")


def _term_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def _parameters(cell: Cell, b) -> list:
    """Each parameter of the transformation, what it is (one number per ...)."""
    t = TRANSFORMATIONS[cell.transformation]
    eqs = {e.name: e for e in definitions(b, t)}
    m = b.m
    found = []
    for name in ("W'", "X'"):
        rhs = eqs[name].rhs
        for x in sorted(rhs.atoms(sp.Indexed), key=str):
            if x.base.label.name not in ("W", "X") and x not in found:
                found.append(x)
        for s in sorted(rhs.atoms(sp.Symbol), key=str):
            if not s.is_integer and s not in {x.base.label for x in rhs.atoms(sp.Indexed)} and s not in found:
                found.append(s)
    axes = {ax.index: ax for ax in (*m.axes, m.input)}
    out = []
    for p in found:
        per = [f" per {axes[i].title} " for i in getattr(p, "indices", ()) if i in axes]
        idx = [i for i in getattr(p, "indices", ()) if i in axes]
        words = [p, ": a number"] + sum(([w, i] for w, i in zip(per, idx)), [])
        cond = [c for c in t.conditions if c.lhs == p]
        words += [" (", cond[0], ")"] if cond else [" (any sign)"]
        out.append(words)
    return out


_PAPER_TEXT = {r"\to": ("\u2192", "->"), r"\mathbf{1}": ("1", "1"), r"\gamma": ("\u03b3", "gamma"),
               r"\delta": ("\u03b4", "delta"), "^T": ("\u1d40", "^T"), "_i": ("\u1d62", "_i"),
               "_n": ("\u2099", "_n"), "_m": ("\u2098", "_m")}


def _paper(tex: str, unicode: bool) -> str:
    """The paper's formula (LaTeX, e.g. W \\to W + \\mathbf{1}\\gamma^T) as text."""
    for k, (u, a) in _PAPER_TEXT.items():   # delta w, but delta_i: a space only before a letter
        tex = re.sub(re.escape(k) + r"(?=(\s*)(\w?))", lambda m: u if unicode else
                     a + (" " if a.isalpha() and m.group(2) and m.group(2) != "_" else ""), tex)
    return " ".join(tex.split())


def _definitions(out: _Out, cell: Cell, b):
    t = TRANSFORMATIONS[cell.transformation]
    eqs = {e.name: e for e in definitions(b, t)}
    out.words(["The layer (", b.norm.title, "; ", b.norm.source or "", "):"])
    for name in ("a", *[r.base.label.name for r in b.stat_rules], "h"):
        out.equation(eqs[name].lhs, eqs[name].rhs)
    m = b.m
    i, j = m.point["unit"], m.input.index
    x = eqs["a"].rhs.atoms(sp.Indexed)
    X = next(e for e in x if e.base == m.X)
    where = " and ".join(f"{ax.title} {ax.index}" for ax in (m.axes[0], *m.axes[2:]))
    out.words([m.W[i, j], f": the weight from {m.input.title} {j} to {m.axes[1].title} {i}; ", X,
               f": {m.input.title} {j} of {where} (the paper's x); ", m.g[i], ", ", m.b[i],
               f": gain and bias of {m.axes[1].title} {i}; ", m.eps, " \u2265 0" if out.unicode else " >= 0",
               " under the square root, as implementations have it."], indent="    ", first="  ")
    out.blank()
    out.words(["The transformation, in the paper's words: ", t.title.lower(), ", ",
               (_paper(t.paper, True), _paper(t.paper, False)), ". Entrywise:"])
    for name in ("W'", "X'"):
        if eqs[name].rhs != eqs[name].lhs.xreplace({eqs[name].lhs.base: sp.IndexedBase(name[:-1])}):
            out.equation(eqs[name].lhs, eqs[name].rhs)
    for p in _parameters(cell, b):
        out.words(p, indent="    ", first="  ")
    act = action(b, t)
    m = b.m
    alpha, beta = sp.Symbol("alpha"), sp.Symbol("beta")
    out.words(["On the summed inputs (derived: linearity of the sum over the inputs j) it is ",
               ("a' = \u03b1 a + \u03b2", "a' = alpha a + beta"), ":"])
    out.equation(m.at(sp.IndexedBase("a'"), m.point), act.alpha_name * m.at(m.a, m.point) + act.beta_name)
    for sym, named, value, axes, none in ((alpha, act.alpha_name, act.alpha, act.alpha_axes, "no re-scaling"),
                                          (beta, act.beta_name, act.beta, act.beta_axes, "no shift")):
        where = ("the same everywhere" if not axes else
                 "varies with " + " and ".join(f"the {ax.title} {ax.index}" for ax in axes))
        if named != value:
            out.equation(named, value, indent=4)
            out.words([f"({where})"], indent="    ")
        elif value in (0, 1):
            out.words([Eq(sym, value), f": {none}"], indent="    ")
        else:
            out.words([Eq(sym, named), f": {where}"], indent="    ")


def explain(cell: Cell, titles: dict[str, str], caveats=(), numeric=None, width: int | None = None,
            unicode: bool | None = None) -> str:
    out = _Out(width or _term_width(), supports_unicode() if unicode is None else unicode)
    out.words([f"{titles[cell.normalizer]} under {titles[cell.transformation].lower()}: "
               f"{_VERDICT.get(cell.verdict, 'UNKNOWN (no proof and no counterexample found)')}"])
    if cell.verdict not in (INVARIANT, NOT_INVARIANT):
        return "\n".join(out.lines)
    if NORMALIZERS.get(cell.normalizer) is None or cell.transformation not in TRANSFORMATIONS:
        _unregistered(out, cell)   # the reasons read the registry's definitions: show the evidence only
        for c in caveats:
            caveat(out, c)
        return "\n".join(out.lines)
    out.blank()
    out.words(["Why: "] + list(reason(cell)), indent="  ", first="")
    out.words(["(The rule behind the whole table: "] + list(RULE) + [")"], indent="  ", first="")
    out.blank()
    b = built(cell.normalizer, any(isinstance(c, sp.Eq) and str(c.lhs) == "epsilon" for c in cell.conditions))
    _definitions(out, cell, b)
    out.blank()
    if cell.conditions:
        words = []
        for c in cell.conditions:
            if isinstance(c, sp.Eq) and str(c.lhs) == "epsilon":
                words.append((c, " (", "the proof needs it: with epsilon > 0, sigma' is not alpha sigma"
                              if cell.verdict == INVARIANT else "the counterexample is evaluated without it",
                              ")"))
            elif isinstance(c, sp.Ne):
                words.append((c, " (it divides)"))
            else:
                words.append((c, " (the paper's scale factors are positive)"))
        parts = ["Conditions: "]
        for k, w in enumerate(words):
            parts += (["; "] if k else []) + [x if isinstance(x, str) else x for x in w]
        out.words(parts, indent="  ", first="")
        out.blank()
    if cell.verdict == INVARIANT:
        _proof(out, cell)
    else:
        _counterexample(out, cell, b)
    for c in caveats:
        caveat(out, c)
    if numeric is not None:
        out.words([f"Numeric cross-check: {numeric.verdict}, max relative deviation "
                   f"{numeric.max_relative_deviation:.2e} over {numeric.instances} instances (seed {numeric.seed})"
                   + ("" if numeric.replay_differs is None else
                      f"; counterexample replayed in float64 {'differs' if numeric.replay_differs else 'DOES NOT differ'}"
                      f" (relative deviation {numeric.replay_deviation:.3g})")], indent="  ", first="")
        if cell.verdict != UNKNOWN and not numeric.agrees(cell):
            out.words(["DISAGREEMENT: " + numeric.disagreement(cell)], indent="  ", first="")
    return "\n".join(out.lines)


def caveat(out: _Out, c, first: str = "Caveat "):
    """A caveat's sentence, its maths typeset (a bound displayed on lines of its own)."""
    out.sentence([f"{first}[{c.kind}] ", *c.parts], indent="  ", first="")


def caveat_lines(c, first: str, width: int | None = None, unicode: bool | None = None) -> list[str]:
    """The lines of :func:`caveat` for a terminal ``width`` columns wide."""
    out = _Out(width or _term_width(), supports_unicode() if unicode is None else unicode)
    caveat(out, c, first)
    return out.lines


def _unregistered(out: _Out, cell: Cell):
    """A cell whose normalizer is not registered: its conditions, checked steps or counterexample."""
    if cell.conditions:
        out.words(["Conditions: ", *sum(([c, "; "] for c in cell.conditions), [])[:-1]], indent="  ", first="")
    if cell.verdict == INVARIANT:
        out.words([f"Proof ({len(cell.proof.steps())} steps, each checked by SymPy):"])
        for e in cell.proof.steps():
            out.equation(e.lhs, e.rhs)
        return
    ce = cell.counterexample
    out.words([f"Counterexample (exact rationals; {', '.join(f'{k} = {v}' for k, v in ce.sizes.items())}):"])
    for k, v in (ce.values | ce.parameters).items():
        out.words([f"{k} = {_fmt(v)}"], indent="    ", first="  ")
    at = ", ".join(f"{ax} {v}" for ax, v in ce.point.items())
    out.words([f"At {at}: h = ", ce.output, " but h' = ", ce.transformed_output], indent="    ", first="  ")


def _proof(out: _Out, cell: Cell):
    links = sum(len(c.links) for c in cell.proof.chains)
    out.words([f"Proof ({len(cell.proof.steps())} steps, as chains of {links} equalities; each link is what "
               "the certificate stores and verify checks, with its reason):"])
    for chain in cell.proof.chains:
        out.blank()
        _chain(out, chain)


def _chain(out: _Out, chain):
    u = out.unicode
    for k, link in enumerate(chain.links):
        left = pretty_form(chain.lhs, u) if k == 0 else prettyForm(" " * pretty_form(chain.lhs, u).width())
        out.maths(prettyForm(*left.right(" = ", pretty_form(link.expr, u))))
        out.words(["[", *link.why, "]"], indent=" " * 8)


def _decimal(v) -> str:
    return sp.sstr(sp.N(v, 6)) if not v.is_Rational or v.q != 1 else str(v)


def _counterexample(out: _Out, cell: Cell, b):
    broken = cell.counterexample.breaks
    if broken is not None:
        out.words(["Where the derivation breaks (each link checked as in a proof): what holds, then the "
                   "first quantity without the law the rule needs:"])
        for chain in broken.chains:
            out.blank()
            _chain(out, chain)
        out.words(["which is not ", Eq(broken.chains[-1].lhs, broken.wanted), ", what the rule needs."],
                  indent="  ", first="  ")
        out.blank()
    ce = cell.counterexample
    sizes = ", ".join(f"{k} = {v}" for k, v in ce.sizes.items())
    out.words([f"Counterexample (exact rationals, epsilon = 0, gain g = 1, bias b = 0; {sizes}):"])
    for k, v in (ce.values | ce.parameters).items():
        name = str(k)
        if name == "case":     # the re-scaled case of single-case re-scaling (1-based)
            out.words([f"the re-scaled case: n = {v}"], indent="    ", first="  ")
            continue
        if name in ("g", "b"):
            continue
        shown = _matrix(v)
        if shown is None:
            out.words([f"{name} = {_fmt(v)}"], indent="    ", first="  ")
        else:
            out.equation(sp.Symbol(name), shown)
    at = ", ".join(f"{ax} {v}" for ax, v in ce.point.items())
    out.words([f"At {at}, original and transformed layer:"])
    rows = intermediates(cell)
    u = out.unicode
    for name, at_pt, v, v_t in rows:
        primed = at_pt.func(sp.IndexedBase(str(at_pt.base) + "'"), *at_pt.indices)
        for lhs, val in ((at_pt, v), (primed, v_t)):
            form = prettyForm(*pretty_form(lhs, u).right(" = ", pretty_form(val, u)))
            if val.is_Rational and val.q == 1:
                out.maths(form)
            else:
                out.maths(prettyForm(*form.right(" \u2248 " if u else " ~ ", _decimal(val))))
    h, h_t = ce.output, ce.transformed_output
    flip = not all(exact_nonzero(h_t - other) for other in (-h, 2 * _bias(ce) - h))
    out.words(["so h' - h \u2248 " if out.unicode else "so h' - h ~ ", _decimal(sp.N(h_t - h, 20)),
               ", not 0" + ("; but h' is the sign flip of h, which the negative-scale caveat of an invariant "
                            "cell also gives (no better instance was found)" if flip else
                            "; and h' is neither -h nor 2b - h: no sign flip.")],
              indent="  ", first="  ")


def _bias(ce) -> sp.Expr:
    values = {str(k): v for k, v in ce.values.items()}
    return values["b"][ce.point["unit"] - 1]


def _matrix(v):
    """A value as SymPy shows it: a number, a row vector or a matrix (None for more axes)."""
    if not isinstance(v, (list, tuple)):
        return sp.sympify(v)
    if all(not isinstance(x, (list, tuple)) for x in v):
        return sp.Matrix([list(v)])
    if all(isinstance(x, (list, tuple)) and all(not isinstance(y, (list, tuple)) for y in x) for x in v):
        return sp.Matrix([list(x) for x in v])
    return None


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)



def explain_cell(cell: Cell, caveats: bool = False) -> str:
    """``cell.explain()``: :func:`explain` with the registry's titles (and the caveats, derived)."""
    return explain(cell, {cell.normalizer: cell.normalizer, cell.transformation: cell.transformation, **titles()},
                   find_caveats(cell) if caveats else ())
