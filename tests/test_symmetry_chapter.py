"""The document's chapter on the symmetries of each layer (issue 17): every layer is in it, and
what it says is what :func:`invariance.derive.symmetries.symmetries` derives (a changed basis
changes the chapter)."""
from __future__ import annotations

import pytest
import sympy as sp

from invariance.catalogue.normalizers import NORMALIZERS as BUILTIN
from invariance.catalogue.registry import FAMILIES, normalizer
from invariance.derive.engine import derive
from invariance.derive.symmetries import symmetries
from invariance.report import symmetry_chapter as chapter
from invariance.report.derivations import chain_tex
from invariance.report.latex import label_for, tex


@pytest.fixture(scope="module")
def found():
    return chapter.layers()


@pytest.fixture(scope="module")
def text(found):
    return "\n\n".join(chapter.symmetry_section(found))


def _row(text: str, norm_id: str) -> list[str]:
    """The cells of a layer's row of the table of dimensions."""
    head = f"\\hyperref[{label_for('sym', norm_id)}]"
    (line,) = [x for x in text.splitlines() if x.startswith(head)]
    return [c.strip() for c in line.removesuffix("\\\\").split("&")[1:]]


def test_the_chapter_lists_every_layer(found, text):
    ids = chapter.layer_ids()
    assert [layer.id for layer in found] == ids
    assert {n.id for n in BUILTIN} < set(ids) and any(i.endswith("-linear-bias") for i in ids)
    for i in ids:
        assert f"\\label{{{label_for('sym', i)}}}" in text, i
        assert len(_row(text, i)) == 2, i   # its row of the table of dimensions


@pytest.mark.parametrize("norm_id", ["layer-norm", "batch-norm-inference", "layer-norm-linear-bias"])
def test_its_dimensions_and_bases_are_the_derived_ones(text, norm_id):
    for kind, cell in zip(("parameter", "data"), _row(text, norm_id)):
        s = symmetries(norm_id, kind)
        assert cell.removesuffix(r"$^{\dagger}$") == f"${tex(s.dimension)}$", (kind, cell)
        assert (cell != f"${tex(s.dimension)}$") == s.eps_zero
        section = text.split(f"\\label{{{label_for('sym', norm_id)}}}")[1].split("\\subsection")[0]
        for d in s.basis:
            assert f"${tex(d.count)}$ & {chapter.words(d.family.words)} & ${d.family.paper}$ &" in section
        for d in s.dependent:
            assert f"-- & {chapter.words(d.family.words)}, in the span of the above & ${d.family.paper}$ &" in section
        for c in s.certificates:
            assert f"${c.rank}$ of ${c.columns}$" in section


def test_every_cell_of_the_table_is_read_off_the_symmetry_space(found, text):
    for layer in found:
        assert len(layer.columns) == 6, layer.id
        assert all(invariant == inside for _, invariant, inside in layer.columns), layer.id
    cells = 6 * len(found)
    assert f"holds in {cells} of their {cells} cells" in text


def test_a_changed_basis_changes_the_chapter(monkeypatch):
    real = chapter.symmetries
    dropped = []

    def fewer(norm, kind):
        s = real(norm, kind)
        if kind == "parameter":
            dropped.append(s.basis.pop())
            s.dimension = sp.Add(*[d.count for d in s.basis])
        return s
    before = chapter._layer("layer-norm")
    monkeypatch.setattr(chapter, "symmetries", fewer)
    after = chapter._layer("layer-norm")
    (gone,) = dropped
    assert after.dimension["parameter"] != before.dimension["parameter"]
    assert after.dimension["parameter"] == tex(real("layer-norm", "parameter").dimension - gone.count)
    assert gone.family.paper in "".join(before.section) and gone.family.paper not in "".join(after.section)
    # the column of the table that the dropped family is no longer read off the space
    assert any(invariant != inside for _, invariant, inside in after.columns)


def test_the_worked_proof_is_its_cells_chains(found, text):
    norm_id, family = chapter.WORKED
    cell = derive(normalizer(norm_id), FAMILIES[family])
    assert f"\\label{{{label_for('sym', 'worked')}}}" in text
    assert chain_tex(*cell.proof.chains) in text
    assert [layer.id for layer in found if layer.worked] == [norm_id]
