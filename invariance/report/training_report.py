"""The consequences for people: text, Markdown, LaTeX, JSON, the CLI command and the docs chapter.

``python -m invariance consequences`` calls :func:`command`; the document's
chapter is :func:`chapter_tex`, which also writes its figure (a PNG, made
with matplotlib) into the output directory.  The chapter needs
``\\usepackage{graphicx}`` in the preamble (:data:`PREAMBLE_PACKAGES`).
"""
from __future__ import annotations

import json
from pathlib import Path

from .latex import esc
from ..core.consequence import TITLES, Consequence, document, tex
from ..core.training import CONSEQUENCES
from ..derive.consequences import derive_consequences

__all__ = ["FORMATS", "collect", "render", "command", "chapter_tex", "figure", "write_figure",
           "PREAMBLE_PACKAGES"]

FORMATS = ("text", "json", "markdown", "latex")
PREAMBLE_PACKAGES = (r"\usepackage{graphicx}",)
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


def steps_tex(c: Consequence) -> list[str]:
    out = [r"\begin{enumerate}"]
    for e in c.steps:
        out.append(f"\\item {_esc(e.justification)}: \\[{tex(e.lhs)} = {tex(e.rhs)}\\]")
    out.append(r"\end{enumerate}")
    return out


def render_latex(consequences) -> str:
    return "\n".join(table_tex(consequences) + [""] + [line for c in consequences if c.applies
                                                      for line in _proof_tex(c)])


def _proof_tex(c: Consequence) -> list[str]:
    return [f"\\paragraph{{{_esc(c.normalizer)} under {_esc(c.transformation)}: {_esc(TITLES[c.consequence])}.}}",
            f"${tex(c.conclusion.lhs)} = {tex(c.conclusion.rhs)}$."] + steps_tex(c)


def table_tex(consequences) -> list[str]:
    """One row per invariant cell, one column per consequence: the proved statement's right-hand side."""
    by_cell: dict = {}
    for c in consequences:
        by_cell.setdefault((c.normalizer, c.transformation), {})[c.consequence] = c
    out = [r"\begingroup\footnotesize\setlength{\tabcolsep}{4pt}", r"\begin{tabular}{ll" + "c" * len(CONSEQUENCES) + "}", r"\toprule",
           "Normalizer & Transformation & " + " & ".join(
               f"\\rotatebox{{90}}{{{_esc(k)}}}" for k in CONSEQUENCES) + r" \\", r"\midrule"]
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
        out.append(f"{_esc(n)} & {_esc(t)} & " + " & ".join(marks) + r" \\")
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
        transformation as trans_of
    if fmt not in FORMATS:
        raise UnknownId(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if (normalizer is None) != (transformation is None):
        raise UnknownId("give both NORMALIZER and TRANSFORMATION, or neither")
    if normalizer is not None:
        if all_:
            raise UnknownId("--all takes no NORMALIZER TRANSFORMATION")
        cells = [(norm_of(normalizer).id, trans_of(transformation).id)]
    else:
        cells = [(n, t) for n in (NORMALIZERS if all_ else TABLE1) for t in TRANSFORMATIONS]
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
    left.legend(fontsize=7)
    right.set_xlabel("step $t$")
    right.set_ylabel(r"effective rate $\eta / \|W_t\|_F^2$")
    right.legend(fontsize=7)
    fig.tight_layout()
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
           r"(\theta_0 + s v)|_{s=0}$, obtained by differentiating the registry's own $W'$ and $X'$, is "
           r"orthogonal to the gradient. Differentiating in $W$ (or $X$) instead gives how the gradient "
           r"changes along the family: divided by $\delta$ for a re-scaling, so the effective learning rate "
           r"on a scale-invariant weight is $\eta / \lVert w \rVert^2$, and unchanged for a re-centering. "
           r"The quantity $Q = \langle \xi(W), W \rangle$ (a squared norm, or a column sum for layer norm's "
           r"re-centering) is conserved under gradient flow, and one step of SGD changes it exactly as "
           r"the table's last two columns state (Kunin et al., \emph{Neural Mechanics}, ICLR 2021).",
           f"Of the {len({(c.normalizer, c.transformation) for c in consequences})} cells {scope}, {len(cells)} "
           f"are invariant under a continuous family; they give {len(applies)} consequences, each proved "
           r"by checked steps that rest on the cell's invariance certificate, and each measured through the "
           r"NumPy layer (gradients by complex steps, accurate to rounding) on a random instance. "
           r"A consequence that does not apply (a cell that is not invariant; a family that moves the data, "
           r"which training does not update) is listed with its reason in the JSON output of "
           r"\texttt{python -m invariance consequences --all --numeric --format json}.",
           r"\begin{table}[ht]\centering"] + table_tex(consequences) + [
           r"\caption{Consequences proved for each invariant cell ($\checkmark$: proved by checked steps "
           r"and confirmed numerically; --: does not apply).}\label{tab:training}", r"\end{table}",
           r"\subsection{One SGD step on a re-scaling-invariant weight, step by step}",
           f"For {_esc(n)} under {_esc(t.replace('-', ' '))}, with $W^{{+}} = W - \\eta\\, \\partial L / \\partial W$:"]
    out += steps_tex(example)
    decay = next(c for c in applies if (c.normalizer, c.transformation, c.consequence) == (n, t, "weight-decay-law"))
    out.append(r"So $\lVert W \rVert_F^2$ can only grow under SGD, by exactly $\eta^2$ times the squared "
               r"gradient norm, while the gradient itself shrinks as $1/\lVert W \rVert$: the effective "
               r"learning rate $\eta / \lVert W \rVert_F^2$ decays on its own. With weight decay $\lambda$, "
               r"$W^{\lambda} = (1 - \eta\lambda) W - \eta\, \partial_W L$, the same steps give "
               f"${tex(decay.conclusion.lhs)} = {tex(decay.conclusion.rhs)}$: the decay shrinks the norm, "
               r"the gradient step grows it, and the two balance. Here $\partial_W L$ is the gradient at "
               r"$(W, X)$ and $\partial_W L'$ the gradient at $(W', X')$.")
    if with_figure:   # the PNG is drawn by write_figure when the document is written
        from ..numeric.training import ETA_VALUE, LAMBDA_VALUE, STEPS
        out += [r"\begin{figure}[ht]\centering",
                f"\\includegraphics[width=\\linewidth]{{{FIGURE_NAME}}}",
                f"\\caption{{{_esc(n)} with a tanh readout and squared error, trained by SGD "
                f"($\\eta = {ETA_VALUE}$, {STEPS} steps; with weight decay $\\lambda = {LAMBDA_VALUE}$): "
                r"$\lVert W_t\rVert_F^2$ measured (dots) and predicted by the law alone from "
                r"$\lVert W_0 \rVert_F^2$ and the gradient norms (lines); the document is written only if "
                r"every step agrees within the rounding tolerance. Right: the effective learning rate "
                r"$\eta / \lVert W_t \rVert_F^2$.}",
                r"\label{fig:training}", r"\end{figure}"]
    return "\n\n".join(out) + "\n"
