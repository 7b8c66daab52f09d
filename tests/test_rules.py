"""Soundness of the trusted rewrite rules (:data:`invariance.core.rules.RULES`), one rule at a time.

For every rule: random terms where it applies (a redex of the rule inside a random context),
every application ``applications`` gives, both sides evaluated exactly (``terms.Exact``, random
rational values, orthogonal matrices from ``derive.rewrite.orthogonal_matrix``) at several
concrete sizes, with the rule's conditions satisfied: they must agree (exactly, or enclosures
that overlap where a square root or tanh makes a ball).  For every condition a rule uses, values
that violate it (and only it) must make the two sides certainly differ (or the left side
undefined): the condition is needed.  The harness itself is tested: deliberately wrong rules,
inserted here, must be caught by the same function that passes the real ones.
"""
from __future__ import annotations

import random
from fractions import Fraction

import pytest

from invariance.core import rules as R
from invariance.core.rules import EPS as R_EPS, RULES, Context, Rule, applications, closure
from invariance.core.terms import (Exact, NotExact, T, add, canonical, diag, differ, dot, evaluate, neg,
                                   shape, var)
from invariance.derive.rewrite import orthogonal_matrix

# --- the universe of the harness ---------------------------------------------------------------------
DECL = {"u": (1, "d"), "v": (1, "d"), "w": (1, "d"), "s": (1, "d"), "A": ("d", "d"), "P": ("d", "d"),
        "Q": ("d", "d"), "B": ("d", "k"), "c": (1, "k"), "a": (1, 1),
        "B'": ("d", "k"), "v'": (1, "d")}
DEFINITIONS = {"B'": dot(T(var("Q")), var("B")), "v'": dot(var("v"), diag(var("s")))}
CTX = Context(DECL, DEFINITIONS)
SIZES = [{"d": d, "k": k} for d, k in ((1, 1), (2, 3), (3, 2), (4, 2), (5, 1))]
u, v, w, s, A, P, Q, B, c, a = (var(n) for n in ("u", "v", "w", "s", "A", "P", "Q", "B", "c", "a"))
ONES, C, SCALAR = ("ones", "d"), ("C", "d"), diag(dot(var("a"), ("ones", "d")))   # diag(a 1): a times I
EPS = Fraction(1, 3)     # a rule that holds for every eps of the normalizers: one positive eps suffices
EPS_ZERO = R_EPS          # a rule stated at eps = 0 (RMS(u a) = RMS(u)) is checked at eps = 0, and broken at EPS


def eps_of(conds, broken=None) -> Fraction:
    return Fraction(0) if EPS_ZERO in conds and broken != EPS_ZERO else EPS


def row(rng: random.Random, depth: int = 2):
    """A random 1 x d term (no recip: it needs a condition of its own)."""
    if depth == 0 or rng.random() < 0.3:
        return rng.choice([u, v, w])
    k = rng.randrange(7)
    a = row(rng, depth - 1)
    return [lambda: dot(a, rng.choice([A, P, T(A)])), lambda: add(a, row(rng, depth - 1)),
            lambda: neg(a), lambda: ("rms", a), lambda: ("relu", a), lambda: dot(a, diag(w)),
            lambda: dot(a, Q)][k]()


def square(rng: random.Random):
    return rng.choice([A, P, T(A), dot(A, P), add(A, P)])


def context(rng: random.Random, redex):
    """The redex (1 x d) somewhere inside a random term."""
    k = rng.randrange(6)
    return [lambda: redex, lambda: dot(redex, B), lambda: add(redex, row(rng, 1)),
            lambda: ("rms", add(redex, row(rng, 1))), lambda: dot(("relu", redex), A),
            lambda: add(dot(redex, B), c)][k]()


def context_square(rng: random.Random, redex):
    """A d x d redex somewhere inside a random term."""
    return context(rng, dot(row(rng, 1), redex))


def _not_a_sum(t):
    """A term that stays one summand in canonical form (a sum would be flattened into the outer one)."""
    return ("rms", t) if t[0] == "add" else t


