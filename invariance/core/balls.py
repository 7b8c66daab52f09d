"""Ball arithmetic: enclosures of real numbers on the integer grid 2^-160, for the irrational
entries of a Jacobian (square roots, tanh).

A :class:`Ball` (M, R) stands for every real in [(M - R) / 2^K, (M + R) / 2^K].  Every operation
rounds its midpoint to the grid and adds the rounding to a radius rounded up, so the ball it
returns contains every result of the operation on members of its operands.  Integers only: no
floating point, and exact rationals never grow without end.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction

__all__ = ["Ball", "ball", "sqrt_ball", "exp_ball", "tanh_ball", "exact"]


class Ball:
    """A real number known to lie in [m - r, m + r]: the enclosure of an irrational square root,
    and of what is computed from it.  Midpoint and radius are integers on the grid 2^-K
    (``M / 2^K``, ``R / 2^K``); every operation rounds its midpoint to the grid and adds the
    rounding to a radius rounded up, so the ball it returns contains every result of the
    operation on members of its operands (ball arithmetic, in integers)."""

    __slots__ = ("M", "R")
    K = 160

    def __init__(self, M: int, R: int = 0):
        self.M, self.R = M, R

    @classmethod
    def of(cls, x) -> "Ball":
        """A rational (or a ball) as a ball: exact when the grid holds it, else one unit wide."""
        if isinstance(x, Ball):
            return x
        return _on_grid(x if isinstance(x, Fraction) else Fraction(x))

    @property
    def m(self) -> Fraction:
        return Fraction(self.M, 1 << self.K)

    @property
    def r(self) -> Fraction:
        return Fraction(self.R, 1 << self.K)

    def __add__(self, o):
        o = Ball.of(o)
        return Ball(self.M + o.M, self.R + o.R)

    __radd__ = __add__

    def __neg__(self):
        return Ball(-self.M, self.R)

    def __sub__(self, o):
        return self + (-Ball.of(o))

    def __rsub__(self, o):
        return Ball.of(o) - self

    def __mul__(self, o):
        o, K = Ball.of(o), self.K
        M = (self.M * o.M) >> K                     # floor: off by less than one unit
        R = ((abs(self.M) * o.R + abs(o.M) * self.R + self.R * o.R) >> K) + 2
        return Ball(M, R)

    __rmul__ = __mul__

    def inverse(self) -> "Ball":
        a = abs(self.M)
        if a <= self.R:
            raise ZeroDivisionError("a divisor's enclosure contains zero")
        K2 = 1 << (2 * self.K)
        M = K2 // self.M                              # 1/m on the grid, off by less than one unit
        R = -(-(self.R * K2) // (a * (a - self.R))) + 2
        return Ball(M, R)

    def __pow__(self, k: int):
        base, k = (self, k) if k >= 0 else (self.inverse(), -k)
        out = Ball(1 << self.K)
        for _ in range(k):
            out = out * base
        return out

    def __eq__(self, o):   # "certainly equal" only for exact balls
        o = Ball.of(o)
        return self.R == 0 and o.R == 0 and self.M == o.M

    __hash__ = None


@functools.lru_cache(maxsize=4096)
def _on_grid(x: Fraction) -> Ball:
    """A rational as a ball on the grid (the same few rationals recur in every product: cached)."""
    M, rem = divmod(x.numerator << Ball.K, x.denominator)
    return Ball(M, 0 if rem == 0 else 1)


def ball(x) -> Ball:
    return Ball.of(x)


def sqrt_ball(v) -> Ball:
    """An enclosure of sqrt(v) for v > 0 (a rational or a ball), from integer square roots."""
    v, K = Ball.of(v), Ball.K
    lo, hi = v.M - v.R, v.M + v.R
    if lo <= 0:
        raise ZeroDivisionError("a square root's radicand is not certainly positive")
    low, high = math.isqrt(lo << K), math.isqrt(hi << K) + 1   # sqrt(x / 2^K) * 2^K = sqrt(x 2^K)
    return Ball((low + high) // 2, (high - low) // 2 + 1)


def exp_ball(y: Fraction) -> Ball:
    """An enclosure of e^y for a rational y: e^y = (e^z)^(2^k) with |z| = |y| / 2^k <= 1/2, and
    e^z by 24 terms of its series, whose remainder is below |z|^24 / 24! * e^(1/2) < 2 |z|^24 / 24!."""
    k = 0
    while abs(y) > Fraction(1, 2) * 2 ** k:
        k += 1
    z = y / 2 ** k
    term, total = Fraction(1), Fraction(1)
    for n in range(1, 24):
        term = term * z / n
        total += term
    rest = 2 * abs(z) ** 24 / math.factorial(24)
    out = Ball.of(total)
    out = Ball(out.M, out.R + int(rest * (1 << Ball.K)) + 2)
    for _ in range(k):
        out = out * out
    return out


def tanh_ball(v) -> Ball:
    """An enclosure of tanh(v): tanh is increasing, so tanh over [lo, hi] lies between the
    enclosures of tanh(lo) and tanh(hi), each (e^(2x) - 1) / (e^(2x) + 1)."""
    v = Ball.of(v)
    ends = []
    for x in (Fraction(v.M - v.R, 1 << Ball.K), Fraction(v.M + v.R, 1 << Ball.K)):
        # tanh(x) = (1 - e^(-2|x|)) / (1 + e^(-2|x|)) with the sign of x: e^(-2|x|) is in (0, 1], so
        # no integer grows (e^(2x) of a 40-digit x from a file would be squared into an integer
        # of astronomically many bits, and past x = 56 its inverse falls below the grid)
        e = exp_ball(-2 * abs(x))
        t = (1 - e) * (1 + e).inverse()
        ends.append(t if x >= 0 else -t)
    lo, hi = ends[0].M - ends[0].R, ends[1].M + ends[1].R
    return Ball((lo + hi) // 2, (hi - lo) // 2 + 1)


def exact(v) -> bool:
    return not isinstance(v, Ball) or v.R == 0
