"""The chapter "Blocks and the rewrites people apply to them" (issue 20): what a block is as a
term, the trusted rules in one table, how a proof is found and checked, how a rewrite of a model
is proved for every depth, how a refutation is certified; then each recipe's verdict.

Every verdict is derived here (:func:`documents`, the documents ``verify`` checks) and set by
:func:`invariance.report.rewrite_text.render_latex`; the rules' equations and reasons are the
words of :mod:`invariance.core.rules`, and the conditions a rule may need are read off its
applications to the terms of the proofs.  Nothing below types a verdict.
"""
from __future__ import annotations

import re

from ..catalogue.rewrites import RECIPES
from ..core import rules as _rules
from ..core.rewrite import PROVED, REFUTED, document
from ..core.rules import RULES, Context, applications, condition_text
from ..core.terms import canonical, from_json
from ..core.balls import Ball
from ..derive.rewrite import SIZES, rewrite
from .rewrite_text import label, render_latex, rule_name, words_tex

__all__ = ["FULL", "documents", "rule_reasons", "rule_conditions", "rewrite_section", "CITED"]

#: The recipes whose proofs and counterexamples are set out in full (an editorial choice: the
#: issue's "done when" recipes); the others are one row each of a table.
FULL = ("fold-gain", "fold-batch-norm", "rotate-rms", "rotate-layer-norm", "absorb-mean-rotate")

#: Who uses a recipe, as the recipes' words name them, and their bibliography keys.
CITED = {"SliceGPT": "ashkboos2024slicegpt", "QuaRot": "ashkboos2024quarot", "SmoothQuant": "xiao2023"}


def documents() -> dict:
    """Every recipe's verdict, derived afresh, as the document ``verify`` checks."""
    return {i: document(rewrite(i), r) for i, r in RECIPES.items()}


def rule_reasons() -> list[tuple[tuple[str, ...], str]]:
    """Why the rules hold: (rule names, reason) for each item of :mod:`invariance.core.rules`'
    docstring, in its order."""
    doc = _rules.__doc__
    items = re.split(r"\n- ", doc[doc.index("\n- "):])[1:]
    out = []
    for item in items:
        head, _, why = " ".join(item.split()).partition(": ")
        out.append((tuple(re.findall(r"``([a-z-]+)``", head)), why))
    return out


def rule_conditions(docs: dict) -> dict:
    """The conditions each rule asks for, at every place of every term of the proofs (and of the
    goals) where it applies: rule name -> sorted condition texts."""
    found = {name: set() for name in RULES}
    for rid, doc in docs.items():
        r = RECIPES[rid]
        ctx = Context(r.decl, r.definitions)
        terms = {canonical(t) for g in r.goals for t in (g.lhs, g.rhs)}
        for proof in (doc.get("proof"), doc.get("repair", {}).get("proof")):
            for entry in proof or ():
                terms |= {from_json(s["term"], r.decl, r.sizes) for side in ("lhs", "rhs") for s in entry[side]}
        for term in terms:
            for name, rule in RULES.items():
                for _, conds in applications(term, rule, ctx):
                    found[name] |= {condition_text(c) for c in conds}
    unused = [n for n in RULES if not found[n]]   # a rule no recipe's proof needs: where blocks' families use it
    for name, conds in _block_conditions(unused).items():
        found[name] |= conds
    return {name: sorted(c) for name, c in found.items()}


def _block_conditions(names) -> dict:
    """The conditions of the rules ``names`` at every term of the blocks' own families' proofs."""
    from ..catalogue.blocks import BLOCKS, recipe_of
    from ..core.rules import closure
    from ..derive.rewrite import prove
    found = {n: set() for n in names}
    for b in BLOCKS.values():
        for f in b.families:
            r = recipe_of(b, f)
            proof = prove(r, closure(r.assumptions))
            ctx = Context(r.decl, r.definitions)
            terms = {canonical(t) for g in r.goals for t in (g.lhs, g.rhs)}
            for _, left, right in (proof.chains if proof else ()):
                terms |= {t for _, t, _ in left.steps + right.steps}
            for term in terms:
                for n in names:
                    for _, conds in applications(term, RULES[n], ctx):
                        found[n] |= {condition_text(c) for c in conds}
    return found