def _one_factor(t):
    """A term that stays one factor in canonical form."""
    return ("rms", t) if t[0] in ("add", "dot") else t


#: A redex of each rule (in a random context): what the harness applies the rule to.
TEMPLATES = {
    "definition": lambda g: context(g, dot(row(g, 1), var("B'"), T(B))) if g.random() < .5
    else context(g, add(var("v'"), row(g, 1))),
    "layer-norm": lambda g: context(g, ("ln", row(g))),
    "transpose": lambda g: context_square(g, g.choice([T(dot(A, P)), T(add(A, P)), T(T(A)), T(diag(row(g, 1))),
                                                       T(("I", "d")), T(("C", "d")), T(dot(Q, A, P))])),
    "sign": lambda g: g.choice([context(g, neg(neg(row(g, 1)))), context(g, neg(add(row(g, 1), row(g, 1)))),
                                context_square(g, T(neg(A))), context(g, dot(neg(row(g, 1)), A))]),
    "distribute": lambda g: g.choice([context(g, dot(row(g, 1), add(A, square(g)))),
                                      context(g, dot(add(row(g, 1), row(g, 1)), A, P))]),
    "zero": lambda g: g.choice([context(g, dot(row(g, 1), ("zero", "d", "d"))),
                                context(g, add(row(g, 1), ("zero", 1, "d"))),
                                context(g, add(neg(("zero", 1, "d")), row(g, 1))),
                                context(g, add(("zero", 1, "d"), ("zero", 1, "d")))]),
    "cancel": lambda g: (lambda r: g.choice([context(g, add(r, neg(r), row(g, 1))),
                                             context(g, dot(add(neg(r), r), A))]))(_not_a_sum(row(g, 1))),
    "diagonal": lambda g: context_square(g, dot(diag(dot(_one_factor(row(g, 1)), diag(row(g, 1)))), A)),
    "orthogonal": lambda g: context(g, g.choice([dot(row(g, 1), Q, T(Q)), dot(row(g, 1), T(Q), Q),
                                                 dot(row(g, 1), T(Q), T(T(Q))), dot(row(g, 1), Q, T(Q), A)])),
    "reciprocal": lambda g: context(g, g.choice([dot(row(g, 1), diag(("recip", s)), diag(s)),
                                                 dot(row(g, 1), diag(s), diag(("recip", s)), A)])),
    "identity": lambda g: context(g, g.choice([dot(row(g, 1), ("I", "d")), dot(row(g, 1), ("I", "d"), A)])),
    "centring-idempotent": lambda g: context(g, dot(row(g, 1), ("C", "d"), ("C", "d"))),
    "centring-rotation": lambda g: context(g, g.choice([dot(row(g, 1), Q, ("C", "d")),
                                                        dot(row(g, 1), T(Q), ("C", "d"), A)])),
    "rms-rotation": lambda g: context(g, g.choice([("rms", dot(row(g, 1), Q)), ("rms", dot(row(g, 1), T(Q))),
                                                   ("rms", add(dot(row(g, 1), Q), dot(row(g, 1), Q)))])),
    "relu-scaling": lambda g: context(g, g.choice([("relu", dot(row(g, 1), diag(s))),
                                                   ("relu", add(dot(row(g, 1), diag(s)), dot(row(g, 1), diag(s))))])),
    "ones-centred": lambda g: context(g, g.choice([dot(ONES, C, g.choice([A, P])),
                                                   add(row(g, 1), dot(ONES, C, A))])),
    "centred-rms-ones": lambda g: context(g, dot(("rms", dot(row(g, 1), C)), T(ONES), g.choice([u, v]))),
    "scalar": lambda g: context(g, dot(row(g, 1), SCALAR, g.choice([A, P, Q]))),
    "rms-scale": lambda g: context(g, g.choice([("rms", dot(row(g, 1), SCALAR)),
                                                ("rms", add(dot(row(g, 1), SCALAR), dot(row(g, 1), SCALAR)))])),
}


