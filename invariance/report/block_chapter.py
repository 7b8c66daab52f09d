"""The chapter "The symmetries of a block" (issue 20): what a block's parameter direction is, how
a family is proved by the rewrite rules and completeness certified by the exact rank of the
Jacobian, the table of the registered blocks, one proof in full, the candidates refused, the
models' caveat.

Everything is read off :func:`invariance.derive.block_symmetries.block_symmetries`, computed once
per document build for every registered block, one process per core (:func:`blocks`); a worker
returns its block as LaTeX and a few plain facts (:class:`BlockPart`), as the layer chapter's do.
The proof's chain is set by :func:`invariance.report.rewrite_text.chain_rows`, the rewrite
chapter's; nothing below types a result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..catalogue.block_families import candidates
from ..catalogue.blocks import BLOCKS, recipe_of
from ..core.block_jacobian import jacobian, tangents
from ..core.jacobian import outside_null_space
from ..core.rewrite import proof_json
from ..core.terms import latex
from .latex import tex
from .parallel import certified_how, parallel_map
from .rewrite_text import chain_rows, words_tex

__all__ = ["BlockPart", "blocks", "block_symmetry_section", "WORKED", "LABEL"]

#: The worked proof: a block and one family of its basis (an editorial choice, not a result).
WORKED = ("relu-mlp", "hidden-scale")

LABEL = "sec:block-symmetries"


@dataclass
class BlockPart:
    """One block's part of the chapter, as a worker derived it."""

    id: str
    title: str                   # as LaTeX (a normalizer's id in it in words)
    formula: str                 # the block's term, as maths
    dimension: str               # the dimension formula, as maths
    basis: list                  # (count as maths, words as LaTeX) of each basis family
    complete: bool
    how: dict                    # "exact" / "Rump" -> certificates so shown
    candidates: int              # families tried
    refused: list = field(default_factory=list)   # (family id, words as LaTeX, shown to move the output) of its own refused families
    notes: list = field(default_factory=list)     # the block's notes, as LaTeX
    worked: list = field(default_factory=list)    # LaTeX blocks of the worked proof (WORKED's block)


def blocks(ids: list[str] | None = None, jobs: int | None = None) -> list[BlockPart]:
    """Each registered block's symmetries, derived once, in parallel (one process per core)."""
    return parallel_map(_part, list(BLOCKS) if ids is None else ids, jobs)


# --- one block (in a worker) --------------------------------------------------------------

def _part(bid: str) -> BlockPart:
    from ..derive.block_symmetries import block_symmetries
    s = block_symmetries(bid)
    b = s.spec
    how = certified_how(s.certificates)
    # plain parentheses: a long formula breaks after a sum's + in a table's narrow column (none inside \left( \right))
    formula = latex(b.output).replace(r"\left(", "(").replace(r"\right)", ")")
    out = BlockPart(b.id, words_tex(b.title), formula, tex(s.dimension),
                    [(tex(d.count), words_tex(d.family.words)) for d in s.basis], s.complete, how,
                    len(candidates(b)), notes=[words_tex(n) for n in b.notes])
    done = next((c for c in s.certificates if c.complete), None)
    for f in s.refused:
        if f in b.families:   # its own candidates; those read off the shapes are only counted
            moves = None
            if done is not None:   # a tangent certainly outside the Jacobian's null space: not a symmetry
                J = jacobian(b.output, b.token, b.params, b.decl, done.sizes, done.values, done.tokens)
                moves = outside_null_space(J, tangents(f, b.params, b.decl, done.sizes, done.values), 1) is not None
            out.refused.append((f.id, words_tex(f.words), moves))
    if b.id == WORKED[0]:
        out.worked = _worked(b, next(d for d in s.basis if d.family.id == WORKED[1]))
    return out


def _worked(b, d) -> list[str]:
    """The family's definitions and its proof, one chain from the block to the block with the
    family's parameters, each step with its rule."""
    r = recipe_of(b, d.family)
    (goal,), (entry,) = r.goals, proof_json(d.proof)
    defs = ", ".join(f"${latex(('var', n))} = {latex(t)}$" for n, t in d.family.definitions.items())
    conds = "; ".join(words_tex(_condition(c)) for c in d.family.conditions())
    return [f"\\paragraph{{A proof in full: the {words_tex(b.title)}, {words_tex(d.family.words)}.}} "
            f"The family sets {defs}, under the condition: {conds}. Normalizing both sides, read as one chain "
            "from the block to the block with the family's parameters, each step one rule of "
            r"Table~\ref{tab:rules}:",
            "\\begin{align*}\n" + " \\\\\n".join(chain_rows(r, goal, entry)) + "\n\\end{align*}"]


def _condition(c) -> str:
    from ..core.rules import condition_text
    return condition_text(c)


# --- the chapter -----------------------------------------------------------------------------

def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _table(found: list[BlockPart]) -> str:
    rows = []
    for p in found:
        basis = r" \newline ".join(f"${n}$: {w}" for n, w in p.basis) or "none"
        mark = "" if p.complete else r" (\textbf{not shown complete})"
        rows.append(f"{_capital(p.title)}: ${p.formula}$ & ${p.dimension}${mark} & {basis} \\\\")
    return "\n".join([
        r"\begin{center}\footnotesize\setlength{\tabcolsep}{4pt}",
        r"\begin{longtable}{@{}P{6.2cm}P{2.3cm}P{6.8cm}@{}}",
        r"\caption{The symmetries of each block, derived: the dimension of its parameter directions, and "
        r"a basis, each family with its number of directions. " + _sizes(found) + r"}\label{tab:block-symmetries}\\",
        r"\toprule", r"Block & Dimension & Basis \\", r"\midrule", r"\endfirsthead",   # the caption once
        r"\toprule", r"Block & Dimension & Basis \\", r"\midrule", r"\endhead",
        *[row + ("\n" r"\addlinespace" if k < len(rows) - 1 else "") for k, row in enumerate(rows)],
        r"\bottomrule", r"\end{longtable}", r"\end{center}"])


