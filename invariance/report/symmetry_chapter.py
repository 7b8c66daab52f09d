"""The chapter "The symmetries of each layer" (issue 17): what a direction is, why the exact
rank of the Jacobian shows that the proved directions are all there are, the table of
dimensions, each layer's basis in the paper's notation with its certificates, and one worked
proof.

Everything is read off :func:`invariance.derive.symmetries.symmetries`, computed once per
document build for every built-in layer and the dense ones with a linear bias, one process per
core (:func:`layers`).  A worker returns its layer as LaTeX and a few plain facts
(:class:`Layer`), since the derived objects hold the catalogue's functions and do not cross
processes; nothing below types a result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from ..catalogue.families import GROUPS, kind_of
from ..catalogue.normalizers import NORMALIZERS as BUILTIN, with_linear_bias
from ..catalogue.registry import FAMILIES, TRANSFORMATIONS, normalizer as _normalizer
from ..core.jacobian import KINDS, columns_of, concrete, rank_at_least, tangents
from ..core.model import DENSE_BIAS
from ..core.records import INVARIANT
from ..derive.engine import derive
from ..derive.symmetries import symmetries
from .derivations import chain_tex
from .latex import display, equation, esc, label_for, tex
from .parallel import certified_how, parallel_map

__all__ = ["Layer", "layer_ids", "layers", "symmetry_section", "WORKED"]

#: The worked proof: a layer and one family of its basis (an editorial choice, not a result).
WORKED = ("batch-norm-inference", "row-against-gain")

_WRT = {"parameter": "(W, g, b)", "parameter-c": "(W, g, b, c)", "data": "X"}


@dataclass
class Layer:
    """One layer's part of the chapter, as a worker derived it."""

    id: str
    title: str
    dimension: dict                 # kind -> the dimension formula as LaTeX
    eps_zero: dict                  # kind -> whether a basis direction needs epsilon = 0
    complete: bool                  # both kinds certified at three sets of sizes
    how: dict                       # "exact" / "Rump" -> number of certificates so shown
    columns: list                   # (transformation id, invariant, its directions lie in the space or None)
    section: list = field(default_factory=list)   # LaTeX blocks
    worked: list = field(default_factory=list)    # LaTeX blocks of the worked proof (WORKED's layer)


def layer_ids() -> list[str]:
    """Every built-in layer, then the dense ones with a bias in the linear map."""
    ids = [n.id for n in BUILTIN]
    return ids + [with_linear_bias(n).id for n in BUILTIN if n.model.id == "dense"]


def layers(ids: list[str] | None = None, jobs: int | None = None) -> list[Layer]:
    """Each layer's symmetries, derived once, in parallel (one process per core)."""
    return parallel_map(_layer, layer_ids() if ids is None else ids, jobs)


# --- one layer (in a worker) -------------------------------------------------------------

def _layer(norm_id: str) -> Layer:
    norm = _normalizer(norm_id)
    analyses = [symmetries(norm, k) for k in KINDS]
    how = certified_how(c for s in analyses for c in s.certificates)
    out = Layer(norm.id, norm.title, {s.kind: tex(s.dimension) for s in analyses},
                {s.kind: s.eps_zero for s in analyses}, all(s.complete and not s.witnesses for s in analyses),
                how, [c for s in analyses for c in _columns(norm, s)])
    out.section = _layer_section(norm, analyses)
    if norm.id == WORKED[0]:
        out.worked = _worked(norm, analyses)
    return out


def _columns(norm, s) -> list[tuple[str, bool, bool]]:
    """Each column of the table of this kind: (id, invariant, its directions lie in the space).
    An invariant column is one of the proved families (in the basis or its span); for a refuted
    one, its tangents at the first certificate's point raise the rank of the basis' tangents
    (a certified lower bound), so at least one lies outside the null space, which the basis fills."""
    proved = {d.family.id for d in s.basis + s.dependent}
    cert = next((c for c in s.certificates if c.complete), None)
    b = norm.build(sp.S.Zero)
    out = []
    for t in TRANSFORMATIONS.values():
        if kind_of(t) != s.kind:
            continue
        invariant = derive(norm, t).verdict == INVARIANT
        if invariant or cert is None:   # not certified: whether it lies outside is not known (None)
            out.append((t.id, invariant, t.id in proved if invariant else None))
            continue
        sizes = concrete(b, {k: v for k, v in cert.sizes.items() if k != "groups"})
        cols = columns_of(b, sizes, s.kind)
        basis = [v for d in s.basis for v in tangents(b, d.family, sizes, cert.points[0], cols)]
        more = tangents(b, t, sizes, cert.points[0], cols)
        out.append((t.id, False, rank_at_least(basis + more, len(cols))[0] <= cert.proved))
    return out