# --- values -------------------------------------------------------------------------------------------
def _q(rng, positive=False, nonzero=False):
    v = Fraction(rng.randint(0 if not (positive or nonzero) else 1, 9), rng.randint(1, 5))
    return v if positive or rng.random() < .5 else -v


def values(rng: random.Random, sizes: dict, conds, broken=None) -> dict:
    """Random rationals for every unprimed variable of DECL, satisfying ``conds`` (closed); the
    condition ``broken`` (kind, name), if given, is violated on purpose, every other one kept."""
    env = {}
    for name, (r, col) in DECL.items():
        if name in DEFINITIONS:
            continue
        rows, cols = (1 if x == 1 else sizes[x] for x in (r, col))
        want = {k for k, n in conds if n == name}
        if broken and broken[1] == name:
            want.discard(broken[0])
            if broken[0] == "positive":
                want.discard("nonzero")   # positive is broken by a negative entry, not a zero
        if "orthogonal" in want or (broken and broken[1] == name and broken[0] == "fixes-ones"):
            m = orthogonal_matrix(rows, rng, "fixes-ones" in want)
            if broken and broken == ("fixes-ones", name):
                if all(sum(row) == 1 for row in m):    # it must not fix 1: a sign flip of a row
                    m = [[-x for x in m[0]]] + m[1:]
            env[name] = m
            continue
        env[name] = [[_q(rng, "positive" in want, "nonzero" in want) for _ in range(cols)] for _ in range(rows)]
        if broken == ("orthogonal", name):       # not orthogonal: twice an orthogonal one, or random
            env[name] = [[2 * x for x in row] for row in orthogonal_matrix(rows, rng, False)] \
                if rng.random() < .5 else env[name]
            if "fixes-ones" in want:               # keep Q 1^T = 1^T: the last column completes each row
                env[name] = [r[:-1] + [1 - sum(r[:-1])] for r in env[name]]
        if broken == ("positive", name):
            env[name][0][rng.randrange(cols)] = -Fraction(rng.randint(1, 9), rng.randint(1, 5))
        if broken == ("nonzero", name):
            env[name][0][rng.randrange(cols)] = Fraction(0)
    for name, term in DEFINITIONS.items():
        env[name] = evaluate(term, env, sizes, Exact, EPS)
    return env


def _conditions_hold(env, conds) -> bool:
    """The conditions about variables hold in ``env`` (eps = 0 is the harness's eps_of, not a value)."""
    for kind, name in conds:
        if (kind, name) == EPS_ZERO:
            continue
        a = env[name]
        n = len(a)
        if kind == "orthogonal" and any(sum(a[i][k] * a[j][k] for k in range(n)) != int(i == j)
                                        for i in range(n) for j in range(n)):
            return False
        if kind == "fixes-ones" and any(sum(r) != 1 for r in a):
            return False
        if kind == "positive" and any(q <= 0 for r in a for q in r):
            return False
        if kind == "nonzero" and any(q == 0 for r in a for q in r):
            return False
    return True


def compare(before, after, env, sizes, eps=EPS):
    """'equal' (every entry exact and equal, or enclosures overlap), 'differ' (some entry certainly
    differs), 'undefined' (the left side is not evaluated, a division by zero, and the right is),
    or 'skip' (an enclosure too wide to settle a ReLU, or both sides undefined)."""
    try:
        a = evaluate(before, env, sizes, Exact, eps)
    except (NotExact, ZeroDivisionError) as e:
        if "zero" not in str(e):
            return "skip"
        try:     # both sides undefined (RMS of a zero row at eps = 0): the equation says nothing there
            evaluate(after, env, sizes, Exact, eps)
        except (NotExact, ZeroDivisionError):
            return "skip"
        return "undefined"
    try:
        b = evaluate(after, env, sizes, Exact, eps)
    except (NotExact, ZeroDivisionError) as e:
        return "undefined" if "zero" in str(e) else "skip"
    assert (len(a), len(a[0])) == (len(b), len(b[0]))
    return "differ" if any(differ(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)) else "equal"