def _cite(text: str) -> str:
    for name, key in CITED.items():
        text = re.sub(rf"\b({name}(?:'s)?)(?![\w'])", rf"\1~\\cite{{{key}}}", text)
    return text


def _rules_table(docs: dict) -> str:
    conds = rule_conditions(docs)
    rows = []
    for names, why in rule_reasons():
        equations = "; ".join(words_tex(RULES[n].words) for n in names)
        needs = sorted({c for n in names for c in conds[n]})
        rows.append(f"{', '.join(rule_name(n) for n in names)} & {equations} & "
                    f"{words_tex('; '.join(needs)) if needs else 'none'} & {words_tex(why)} \\\\")
    return "\n".join([
        r"\begin{center}\footnotesize\setlength{\tabcolsep}{4pt}",
        r"\begin{longtable}{@{}P{2.0cm}P{4.7cm}P{2.4cm}P{6.0cm}@{}}",
        r"\caption{The rules a proof may use, each an equation true for every size.}\label{tab:rules}\\",
        r"\toprule", r"Rule & Equation & Condition & Why it holds \\", r"\midrule", r"\endhead",
        *rows, r"\bottomrule", r"\end{longtable}", r"\end{center}"])


def _model_goals() -> str:
    """The three goals of a rewritten model, in the words of the first model recipe."""
    r = next(r for r in RECIPES.values() if r.kind == "model")
    return "; ".join(f"\\emph{{{g.name}}}, {words_tex(g.words)}" for g in r.goals)


def _intro(docs: dict) -> list[str]:
    proved = sum(d["verdict"] == PROVED for d in docs.values())
    refuted = sum(d["verdict"] == REFUTED for d in docs.values())
    repaired = sum("repair" in d for d in docs.values())
    return [
        r"\section{Blocks and the rewrites people apply to them}\label{sec:rewrites}",
        r"Compressing and quantizing a network rewrites its parameters and claims the network computes "
        r"the same function: a normalizer's gain folded into the next linear map, batch norm folded into "
        r"the previous one, the residual stream rotated by an orthogonal matrix (SliceGPT~"
        rf"\cite{{{CITED['SliceGPT']}}}, QuaRot~\cite{{{CITED['QuaRot']}}}), a scale migrated from the "
        rf"activations into the weights (SmoothQuant~\cite{{{CITED['SmoothQuant']}}}). This section proves "
        f"such a claim for every size, or refutes it with an exact counterexample: of the {len(docs)} recipes "
        f"below, {proved} are proved and {refuted} refuted, {repaired} of them with the condition under which "
        r"they hold.",
        r"\paragraph{A block as a term.} One token is one row vector, and every block here acts on each "
        r"token alone, so one row is the general case. A linear map is $x\,W$, a gain is "
        r"$\operatorname{diag}(g)$, the transpose of $Q$ is $Q^{\top}$, $\mathbf{1}$ is the row of ones and "
        r"$C = I - \mathbf{1}^{\top}\mathbf{1}/d$ the centring matrix ($u\,C$ is $u$ less its mean); "
        r"$\operatorname{RMS}(u) = u / \sqrt{u\,u^{\top}/d + \epsilon}$ and $\operatorname{LN}(u) = (u - "
        r"\mu\,\mathbf{1})/\sqrt{\sigma^2 + \epsilon}$ act on each row, the activations entrywise. Sizes "
        r"are names ($d$, $m$, \dots), so a proof about terms holds for every size. The product is "
        r"associative and the sum associative and commutative: two terms are the same when their forms "
        r"with products and sums flattened and summands sorted are.",
        r"\paragraph{The rules.} A proof step applies one rule of Table~\ref{tab:rules} at one place of a "
        r"term. A rule is an equation between terms with the conditions it needs on the recipe's "
        r"variables (shown with the names the recipes use); its equation and its reason are the toolkit's "
        r"own words, which the checker compares.",
        _rules_table(docs),
        r"\paragraph{How a proof is found and checked.} Both sides of a goal are normalized: the first rule "
        r"that applies, in a fixed order of the rules and outermost place first, is applied until none does, and "
        r"each step is kept. When the two normal forms are the same term, the two chains are the proof, "
        r"read below as one chain from the original block to the rewritten one (the right side's steps "
        r"backwards, a detour back to a term already shown left out), each step with the rule it applies. "
        r"Only the user's assumptions may be used; when the sides meet only with every rule allowed, the "
        r"conditions that proof used beyond them are the \emph{repair}. The checker trusts no step: it "
        r"reads each term from the file (known operators, declared names, shapes checked), applies the "
        r"named rule to the previous term at every place and accepts the step only if one application "
        r"gives the next term, under the conditions allowed; it recomputes the conditions used, and "
        r"builds the goals itself from the recipe.",
        r"\paragraph{A rewrite of a model, for every depth.} A model is a residual stack $x_0 = t\,E$, "
        r"$x_{l+1} = x_l + f_l(N(x_l))$, $y = N(x_L)\,H$, with $f(n) = \operatorname{ReLU}(n\,W_1 + b_1)\,"
        r"W_2 + b_2$, rewritten so that every residual is $x'_l = x_l\,M$ ($M = Q$, or $C\,Q$). Three goals "
        r"prove it for every depth $L$ by induction: " + _model_goals() + r". The first starts the "
        r"induction, the second carries it from one block to the next whatever the block's parameters, "
        r"the third reads the output.",
        r"\paragraph{How a refutation is certified.} A failed proof proves nothing. The search evaluates "
        r"the depth-one model (or the block) exactly at random rational values that satisfy the "
        f"assumptions: an orthogonal $Q$ of width ${SIZES['d']}$ is Sylvester's Hadamard matrix divided by $2$, as "
        r"QuaRot uses, and one that must fix $\mathbf{1}^{\top}$ is the Cayley transform $(I - A)^{-1}"
        r"(I + A)$ of a rational skew-symmetric $A$ with $A\,\mathbf{1}^{\top} = 0$. Square roots and "
        f"$\\tanh$ are enclosed in balls with integer midpoint and radius on the grid $2^{{-{Ball.K}}}$; two "
        r"outputs differ when they are different rationals or their balls are disjoint. The checker "
        r"takes only the sizes and the rational values from the file, checks the assumptions exactly "
        r"($Q\,Q^{\top} = I$, signs), computes the rewritten parameters from the recipe's definitions "
        r"and evaluates both sides again.",
    ]