def _sizes(found: list[BlockPart]) -> str:
    """The sizes' names and what they mean, from the blocks' own words."""
    meant: dict = {}
    for p in found:
        for name, words in BLOCKS[p.id].sizes.items() if p.id in BLOCKS else ():
            meant.setdefault(name, [])
            if words not in meant[name]:
                meant[name].append(words)
    return "Sizes: " + "; ".join(f"${n}$ {words_tex(' or '.join(w))}" for n, w in meant.items()) + "."


def _certified(found: list[BlockPart]) -> str:
    how = {k: sum(p.how[k] for p in found) for k in ("exact", "Rump")}
    said = {"exact": "exactly over $\\mathbb{Q}$", "Rump": "by Rump's test"}
    parts = _and([f"{n} {said[k]}" for k, n in how.items() if n])
    whole = [p for p in found if p.complete]
    if len(whole) == len(found):
        return f"All {len(found)} blocks are shown complete at three sets of sizes ({parts})."
    return (f"{len(whole)} of the {len(found)} blocks are shown complete at three sets of sizes ({parts}); "
            f"not: {', '.join(p.title for p in found if not p.complete)}.")


#: Why the rules cannot prove a block's own candidate (an explanation, said only of a family the
#: engine refused).
WHY_NOT = {
    ("tanh-mlp", "hidden-scale"):
        r"$\tanh$ is not positively homogeneous: the rules have $\operatorname{ReLU}(u\,\operatorname{diag}(s)) = "
        r"\operatorname{ReLU}(u)\,\operatorname{diag}(s)$ for $s > 0$, and nothing of the kind holds for $\tanh$",
    ("ln-model", "rotation"):
        r"layer norm reads the stream centred, $\operatorname{LN}(u) = \operatorname{RMS}(u\,C)$, and "
        r"$Q\,C = C\,Q$ only when $Q$ fixes $\mathbf{1}^{\top}$ (Section~\ref{rw:rotate-layer-norm} gives the "
        r"rewrite chapter's verdict on this rotation, Section~\ref{rw:absorb-mean-rotate} its repair)",
}


def _refused(found: list[BlockPart]) -> str:
    said = []
    for p in found:
        for fid, words, moves in p.refused:
            why = WHY_NOT.get((p.id, fid))
            said.append(f"For the {p.title}, the rules do not prove: {words}" + (f". Why: {why}" if why else "")
                        + (". A direction of it certainly moves the output at the first certified point: it is no "
                           "symmetry." if moves else "."))
    if not said:
        return ""
    return ("\\paragraph{Candidates refused.} " + " ".join(said)
            + " A candidate read off the shapes that is not proved is only counted.")


def block_symmetry_section(found: list[BlockPart] | None = None) -> list[str]:
    """The chapter's LaTeX blocks, from each block's derived symmetries."""
    found = blocks() if found is None else found
    tried = sum(p.candidates for p in found)
    notes = sorted({n for p in found for n in p.notes})
    models = [p.title for p in found if p.notes]
    out = [
        f"\\section{{The symmetries of a block}}\\label{{{LABEL}}}",
        r"Section~\ref{sec:symmetries} asked which transformations leave one layer unchanged; "
        r"Section~\ref{sec:rewrites} proved rewrites that people apply to blocks. This section asks which "
        r"maps of a block's parameters leave it unchanged, a block being a term over one token and its "
        r"parameters at symbolic sizes, as in Section~\ref{sec:rewrites}. A \emph{family} maps the parameters by terms in a generator, e.g.\ "
        r"$W_1' = W_1\,\operatorname{diag}(s)$ with $s > 0$; its \emph{parameter directions} are its tangents "
        r"at the identity ($s = \mathbf{1}$, $Q = I$, a shift $0$), directions in the space of all the "
        r"parameters along which the output does not change for any token. They form a vector space; its "
        r"dimension is a formula in the sizes.",
        f"\\paragraph{{How a family is proved.}} Each block's own families and those read off its shapes "
        f"({tried} candidates in all: re-scale or rotate the space between a parameter that writes into it "
        r"and one that reads from it, move a writer's rows or a reader's columns along $\mathbf{1}$, fold a "
        r"bias) are tried. A family is a symmetry for every size when the block with the family's parameters "
        r"and the block itself normalize to the same term with the rules of Table~\ref{tab:rules}, under the family's own "
        r"conditions only: the rewrite chapter's proof, re-checked step by step by its checker. The proved "
        r"families are kept in turn when their tangents at a random point add their full number of "
        r"directions: a basis, whose numbers add up to the dimension.",
        r"\paragraph{How completeness is certified.} As for a layer: the exact Jacobian of the output with "
        r"respect to every parameter, stacked over enough tokens (forward-mode dual numbers in exact "
        r"rationals, square roots in balls), has rank equal to the number of columns less the dimension at "
        r"three sets of sizes, every size at least $3$ and no two equal; so the proved directions fill the "
        r"null space near that point. A ReLU block is analytic only within an activation pattern, so a "
        r"point is used only if no pre-activation is $0$ there and every unit is on at a fifth of the tokens "
        r"at least and off at as many (a unit dead for every token has directions of its own, about which the "
        f"certificate says nothing). {_certified(found)}",
        _table(found),
    ]
    out += [b for p in found for b in p.worked]
    out.append(_refused(found))
    if notes:
        out.append(r"\paragraph{The models' caveat.} For the " + _and(models) + ", " + "; ".join(notes) + ".")
    return out

