"""Command line: a thin layer over the library.  ``python -m invariance --help``.

Exit status: 0 when all is well; 1 when a verdict is unknown, a numeric check
disagrees or a certificate fails; 2 for bad input, reported as one line on
stderr that says what was wrong and what is valid.  This module parses the
arguments (option values are checked where they are parsed, with
:func:`_whole` and :func:`_one_of`) and calls one function of
:mod:`invariance.report.commands` per command, with the options as keyword
arguments; a command reports bad input by raising :class:`BadInput` (or lets
the library's ``UnknownId`` or ``InvalidNormalizer`` through).
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

from .catalogue.blocks import BLOCKS
from .catalogue.registry import NORMALIZERS, TRANSFORMATIONS, UnknownId, did_you_mean
from .core.definition import InvalidNormalizer
from .report import commands
from .report.commands import EXIT_OK, EXIT_USAGE, BadInput
from .report.table import FORMATS

PROG = "python -m invariance"
CHECK_FORMATS = ("text", "json")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, then exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: {_suggest_choice(message)} (see --help)\n")


def _suggest_choice(message: str) -> str:
    """argparse's "invalid choice" (a misspelled command), with the close match named."""
    m = re.search(r"argument (\S+): invalid choice: '?([^' ]*)'? \(choose from (.*)\)$", message)
    if not m:
        return message
    valid = [c.strip(" '") for c in m.group(3).split(",")]
    what = "command" if m.group(1) == "COMMAND" else f"value for {m.group(1)}"
    return f"unknown {what} {m.group(2)!r}{did_you_mean(m.group(2), valid)}; valid: {', '.join(valid)}"


# --- option values, checked where they are parsed ----------------------------------------------
def _whole(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value
    return parse


def _one_of(choices, what: str):
    """An argparse type: one of ``choices``, in any case."""
    def parse(text: str) -> str:
        if text.lower() in choices:
            return text.lower()
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}{did_you_mean(text, choices)}; "
                                         f"valid: {', '.join(choices)}")
    return parse


# --- --load ------------------------------------------------------------------------------------
def _load_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--load", action="append", default=[], metavar="FILE", type=Path,
                   help="a Python file that registers your own normalizer with invariance.register "
                        "(repeatable); see the README and examples/dynamic_tanh.py")


def _preload(argv: list[str]) -> None:
    """Run --load files before the parser is built, so their ids appear in --help and errors."""
    files = [Path(argv[k + 1]) for k, a in enumerate(argv[:-1]) if a == "--load"]
    files += [Path(a.split("=", 1)[1]) for a in argv if a.startswith("--load=")]
    commands.load_plugins(files)


# --- the numeric cross-check's options ---------------------------------------------------------
def _numeric_options(p: argparse.ArgumentParser) -> None:
    from .numeric.crosscheck import cross_check
    default = inspect.signature(cross_check).parameters
    p.add_argument("--numeric", action="store_true",
                   help="cross-check with the NumPy layers (random instances, and each exact "
                        "counterexample replayed in float64); exit 1 on any disagreement")
    p.add_argument("--instances", type=_whole(1), metavar="K",
                   help=f"random instances per cell, exactly (default {default['instances'].default}; "
                        "needs --numeric)")
    p.add_argument("--seed", type=_whole(0), metavar="S",
                   help=f"seed of the random instances (default {default['seed'].default}; needs --numeric)")
    from .numeric.crosscheck import BACKENDS, DTYPES
    p.add_argument("--backend", metavar="NAME", help=f"layers of the numeric cross-check: {' or '.join(BACKENDS)} "
                                                     "(default numpy; torch needs the [torch] extra)")
    p.add_argument("--dtype", metavar="DTYPE", help=f"{' or '.join(DTYPES)} (default float64)")
    p.add_argument("--eps", metavar="EPS",
                   help="epsilon of the numeric layers: 0, default (PyTorch's, per layer) or a number (default 0)")
    p.add_argument("--device", metavar="DEV", help="cpu or cuda (torch backend; default cpu)")