def unsound(rule: Rule, template, seed: int = 0, terms: int = 30) -> tuple[list, int]:
    """The harness: (the failures found, the number of applications checked) over random terms
    of ``template`` at every size of SIZES, with the conditions each application states satisfied."""
    rng, failures, checked = random.Random(seed), [], 0
    for _ in range(terms):
        term = canonical(template(rng))
        for sizes in SIZES:
            shape(term, DECL)
            for new, conds in applications(term, rule, CTX):
                assert shape(new, DECL) == shape(term, DECL), (rule.name, term, new)
                env = values(rng, sizes, closure(conds))
                assert _conditions_hold(env, closure(conds))
                verdict = compare(term, new, env, sizes, eps_of(closure(conds)))
                checked += verdict in ("equal", "differ", "undefined")
                if verdict in ("differ", "undefined"):
                    failures.append((term, new, sizes, verdict))
    return failures, checked


# --- 1. every rule is sound -------------------------------------------------------------------------
def test_every_rule_has_a_template():
    """A rule added to RULES without a template here fails: every trusted rule is tested."""
    assert set(TEMPLATES) == set(RULES)


@pytest.mark.parametrize("name", list(RULES))
def test_rule_is_sound(name):
    failures, checked = unsound(RULES[name], TEMPLATES[name])
    assert not failures, failures[:3]
    assert checked >= 60, f"{name}: only {checked} applications checked"


@pytest.mark.parametrize("name", list(RULES))
def test_template_is_a_redex_of_its_rule_only_where_stated(name):
    """Each template's terms are redexes of their rule (the rule applies at least once per term)."""
    rng = random.Random(1)
    for _ in range(20):
        term = canonical(TEMPLATES[name](rng))
        assert list(applications(term, RULES[name], CTX)), (name, term)


# --- 2. every condition is needed -------------------------------------------------------------------
def _conditional():
    out = []
    for name, rule in RULES.items():
        rng = random.Random(2)
        kinds = set()
        for _ in range(20):
            for _, conds in applications(canonical(TEMPLATES[name](rng)), rule, CTX):
                kinds |= set(conds)
        out += [(name, cond) for cond in sorted(kinds)]
    return out


CONDITIONAL = _conditional()


def test_the_conditional_rules():
    """The rules with conditions, and which: a rule that gains or loses a condition is noticed."""
    assert sorted(CONDITIONAL) == [("centring-rotation", ("fixes-ones", "Q")), ("centring-rotation", ("orthogonal", "Q")),
                                   ("orthogonal", ("orthogonal", "Q")), ("reciprocal", ("nonzero", "s")),
                                   ("relu-scaling", ("positive", "s")), ("rms-rotation", ("orthogonal", "Q")),
                                   ("rms-scale", ("eps-zero", "eps")), ("rms-scale", ("positive", "a"))]


@pytest.mark.parametrize("name,cond", CONDITIONAL)
def test_violating_a_condition_breaks_the_equation(name, cond):
    """With ``cond`` violated (every other condition kept), some application's two sides certainly
    differ, or the left side is undefined (1/0): the condition is needed, at every size with d >= 2."""
    rule, rng = RULES[name], random.Random(3)
    broken_at = set()
    for _ in range(40):
        term = canonical(TEMPLATES[name](rng))
        for sizes in SIZES[1:]:
            for new, conds in applications(term, rule, CTX):
                if cond not in conds:
                    continue
                env = values(rng, sizes, closure(conds), broken=cond)
                assert cond == EPS_ZERO or not _conditions_hold(env, [cond])   # eps is broken by eps_of
                assert _conditions_hold(env, closure(set(conds) - {cond}) - {("nonzero", "s")} if cond[0] == "positive"
                                        else closure(set(conds) - {cond}))
                if compare(term, new, env, sizes, eps_of(closure(conds), cond)) in ("differ", "undefined"):
                    broken_at.add(sizes["d"])
    assert broken_at == {s["d"] for s in SIZES[1:]}, broken_at


# --- 3. the harness catches wrong rules -------------------------------------------------------------
def _wrong(name, fn):
    return Rule(name, "deliberately wrong", fn)


