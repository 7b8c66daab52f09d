"""The consequences for people: text, Markdown, LaTeX, JSON, the CLI command and the docs chapter.

``python -m invariance consequences`` calls :func:`command`; the document's
chapter is :func:`chapter_tex`, which also writes its figure (a PNG, made
with matplotlib) into the output directory.  The chapter needs graphicx and
float (its table and figure stay where they are read, ``[H]``) in the preamble
(:data:`PREAMBLE_PACKAGES`).
"""
from __future__ import annotations

import json
from pathlib import Path

import re

import sympy as sp

from .latex import esc, label_for, tex
from .linebreak import LINE, maths_width
from ..core.consequence import TITLES, Consequence, document
from ..core.training import COEFFICIENTS, CONSEQUENCES, PREMISES
from ..derive.consequences import derive_consequences

__all__ = ["FORMATS", "collect", "every_consequence", "render", "command", "chapter_tex", "figure", "write_figure",
           "PREAMBLE_PACKAGES"]

FORMATS = ("text", "json", "markdown", "latex")
PREAMBLE_PACKAGES = (r"\usepackage{graphicx}", r"\usepackage{float}")
FIGURE_NAME = "training-norm.png"
FIGURE_CELL = ("batch-norm", "weight-matrix-rescaling")   # the paper's section 5.2 example: a re-scaled W


def collect(cells, numeric: bool = False, seed: int = 0) -> list[Consequence]:
    """Every consequence of each cell, with numeric checks if asked.  ``cells``:
    (normalizer, transformation) pairs, derived here, or Cells already derived."""
    from ..core.records import Cell
    out = []
    for c in cells:
        n, t, cell = (c.normalizer, c.transformation, c) if isinstance(c, Cell) else (*c, None)
        found = derive_consequences(n, t, cell)
        if numeric:
            from ..numeric.training import attach_numeric
            found = attach_numeric(found, seed)
        out += found
    return out


def every_consequence(cells) -> list[Consequence]:
    """What ``proofs/consequences.json`` holds: every consequence of ``cells`` (the table's, derived),
    then those of each basis direction of every registered layer's parameter symmetries (the dense
    ones with a linear bias too) that ``cells`` does not hold."""
    from ..catalogue.registry import NORMALIZERS
    from ..derive.consequences import direction_cells
    listed = [(c.normalizer, c.transformation) for c in cells]
    return collect(cells) + collect(direction_cells(list(NORMALIZERS), listed, linear_bias=True))


def failed(consequences) -> list[Consequence]:
    return [c for c in consequences if c.numeric and not c.numeric.get("passed")]


def _numeric_line(c: Consequence) -> str:
    r = c.numeric
    what = f"{r['steps']} SGD steps" if "steps" in r else f"{r['points']} values"
    return (f"numeric: {'passed' if r['passed'] else 'FAILED'} ({what}, worst residual {r['max_ratio']:.2g} "
            f"of its tolerance, {r['max_relative_residual']:.1e} relative)")


def render_text(consequences) -> str:
    """For a terminal: the maths typeset, shared steps shown once (:mod:`.training_text`)."""
    from .training_text import render_text as text
    return text(consequences)


def render_markdown(consequences) -> str:
    """A table, the maths in $...$ (:mod:`.training_text`)."""
    from .training_text import render_markdown as markdown
    return markdown(consequences)


def _esc(text: str) -> str:
    return esc(text)


#: The consequences' titles as LaTeX.
TITLES_TEX = {**{k: esc(v) for k, v in TITLES.items()},
              "effective-learning-rate": r"One SGD step on $W$ is a step at rate $\eta \delta^2$ on the re-scaled $W'$"}

#: Column heads of the document's table (the consequences' ids are for the JSON, not for a reader).
SHORT = {"gradient-orthogonality": r"Gradient $\perp$ generator", "gradient-scaling": "Gradient scaling",
         "hessian-scaling": "Hessian scaling", "effective-learning-rate": "Effective rate",
         "conserved-quantity": r"Conserved $Q$", "sgd-norm-growth": "One SGD step",
         "weight-decay-law": "With weight decay", "hessian-identity": r"$H\xi + (D\xi)^T \partial L = 0$"}


