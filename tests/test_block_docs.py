"""The document's section on the symmetries of blocks (issue 20): every registered block in the
table with its dimension and basis as the engine derives them (and as derived by hand in
test_block_symmetries), the worked proof a chain the rewrite kernel accepts, the refused
candidates, the models' caveat; the section in the committed document."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sympy as sp

from invariance.catalogue.blocks import BLOCKS, recipe_of
from invariance.core.rewrite import proof_json
from invariance.derive.block_symmetries import document
from invariance.kernel.block_symmetries import check_block_symmetries
from invariance.report import block_chapter
from invariance.report.block_chapter import WORKED, block_symmetry_section, blocks
from invariance.report.latex import tex
from invariance.report.rewrite_text import chain_rows, words_tex
from test_block_symmetries import HAND, analysis   # block_symmetries, once per block for the module

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def found():
    return blocks()


@pytest.fixture(scope="module")
def section(found) -> str:
    return "\n\n".join(block_symmetry_section(found))


def _rows(section: str) -> dict:
    """The table's rows: the block's title -> (formula cell, dimension cell, basis cell)."""
    table = section[section.index(r"\label{tab:block-symmetries}"):section.index(r"\end{longtable}")]
    body = table.split(r"\endhead", 1)[1]
    out = {}
    for row in re.split(r"\\\\\s*(?:\\addlinespace)?", body):
        if "&" in row:
            block, dim, basis = (c.strip() for c in row.split(" & "))
            title, _, formula = block.partition(": ")
            out[title] = (formula, dim, basis)
    return out


def _title(b) -> str:
    t = words_tex(b.title)
    return t[:1].upper() + t[1:]


def test_the_table_holds_every_block_with_its_derived_dimension_and_basis(section):
    rows = _rows(section)
    assert len(rows) == len(BLOCKS) == len(HAND)
    for bid, b in BLOCKS.items():
        s = analysis(bid)                      # derived again, apart from the section's workers
        assert sp.simplify(s.dimension - HAND[bid]) == 0, bid   # the engine agrees with the hand
        formula, dim, basis = rows[_title(b)]
        assert dim == f"${tex(s.dimension)}$", (bid, dim)
        assert formula.startswith("$") and formula.endswith("$"), bid
        items = [] if basis == "none" else basis.split(r" \newline ")
        assert len(items) == len(s.basis), bid
        for item, d in zip(items, s.basis):
            assert item == f"${tex(d.count)}$: {words_tex(d.family.words)}", (bid, item)
        assert "not shown complete" not in dim
    assert "All 8 blocks are shown complete" in section


def test_a_wrong_dimension_would_be_seen(found):
    """The comparison above is not vacuous: a part with another dimension gives another row."""
    import copy
    wrong = copy.deepcopy(found)
    wrong[0].dimension = tex(HAND[wrong[0].id] + 1)
    rows = _rows("\n\n".join(block_symmetry_section(wrong)))
    s = analysis(wrong[0].id)
    assert rows[_title(BLOCKS[wrong[0].id])][1] != f"${tex(s.dimension)}$"


def test_the_worked_proof_is_the_engines_chain(section):
    bid, fid = WORKED
    s = analysis(bid)
    d = next(d for d in s.basis if d.family.id == fid)
    chain = section[section.index(r"\paragraph{A proof in full"):]
    chain = chain[chain.index(r"\begin{align*}"):chain.index(r"\end{align*}")]
    steps = sum(len(l.steps) + len(r.steps) for _, l, r in d.proof.chains)
    rules = re.findall(r"\\text\{\\small ([a-z ]+)\}", chain)
    assert rules and len(rules) <= steps
    assert "relu scaling" in rules and "reciprocal" in rules    # the step that needs s > 0, and its inverse
    assert chain.count("&= ") == len(rules)
    assert "every entry of $s$ is positive" in section
    # what the reader reads is the proof verify checks: the rows of its chain, and the kernel accepts it
    r = recipe_of(BLOCKS[bid], d.family)
    (entry,) = proof_json(d.proof)
    assert chain.strip().removeprefix(r"\begin{align*}").strip() == " \\\\\n".join(chain_rows(r, r.goals[0], entry))
    assert check_block_symmetries(json.loads(json.dumps(document(s)))) == []


def test_the_refused_candidates_and_the_caveat(section):
    refused = {(bid, f.id) for bid in BLOCKS for f in analysis(bid).refused if f in BLOCKS[bid].families}
    assert refused == set(block_chapter.WHY_NOT)       # each refused one explained, nothing explained that was proved
    part = section[section.index(r"\paragraph{Candidates refused.}"):]
    assert part.count("certainly moves the output") == len(refused)
    assert r"$v \ge d$" in section


def test_the_committed_document_holds_the_section(section):
    committed = (ROOT / "docs" / "invariance.tex").read_text()
    assert r"\section{The symmetries of a block}\label{sec:block-symmetries}" in committed
    assert section.split("\n\n")[0] in committed
    table = section[section.index(r"\begin{longtable}"):section.index(r"\end{longtable}")]
    assert table in committed
