"""Command line: a thin layer over the library.  ``python -m invariance --help``.

Exit status: 0 when all is well; 1 when a verdict is unknown, a numeric check
disagrees or a certificate fails; 2 for bad input, reported as one line on
stderr that says what was wrong and what is valid.  A handler reports bad
input by raising :class:`BadInput` (or lets the library's ``UnknownId`` or
``InvalidNormalizer`` through); option values are checked where they are
parsed, with :func:`_whole` and :func:`_one_of`.
"""
from __future__ import annotations

import argparse
import inspect
import json
import re
import runpy
import sys
from pathlib import Path

from . import NORMALIZERS, TABLE1, TRANSFORMATIONS, table, titles
from .core.definition import InvalidNormalizer
from .core.records import UNKNOWN
from .catalogue.registry import UnknownId, did_you_mean, normalizer, transformation
from .report.table import FORMATS, render_table

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
PROG = "python -m invariance"
CHECK_FORMATS = ("text", "json")


class BadInput(Exception):
    """Bad input: printed as one line on stderr (what was wrong, what is valid), exit status 2."""


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


def _ids(text: str) -> list[str]:
    """The rows named by ``--normalizers a,b``: at least one, each registered, none twice."""
    ids = [s.strip() for s in text.split(",") if s.strip()]
    if not ids:
        raise BadInput(f"--normalizers {text!r} names no normalizer; valid: {', '.join(NORMALIZERS)}")
    for i in ids:
        normalizer(i)
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise BadInput(f"--normalizers names {', '.join(twice)} more than once; name each row once")
    return ids


def _out_dir(path: Path) -> Path:
    """``path`` as a directory to write into, created if missing."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise BadInput(f"--out {path}: {blocker} is a file, not a directory; give a directory "
                       "(created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"--out {path}: cannot create the directory ({err.strerror or err}); "
                       "give a directory you can write to") from None
    return path


# --- --load ------------------------------------------------------------------------------------
def _load_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--load", action="append", default=[], metavar="FILE", type=Path,
                   help="a Python file that registers your own normalizer with invariance.register "
                        "(repeatable); see the README and examples/dynamic_tanh.py")


def _load(files) -> None:
    """Run each file; it must register at least one normalizer, and nothing in it may fail."""
    for f in files:
        if not f.is_file():
            raise BadInput(f"--load {f}: no such file; give a Python file that calls invariance.register")
        before = set(NORMALIZERS)
        try:
            runpy.run_path(str(f), run_name="invariance_plugin")
        except SyntaxError as err:
            raise BadInput(f"--load {f}: syntax error at line {err.lineno}: {err.msg}") from None
        except Exception as err:  # the user's file: one line that says where and what, no traceback
            kind = "" if isinstance(err, (InvalidNormalizer, UnknownId)) else f"{type(err).__name__}: "
            raise BadInput(f"--load {f}{_line_in(err, f)}: {kind}{err}") from None
        if set(NORMALIZERS) == before:
            raise BadInput(f"--load {f} registered no normalizer; call invariance.register(Normalizer(...)) "
                           "in it (see examples/dynamic_tanh.py)")


def _line_in(err: BaseException, file: Path) -> str:
    """`` line N``: the last line of ``file`` that the traceback of ``err`` passed through."""
    lines, tb = [], err.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == file.resolve():
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return f" line {lines[-1]}" if lines else ""


def _preload(argv: list[str]) -> None:
    """Run --load files before the parser is built, so their ids appear in --help and errors."""
    files = [Path(argv[k + 1]) for k, a in enumerate(argv[:-1]) if a == "--load"]
    files += [Path(a.split("=", 1)[1]) for a in argv if a.startswith("--load=")]
    _load(files)


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


_SETUP = ("backend", "dtype", "eps", "device")


def _numeric_settings(args) -> dict:
    """``cross_check``'s keyword arguments from the options; refuses them without ``--numeric``."""
    given = {k: getattr(args, k) for k in ("instances", "seed", *_SETUP) if getattr(args, k) is not None}
    if given and not args.numeric:
        raise BadInput(f"{' and '.join('--' + k for k in given)} {'is' if len(given) == 1 else 'are'} "
                       "for the numeric cross-check only; add --numeric")
    from .numeric.crosscheck import Setup
    try:
        setup = Setup(**{k: given.pop(k) for k in _SETUP if k in given})
    except ValueError as err:
        raise BadInput(str(err)) from None
    return given | {"setup": setup}