def _axis(norm, name: str) -> str:
    m = norm.model
    if name == "groups":
        return tex(GROUPS)
    return tex(m.input.size if name == "input" else m.axis(name).size)


def _sizes(norm, sizes: dict) -> str:
    names = ", ".join(_axis(norm, k) for k in sizes)
    return f"({names})"


def _tuple(values) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_MATHS_WORD = re.compile(r"\b([wcgbx]_[iGn]|W|c)\b")


def words(text: str) -> str:
    """A family's words with the names they mention as maths (``w_i``, ``W``, ``c``)."""
    out, pos = [], 0
    for m in _MATHS_WORD.finditer(text):
        out += [esc(text[pos:m.start()]), f"${m.group(1)}$"]
        pos = m.end()
    return "".join(out + [esc(text[pos:])])


def _conditions(cell) -> str:
    """The conditions a reader needs here (sigma != 0 is every layer's, said once)."""
    return ", ".join(f"${tex(c)}$" for c in cell.conditions if not isinstance(c, sp.Ne)) or "none"


def _wrt(norm, kind: str) -> str:
    return _WRT["parameter-c" if kind == "parameter" and norm.model.c is not None else kind]


def _basis_table(norm, analyses) -> str:
    rows = []
    for s in analyses:
        name = "Parameter" if s.kind == "parameter" else "Data"
        rows.append(f"\\multicolumn{{4}}{{@{{}}l}}{{\\emph{{{name} directions}}, in ${_wrt(norm, s.kind)}$: "
                    f"dimension ${tex(s.dimension)}$}} \\\\")
        for d in s.basis:
            rows.append(f"${tex(d.count)}$ & {words(d.family.words)} & ${d.family.paper}$ & "
                        f"{_conditions(d.cell)} \\\\")
        if not s.basis:
            rows.append(r"$0$ & none & & \\")
        for d in s.dependent:   # proved too, but no new direction
            rows.append(f"-- & {words(d.family.words)}, in the span of the above & ${d.family.paper}$ & "
                        f"{_conditions(d.cell)} \\\\")
    return "\n".join([r"\begin{center}\small", r"\begin{tabular}{@{}lP{4.3cm}P{6.6cm}P{2.5cm}@{}}", r"\toprule",
                      r"Number & Directions & In the paper's notation & Conditions \\", r"\midrule", *rows,
                      r"\bottomrule", r"\end{tabular}", r"\end{center}"])


def _certificates(norm, s) -> str:
    """The sizes at which completeness was shown, with the ranks; or what was found instead."""
    done = [c for c in s.certificates if c.complete]
    wrt = f"$\\partial h / \\partial {_wrt(norm, s.kind)}$"
    if s.complete:
        at = _and([f"${_tuple(c.sizes.values())}$" for c in done])
        ranks = _and([f"${c.rank}$ of ${c.columns}$" for c in done])
        how = _and(sorted({"exact over $\\mathbb{Q}$" if c.how.startswith("exact") else "Rump's test"
                           for c in done}))
        text = (f"Complete: at ${_sizes(norm, done[0].sizes)} = $ {at}, {wrt} has rank {ranks} columns, "
                f"the columns less the dimension ({how}).")
    else:
        found = [f"at ${_sizes(norm, c.sizes)} = {_tuple(c.sizes.values())}$ "
                 + (esc(c.how) if c.rank is None else
                    f"at most ${c.columns - c.rank}$ directions, ${c.proved}$ proved, the formula ${c.expected}$")
                 for c in s.certificates]
        text = "\\textbf{Not shown complete} at three sets of sizes: " + "; ".join(found) + "."
    return text


def _degenerate(norm, s) -> str:
    said = []
    for d in s.degenerate:
        at = f"${_axis(norm, d.axis)} = {d.size}$"
        if d.note:
            said.append(f"at {at} $h$ is not defined (a statistic is zero at every point tried)")
        else:
            said.append(f"at {at} {'exactly' if d.exact else 'at most'} ${d.bound}$ {s.kind} directions, "
                        f"where the formula gives ${d.formula}$")
    return ("Degenerate sizes: " + "; ".join(said) + ".") if said else ""


def _layer_section(norm, analyses) -> list[str]:
    base = norm.id.removesuffix("-linear-bias")
    ref = (f"The normalizer of Section~\\ref{{{label_for('norm', base)}}}" + ("." if base == norm.id else
           ", on the layer with a linear bias."))
    out = [f"\\subsection{{{esc(norm.title)}}}\\label{{{label_for('sym', norm.id)}}}", ref,
           _basis_table(norm, analyses)]
    for s in analyses:
        # ragged right: the tuples of sizes are long and unbreakable
        out.append(f"{{\\raggedright\\emph{{{s.kind.capitalize()} directions.}} " + _certificates(norm, s)
                   + (" " + _degenerate(norm, s) if s.degenerate else "") + "\\par}")
    return out


