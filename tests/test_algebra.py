"""The step checker is sound: equations that are false never 'hold'.

Each false equation is also evaluated at a concrete point, to show that it
is false there (so the test is not merely about names).
"""
from __future__ import annotations

import sympy as sp

from invariance.core.algebra import Rule, evaluate, holds, sum_normal_form, unfold

k, j, K = sp.symbols("k j K", integer=True)
x, y, s = sp.IndexedBase("x"), sp.IndexedBase("y"), sp.IndexedBase("s")
AT = {x: [1, 10, 100], y: [2, 3, 5]}


def test_nested_limits_are_read_outermost_last():
    """sum_{j=1}^{2} sum_{k=1}^{j} x_k = 2 x_1 + x_2, not 2 sum_{k=1}^{j} x_k."""
    nested = sp.Sum(sp.Sum(x[k], (k, 1, j)), (j, 1, 2))
    claim = 2 * sp.Sum(x[k], (k, 1, j))
    assert not holds(nested, claim)
    assert evaluate(nested, AT) == 12 != evaluate(claim, AT, {j: 2})


def test_a_rule_does_not_capture_the_index_it_is_used_at():
    """s_j := sum_k x_k y_j, so sum_k s_k = (sum_k x_k)(sum_k y_k), not K sum_k x_k y_k."""
    rule = Rule(s[j], sp.Sum(x[k] * y[j], (k, 1, K)))
    lhs, claim = sp.Sum(s[k], (k, 1, K)), K * sp.Sum(x[k] * y[k], (k, 1, K))
    assert not holds(lhs, claim, [rule])
    assert evaluate(unfold(lhs, [rule]), AT, {K: 3}) == 111 * 10 != evaluate(claim, AT, {K: 3})


def test_a_sum_of_one_term_does_not_capture_its_bound():
    one_term = sp.Sum(x[k] * sp.Sum(y[j] * x[k], (j, 1, K)), (k, j, j))
    claim = x[j] * sp.Sum(x[j] * y[j], (j, 1, K))
    assert not holds(one_term, claim)
    assert evaluate(one_term, AT, {j: 2, K: 3}) == 100 * 10 != evaluate(claim, AT, {j: 2, K: 3})


def test_linearity_of_the_sum():
    c = sp.Symbol("c")
    assert sum_normal_form(sp.Sum(c * x[k] + y[k] + 1, (k, 1, K)) - c * sp.Sum(x[k], (k, 1, K))
                           - sp.Sum(y[k], (k, 1, K)) - K) == 0


def test_a_rule_with_the_wrong_number_of_indices_is_an_error():
    import pytest
    with pytest.raises(ValueError, match="takes 1 indices"):
        Rule(s[j], x[j]).apply((j, k))
