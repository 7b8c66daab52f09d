"""Command line: a thin layer over the library.  ``python -m invariance --help``."""
from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

from . import NORMALIZERS, TABLE1, TRANSFORMATIONS, table, titles
from .records import UNKNOWN
from .registry import UnknownId, normalizer, transformation
from .render import FORMATS, render_table

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, then exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def _ids(text: str) -> list[str]:
    ids = [s.strip() for s in text.split(",") if s.strip()]
    for i in ids:
        normalizer(i)
    return ids


def _load_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--load", action="append", default=[], metavar="FILE", type=Path,
                   help="a Python file that registers your own normalizer with invariance.register "
                        "(repeatable); see the README")


def _load(files) -> None:
    for f in files:
        if not f.is_file():
            raise UnknownId(f"--load: no such file: {f}")
        runpy.run_path(str(f), run_name="invariance_plugin")


def build_parser() -> argparse.ArgumentParser:
    norms, trans = ", ".join(NORMALIZERS), ", ".join(TRANSFORMATIONS)
    p = _Parser(prog="python -m invariance", description=(
        "Derive, with SymPy, which re-scalings and re-centerings of the weights and the data "
        "leave a normalization layer's output unchanged (Ba, Kiros, Hinton 2016, Table 1), "
        "with a proof or an exact counterexample for every cell."))
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    t = sub.add_parser("table", help="print the invariance table (the paper's Table 1 by default)",
                       description="Print the invariance table, every cell derived afresh.")
    t.add_argument("--format", default="markdown", metavar="FMT",
                   help=f"one of {', '.join(FORMATS)} (default markdown)")
    rows = t.add_mutually_exclusive_group()
    rows.add_argument("--all", action="store_true", help="every registered normalizer")
    rows.add_argument("--normalizers", metavar="IDS", help=f"comma-separated rows, from: {norms}")
    t.add_argument("--numeric", action="store_true",
                   help="cross-check every cell with the NumPy layers; exit 1 on any disagreement")
    t.add_argument("--instances", type=int, default=1000, help="random instances per cell (default 1000)")
    t.add_argument("--seed", type=int, default=0, help="seed of the random instances (default 0)")
    t.add_argument("--caveats", action="store_true",
                   help="for each invariant cell: negative scale, eps > 0, degenerate sigma = 0")
    _load_option(t)

    c = sub.add_parser("check", help="one cell: verdict, conditions, proof or counterexample",
                       description=f"Normalizers: {norms}. Transformations: {trans}.")
    c.add_argument("normalizer", metavar="NORMALIZER")
    c.add_argument("transformation", metavar="TRANSFORMATION")
    c.add_argument("--format", default="text", metavar="FMT", help="text or json (default text)")
    c.add_argument("--numeric", action="store_true", help="also run the NumPy cross-check")
    c.add_argument("--seed", type=int, default=0, help="seed of the numeric cross-check")
    _load_option(c)

    pr = sub.add_parser("proofs", help="write one certificate per cell (JSON + Markdown)",
                        description="Write proofs/<normalizer>__<transformation>.{json,md} for every "
                                    "built-in normalizer and transformation.")
    pr.add_argument("--out", default="proofs", type=Path, help="directory (default proofs)")

    v = sub.add_parser("verify", help="re-check certificates from the files alone",
                       description="Re-check every step and counterexample of the certificates; "
                                   "exit 1 if any does not hold.")
    v.add_argument("path", nargs="?", default="proofs", type=Path,
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
    d.add_argument("--out", default="docs", type=Path, help="directory (default docs)")
    d.add_argument("--pdf", action="store_true", help="compile docs/invariance.pdf with latexmk or pdflatex")
    return p


def _table(args) -> int:
    if args.format not in FORMATS:
        raise UnknownId(f"unknown format {args.format!r}; valid: {', '.join(FORMATS)}")
    if args.instances < 1:
        raise UnknownId(f"--instances must be at least 1, got {args.instances}")
    rows = list(NORMALIZERS) if args.all else _ids(args.normalizers) if args.normalizers else list(TABLE1)
    cells = table(rows)
    extra, notes, status = {}, [], EXIT_OK
    if any(c.verdict == UNKNOWN for c in cells):
        status = EXIT_FAIL
        notes += [f"unknown: {c.normalizer} x {c.transformation} (no proof and no counterexample found)"
                  for c in cells if c.verdict == UNKNOWN]
    if args.numeric:
        from .numeric import cross_check
        for cell in cells:
            r = cross_check(NORMALIZERS[cell.normalizer], TRANSFORMATIONS[cell.transformation], cell,
                            instances=args.instances, seed=args.seed)
            extra.setdefault((cell.normalizer, cell.transformation), {})["numeric"] = r.to_json()
            if not r.agrees(cell):
                status = EXIT_FAIL
                notes.append(f"DISAGREEMENT {cell.normalizer} x {cell.transformation}: symbolic "
                             f"{cell.verdict}, numeric {r.verdict} (max relative deviation "
                             f"{r.max_relative_deviation:.3g}, counterexample replay differs: {r.replay_differs})")
            elif args.format == "markdown":
                notes.append(f"numeric {cell.normalizer} x {cell.transformation}: {r.verdict}, "
                             f"max relative deviation {r.max_relative_deviation:.2e} over {r.instances} "
                             f"instances" + ("" if r.replay_differs is None else ", counterexample replayed"))
    if args.caveats:
        from .caveats import caveats
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


def _check(args) -> int:
    n, t = normalizer(args.normalizer), transformation(args.transformation)
    if args.format not in ("text", "json"):
        raise UnknownId(f"unknown format {args.format!r}; valid: text, json")
    from . import derive
    from .caveats import caveats
    from .explain import explain
    cell = derive(n, t)
    numeric = None
    if args.numeric:
        from .numeric import cross_check
        numeric = cross_check(n, t, cell, seed=args.seed)
    if args.format == "json":
        from .certificates import document
        notes = {"caveats": [k.to_json() for k in caveats(cell)]} | ({"numeric": numeric.to_json()} if numeric else {})
        print(json.dumps(document([cell], annotations={(cell.normalizer, cell.transformation): notes}),
                         indent=1, ensure_ascii=False))
    else:
        print(explain(cell, titles(), caveats(cell), numeric))
    if cell.verdict == UNKNOWN or (numeric and not numeric.agrees(cell)):
        return EXIT_FAIL
    return EXIT_OK


def _proofs(args) -> int:
    from .certificates import write
    cells = table(list(NORMALIZERS))
    paths = write(cells, args.out, titles())
    print(f"wrote {len(paths)} files ({len(cells)} certificates) to {args.out}/")
    return EXIT_FAIL if any(c.verdict == UNKNOWN for c in cells) else EXIT_OK


def _verify(args) -> int:
    from .certificates import verify_path
    if not args.path.exists():
        raise UnknownId(f"no such file or directory: {args.path}")
    count, problems = verify_path(args.path)
    for p in problems:
        print(p, file=sys.stderr)
    if count == 0:
        print(f"no certificates (*.json) in {args.path}", file=sys.stderr)
        return EXIT_FAIL
    print(f"verified {count} cells: {len(problems)} problems")
    return EXIT_FAIL if problems else EXIT_OK


def _consequences(args) -> int:
    from .training_report import command
    output, notes, status = command(args.normalizer, args.transformation, args.all, args.numeric, args.format)
    print(output)
    for note in notes:
        print(note, file=sys.stderr)
    return status


def _docs(args) -> int:
    from .docs import build
    return build(args.out, pdf=args.pdf)


def _preload(argv: list[str]) -> None:
    """Run --load files before the parser is built, so their ids appear in --help and errors."""
    files = [Path(argv[k + 1]) for k, a in enumerate(argv[:-1]) if a == "--load"]
    files += [Path(a.split("=", 1)[1]) for a in argv if a.startswith("--load=")]
    try:
        _load(files)
    except UnknownId as err:
        print(f"python -m invariance: {err}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _preload(argv)
    args = build_parser().parse_args(argv)
    try:
        return {"table": _table, "check": _check, "proofs": _proofs, "verify": _verify,
                "docs": _docs, "consequences": _consequences}[args.command](args)
    except UnknownId as err:
        print(f"python -m invariance {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
