"""The document's chapter on blocks and rewrites (issue 20): every recipe, every rule's words, and
each verdict as derived; the verdicts themselves against a float evaluation that shares nothing
with the rules, the search or the kernel; the chains a reader reads, each step one rule."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from invariance.catalogue.rewrites import RECIPES
from invariance.core.rewrite import PROVED, REFUTED, free_names, instance_values
from invariance.core.rules import RULES, Context, applications, closure, condition_text
from invariance.core.terms import canonical, evaluate
from invariance.derive.rewrite import rewrite
from invariance.kernel.rewrites import check_rewrite
from invariance.report import rewrite_chapter
from invariance.report.rewrite_chapter import FULL, documents, rule_reasons, rewrite_section
from invariance.report.rewrite_text import _steps, chain_rows, label, rule_name, words_tex

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def docs() -> dict:
    return documents()


@pytest.fixture(scope="module")
def chapter(docs) -> str:
    return "\n\n".join(rewrite_section(docs))


def _part(chapter: str, rid: str) -> str:
    """A fully shown recipe's part of the chapter: its subsection."""
    start = chapter.rindex("\\subsection", 0, chapter.index(f"\\label{{{label(rid)}}}"))
    end = chapter.find("\\subsection", start + 1)
    return chapter[start:end if end >= 0 else None]


def _row(chapter: str, rid: str) -> str:
    """The other recipes' table row of ``rid``."""
    table = chapter[chapter.index(r"\label{tab:rewrites}"):]
    (row,) = [line for line in table.splitlines() if line.startswith(words_tex(RECIPES[rid].title) + " & ")]
    return row


# --- what the chapter holds ---------------------------------------------------------------------

def test_the_committed_document_holds_the_chapter(chapter):
    committed = (ROOT / "docs" / "invariance.tex").read_text()
    assert r"\section{Blocks and the rewrites people apply to them}\label{sec:rewrites}" in committed
    assert rewrite_section()[0] in committed    # the same chapter (test_docs compares the whole file)


def test_every_recipe_is_in_the_chapter(chapter):
    assert set(FULL) <= set(RECIPES)
    for rid, r in RECIPES.items():
        if rid in FULL:
            part = _part(chapter, rid)
            assert words_tex(r.title) in part and words_tex(r.words)[1:40] in part, rid
        else:
            row = _row(chapter, rid)
            assert words_tex(r.words) in row, rid
            assert f"{{{label(rid)}}}" not in chapter


def test_every_rule_and_its_reason_is_in_the_table(chapter):
    table = chapter[chapter.index(r"\label{tab:rules}"):chapter.index(r"\end{longtable}")]
    reasons = rule_reasons()
    named = [n for names, _ in reasons for n in names]
    assert sorted(named) == sorted(RULES), "core/rules.py's docstring says why each rule holds, once"
    for names, why in reasons:
        assert why and words_tex(why) in table, names
        for n in names:
            assert words_tex(RULES[n].words) in table, n
            assert rule_name(n) in table, n


def test_the_conditions_column_is_what_the_rules_ask_for(docs, chapter):
    """Each rule's conditions are found by applying it; the rules with a condition show it."""
    table = chapter[chapter.index(r"\label{tab:rules}"):chapter.index(r"\end{longtable}")]
    conds = rewrite_chapter.rule_conditions(docs)
    assert conds["orthogonal"] == ["Q is orthogonal (Q Q^T = I)"]
    assert set(conds["centring-rotation"]) == {"Q is orthogonal (Q Q^T = I)",
                                               "Q fixes the all-ones vector (Q 1^T = 1^T)"}
    assert conds["relu-scaling"] == ["every entry of s is positive"]
    assert conds["reciprocal"] == ["no entry of s is zero"]
    assert conds["distribute"] == conds["definition"] == []
    for names, _ in rule_reasons():
        row = next(line for line in table.splitlines() if line.startswith(", ".join(rule_name(n) for n in names) + " &"))
        needs = sorted({c for n in names for c in conds[n]})
        assert row.split(" & ")[2] == (words_tex("; ".join(needs)) if needs else "none"), names