def _others_table(docs: dict, labels) -> str:
    rows = []
    for rid, doc in docs.items():
        if rid in FULL:
            continue
        r = RECIPES[rid]
        if doc["verdict"] == PROVED:
            verdict = r"\textbf{Proved}" + (", when " + words_tex("; ".join(doc["conditions_text"]))
                                             if doc["conditions_text"] else ", with no condition")
        else:
            verdict = r"\textbf{Refuted}"
            if "repair" in doc:
                verdict += "; holds when additionally " + words_tex("; ".join(doc["repair"]["conditions_text"]))
            if "correction" in doc:
                c = doc["correction"]
                verdict += (f"; corrected: Section~\\ref{{{label(c)}}}" if c in labels else
                            f"; corrected: {words_tex(c)}")
        rows.append(f"{words_tex(r.title)} & {words_tex(r.words)} & {verdict}. \\\\")
    return "\n".join([
        r"\begin{center}\small\setlength{\tabcolsep}{4pt}",
        r"\begin{longtable}{@{}P{3.6cm}P{7.4cm}P{4.3cm}@{}}",
        r"\caption{The other recipes' verdicts.}\label{tab:rewrites}\\",
        r"\toprule", r"Recipe & Claim & Verdict \\", r"\midrule", r"\endhead",
        *rows, r"\bottomrule", r"\end{longtable}", r"\end{center}"])


def rewrite_section(docs: dict | None = None) -> list[str]:
    """The chapter's LaTeX blocks."""
    docs = documents() if docs is None else docs
    labels = frozenset(FULL)
    out = _intro(docs)
    for rid in FULL:
        out.append(render_latex(docs[rid], labels, _cite, standalone=False))
    others = len(docs) - len(FULL)
    out.append(r"\subsection{The other recipes}" "\n"
               f"Table~\\ref{{tab:rewrites}} gives the verdicts of the other {others} recipes, derived and checked "
               r"as above: a proved one with the conditions its proof used, a refuted one with the conditions "
               r"under which it holds and its corrected recipe, where there are. The toolkit's rewrite command "
               r"prints each proof and counterexample.")
    out.append(_others_table(docs, labels))
    return out