def _dot(x: sp.Indexed) -> str:
    """``\\dot{W}_{i,j}``: the rate of change of an entry along a direction."""
    name, _, index = tex(x).partition("_")
    return f"\\dot{{{name}}}_{index}"


def _worked(norm, analyses) -> list[str]:
    """The worked proof: the family's transformation, its direction (derived: the derivative of
    each moved entry at the identity), and the cell's chains of equalities."""
    d = next(d for s in analyses for d in s.basis if d.family.id == WORKED[1])
    t, m, cell = d.family, norm.model, d.cell
    i, j = m.point["unit"], m.input.index
    (gen,) = t.generators
    factor = gen.symbol[i] if gen.axes else gen.symbol
    moved = [("W", m.W[i, j], t.w(m, i, j))] + [(k, getattr(m, k)[i], getattr(t, k)(m, i)) for k in ("g", "b", "c")
                                                 if getattr(t, k) is not None]
    defs = {e.name: e for e in cell.definitions}
    shown = [equation(defs[f"{k}'"].lhs, defs[f"{k}'"].rhs) for k, *_ in moved if f"{k}'" in defs]
    dot = [(_dot(x), sp.simplify(sp.diff(y, factor).subs(factor, gen.identity))) for _, x, y in moved]
    tangent = (r"\left(" + ", ".join(a for a, _ in dot) + r"\right) = \left("
               + ", ".join(tex(b) for _, b in dot) + r"\right)")
    return [f"\\subsection{{A worked proof: {esc(norm.title.lower())}, {words(t.words)}}}"
            f"\\label{{{label_for('sym', 'worked')}}}",
            f"{esc(norm.title)} normalizes with running statistics, constants $\\mu_i$ and $\\sigma_i$ "
            f"(Section~\\ref{{{label_for('norm', norm.id)}}}), so $h$ is affine in the summed inputs and a row's "
            f"scale can be traded against its gain. The family of its basis with ${tex(d.count)}$ directions, "
            f"one for each factor ${tex(factor)}$, moves"] + shown + [
            f"Its direction, the derivative of each moved entry at ${tex(factor)} = {gen.identity}$, is",
            display(tangent),
            f"The proof, with the same tactic as a cell of the table, every link checked "
            f"(conditions: {_conditions(cell)}):", chain_tex(*cell.proof.chains)]


# --- the chapter -------------------------------------------------------------------------