def _moved(e) -> str:
    """W or X: which of them a definition's directional derivative moves."""
    names = {b.label.name for b in e.rhs.atoms(sp.IndexedBase)} | {b.label.name for b in e.lhs.atoms(sp.IndexedBase)}
    return "X" if any(n.endswith("X") or n.endswith("X'") for n in names) else "W"


def _gloss(e, cell_ref: str) -> str:
    """What a definition of the training chapter says, in words with maths (LaTeX), from its name."""
    w = _moved(e)
    return {
        "xi^W": r"the generator, $\partial_s W'$ at the identity along a direction $v$ of the parameter",
        "xi^X": r"the generator, $\partial_s X'$ at the identity along a direction $v$ of the parameter",
        "chain rule": r"the chain rule for $\phi(s) = L(h(W'(s), X'(s)))$ at $s = 0$ along $v$",
        "invariance": f"the cell's invariance: $h' = h$ for every parameter (Section~\\ref{{{cell_ref}}}), "
                      r"so $\phi$ is constant",
        "c": r"the constraint $c$, the coefficient of $v$ in $D_v \phi$",
        "Q": r"the quantity $Q$: $c$ with $W$ in place of the gradient",
        "dQ/dt": r"the derivative of $Q$ along gradient flow, $\dot W = -\partial_W L$",
        "W^+": r"one SGD step at learning rate $\eta$",
        "W^wd": r"one SGD step with weight decay $\lambda$",
        "Q^+": r"$Q$ after one SGD step",
        "Q^wd": r"$Q$ after one step with weight decay",
        "xi_U^W": r"the derivative of $W'$ along $W + sU$ at a fixed parameter",
        "xi_U^X": r"the derivative of $X'$ along $X + sU$ at a fixed parameter",
        "xi_U2^W": r"the same along a second direction $U_2$",
        "xi_U2^X": r"the same along a second direction $U_2$",
        "chain rule U": f"the derivative of $L(h(W, X))$ along ${w} + sU$",
        "chain rule U'": f"the derivative of $L(h(W', X'))$ along ${w} + sU$",
        "chain rule UU": r"the second derivative of $L(h(W, X))$ along $U$ and $U_2$",
        "chain rule UU'": r"the second derivative of $L(h(W', X'))$ along $U$ and $U_2$",
        "invariance U": f"the cell's invariance: $h(W', X') = h(W, X)$ for every $W$ and $X$ "
                        f"(Section~\\ref{{{cell_ref}}}), so the two functions of ${w}$ are equal",
        "invariance UU": f"the cell's invariance (Section~\\ref{{{cell_ref}}}): equal functions have equal "
                         "second derivatives",
    }.get(e.name, f"the definition of ${tex(e.lhs)}$")


def _why(step, c: Consequence) -> str:
    """Why a step holds, in words with maths: the definitions and steps it uses, by their symbols."""
    if step.uses and step.uses[0] == COEFFICIENTS:
        compared = [e for e in c.steps if e.name in step.uses[1:]]
        steps = " and ".join(u.replace("step ", "") for u in step.uses[1:])
        return (f"Comparing the coefficients of ${tex(_direction(compared))}$ in step{'s' if len(compared) > 1 else ''} "
                f"{steps} (two linear forms equal for every direction have equal coefficients)")
    defs = {e.name: e for e in c.definitions}
    words, symbols, steps = [], [], []
    for u in step.uses:
        if u in PREMISES:
            words.append("the cell's invariance")
        elif u in defs and u.startswith("chain rule"):
            words.append("the chain rule")
        elif u in defs:
            symbols.append(f"${tex(defs[u].lhs)}$")
        else:
            steps.append(u.replace("step ", ""))
    if steps:
        words.append(("step " if len(steps) == 1 else "steps ") + _and(steps))
    if symbols:
        words.append(("the definition of " if len(symbols) == 1 else "the definitions of ") + _and(symbols))
    return "By " + _and(list(dict.fromkeys(words)))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _direction(steps):
    """The free direction whose coefficients a step compares: v, else U, else U_2."""
    atoms = {getattr(a, "name", None) for e in steps for x in (e.lhs, e.rhs) for a in x.atoms(sp.Symbol)}
    return sp.Symbol(next((d for d in ("v", "U", "U2") if d in atoms), "v"))