def _tanh_scaling(t, ctx):
    """tanh(u diag(s)) = tanh(u) diag(s) for s > 0: false (tanh is not homogeneous)."""
    if t[0] != "tanh" or t[1][0] != "dot" or t[1][-1][0] != "diag":
        return []
    return [(("dot", ("tanh", R._dot(t[1][1:-1])), t[1][-1]), (("positive", t[1][-1][1][1]),))]


def _transpose_unreversed(t, ctx):
    """(A B)^T = A^T B^T: false for non-commuting A, B."""
    if t[0] == "T" and t[1][0] == "dot":
        return [(("dot",) + tuple(("T", b) for b in t[1][1:]), ())]
    return []


def _rotation_without_fixing_ones(t, ctx):
    """Q C = C Q for every orthogonal Q: false (Q must fix 1^T)."""
    def match(a, b):
        name = R._named(a, ctx)
        return ([b, a], (("orthogonal", name),)) if name and b[0] == "C" else None
    return R._pairs(t, match)


def _rms_any_matrix(t, ctx):
    """RMS(u A) = RMS(u) A for every square A: false (A must be orthogonal)."""
    if t[0] == "rms" and t[1][0] == "dot" and t[1][-1] in (("var", "A"), ("var", "P")):
        return [(("dot", ("rms", R._dot(t[1][1:-1])), t[1][-1]), ())]
    return []


def _centring_drops(t, ctx):
    """u C = u: false (it drops the mean)."""
    return [(R._dot(t[1:-1]), ())] if t[0] == "dot" and t[-1][0] == "C" and len(t) > 2 else []


def _sign_drop(t, ctx):
    """-(-(-u)) = u, written as: - -a = -a (an off-by-one sign): false."""
    return [(t[1], ())] if t[0] == "neg" and t[1][0] == "neg" else []


def _nearly_identity(t, ctx):
    """diag(1/s) diag(s) = I, claimed also for diag(1/s) diag(w): false (w is not s)."""
    def match(a, b):
        if a[0] == "diag" and a[1][0] == "recip" and b[0] == "diag" and b[1][0] == "var":
            return [("I", shape(a, ctx.decl)[0])], (("nonzero", b[1][1]),)
        return None
    return R._pairs(t, match)


WRONG = [
    (_wrong("tanh-scaling", _tanh_scaling),
     lambda g: context(g, ("tanh", dot(row(g, 1), diag(s))))),
    (_wrong("transpose-unreversed", _transpose_unreversed),
     lambda g: context_square(g, T(dot(A, P)))),
    (_wrong("centring-rotation-any", _rotation_without_fixing_ones),
     lambda g: context(g, dot(row(g, 1), Q, ("C", "d")))),
    (_wrong("rms-any-matrix", _rms_any_matrix),
     lambda g: context(g, ("rms", dot(row(g, 1), A)))),
    (_wrong("centring-drops", _centring_drops),
     lambda g: context(g, dot(row(g, 1), ("C", "d")))),
    (_wrong("sign-drop", _sign_drop),
     lambda g: context(g, neg(neg(row(g, 1))))),
    (_wrong("reciprocal-of-another", _nearly_identity),
     lambda g: context(g, dot(row(g, 1), diag(("recip", s)), diag(w)))),
]


@pytest.mark.parametrize("rule,template", WRONG, ids=[r.name for r, _ in WRONG])
def test_the_harness_catches_a_wrong_rule(rule, template):
    failures, checked = unsound(rule, template)
    assert checked >= 30
    assert failures, f"the harness passed the wrong rule {rule.name!r}"


def test_the_harness_catches_a_wrong_rule_inside_the_real_list(monkeypatch):
    """The same check, run over the list as the search and the kernel see it: a wrong rule slipped
    into RULES under a real rule's name (a transposition that forgets to reverse) is caught."""
    monkeypatch.setitem(R.RULES, "transpose", _wrong("transpose", _transpose_unreversed))
    failures, _ = unsound(R.RULES["transpose"], TEMPLATES["transpose"])
    assert failures