# --- the parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    norms, trans = ", ".join(NORMALIZERS), ", ".join(TRANSFORMATIONS)
    p = _Parser(prog=PROG, description=(
        "Derive, with SymPy, which re-scalings and re-centerings of the weights and the data "
        "leave a normalization layer's output unchanged (Ba, Kiros, Hinton 2016, Table 1), "
        "with a proof or an exact counterexample for every cell."),
        epilog="Exit status: 0 all well; 1 a verdict unknown, a numeric disagreement or a failed "
               "certificate; 2 bad input.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    t = sub.add_parser("table", help="print the invariance table (the paper's Table 1 by default)",
                       description="Print the invariance table, every cell derived afresh. In a terminal "
                                   "the markdown fits its width; piped, it keeps the paper's layout.")
    t.add_argument("--format", dest="fmt", default="markdown", metavar="FMT", type=_one_of(FORMATS, "format"),
                   help=f"one of {', '.join(FORMATS)} (default markdown); --numeric and --caveats "
                        "need markdown or json")
    rows = t.add_mutually_exclusive_group()
    rows.add_argument("--all", dest="everything", action="store_true", help="every registered normalizer")
    rows.add_argument("--normalizers", metavar="IDS", help=f"comma-separated rows, from: {norms}")
    _numeric_options(t)
    t.add_argument("--caveats", action="store_true",
                   help="for each invariant cell: negative scale, eps > 0, degenerate sigma = 0")
    t.add_argument("--linear-bias", action="store_true",
                   help="the dense rows with a bias in the linear map, a = W x + c (nn.Linear's default), "
                        "derived afresh")
    _load_option(t)

    c = sub.add_parser("check", help="one cell: verdict, conditions, proof or counterexample",
                       description=f"Normalizers: {norms}. Transformations: {trans}.")
    c.add_argument("normalizer", metavar="NORMALIZER")
    c.add_argument("transformation", metavar="TRANSFORMATION")
    c.add_argument("--format", dest="fmt", default="text", metavar="FMT", type=_one_of(CHECK_FORMATS, "format"),
                   help=f"one of {', '.join(CHECK_FORMATS)} (default text)")
    _numeric_options(c)
    _load_option(c)

    pr = sub.add_parser("proofs", help="write one certificate per cell (JSON + Markdown)",
                        description="Write proofs/<normalizer>__<transformation>.{json,md} for every "
                                    "built-in normalizer and transformation.")
    pr.add_argument("--out", default="proofs", type=Path, metavar="DIR",
                    help="directory, created if missing (default proofs)")

    v = sub.add_parser("verify", help="re-check certificates from the files alone",
                       description="Re-check every step and counterexample of the certificates; "
                                   "exit 1 if any does not hold.")
    v.add_argument("path", nargs="?", default="proofs", type=Path, metavar="PATH",
                   help="a certificate or a directory of them (default proofs)")
    _load_option(v)

    k = sub.add_parser("consequences", help="what invariance implies for training (gradient constraints, "
                       "conserved quantities, exact SGD laws), proved per cell",
                       description=f"Normalizers: {norms}. Transformations: {trans}. Without a cell: the "
                                   "paper's rows, or every normalizer with --all.")
    k.add_argument("normalizer", nargs="?", metavar="NORMALIZER")
    k.add_argument("transformation", nargs="?", metavar="TRANSFORMATION")
    k.add_argument("--all", dest="everything", action="store_true", help="every registered normalizer")
    k.add_argument("--numeric", action="store_true", help="measure each consequence through the NumPy layers")
    k.add_argument("--format", dest="fmt", default="text", metavar="FMT", help="text, json, markdown or latex (default text)")

    sy = sub.add_parser("symmetries", help="every direction that leaves a layer's output unchanged: proved, "
                        "with its dimension, and shown complete",
                        description="For a layer: the directions in its parameters (W, g, b, c and its own "
                                    "trainable scalars) that leave h unchanged for every input, and in its data X "
                                    "for every parameter value; each family proved for every size, the dimension "
                                    "as a formula in the sizes, and completeness certified by the rank of the "
                                    "Jacobian at three sets of sizes (exact arithmetic, no floating point). "
                                    f"Normalizers: {norms}. Blocks (a per-token composition, its families "
                                    f"proved by rewriting): {', '.join(BLOCKS)}.",
                        epilog="Exit status: 0 every layer shown complete (and, with --numeric, measured alike); "
                               "1 a layer not shown complete, a direction found but not proved, or a numeric "
                               "disagreement; 2 bad input.")
    sy.add_argument("normalizer", nargs="?", metavar="NORMALIZER")
    sy.add_argument("--all", dest="everything", action="store_true", help="every registered normalizer")
    sy.add_argument("--blocks", action="store_true", help="every registered block (not with --all; a BLOCK id "
                    "may also be given in place of NORMALIZER)")
    sy.add_argument("--block", dest="formula", metavar="'FORMULA'",
                    help="your own block in the paper's notation over the token x, e.g. "
                         "\"x + ReLU(RMS(x) diag(g) W1 + b1) W2\" (as rewrite --claim: juxtaposition is the "
                         "product, ^T the transpose; LN, RMS, ReLU, tanh, GELU, diag; shapes inferred); its "
                         "families are read off its shapes")
    sy.add_argument("--linear-bias", action="store_true",
                    help="also the dense layers with a bias in the linear map, a = W x + c")
    sy.add_argument("--kind", default="both", metavar="KIND", type=_one_of(("both", "parameter", "data"), "kind"),
                    help="parameter, data or both (default both)")
    sy.add_argument("--format", dest="fmt", default="text", metavar="FMT",
                    type=_one_of(commands.SYMMETRY_FORMATS, "format"),
                    help=f"one of {', '.join(commands.SYMMETRY_FORMATS)} (default text); json is the "
                         "certificate that verify re-checks")
    sy.add_argument("--jobs", type=_whole(1), metavar="J", help="processes (default: one per core)")
    sy.add_argument("--numeric", action="store_true", help="measure the dimension on the numeric layers "
                    "(float64 Jacobian null space at each certified set of sizes); exit 1 if it disagrees")
    from .numeric.symmetry_measure import BACKENDS as MEASURED_ON
    sy.add_argument("--backend", metavar="NAME", type=_one_of(MEASURED_ON, "backend"),
                    help="numpy or torch (default numpy; torch needs the [torch] extra; needs --numeric)")
    _load_option(sy)
    from .catalogue.rewrites import RECIPES
    rw = sub.add_parser("rewrite", help="a rewrite people apply to blocks (fold, absorb, rotate, migrate): "
                        "proved for every size, or refuted with an exact counterexample",
                        description="Prove that the rewritten block or model computes the same function as "
                                    "the original, for every size, as chains of equalities whose every step is "
                                    "one rule (each with its reason and conditions); or refute it with exact "
                                    "rational values (Hadamard or Cayley orthogonal matrices) at which the "
                                    "outputs certainly differ, and show what repairs it. Recipes: "
                                    + "; ".join(f"{r.id} ({r.title})" for r in RECIPES.values()) + ".",
                        epilog="Exit status: 0 every verdict proved or refuted (and, with --numeric, measured "
                               "alike); 1 a verdict unknown, a numeric disagreement or a certificate that does "
                               "not verify; 2 bad input.")
    rw.add_argument("recipe", nargs="?", metavar="RECIPE", help="a recipe's id (listed above)")
    rw.add_argument("--all", dest="everything", action="store_true", help="every recipe")
    rw.add_argument("--format", dest="fmt", default="text", metavar="FMT",
                    type=_one_of(commands.REWRITE_FORMATS, "format"),
                    help=f"one of {', '.join(commands.REWRITE_FORMATS)} (default text); json is the "
                         "certificate that verify re-checks")
    rw.add_argument("--claim", metavar="'ORIGINAL = REWRITTEN'",
                    help="your own rewrite, in the paper's notation over the token x, e.g. "
                         "\"RMS(x Q) Q^T W = RMS(x) W\": juxtaposition is the product, ^T the transpose, 1/s "
                         "entrywise; functions LN, RMS, ReLU, tanh, GELU, diag; C = I - 1^T 1/d; shapes inferred")
    rw.add_argument("--define", action="append", default=[], metavar="\"W' = FORMULA\"",
                    help="a rewritten parameter of --claim, from the original ones (repeatable)")
    rw.add_argument("--assume", action="append", default=[], metavar="'NAME PROPERTY'",
                    help="what --claim assumes: NAME orthogonal, NAME fixes ones, NAME positive, NAME nonzero "
                         "(repeatable)")
    rw.add_argument("--numeric", action="store_true",
                    help="build the original and the rewritten model in float64 and compare their outputs; "
                         "replay the counterexample; exit 1 on a disagreement with the verdict")
    rw.add_argument("--backend", metavar="NAME", type=_one_of(("numpy", "torch"), "backend"),
                    help="numpy or torch (default numpy; torch needs the [torch] extra; needs --numeric)")
    d = sub.add_parser("docs", help="write the LaTeX document (and with --pdf compile it)")
    d.add_argument("--out", default="docs", type=Path, metavar="DIR",
                   help="directory, created if missing (default docs)")
    d.add_argument("--pdf", action="store_true", help="compile DIR/invariance.pdf with latexmk or pdflatex")

    pb = sub.add_parser("probe", help="your own layer's row, numerically (torch.nn.Module or NumPy function)",
                        description="MODULE:FACTORY, where FACTORY() returns a torch.nn.Module taking X or a "
                                    "pair (fn, W) with fn(X, W) a NumPy function; see the README.")
    pb.add_argument("spec", metavar="MODULE:FACTORY")
    pb.add_argument("--against", metavar="NORMALIZER", help=f"compare with a registered row, from: {norms}")
    pb.add_argument("--weight", metavar="NAME", help="the parameter to probe as W, by its dotted name (default: "
                    "the first matrix whose columns take the input; the candidates are listed)")
    pb.add_argument("--mode", type=_one_of(("train", "eval"), "mode"), metavar="MODE",
                    help="run the module in train or eval mode (default: the mode it was given)")
    pb.add_argument("--output", metavar="INDEX|KEY", help="the entry of a tuple or dict output to probe")
    pb.add_argument("--instances", type=_whole(1), default=200, metavar="K",
                    help="random instances per column (default 200)")
    pb.add_argument("--seed", type=_whole(0), default=0, metavar="S", help="seed (default 0)")
    pb.add_argument("--no-symmetries", dest="symmetries", action="store_false",
                    help="skip the null space of the module's Jacobian (its measured symmetries)")
    pb.add_argument("--input-directions", action="store_true",
                    help="count the directions of the input too, alone and with the parameters")
    _load_option(pb)
    return p


# --- one library function per command ---------------------------------------------------------
COMMANDS = {"table": commands.table_command, "check": commands.check_command, "proofs": commands.proofs_command,
            "verify": commands.verify_command, "consequences": commands.consequences_command,
            "symmetries": commands.symmetries_command, "rewrite": commands.rewrite_command,
            "docs": commands.docs_command,
            "probe": commands.probe_command}   # the parser's order
_PARSED_ONLY = ("command", "load")   # what the parser needs and the command does not (--load runs first)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = PROG + (f" {argv[0]}" if argv and argv[0] in COMMANDS else "")
    try:
        _preload(argv)
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](**{k: v for k, v in vars(args).items() if k not in _PARSED_ONLY})
    except (BadInput, UnknownId, InvalidNormalizer) as err:
        print(f"{prog}: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
