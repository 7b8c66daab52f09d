"""--linear-bias: the dense layer with a bias in its linear map, a = W x + c, derived and cross-checked."""
from __future__ import annotations

import re

import pytest

from invariance import NORMALIZERS, TRANSFORMATIONS, derive, register
from invariance.core.model import DENSE
from invariance.catalogue.normalizers import with_linear_bias
from invariance.numeric.crosscheck import Setup, cross_check
from invariance.numeric.values import compare_values

DENSE_ROWS = [n for n, v in NORMALIZERS.items() if v.model is DENSE]


@pytest.fixture(scope="module")
def rows():
    variants = {n: register(with_linear_bias(NORMALIZERS[n])) for n in DENSE_ROWS}
    yield {n: {t: derive(v, t) for t in TRANSFORMATIONS} for n, v in variants.items()}, variants
    for v in variants.values():
        NORMALIZERS.pop(v.id, None)


def test_the_bias_breaks_the_rescalings_of_layer_norm_and_rms_norm_but_not_batch_norms(rows):
    """a' = delta (a - c) + c: beta = (1 - delta) c_i varies over the units, which batch norm
    centres per unit and layer norm / RMSNorm do not (the issue's claim, derived here)."""
    derived, _ = rows
    for t in ("weight-matrix-rescaling", "dataset-rescaling"):
        assert derive("layer-norm", t).verdict == derive("rms-norm", t).verdict == "invariant"
        assert derived["layer-norm"][t].verdict == derived["rms-norm"][t].verdict == "not-invariant"
        assert derived["batch-norm"][t].verdict == "invariant"
    for row in derived.values():
        for c in row.values():
            assert (c.proof is not None and c.proof.steps()) or c.counterexample is not None, c


def test_variant_ids_are_file_names_and_the_variant_is_made_once(rows):
    _, variants = rows
    for n, v in variants.items():
        assert re.fullmatch(r"[a-z0-9-]+", v.id) and v.id == f"{n}-linear-bias"
        assert with_linear_bias(NORMALIZERS[n]) is v


@pytest.mark.parametrize("norm", DENSE_ROWS)
def test_numpy_cross_check_and_values_agree_with_the_derived_variant(rows, norm):
    derived, variants = rows
    v = variants[norm]
    assert compare_values(v).agrees
    for t, cell in derived[norm].items():
        assert cross_check(v, TRANSFORMATIONS[t], cell, instances=300).agrees(cell), (norm, t)


def test_torch_cross_check_agrees_where_pytorch_has_the_variant(rows):
    pytest.importorskip("torch", reason="the torch backend needs PyTorch: pip install '.[torch]'")
    derived, variants = rows
    for norm, v in variants.items():
        if v.torch is None:      # weight norm: PyTorch adds nn.Linear's bias after normalizing
            continue
        for t, cell in derived[norm].items():
            assert cross_check(v, TRANSFORMATIONS[t], cell, instances=300,
                               setup=Setup("torch", "float32")).agrees(cell), (norm, t)


def test_cli_refuses_conv_rows_and_torch_without_a_counterpart(capsys):
    from invariance.__main__ import main
    try:
        assert main(["table", "--normalizers", "group-norm", "--linear-bias"]) == 2
        assert "not a dense-layer normalizer" in capsys.readouterr().err
        assert main(["table", "--normalizers", "weight-norm", "--linear-bias", "--numeric",
                     "--backend", "torch"]) == 2
        from invariance.numeric.torch_backend import available
        assert ("no PyTorch counterpart for weight-norm-linear-bias" if available()
                else "needs PyTorch") in capsys.readouterr().err
    finally:
        for n in DENSE_ROWS:
            NORMALIZERS.pop(f"{n}-linear-bias", None)


def test_every_linear_bias_cell_verifies_and_check_reads_the_rows_unregistered(tmp_path, capsys):
    """The rows' certificates verify (a refutation's breaks stop where the derivation stops at eps = 0,
    weight norm's included), and `check` names a row by id without `table --linear-bias` first."""
    import json
    from invariance.__main__ import main
    from invariance.core.certificate import document
    from invariance.kernel.files import verify
    for n in DENSE_ROWS:
        v = with_linear_bias(NORMALIZERS[n])
        cells = [derive(v, t) for t in TRANSFORMATIONS]
        assert verify(json.loads(json.dumps(document(cells)))) == [], v.id
    assert "layer-norm-linear-bias" not in NORMALIZERS
    assert main(["check", "layer-norm-linear-bias", "weight-matrix-recentering"]) == 0
    assert "Layer norm, linear bias under weight matrix re-centering: INVARIANT" in capsys.readouterr().out
