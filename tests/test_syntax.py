"""Blocks written in the paper's notation parse to the terms the rewrites and symmetries use."""
from __future__ import annotations

import pytest

from invariance.catalogue.rewrites import RECIPES
from invariance.core.syntax import BlockError, parse_block
from invariance.core.terms import canonical


def test_a_pre_ln_block_parses_with_its_shapes_inferred():
    term, decl, sizes = parse_block("x + ReLU(LN(x) diag(g) W1 + b1) W2 + b2")
    assert decl == {"x": (1, "d"), "g": (1, "d"), "W1": ("d", "m"), "b1": (1, "m"), "W2": ("m", "d"),
                    "b2": (1, "d")}
    assert sizes == ("d", "m")
    assert term[0] == "add" and ("var", "x") in term[1:]


def test_the_parser_gives_the_registry_term_of_a_recipe():
    """The same block typed by hand and built by the catalogue's constructors is one term."""
    r = RECIPES["migrate-scale-relu"]
    term, decl, _ = parse_block("ReLU(x W1 + b1) W2")
    built = canonical(r.instance.lhs)
    assert term == canonical(_rename(built, {"z": "x"}))


def _rename(t, names):
    if t[0] == "var":
        return ("var", names.get(t[1], t[1]))
    return (t[0],) + tuple(_rename(a, names) if isinstance(a, tuple) else a for a in t[1:])


@pytest.mark.parametrize("text, words", [
    ("LN(x) diag(g) W + (", "ends early"),
    ("x + * W", "unexpected '*'"),
    ("x W1 + b1) W2", "unexpected ')'"),
    ("x W + W", "inconsistent shapes"),
    ("W1 b1", "reads the token x"),
    ("", "formula of at most"),
    ("x " * 2000, "formula of at most"),
])
def test_bad_blocks_are_one_line_errors(text, words):
    with pytest.raises(BlockError) as e:
        parse_block(text)
    assert words in str(e.value) and "\n" not in str(e.value)