def _cell_ref(c: Consequence) -> str:
    return label_for("cell", c.normalizer, c.transformation)


_SHORT_GLOSS = {
    "xi^W": r"the generator: $\partial_s W'$ at the identity, along $v$",
    "xi^X": r"the generator: $\partial_s X'$ at the identity, along $v$",
    "chain rule": r"the chain rule for $\phi(s) = L(h(W'(s), X'(s)))$",
    "c": r"the constraint: the coefficient of $v$",
    "Q": r"$c$ with $W$ in place of the gradient",
    "dQ/dt": r"along gradient flow, $\dot W = -\partial_W L$",
    "W^+": r"one SGD step at learning rate $\eta$",
    "W^wd": r"one SGD step with weight decay $\lambda$",
    "Q^+": r"$Q$ after the step",
    "Q^wd": r"$Q$ after the step",
}


def definitions_tex(c: Consequence) -> list[str]:
    """The definitions a consequence's steps rest on (W' and X' are Section 3's), each with what it
    says: beside it when that is short, else above it."""
    shown = [e for e in c.definitions if e.name not in ("W'", "X'")]
    if not shown:
        return []
    ref = _cell_ref(c)
    premise = [e for e in shown if e.name in PREMISES]
    shown = [e for e in shown if e.name not in PREMISES]
    rows = [(f"{tex(e.lhs)} &= {tex(e.rhs)}", _SHORT_GLOSS.get(e.name)) for e in shown]
    if all(g is not None and maths_width(r.replace("&", "")) + 0.45 * len(re.sub(r"\$|\\[a-z]+", "", g)) <= LINE
           for r, g in rows):
        out = ["The steps rest on these definitions, read off $W'$ and the chain rule:",
               "\\begin{align*}\n" + " \\\\\n".join(f"{r} && \\text{{{g}}}" for r, g in rows) + "\n\\end{align*}"]
    else:
        lines = [f"{r}" if k == 0 else f"\\intertext{{{_gloss(e, ref)}:}}\n{r}"
                 for k, ((r, _), e) in enumerate(zip(rows, shown))]
        first = _gloss(shown[0], ref)
        out = [f"The steps rest on {first[0].lower() + first[1:]}:",
               "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"]
    for e in premise:
        out.append(f"and on {_gloss(e, ref)}: ${tex(e.lhs)} = {tex(e.rhs)}$.")
    return out


def steps_tex(c: Consequence) -> list[str]:
    out = [r"\begin{enumerate}"]
    for e in c.steps:
        out.append(f"\\item {_why(e, c)}: \\[{tex(e.lhs)} = {tex(e.rhs)}\\]")
    out.append(r"\end{enumerate}")
    return out


def render_latex(consequences) -> str:
    return "\n".join(table_tex(consequences) + [""] + [line for c in consequences if c.applies
                                                      for line in _proof_tex(c)])


def _title(c: Consequence) -> str:
    from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS
    return f"{esc(NORMALIZERS[c.normalizer].title)} under {esc(TRANSFORMATIONS[c.transformation].title.lower())}"


def _proof_tex(c: Consequence) -> list[str]:
    return ([f"\\paragraph{{{_title(c)}: {TITLES_TEX[c.consequence]}.}}",
             f"${tex(c.conclusion.lhs)} = {tex(c.conclusion.rhs)}$."] + definitions_tex(c) + steps_tex(c))