def test_each_verdict_is_the_one_derived(docs, chapter):
    """Derived again here, each verdict is the chapter's, with its conditions, repair and correction."""
    for rid, r in RECIPES.items():
        result = rewrite(rid)
        doc = docs[rid]
        assert doc["verdict"] == result.verdict, rid
        where = _part(chapter, rid) if rid in FULL else _row(chapter, rid)
        said = re.findall(r"\\textbf\{(Proved|Refuted|Unknown)\}", where)
        assert said[:1] == [result.verdict.capitalize()], (rid, said)
        if result.verdict == PROVED:
            for c in result.conditions:
                assert words_tex(condition_text(c)) in where, (rid, c)
            if not result.conditions:
                assert "with no condition" in where
        if result.repair is not None:
            extra = [c for c in result.repair.conditions() if c not in closure(r.assumptions)]
            assert "holds when additionally " + words_tex("; ".join(condition_text(c) for c in extra)) in where, rid
        if r.correction and result.verdict != PROVED:
            target = r.correction
            assert (f"\\ref{{{label(target)}}}" if target in FULL else words_tex(target)) in where, rid


def test_a_counterexample_is_shown_with_its_values(docs, chapter):
    for rid in FULL:
        doc = docs[rid]
        if doc["verdict"] != REFUTED:
            continue
        part = _part(chapter, rid)
        for name, rows in doc["counterexample"]["values"].items():
            assert " & ".join(rows[0]) in part, (rid, name)
        assert "evaluated exactly again: they differ" in part


def test_the_documents_shown_verify(docs):
    """What the chapter sets out is what ``verify`` accepts: every step one rule, every
    counterexample evaluated again."""
    for rid, doc in docs.items():
        assert check_rewrite(doc) == [], rid


def test_each_chain_shown_is_one_rule_a_step(docs, chapter):
    """The chains as a reader reads them (original side first, the right side backwards, the
    detours cut out): each step applies its rule one way or the other, and every row is shown."""
    for rid, doc in docs.items():
        r = RECIPES[rid]
        ctx = Context(r.decl, r.definitions)
        for proof in (doc.get("proof"), doc.get("repair", {}).get("proof")):
            for goal, entry in zip(r.goals, proof or ()):
                rows = _steps(r, goal, entry)
                primed = [bool(free_names(side) & set(r.definitions)) for side in (goal.lhs, goal.rhs)]
                if primed.count(True) == 1:    # the original side first
                    assert not free_names(rows[0][0]) & set(r.definitions), (rid, goal.name)
                keys = [canonical(t) for t, _ in rows]
                assert len(set(keys)) == len(keys), (rid, goal.name, "a detour is shown")
                for (a, _), (b, rule) in zip(rows, rows[1:]):
                    ca, cb = canonical(a), canonical(b)
                    forward = any(t == cb for t, _ in applications(ca, RULES[rule], ctx))
                    backward = any(t == ca for t, _ in applications(cb, RULES[rule], ctx))
                    assert forward or backward, (rid, goal.name, rule)
                if rid in FULL and proof is not None and len(rows) > 2:
                    part = _part(chapter, rid)
                    for line in chain_rows(r, goal, entry):
                        assert line in part, (rid, line)


# --- the verdicts against floats ----------------------------------------------------------------

class _Float:
    zero, one = 0.0, 1.0
    rational = staticmethod(float)
    sqrt = staticmethod(math.sqrt)
    recip = staticmethod(lambda x: 1 / x)
    relu = staticmethod(lambda x: max(x, 0.0))
    tanh = staticmethod(math.tanh)
    gelu = staticmethod(lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))))


def _under_roots(t) -> set:
    """The names under a square root (a variance: the layer is defined where it is positive)."""
    if t[0] == "istd":
        return free_names(t)
    return set().union(*[_under_roots(a) for a in t[1:] if isinstance(a, tuple)])