def _intro(found: list[Layer]) -> list[str]:
    cells = [c for layer in found for c in layer.columns]
    inside = sum(inv and lies is True for _, inv, lies in cells)      # invariant, a proved family
    outside = sum(not inv and lies is False for _, inv, lies in cells)   # refuted, shown outside
    others = [f"{esc(layer.title)}, {esc(TRANSFORMATIONS[t].title.lower())}" for layer in found
              for t, inv, lies in layer.columns if inv != lies]
    how = {k: sum(layer.how[k] for layer in found) for k in ("exact", "Rump")}
    said = {"exact": "exactly over $\\mathbb{Q}$", "Rump": "by Rump's test"}
    total = sum(how.values())
    certified = (f"All {total} certificates below were shown " + _and([said[k] for k, n in how.items() if n])
                 if any(n == total for n in how.values()) else
                 f"Of the {total} certificates below, " + _and([f"{n} were shown {said[k]}" for k, n in how.items()]))
    return [
        r"\section{The symmetries of each layer}\label{sec:symmetries}",
        r"The table asks about six transformations. This section asks the converse: which transformations "
        r"leave a layer unchanged at all? A \emph{direction} is the tangent of a one-parameter family of "
        r"transformations at the identity, e.g.\ $w_i \to \delta_i w_i$ at $\delta_i = 1$ has the direction "
        r"$\dot w_i = w_i$. It is a \emph{parameter direction} if it moves $W$, $g$, $b$ (and $c$, on a layer "
        r"whose summed inputs have a linear bias) and leaves $h$ unchanged for every input, a \emph{data "
        r"direction} if it moves $X$ and leaves $h$ unchanged for every value of the parameters. The "
        r"directions of each kind form a vector space, the layer's \emph{symmetry space}; its dimension is a "
        r"formula in the sizes $N$, $H$ (or $C$), $D$, $P$ and $G$.",
        r"Each column of Table~\ref{tab:table1} is such a family, so each cell is read off the symmetry space: "
        r"it is Invariant exactly when the column's directions lie in it. For the layers below that holds "
        f"in {inside + outside} of their {len(cells)} cells: {inside} invariant ones whose family is among the "
        f"proved ones, and {outside} refuted ones whose directions at the first certified point raise the rank "
        r"of the basis, so that at least one of them lies outside the space"
        + (f". It is not shown for: {'; '.join(others)}." if others else "."),
        f"\\paragraph{{The proofs.}} Every family of the catalogue (the table's columns and "
        f"{len(FAMILIES) - len(TRANSFORMATIONS)} more: re-scalings and shifts "
        r"by group, of $W$ with $c$, and of a row against its gain) is tried with the proof tactic of the "
        r"cells, for symbolic sizes. The proved ones are taken in turn, most directions first, and kept when "
        r"their directions are independent of those kept before: a basis, whose numbers of directions add up "
        r"to the dimension. The others are proved too, and lie in its span. "
        r"Section~\ref{sym:worked} sets out one proof in full.",
        r"\paragraph{Why the exact rank shows there are no others.} Stack the Jacobian $J$ of $h$ with "
        r"respect to the variables of one kind over several inputs (or parameter values). Every proved "
        r"direction leaves $h$ unchanged, so it lies in the null space of $J$ at every point. If $J$ has rank "
        r"$r$ at one point, some $r \times r$ minor is non-zero there; a minor is an analytic function of the "
        r"point, so it is non-zero at almost every point, and there the rank is at least $r$. If $r$ equals "
        r"the number of columns less the dimension, the proved directions fill the null space at almost every "
        r"point, and no other direction can leave $h$ unchanged. This is shown at three sets of sizes, every "
        r"axis at least $3$ and no two equal.",
        r"\paragraph{How the rank is certified.} Where every square root at the point is rational, the rank "
        r"is computed exactly over $\mathbb{Q}$. Otherwise each square root is enclosed in a ball with "
        r"rational centre and radius, and an $r \times r$ submatrix is shown nonsingular for every matrix in "
        r"the enclosure by Rump's test: with $M$ its centres, $\Delta$ its radii and $R$ an approximate inverse, "
        r"$\lVert I - RM \rVert_\infty + \lVert \lvert R \rvert \Delta \rVert_\infty < 1$, evaluated in integer "
        r"arithmetic. Floating point only chooses the submatrix and $R$; it proves nothing. "
        f"{certified}. Sizes with an axis at $1$ or $2$, where a statistic over one entry vanishes and a "
        r"normalized value over two is $\pm 1$, are reported apart, as degenerate.",
    ]


def _dimension_table(found: list[Layer]) -> list[str]:
    mark = lambda layer, k: r"$^{\dagger}$" if layer.eps_zero[k] else ""   # noqa: E731
    rows = [f"\\hyperref[{label_for('sym', layer.id)}]{{{esc(layer.title)}}} & "
            f"${layer.dimension['parameter']}${mark(layer, 'parameter')} & "
            f"${layer.dimension['data']}${mark(layer, 'data')} \\\\" for layer in found]
    c = equation(DENSE_BIAS.a_rule().lhs, DENSE_BIAS.a_rule().rhs)
    return [r"\paragraph{The dimensions.} Table~\ref{tab:dimensions} gives them; a layer ``with a linear bias'' has its "
            r"summed inputs", c,
            r"with the layer's normalizer applied to them, and its parameter directions may move $c$ too.",
            "\n".join([r"\begin{table}[H]", r"\centering\small", r"\begin{tabular}{@{}lcc@{}}", r"\toprule",
                       r"Layer & Parameter directions & Data directions \\", r"\midrule", *rows, r"\bottomrule",
                       r"\end{tabular}",
                       r"\caption{The dimension of each layer's symmetry space, derived ($^{\dagger}$: at "
                       r"$\epsilon = 0$; with $\epsilon > 0$ the directions marked so are not exact "
                       r"symmetries). $N$ cases, $H$ units or $C$ channels, $D$ inputs, $G$ groups.}"
                       r"\label{tab:dimensions}", r"\end{table}"])]


def symmetry_section(found: list[Layer] | None = None) -> list[str]:
    """The chapter's LaTeX blocks, from each layer's derived symmetries."""
    found = layers() if found is None else found
    out = _intro(found) + _dimension_table(found)
    out.append(r"Each layer below gives its basis: the number of directions of each family, the family in "
               r"the paper's notation, and the conditions of its proof beyond $\sigma \ne 0$, with the families "
               r"also proved but in the span of the basis marked --; then the sizes at which completeness was "
               r"shown, with the ranks, and the degenerate sizes (one axis at $1$ or $2$, the others as in the "
               r"first set).")
    for layer in found:
        out += layer.section
    out += [b for layer in found for b in layer.worked]
    return out
