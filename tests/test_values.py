"""Values, not only verdicts: every numeric op matches its symbolic definition exactly evaluated."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from invariance import NORMALIZERS
from invariance.numeric.values import EPSILONS, compare_values, exact_layer


@pytest.mark.parametrize("norm", list(NORMALIZERS))
def test_numeric_op_matches_the_exact_definition(norm):
    r = compare_values(NORMALIZERS[norm])
    assert r.points == 4 * len(EPSILONS)
    assert r.agrees and r.max_tolerance_ratio < 0.5, r


def test_exact_layer_is_the_definition():
    """Layer norm at a rational point, by hand: h = g (a - mu) / sigma + b, sigma exact."""
    W, X, g, b, h = exact_layer(NORMALIZERS["layer-norm"], random.Random(3))
    a = X @ W.T
    d = a - a.mean(-1, keepdims=True)
    np.testing.assert_allclose(h, g * d / np.sqrt((d * d).mean(-1, keepdims=True)) + b, rtol=1e-13)


def _identity(a, W, eps=0.0):
    return a


def _eps_outside_the_root(a, W, eps=0.0):
    d = a - a.mean(-1, keepdims=True)
    return d / (np.sqrt((d * d).mean(-1, keepdims=True)) + eps)


def _unbiased(a, W, eps=0.0):
    d = a - a.mean(-1, keepdims=True)
    return d / np.sqrt((d * d).sum(-1, keepdims=True) / (a.shape[-1] - 1) + eps)


@pytest.mark.parametrize("op", [_identity, _eps_outside_the_root, _unbiased], ids=lambda f: f.__name__)
def test_a_wrong_op_beside_layer_norm_is_caught(op):
    """Each of these keeps some or all of layer norm's verdicts; its values give it away."""
    r = compare_values(dataclasses.replace(NORMALIZERS["layer-norm"], numeric=op))
    assert not r.agrees and r.max_tolerance_ratio > 1e6


def test_the_epsilon_bug_is_caught_only_with_epsilon_positive():
    """eps outside the root agrees at eps = 0: the check must try eps > 0 to catch it."""
    broken = dataclasses.replace(NORMALIZERS["layer-norm"], numeric=_eps_outside_the_root)
    assert compare_values(broken, epsilons=EPSILONS[:1]).agrees
    assert not compare_values(broken).agrees


def test_cli_reports_an_identity_op_beside_layer_norm_and_exits_1(tmp_path, capsys):
    """The identity is invariant wherever layer norm is not re-centred... only its values expose it."""
    from invariance.__main__ import main
    plugin = tmp_path / "identity.py"
    plugin.write_text(
        "import dataclasses, invariance\n"
        "ln = invariance.NORMALIZERS['layer-norm']\n"
        "invariance.register(dataclasses.replace(ln, id='identity-layer-norm', numeric=lambda a, W, eps=0.0: a))\n")
    try:
        assert main(["table", "--load", str(plugin), "--normalizers", "identity-layer-norm", "--numeric"]) == 1
        assert "DISAGREEMENT identity-layer-norm values" in capsys.readouterr().out
    finally:
        NORMALIZERS.pop("identity-layer-norm", None)