def _values(r, conds, rng, sizes):
    out = {}
    roots = set().union(*[_under_roots(t) for t in (r.instance.lhs, r.instance.rhs, *r.definitions.values())])
    for name in instance_values(r):
        rows, cols = (1 if s == 1 else sizes[s] for s in r.decl[name])
        if ("orthogonal", name) in conds:
            q, _ = np.linalg.qr(rng.normal(size=(rows, rows)))
            if ("fixes-ones", name) in conds:   # a rotation of the plane orthogonal to the ones
                ones = np.ones((rows, 1)) / math.sqrt(rows)
                basis, _ = np.linalg.qr(np.hstack([ones, rng.normal(size=(rows, rows - 1))]))
                inner, _ = np.linalg.qr(rng.normal(size=(rows - 1, rows - 1)))
                block = np.eye(rows)
                block[1:, 1:] = inner
                q = basis @ block @ basis.T
            out[name] = q.tolist()
        elif ("positive", name) in conds or name in roots:
            out[name] = rng.uniform(0.3, 3, size=(rows, cols)).tolist()
        else:
            out[name] = (rng.choice([-1, 1], size=(rows, cols)) * rng.uniform(0.3, 3, size=(rows, cols))).tolist()
    return out


def _agree(r, conds, seed: int) -> bool:
    """Whether the depth-one instance's two sides agree in floats at random values that satisfy
    ``conds`` (sizes other than the search's)."""
    rng = np.random.default_rng(seed)
    sizes = {k: v for k, v in zip(r.sizes, (5, 6, 3, 4, 7))}
    env = _values(r, conds, rng, sizes)
    for name, term in r.definitions.items():
        env[name] = evaluate(term, env, sizes, _Float, eps=1e-5)
    lhs = evaluate(r.instance.lhs, env, sizes, _Float, eps=1e-5)
    rhs = evaluate(r.instance.rhs, env, sizes, _Float, eps=1e-5)
    return max(abs(a - b) for a, b in zip(lhs[0], rhs[0])) < 1e-9 * (1 + max(abs(a) for a in rhs[0]))


@pytest.mark.parametrize("rid", list(RECIPES))
def test_the_verdict_is_what_floats_show(docs, rid):
    """Proved: the two sides agree at random values (the search's and the kernel's arithmetic not
    used); refuted: they differ at most such values; a repair's conditions make them agree."""
    r, doc = RECIPES[rid], docs[rid]
    conds = closure(r.assumptions)
    agree = [_agree(r, conds, seed) for seed in range(6)]
    if doc["verdict"] == PROVED:
        assert all(agree), rid
    else:
        assert doc["verdict"] == REFUTED and sum(agree) <= 1, (rid, agree)
    if "repair" in doc:
        extra = closure(set(conds) | {tuple(c) for c in doc["repair"]["conditions"]})
        assert all(_agree(r, extra, seed) for seed in range(6)), rid


def test_the_verdicts_are_the_issues():
    """The issue's expectations: the rotation of a layer-norm model fails (QuaRot issue 29) and is
    repaired by a rotation that fixes the all-ones vector; absorbing the mean first makes it hold."""
    got = {rid: rewrite(rid).verdict for rid in ("rotate-rms", "rotate-layer-norm", "absorb-mean-rotate",
                                                  "fold-batch-norm", "fold-gain")}
    assert got == {"rotate-rms": PROVED, "rotate-layer-norm": REFUTED, "absorb-mean-rotate": PROVED,
                   "fold-batch-norm": PROVED, "fold-gain": PROVED}
    rep = rewrite("rotate-layer-norm").repair
    assert rep is not None and ("fixes-ones", "Q") in rep.conditions()


def test_the_latex_renderer_breaks_long_terms(docs):
    """A row of a chain wider than the page is broken at its top-level sums."""
    from invariance.report.linebreak import maths_width
    from invariance.report.rewrite_text import TERM_WIDTH
    r = RECIPES["fold-batch-norm"]
    rows = chain_rows(r, r.goals[0], docs["fold-batch-norm"]["proof"][0])
    assert any(row.startswith(r"&\quad ") for row in rows)
    for row in rows:
        maths = re.sub(r" && \\text\{.*\}$", "", row).lstrip("&= ").replace(r"\quad ", "")
        assert maths_width(maths) <= TERM_WIDTH + 2, row
