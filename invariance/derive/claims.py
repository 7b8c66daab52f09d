"""What other sources claim about the table, as data, each checked against a derivation.

A :class:`Claim` is one verdict that a source states (or plainly implies) for
one normalizer and one transformation, with the words it uses, verbatim.  A
sentence about several normalizers ("None of the methods are invariant to
re-centering") becomes one claim per normalizer it speaks about.
:func:`assess` derives the cell afresh with :func:`invariance.derive` and says
whether the claim agrees with it; nothing here types in what the right answer
is.

Two sources:

- the Layer Normalization paper itself (Ba, Kiros, Hinton 2016), section 5.1;
- study notes: a chat transcript in which an assistant explains the paper's
  Table 1 to a student (the team's seed file ``004_da2f7254783905da.txt``), not a
  published source.  Its quotes are verbatim, Markdown asterisks included, so
  that they can be found in the file.

A claim may also state its argument (:attr:`Claim.argument`); where the
argument is one the toolkit can check (the summed inputs stay constant), a
right conclusion reached by a wrong argument is told apart
(:func:`argument_holds`).  The paper's Table 1 itself is recorded too
(:data:`PAPER_TABLE_CLAIMS`), so that its prose can be compared with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.records import INVARIANT, NOT_INVARIANT, Cell

__all__ = ["Claim", "PAPER", "PAPER_TABLE", "TRANSCRIPT", "TRANSCRIPT_FILE", "PAPER_CLAIMS",
           "PAPER_TABLE_CLAIMS", "TRANSCRIPT_CLAIMS", "CLAIMS", "NOTES_FORMULA", "SUMMED_INPUTS_UNCHANGED",
           "assess", "argument_holds", "contradicting", "normalize_space", "quote_occurs"]

PAPER = "Ba, Kiros and Hinton (2016), Layer Normalization, arXiv:1607.06450, section 5.1"
TRANSCRIPT_FILE = "004_da2f7254783905da.txt"
PAPER_TABLE = "Ba, Kiros and Hinton (2016), Layer Normalization, arXiv:1607.06450, Table 1"
TRANSCRIPT = (f"study notes, a chat transcript explaining the paper's Table 1 (seed file {TRANSCRIPT_FILE}); "
              "not a published source")

#: An argument the toolkit checks: the transformation leaves the summed inputs a unchanged.
SUMMED_INPUTS_UNCHANGED = "the summed inputs stay constant"


@dataclass(frozen=True)
class Claim:
    """``source`` says, in the words ``quote``, that ``normalizer`` is (or is not)
    invariant to ``transformation``: ``claimed_verdict`` is INVARIANT or NOT_INVARIANT."""

    source: str
    quote: str
    normalizer: str
    transformation: str
    claimed_verdict: str
    argument: str = ""      # e.g. SUMMED_INPUTS_UNCHANGED, when the quote argues that way


def _each(source: str, quote: str, normalizers, transformation: str, verdict: str,
          argument: str = "") -> tuple[Claim, ...]:
    return tuple(Claim(source, quote, n, transformation, verdict, argument) for n in normalizers)


_TABLE1 = ("batch-norm", "weight-norm", "layer-norm")

#: Section 5.1 of the paper ("Data re-scaling and re-centering").  The first
#: sentence is about "all the normalization methods", i.e. the three rows of
#: its Table 1; the text is the same in three independent text extractions of
#: arXiv:1607.06450v1.
PAPER_CLAIMS: tuple[Claim, ...] = (
    *_each(PAPER, "We can show that all the normalization methods are invariant to re-scaling the dataset "
                  "by verifying that the summed inputs of neurons stays constant under the changes.",
           _TABLE1, "dataset-rescaling", INVARIANT, SUMMED_INPUTS_UNCHANGED),
    Claim(PAPER, "Furthermore, layer normalization is invariant to re-scaling of individual training cases, "
                 "because the normalization scalars \u00b5 and \u03c3 in Eq. (3) only depend on the current "
                 "input data.",
          "layer-norm", "single-case-rescaling", INVARIANT),
    Claim(PAPER, "Similar to the re-centering of the weight matrix in layer normalization, we can also show "
                 "that batch normalization is invariant to re-centering of the dataset.",
          "batch-norm", "dataset-recentering", INVARIANT),
)

#: The paper's Table 1, cell by cell, in its words ("Invariant" or "No").
_TABLE1_COLUMNS = ("weight-matrix-rescaling", "weight-matrix-recentering", "weight-vector-rescaling",
                   "dataset-rescaling", "dataset-recentering", "single-case-rescaling")
_TABLE1_ROWS = {"batch-norm": "Invariant No Invariant Invariant Invariant No",
                "weight-norm": "Invariant No Invariant No No No",
                "layer-norm": "Invariant Invariant No Invariant No Invariant"}
PAPER_TABLE_CLAIMS: tuple[Claim, ...] = tuple(
    Claim(PAPER_TABLE, word, n, t, INVARIANT if word == "Invariant" else NOT_INVARIANT)
    for n, row in _TABLE1_ROWS.items() for t, word in zip(_TABLE1_COLUMNS, row.split()))

#: The notes' formula for layer norm after weight-matrix re-centering (verbatim LaTeX), which
#: the errata correct: its numerator keeps a shift that cancels, its denominator adds a
#: variance that is not there.
NOTES_FORMULA = Claim(
    TRANSCRIPT, r"\text{LN}(x') = \gamma \frac{w^T x - \mu_x + c^T (x - 1)}{\sqrt{\sigma_x^2 + "
                r"(c^T (x - 1))^2}} + \beta",
    "layer-norm", "weight-matrix-recentering", NOT_INVARIANT)

#: The transcript's walk through the six columns of Table 1, then its
#: derivation for layer norm under weight-matrix re-centering.
TRANSCRIPT_CLAIMS: tuple[Claim, ...] = (
    # 1. Weight matrix re-scaling
    *_each(TRANSCRIPT, "**Batch norm, Weight norm, and Layer norm** are all invariant to this.",
           _TABLE1, "weight-matrix-rescaling", INVARIANT),
    # 2. Weight matrix re-centering
    *_each(TRANSCRIPT, "**None of the methods are invariant** to re-centering.",
           _TABLE1, "weight-matrix-recentering", NOT_INVARIANT),
    # 3. Weight vector re-scaling
    *_each(TRANSCRIPT, "**Batch norm and Weight norm** are invariant because they normalize based on the "
                       "magnitude of weights or features, removing the scale effect.",
           ("batch-norm", "weight-norm"), "weight-vector-rescaling", INVARIANT),
    # 4. Dataset re-scaling
    *_each(TRANSCRIPT, "**Batch norm and Layer norm** are invariant because they calculate statistics (mean "
                       "and standard deviation) across batches or features that inherently adjust for scale.",
           ("batch-norm", "layer-norm"), "dataset-rescaling", INVARIANT),
    # 5. Dataset re-centering
    *_each(TRANSCRIPT, "**Batch norm and Layer norm** are invariant because they normalize the data by "
                       "subtracting the mean, thus nullifying any uniform shift across the dataset.",
           ("batch-norm", "layer-norm"), "dataset-recentering", INVARIANT),
    # 6. Single training case re-scaling: "only" layer norm, so not the other two
    Claim(TRANSCRIPT, "**Only Layer norm is invariant** to this, because it normalizes data points "
                      "independently of each other, thus making the output for a single data point "
                      "independent of its scale.",
          "layer-norm", "single-case-rescaling", INVARIANT),
    *_each(TRANSCRIPT, "**Only Layer norm is invariant** to this",
           ("batch-norm", "weight-norm"), "single-case-rescaling", NOT_INVARIANT),
    # the worked examples for weight matrix re-scaling
    Claim(TRANSCRIPT, "The scaling factor \\( c \\) cancels out, showing that batch normalization is "
                      "invariant to weight matrix re-scaling.",
          "batch-norm", "weight-matrix-rescaling", INVARIANT),
    Claim(TRANSCRIPT, "Here, the factor \\( c \\) cancels out in the weight normalization formula, proving "
                      "that weight normalization is invariant to scaling of the weight matrix.",
          "weight-norm", "weight-matrix-rescaling", INVARIANT),
    # layer norm under weight matrix re-centering: first invariant, then not
    Claim(TRANSCRIPT, "It confirms that the normalization process remains robust and invariant to such "
                      "transformations, although the specific values of mean and variance adjust to reflect "
                      "the shift.",
          "layer-norm", "weight-matrix-recentering", INVARIANT),
    Claim(TRANSCRIPT, "**Therefore, while layer normalization adjusts for the shift, it is not strictly "
                      "invariant to weight matrix re-centering because the specific values of the normalized "
                      "output depend on the shift \\( c^T \\).**",
          "layer-norm", "weight-matrix-recentering", NOT_INVARIANT),
    Claim(TRANSCRIPT, "This means that layer normalization is robust to shifts but not fully invariant.",
          "layer-norm", "weight-matrix-recentering", NOT_INVARIANT),
)

CLAIMS: tuple[Claim, ...] = PAPER_CLAIMS + TRANSCRIPT_CLAIMS


def assess(claim: Claim, cells: dict | None = None) -> tuple[Cell, bool]:
    """The derived cell the claim speaks about, and whether the claim agrees with it.

    ``cells`` maps ``(normalizer, transformation)`` to cells already derived
    (e.g. the whole table), to avoid deriving them again.
    """
    cell = (cells or {}).get((claim.normalizer, claim.transformation))
    if cell is None:
        from .engine import derive
        cell = derive(claim.normalizer, claim.transformation)
    return cell, cell.verdict == claim.claimed_verdict


def argument_holds(claim: Claim) -> bool | None:
    """Whether the claim's argument is right (derived), or None if it states none the toolkit checks.

    ``SUMMED_INPUTS_UNCHANGED``: the transformation acts on the summed inputs as
    a' = alpha a + beta (derived); the argument holds only if alpha = 1 and beta = 0.
    """
    if claim.argument != SUMMED_INPUTS_UNCHANGED:
        return None
    from ..core.cells import affine_law, definitions
    from ..catalogue.registry import TRANSFORMATIONS, normalizer as _registered
    b = _registered(claim.normalizer).build()
    alpha, beta = affine_law(b, {e.name: e for e in definitions(b, TRANSFORMATIONS[claim.transformation])})
    return (alpha, beta) == (1, 0)


def contradicting(claims, others) -> list[tuple[Claim, Claim]]:
    """Pairs (claim, other) about the same cell with opposite verdicts: a source against itself."""
    return [(c, o) for c in claims for o in others
            if (c.normalizer, c.transformation) == (o.normalizer, o.transformation)
            and c.claimed_verdict != o.claimed_verdict]


def normalize_space(text: str) -> str:
    """Runs of whitespace become one space (line breaks in a quote do not matter)."""
    return re.sub(r"\s+", " ", text).strip()


def quote_occurs(claim: Claim, text: str) -> bool:
    """Whether the claim's quote occurs in ``text``, whitespace normalized."""
    return normalize_space(claim.quote) in normalize_space(text)