def table_tex(consequences) -> list[str]:
    """One row per invariant cell, one column per consequence: proved (and measured) or not applicable."""
    from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS
    by_cell: dict = {}
    for c in consequences:
        by_cell.setdefault((c.normalizer, c.transformation), {})[c.consequence] = c
    out = [r"\begingroup\footnotesize\setlength{\tabcolsep}{4pt}", r"\begin{tabular}{ll" + "c" * len(CONSEQUENCES) + "}", r"\toprule",
           "Normalizer & Transformation & " + " & ".join(
               f"\\rotatebox{{90}}{{{SHORT.get(k, _esc(k))}}}" for k in CONSEQUENCES) + r" \\", r"\midrule"]
    for (n, t), found in by_cell.items():
        if not any(c.applies for c in found.values()):
            continue
        marks = []
        for k in CONSEQUENCES:
            c = found.get(k)
            ok = c is not None and c.applies
            if ok and c.numeric:
                ok = "proved, measured" if c.numeric.get("passed") else "proved, MEASURED OFF"
            marks.append(("$\\checkmark$" if ok == "proved, measured" or ok is True else _esc(str(ok)))
                         if ok else "--")
        out.append(f"{esc(NORMALIZERS[n].title)} & {esc(TRANSFORMATIONS[t].title)} & " + " & ".join(marks) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\endgroup"]
    return out


def render(consequences, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document(consequences), indent=1, ensure_ascii=False)
    return {"text": render_text, "markdown": render_markdown, "latex": render_latex}[fmt](consequences)


def command(normalizer: str | None, transformation: str | None, all_: bool, numeric: bool, fmt: str,
            seed: int = 0) -> tuple[str, list[str], int]:
    """(output, notes for stderr, exit status) of ``python -m invariance consequences``.

    Raises :class:`invariance.catalogue.registry.UnknownId` for bad input (exit 2 in the CLI)."""
    from ..catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS, UnknownId, normalizer as norm_of, \
        acting as trans_of
    from ..derive.consequences import direction_cells
    if fmt not in FORMATS:
        raise UnknownId(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if (normalizer is None) != (transformation is None):
        raise UnknownId("give both NORMALIZER and TRANSFORMATION, or neither")
    if normalizer is not None:
        if all_:
            raise UnknownId("--all takes no NORMALIZER TRANSFORMATION")
        n, t = norm_of(normalizer), trans_of(transformation)
        from ..catalogue.families import applies
        if t.id not in TRANSFORMATIONS and not applies(t, n):   # a family of directions written for other layers
            raise UnknownId(f"{t.id} ({t.words}) cannot be written for {n.id}: it needs groups, a linear bias, "
                            "or statistics kept by unit that this layer does not have")
        cells = [(n.id, t.id)]
    else:
        rows = list(NORMALIZERS if all_ else TABLE1)
        cells = [(n, t) for n in rows for t in TRANSFORMATIONS]
        cells += direction_cells(rows, cells, linear_bias=all_)   # the symmetries beyond the table's columns
    found = collect(cells, numeric, seed)
    bad = failed(found)
    notes = [f"NUMERIC CHECK FAILED {c.normalizer} x {c.transformation} {c.consequence}: "
             f"residual {c.numeric['max_ratio']:.3g} times its tolerance" for c in bad]
    return render(found, fmt), notes, 1 if bad else 0


# --- the document's chapter -----------------------------------------------------------

def figure(out_dir: Path, seed: int = 0) -> tuple[Path, dict]:
    """Plot ||W_t||^2 and the effective learning rate eta/||W_t||^2 over SGD steps, measured
    against the law's prediction, with and without weight decay; write a PNG into ``out_dir``."""
    import matplotlib
    matplotlib.use("Agg")   # no display: the docs command runs anywhere
    import matplotlib.pyplot as plt
    from ..numeric.training import sgd_run
    n, t = FIGURE_CELL
    found = {c.consequence: c for c in derive_consequences(n, t)}
    runs = {k: sgd_run(found[k], seed) for k in ("sgd-norm-growth", "weight-decay-law")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for (k, run), colour in zip(runs.items(), ("tab:blue", "tab:red")):
        label = "SGD" if k == "sgd-norm-growth" else f"SGD, weight decay $\\lambda = {run['numeric']['lambda']}$"
        steps = range(len(run["actual"]))
        left.plot(steps, [q[0] for q in run["actual"]], "o", color=colour, ms=3, label=f"{label}: measured")
        left.plot(steps, [q[0] for q in run["predicted"]], "-", color=colour, lw=1, label=f"{label}: law")
        right.plot(steps, [r[0] for r in run["effective_rate"]], "-", color=colour, label=label)
    left.set_xlabel("step $t$")
    left.set_ylabel(r"$\|W_t\|_F^2$")
    right.set_xlabel("step $t$")
    right.set_ylabel(r"effective rate $\eta / \|W_t\|_F^2$")
    # one legend for both panels, below them: inside an axes it would hide a curve
    fig.legend(*left.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FIGURE_NAME
    fig.savefig(path, dpi=150, metadata={"Software": None})
    plt.close(fig)
    return path, {k: r["numeric"] for k, r in runs.items()}


def write_figure(out_dir: Path, seed: int = 0) -> Path:
    """Draw the chapter's figure into ``out_dir``; raise if a measured step leaves the law's tolerance."""
    path, runs = figure(Path(out_dir), seed)
    off = [k for k, r in runs.items() if not r.get("passed", True)]
    if off:
        raise ValueError(f"docs: the SGD run of {', '.join(off)} leaves the law's rounding tolerance")
    return path


def chapter_tex(with_figure: bool = True, consequences=None, seed: int = 0,
                scope: str = "of every registered row") -> str:
    """The section "What invariance implies for training": method, table, one worked proof, the
    figure (included by name: :func:`write_figure` draws it beside the document)."""
    from ..catalogue.registry import NORMALIZERS, TRANSFORMATIONS
    if consequences is None:
        consequences = collect([(n, t) for n in NORMALIZERS for t in TRANSFORMATIONS], numeric=True, seed=seed)
    applies = [c for c in consequences if c.applies]
    cells = {(c.normalizer, c.transformation) for c in applies}
    n, t = FIGURE_CELL
    example = next(c for c in applies if (c.normalizer, c.transformation, c.consequence) == (n, t, "sgd-norm-growth"))
    out = [r"\section{What invariance implies for training}\label{sec:training}",
           r"The paper's section~5.2 draws one consequence from the table: because the output does not "
           r"change when a weight vector is re-scaled, the gradient is orthogonal to that vector and "
           r"shrinks as it grows, an implicit reduction of the learning rate. Every invariant cell whose "
           r"transformation is a continuous family (re-scaling by $\delta > 0$, re-centering by $\gamma$) "
           r"gives such consequences, for any loss $L(h)$ downstream of the layer. Differentiating "
           r"$L(h(W'(\theta), X'(\theta))) = L(h(W, X))$ at the identity along a direction $v$ of the "
           r"parameter gives the \emph{gradient constraint}: the generator $\xi = \partial_s (W', X')"
           r"(\theta_0 + s v)|_{s=0}$, obtained by differentiating $W'$ and $X'$ of "
           r"Section~\ref{sec:transformations}, is orthogonal to the gradient. Differentiating in $W$ "
           r"(or $X$) instead gives how the gradient changes along the family: divided by $\delta$ for a "
           r"re-scaling, so the effective learning rate is "
           r"$\eta / Q$ with $Q$ the squared norm the family re-scales ($\lVert w_i \rVert^2$ for a row, "
           r"$\lVert W \rVert_F^2$ for layer norm's whole matrix), and unchanged for a re-centering. The quantity "
           r"$Q = \langle \xi(W), W \rangle$ (a squared norm, or a column sum for layer norm's "
           r"re-centering) is conserved under gradient flow, and one step of SGD changes it exactly as "
           r"the table's last columns state; differentiating the constraint once more gives the Hessian "
           r"along the generator, $H\xi + (D\xi)^T \partial L = 0$ ($H W = -\partial_W L$ for a "
           r"re-scaling, $H\xi = 0$ for a re-centering; Kunin et al.\ 2021~\cite{kunin2021}). "
           r"Below, $(\partial_W L)_{i,j}$ is the gradient of the loss at $(W, X)$ and "
           r"$(\partial_W L')_{i,j}$ the gradient at $(W', X')$.",
           f"Of the {len({(c.normalizer, c.transformation) for c in consequences})} cells {scope}, {len(cells)} "
           f"are invariant under a continuous family; they give {len(applies)} consequences "
           r"(Table~\ref{tab:training}), each proved by checked steps that rest on the cell's invariance, "
           r"and each measured on a random instance of the layer in floating point (gradients by complex "
           r"steps, accurate to rounding). A consequence does not apply to a cell that is not invariant, "
           r"nor to a family that moves the data, which training does not update.",
           r"\begin{table}[H]\centering"] + table_tex(consequences) + [
           r"\caption{Consequences proved for each invariant cell ($\checkmark$: proved by checked steps "
           r"and confirmed numerically; --: does not apply).}\label{tab:training}", r"\end{table}",
           r"\subsection{One SGD step on a re-scaling-invariant weight, step by step}",
           f"For {esc(NORMALIZERS[n].title.lower())} under {esc(TRANSFORMATIONS[t].title.lower())} "
           f"(Section~\\ref{{{_cell_ref(example)}}}), a family with the parameter $\\delta$, the steps below "
           f"prove ${tex(example.conclusion.lhs)} = {tex(example.conclusion.rhs)}$."]
    out += definitions_tex(example)
    out.append("The steps, each checked:")
    out += steps_tex(example)
    decay = next(c for c in applies if (c.normalizer, c.transformation, c.consequence) == (n, t, "weight-decay-law"))
    out.append(r"So $\lVert W \rVert_F^2$ can only grow under SGD, by exactly $\eta^2$ times the squared "
               r"gradient norm, while the gradient itself shrinks as $1/\lVert W \rVert$: the effective "
               r"learning rate $\eta / \lVert W \rVert_F^2$ decays on its own. With weight decay $\lambda$, "
               r"$W^{\lambda} = (1 - \eta\lambda) W - \eta\, \partial_W L$, the same steps give "
               f"${tex(decay.conclusion.lhs)} = {tex(decay.conclusion.rhs)}$: the decay shrinks the norm, "
               r"the gradient step grows it, and the two balance (Figure~\ref{fig:training}).")
    if with_figure:   # the PNG is drawn by write_figure when the document is written
        from ..numeric.training import ETA_VALUE, LAMBDA_VALUE, STEPS
        out += [r"\begin{figure}[H]\centering",
                f"\\includegraphics[width=\\linewidth]{{{FIGURE_NAME}}}",
                f"\\caption{{{esc(NORMALIZERS[n].title)} under {esc(TRANSFORMATIONS[t].title.lower())}, with a "
                f"tanh readout and squared error, trained by SGD ($\\eta = {ETA_VALUE}$, {STEPS} steps; with "
                f"weight decay $\\lambda = {LAMBDA_VALUE}$). Left: $\\lVert W_t\\rVert_F^2$ measured (dots) and "
                r"predicted by the law alone from $\lVert W_0 \rVert_F^2$ and the gradient norms (lines); "
                r"the document is written only if every step agrees within the rounding tolerance. Right: the "
                r"effective learning rate $\eta / \lVert W_t \rVert_F^2$.}",
                r"\label{fig:training}", r"\end{figure}"]
    return "\n\n".join(out) + "\n"