def _disagreement(cell, result) -> str | None:
    """The line that reports a numeric disagreement with ``cell``, if there is one."""
    if cell.verdict == UNKNOWN or result.agrees(cell):
        return None
    return f"DISAGREEMENT {cell.normalizer} x {cell.transformation}: {result.disagreement(cell)}"


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
    t.add_argument("--format", default="markdown", metavar="FMT", type=_one_of(FORMATS, "format"),
                   help=f"one of {', '.join(FORMATS)} (default markdown); --numeric and --caveats "
                        "need markdown or json")
    rows = t.add_mutually_exclusive_group()
    rows.add_argument("--all", action="store_true", help="every registered normalizer")
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
    c.add_argument("--format", default="text", metavar="FMT", type=_one_of(CHECK_FORMATS, "format"),
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
    k.add_argument("--all", action="store_true", help="every registered normalizer")
    k.add_argument("--numeric", action="store_true", help="measure each consequence through the NumPy layers")
    k.add_argument("--format", default="text", metavar="FMT", help="text, json, markdown or latex (default text)")

    d = sub.add_parser("docs", help="write the LaTeX document (and with --pdf compile it)")
    d.add_argument("--out", default="docs", type=Path, metavar="DIR",
                   help="directory, created if missing (default docs)")
    d.add_argument("--pdf", action="store_true", help="compile DIR/invariance.pdf with latexmk or pdflatex")

    pb = sub.add_parser("probe", help="your own layer's row, numerically (torch.nn.Module or NumPy function)",
                        description="MODULE:FACTORY, where FACTORY() returns a torch.nn.Module taking X or a "
                                    "pair (fn, W) with fn(X, W) a NumPy function; see the README.")
    pb.add_argument("spec", metavar="MODULE:FACTORY")
    pb.add_argument("--against", metavar="NORMALIZER", help=f"compare with a registered row, from: {norms}")
    pb.add_argument("--weight", metavar="NAME", help="the module's weight parameter (default: the first "
                                                     "nn.Linear or nn.Conv2d's)")
    pb.add_argument("--instances", type=_whole(1), default=200, metavar="K",
                    help="random instances per column (default 200)")
    pb.add_argument("--seed", type=_whole(0), default=0, metavar="S", help="seed (default 0)")
    return p


# --- the commands ------------------------------------------------------------------------------
def _table(args) -> int:
    if args.format not in ("markdown", "json"):
        extras = [o for o, on in (("--numeric", args.numeric), ("--caveats", args.caveats)) if on]
        if extras:
            raise BadInput(f"{' and '.join(extras)} cannot show in --format {args.format}, which holds "
                           "the verdicts only; use --format markdown or json")
    settings = _numeric_settings(args)
    if args.all:
        rows = list(NORMALIZERS)
    elif args.normalizers is not None:
        rows = _ids(args.normalizers)
    else:
        rows = list(TABLE1)
    if args.linear_bias:
        rows = _linear_bias_rows(rows, args.all)
    setup = settings.get("setup")
    if args.numeric:
        from .numeric.crosscheck import check_backend
        try:
            check_backend(setup, [NORMALIZERS[n] for n in rows])
        except ValueError as err:
            raise BadInput(str(err)) from None
    cells = table(rows)
    extra, notes, status = {}, [], EXIT_OK
    if any(c.verdict == UNKNOWN for c in cells):
        status = EXIT_FAIL
        notes += [f"unknown: {c.normalizer} x {c.transformation} (no proof and no counterexample found)"
                  for c in cells if c.verdict == UNKNOWN]
    if args.numeric:
        from .numeric.crosscheck import cross_check, margins, progress_bar
        from inspect import signature
        per_cell = settings.get("instances", signature(cross_check).parameters["instances"].default)
        results, bar = [], progress_bar(len(cells) * per_cell, f"numeric ({setup.backend}, {setup.dtype})")
        for cell in cells:
            r = cross_check(NORMALIZERS[cell.normalizer], TRANSFORMATIONS[cell.transformation], cell, **settings,
                            progress=bar.update if bar else None)
            results.append((cell, r))
            extra.setdefault((cell.normalizer, cell.transformation), {})["numeric"] = r.to_json()
            disagreement = _disagreement(cell, r)
            if disagreement:
                status = EXIT_FAIL
                notes.append(disagreement)
            elif args.format == "markdown":
                notes.append(f"numeric {cell.normalizer} x {cell.transformation}: {r.verdict}, "
                             f"max relative deviation {r.max_relative_deviation:.2e} over {r.instances} "
                             f"instances" + ("" if r.replay_differs is None else ", counterexample replayed")
                             + ("" if r.eps_bound_ratio is None else ", deviation/eps bound median "
                                f"{r.eps_bound_ratio[0]:.4g}, max {r.eps_bound_ratio[1]:.4g}"))
        if bar:
            bar.close()
        notes.append(margins(results))
        status = max(status, _values(rows, notes, args.format, setup))
    if args.caveats:
        from .derive.caveats import caveats
        for cell in cells:
            found = caveats(cell)
            if found:
                extra.setdefault((cell.normalizer, cell.transformation), {})["caveats"] = [k.to_json() for k in found]
                if args.format == "markdown":
                    notes += [f"caveat {cell.normalizer} x {cell.transformation}: {k.text()}" for k in found]
    short = {k: v.short for k, v in TRANSFORMATIONS.items()}
    print(render_table(cells, args.format, titles(), short, extra))
    if notes:
        stream = sys.stdout if args.format == "markdown" else sys.stderr
        print(("\n" if stream is sys.stdout else "") + "\n".join(notes), file=stream)
    return status


def _linear_bias_rows(rows, everything: bool) -> list[str]:
    from .core.model import DENSE
    from .catalogue.normalizers import with_linear_bias
    from .catalogue.registry import register
    if everything:
        rows = [n for n in rows if NORMALIZERS[n].model is DENSE]
    try:
        return [register(with_linear_bias(NORMALIZERS[n])).id for n in rows]
    except ValueError as err:
        raise BadInput(str(err)) from None


def _values(rows, notes: list, fmt: str, setup) -> int:
    """Each row's numeric op against its definition, exactly evaluated (invariance.values)."""
    from .numeric.values import compare_values
    status = EXIT_OK
    for n in rows:
        v = compare_values(NORMALIZERS[n], backend=setup.backend, device=setup.device)
        if not v.agrees:
            status = EXIT_FAIL
            notes.append(f"DISAGREEMENT {n} values: the numeric op differs from the definition by "
                         f"{v.max_deviation:.3g} ({v.max_tolerance_ratio:.3g} x tolerance) at {v.worst}")
        elif fmt == "markdown":
            notes.append(f"values {n} ({setup.backend}): numeric op = definition at {v.points} exact rational "
                         f"instances, max deviation {v.max_deviation:.2e} ({v.max_tolerance_ratio:.2f} x tolerance)")
    return status


def _probe(args) -> int:
    from .numeric.probe import load, probe
    if args.against is not None:
        normalizer(args.against)
    try:
        made = load(args.spec)
        layer, weight = made if isinstance(made, tuple) else (made, args.weight)
        result = probe(layer, weight, against=args.against, instances=args.instances, seed=args.seed)
    except ValueError as err:
        raise BadInput(str(err)) from None
    print(result.table())
    return EXIT_OK if result.agrees else EXIT_FAIL


def _check(args) -> int:
    n, t = normalizer(args.normalizer), transformation(args.transformation)
    settings = _numeric_settings(args)
    from . import derive
    from .derive.caveats import caveats
    from .report.explain import explain
    cell = derive(n, t)
    numeric = None
    if args.numeric:
        from .numeric.crosscheck import cross_check
        numeric = cross_check(n, t, cell, **settings)
    disagreement = numeric and _disagreement(cell, numeric)
    if args.format == "json":
        from .core.certificate import document
        notes = {"caveats": [k.to_json() for k in caveats(cell)]} | ({"numeric": numeric.to_json()} if numeric else {})
        print(json.dumps(document([cell], annotations={(cell.normalizer, cell.transformation): notes}),
                         indent=1, ensure_ascii=False))
        if disagreement:
            print(disagreement, file=sys.stderr)
    else:
        print(explain(cell, titles(), caveats(cell), numeric))
    return EXIT_FAIL if cell.verdict == UNKNOWN or disagreement else EXIT_OK


def _proofs(args) -> int:
    from .report.certificates import write, write_consequences
    from .report.training_report import collect
    out = _out_dir(args.out)
    cells = table(list(NORMALIZERS))
    paths = write(cells, out, titles())
    consequences = collect(cells)   # the cells just derived, not derived again
    paths.append(write_consequences(consequences, out))
    print(f"wrote {len(paths)} files ({len(cells)} cell certificates, {len(consequences)} consequences) to {out}/")
    return EXIT_FAIL if any(c.verdict == UNKNOWN for c in cells) else EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _verify(args) -> int:
    from .kernel.files import document_problem, load, read_text
    from .report.certificates import verify_path
    path = args.path
    if not path.exists():
        raise BadInput(f"no such file or directory: {path}; give a certificate or a directory of them")
    if not (path.is_dir() or path.is_file()):
        raise BadInput(f"{path} is neither a regular file nor a directory; give a certificate or a directory of them")
    if path.is_dir() and not any(path.glob("*.json")):
        print(f"python -m invariance verify: no certificates (*.json) in {path}", file=sys.stderr)
        return EXIT_FAIL
    if path.is_file():   # one file that is no certificate at all is bad input; in a folder, one problem
        try:
            why = document_problem(load(read_text(path)))
        except (OSError, ValueError, RecursionError, MemoryError) as err:
            why = f"not readable as JSON ({str(err)[:200]})"
        if why:
            raise BadInput(f"{path} is not a certificate: {why}")
    cells, consequences, problems = verify_path(path)
    for p in problems:
        print(p, file=sys.stderr)
    checked = _count(cells, 'cell') + (f" and {_count(consequences, 'consequence')}" if consequences else "")
    print(f"verified {checked}: {_count(len(problems), 'problem')}")
    return EXIT_FAIL if problems else EXIT_OK


def _consequences(args) -> int:
    from .report.training_report import command
    output, notes, status = command(args.normalizer, args.transformation, args.all, args.numeric, args.format)
    print(output)
    for note in notes:
        print(note, file=sys.stderr)
    return status


def _docs(args) -> int:
    from .report.docs import build
    return build(_out_dir(args.out), pdf=args.pdf)


COMMANDS = {"table": _table, "check": _check, "proofs": _proofs, "verify": _verify,
            "consequences": _consequences, "docs": _docs, "probe": _probe}   # the parser's order


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = PROG + (f" {argv[0]}" if argv and argv[0] in COMMANDS else "")
    try:
        _preload(argv)
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (BadInput, UnknownId, InvalidNormalizer) as err:
        print(f"{prog}: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
