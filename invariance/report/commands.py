"""The commands of ``python -m invariance``, one library function each.

:mod:`invariance.__main__` parses the arguments and calls one of these with the
options as keyword arguments; each prints what its command prints and returns
the exit status: 0 when all is well, 1 when a verdict is unknown, a numeric
check disagrees or a certificate fails.  Bad input is reported by raising
:class:`BadInput` (or the library's ``UnknownId`` or ``InvalidNormalizer``),
which the command line prints as one line on stderr with exit status 2.
"""
from __future__ import annotations

import difflib
import json
import runpy
import sys
from pathlib import Path

from ..catalogue.registry import NORMALIZERS, TABLE1, TRANSFORMATIONS, UnknownId, did_you_mean, titles
from ..catalogue.registry import normalizer as find_normalizer, transformation as find_transformation
from ..core.definition import InvalidNormalizer
from ..core.records import UNKNOWN
from ..derive.engine import derive_row
from .exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE, BadInput
from .rewrite_commands import REWRITE_FORMATS, rewrite_command, write_rewrites
from .table import render_table

__all__ = ["BadInput", "EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "load_plugins", "table_command", "check_command",
           "proofs_command", "verify_command", "symmetries_command", "SYMMETRY_FORMATS", "rewrite_command", "REWRITE_FORMATS", "write_rewrites", "write_symmetries", "consequences_command", "docs_command", "probe_command"]

#: The README's install command for each optional dependency (an extra of this checkout's
#: pyproject.toml; no package index holds ``invariance``).
INSTALL = {"docs": "pip install '.[docs]'", "torch": "pip install '.[torch]'"}


# --- --load --------------------------------------------------------------------------------------
def load_plugins(files) -> None:
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


# --- option values that need the registry or the file system ------------------------------------
def _ids(text: str) -> list[str]:
    """The rows named by ``--normalizers a,b``: at least one, each registered, none twice."""
    ids = [s.strip() for s in text.split(",") if s.strip()]
    if not ids:
        raise BadInput(f"--normalizers {text!r} names no normalizer; valid: {', '.join(NORMALIZERS)}")
    bad = [i for i in dict.fromkeys(ids) if i not in NORMALIZERS]
    if bad:   # every bad id at once, each with its close match
        named = ", ".join(f"{i!r}{did_you_mean(i, NORMALIZERS)}" for i in bad)
        raise BadInput(f"--normalizers: unknown normalizer{'s' if len(bad) > 1 else ''} {named}; "
                       f"valid: {', '.join(NORMALIZERS)}")
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise BadInput(f"--normalizers names {', '.join(twice)} more than once; name each row once")
    return ids


def cell_ids(normalizer: str, transformation: str, command: str) -> tuple:
    """The registered normalizer and transformation named by ``NORMALIZER TRANSFORMATION``.

    Arguments given the other way round (or a transformation where the normalizer goes) are
    named as such, with the order and the command as it should read."""
    def kind(word):   # (what the word names, its id): exactly, else by the closest id of either kind
        key = word.strip().lower().replace("_", "-")
        if key in NORMALIZERS or key in TRANSFORMATIONS:
            return ("normalizer" if key in NORMALIZERS else "transformation"), key
        close = difflib.get_close_matches(key, [*NORMALIZERS, *TRANSFORMATIONS], n=1, cutoff=0.6)
        return (("normalizer" if close[0] in NORMALIZERS else "transformation"), close[0]) if close else (None, key)
    (first, n_id), (second, t_id) = kind(normalizer), kind(transformation)
    order = "the order is NORMALIZER TRANSFORMATION"
    if first == "transformation" and second == "normalizer":
        raise BadInput(f"the arguments are swapped: {n_id!r} is a transformation, {t_id!r} a normalizer; "
                       f"{order}: {command} {t_id} {n_id}")
    if first == "transformation" and n_id == normalizer:
        raise BadInput(f"{normalizer!r} is a transformation, not a normalizer: {order}; "
                       f"normalizers: {', '.join(NORMALIZERS)}")
    if second == "normalizer" and normalizer in NORMALIZERS:
        raise BadInput(f"{transformation!r} is a normalizer, not a transformation: {order}; "
                       f"transformations: {', '.join(TRANSFORMATIONS)}")
    return find_normalizer(normalizer), find_transformation(transformation)


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


# --- the numeric cross-check's options -----------------------------------------------------------
_SETUP = ("backend", "dtype", "eps", "device")


def _numeric_settings(numeric: bool, options: dict) -> dict:
    """``cross_check``'s keyword arguments from the options given (``instances``, ``seed`` and the
    setup's); refuses them without ``--numeric``."""
    given = {k: options[k] for k in ("instances", "seed", *_SETUP) if options.get(k) is not None}
    if given and not numeric:
        raise BadInput(f"{' and '.join('--' + k for k in given)} {'is' if len(given) == 1 else 'are'} "
                       "for the numeric cross-check only; add --numeric")
    from ..numeric.crosscheck import Setup
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


# --- table ---------------------------------------------------------------------------------------
def table_command(fmt: str = "markdown", everything: bool = False, normalizers: str | None = None,
                  numeric: bool = False, caveats: bool = False, linear_bias: bool = False,
                  instances: int | None = None, seed: int | None = None, backend: str | None = None,
                  dtype: str | None = None, eps: str | None = None, device: str | None = None) -> int:
    """Print the table of ``normalizers`` (comma-separated ids; every row with ``everything``, else
    the paper's), with numeric cross-checks and caveats as notes if asked."""
    if fmt not in ("markdown", "json"):
        extras = [o for o, on in (("--numeric", numeric), ("--caveats", caveats)) if on]
        if extras:
            raise BadInput(f"{' and '.join(extras)} cannot show in --format {fmt}, which holds "
                           "the verdicts only; use --format markdown or json")
    settings = _numeric_settings(numeric, {"instances": instances, "seed": seed, "backend": backend,
                                           "dtype": dtype, "eps": eps, "device": device})
    if everything:
        rows = list(NORMALIZERS)
    elif normalizers is not None:
        rows = _ids(normalizers)
    else:
        rows = list(TABLE1)
    if linear_bias:
        rows = _linear_bias_rows(rows, everything)
    setup = settings.get("setup")
    if numeric:
        from ..numeric.crosscheck import check_backend
        try:
            check_backend(setup, [NORMALIZERS[n] for n in rows])
        except ValueError as err:
            raise BadInput(str(err)) from None
    cells = [cell for n in rows for cell in derive_row(n)]
    extra, notes, status = {}, [], EXIT_OK
    if any(c.verdict == UNKNOWN for c in cells):
        status = EXIT_FAIL
        notes += [f"unknown: {c.normalizer} x {c.transformation} (no proof and no counterexample found)"
                  for c in cells if c.verdict == UNKNOWN]
    if numeric:
        status = max(status, _cross_check(cells, settings, fmt, extra, notes))
        status = max(status, _values(rows, notes, fmt, setup))
    if caveats:
        _caveats(cells, fmt, extra, notes)
    short = {k: v.short for k, v in TRANSFORMATIONS.items()}
    print(render_table(cells, fmt, titles(), short, extra))
    if notes:
        stream = sys.stdout if fmt == "markdown" else sys.stderr
        print(("\n" if stream is sys.stdout else "") + "\n".join(notes), file=stream)
    return status


def _linear_bias_rows(rows, everything: bool) -> list[str]:
    from ..catalogue.normalizers import with_linear_bias
    from ..catalogue.registry import register
    from ..core.model import DENSE
    if everything:
        rows = [n for n in rows if NORMALIZERS[n].model is DENSE]
    try:
        return [register(with_linear_bias(NORMALIZERS[n])).id for n in rows]
    except ValueError as err:
        raise BadInput(str(err)) from None


def _cross_check(cells, settings: dict, fmt: str, extra: dict, notes: list) -> int:
    """Each cell against the numeric layers: its JSON into ``extra``, a line for ``notes``."""
    from inspect import signature
    from ..numeric.crosscheck import cross_check, margins, progress_bar
    setup, status = settings["setup"], EXIT_OK
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
        elif fmt == "markdown":
            notes.append(f"numeric {cell.normalizer} x {cell.transformation}: {r.verdict}, "
                         f"max relative deviation {r.max_relative_deviation:.2e} over {r.instances} "
                         f"instances" + ("" if r.replay_differs is None else ", counterexample replayed")
                         + ("" if r.eps_bound_ratio is None else ", deviation/eps bound median "
                            f"{r.eps_bound_ratio[0]:.4g}, max {r.eps_bound_ratio[1]:.4g}"))
    if bar:
        bar.close()
    notes.append(margins(results))
    return status


def _values(rows, notes: list, fmt: str, setup) -> int:
    """Each row's numeric op against its definition, exactly evaluated (invariance.values)."""
    from ..numeric.values import compare_values
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


def _caveats(cells, fmt: str, extra: dict, notes: list) -> None:
    """Each invariant cell's caveats: their JSON into ``extra``, a line each for ``notes``."""
    from ..derive.caveats import caveats
    from .explain import caveat_lines
    for cell in cells:
        found = caveats(cell)
        if found:
            extra.setdefault((cell.normalizer, cell.transformation), {})["caveats"] = [k.to_json() for k in found]
            if fmt == "markdown":   # for people: the maths typeset, as check prints it
                notes += ["\n".join(caveat_lines(k, f"caveat {cell.normalizer} x {cell.transformation}: "))
                          for k in found]


# --- the other commands --------------------------------------------------------------------------
def check_command(normalizer: str, transformation: str, fmt: str = "text", numeric: bool = False,
                  instances: int | None = None, seed: int | None = None, backend: str | None = None,
                  dtype: str | None = None, eps: str | None = None, device: str | None = None) -> int:
    """Print one cell: verdict, conditions, proof or counterexample (``fmt`` text or json)."""
    n, t = cell_ids(normalizer, transformation, "check")
    settings = _numeric_settings(numeric, {"instances": instances, "seed": seed, "backend": backend,
                                           "dtype": dtype, "eps": eps, "device": device})
    from ..derive.caveats import caveats
    from ..derive.engine import derive
    from .explain import explain
    cell = derive(n, t)
    result = None
    if numeric:
        from ..numeric.crosscheck import cross_check
        result = cross_check(n, t, cell, **settings)
    disagreement = result and _disagreement(cell, result)
    if fmt == "json":
        from ..core.certificate import document
        notes = {"caveats": [k.to_json() for k in caveats(cell)]} | ({"numeric": result.to_json()} if result else {})
        print(json.dumps(document([cell], annotations={(cell.normalizer, cell.transformation): notes}),
                         indent=1, ensure_ascii=False))
        if disagreement:
            print(disagreement, file=sys.stderr)
    else:
        print(explain(cell, titles(), caveats(cell), result))
    return EXIT_FAIL if cell.verdict == UNKNOWN or disagreement else EXIT_OK


def proofs_command(out: Path = Path("proofs")) -> int:
    """Write one certificate per cell of every registered normalizer, and the consequences, to ``out``."""
    from .certificates import write, write_consequences
    from .training_report import every_consequence
    out = _out_dir(out)
    cells = [cell for n in NORMALIZERS for cell in derive_row(n)]
    paths = write(cells, out, titles())
    consequences = every_consequence(cells)   # the cells just derived, not derived again; then the directions
    paths.append(write_consequences(consequences, out))
    layers = write_symmetries(out)
    from .block_symmetries_text import write_blocks
    blocks = write_blocks(out)   # symmetries__<block>.json, as a layer's
    paths += [out / f"symmetries__{norm_id}.json" for norm_id, *_ in layers + blocks]
    rewrites = write_rewrites(out)
    paths += [out / f"rewrite__{rid}.json" for rid, _ in rewrites]
    print(f"wrote {len(paths)} files ({len(cells)} cell certificates, {len(consequences)} consequences, "
          f"the symmetries of {len(layers)} layers and {len(blocks)} blocks, {len(rewrites)} rewrites) to {out}/")
    return EXIT_FAIL if any(c.verdict == UNKNOWN for c in cells) or not all(ok for *_, ok in layers + blocks) \
        else EXIT_OK


def _of(n: int, noun: str, m: int, other: str) -> str:
    """'14 layers and 8 blocks', '1 block' ..."""
    return " and ".join(_count(k, w) for k, w in ((n, noun), (m, other)) if k)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def verify_command(path: Path = Path("proofs")) -> int:
    """Re-check a certificate, or every certificate in a directory, from the files alone."""
    from ..kernel.files import document_problem, load, read_text
    from .certificates import verify_path
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
    cells, consequences, problems, layers, rewrites, blocks = verify_path(path)
    for p in problems:
        print(p, file=sys.stderr)
    checked = ", ".join([_count(cells, 'cell')] + ([_count(consequences, 'consequence')] if consequences else [])
                        + ([f"the symmetries of {_of(layers, 'layer', blocks, 'block')}"] if layers or blocks else [])
                        + ([_count(rewrites, 'rewrite')] if rewrites else []))
    print(f"verified {checked}: {_count(len(problems), 'problem')}")
    return EXIT_FAIL if problems else EXIT_OK


def consequences_command(normalizer: str | None = None, transformation: str | None = None,
                         everything: bool = False, numeric: bool = False, fmt: str = "text") -> int:
    """Print what invariance implies for training, for one cell or for the table's rows."""
    from .training_report import command
    from ..catalogue.registry import FAMILIES
    if normalizer is not None and transformation is not None and transformation not in FAMILIES:
        cell_ids(normalizer, transformation, "consequences")   # a family of directions: as symmetries names it
    output, notes, status = command(normalizer, transformation, everything, numeric, fmt)
    print(output)
    for note in notes:
        print(note, file=sys.stderr)
    return status


def docs_command(out: Path = Path("docs"), pdf: bool = False) -> int:
    """Write ``out/invariance.tex``; with ``pdf``, compile it."""
    try:   # the training chapter's figure is drawn with matplotlib: say so before writing anything
        import matplotlib  # noqa: F401
    except ImportError:
        raise BadInput("the document's training figure needs matplotlib, which is not installed: "
                       f"{INSTALL['docs']}") from None
    from .docs import build
    return build(_out_dir(out), pdf=pdf)


def probe_command(spec: str, against: str | None = None, weight: str | None = None, instances: int = 200,
                  seed: int = 0, mode: str | None = None, output: str | None = None, symmetries: bool = True,
                  input_directions: bool = False) -> int:
    """Your own layer's row, numerically, and its measured symmetries: ``spec`` is MODULE:FACTORY
    (see the README).  Anything the probe cannot do is one line (BadInput), exit 2."""
    from ..numeric.probe import load, probe
    if against is not None:
        find_normalizer(against)
    needs_torch = BadInput(f"{spec} needs PyTorch, which is not installed: {INSTALL['torch']}")
    try:
        try:
            made = load(spec)
        except ModuleNotFoundError as err:   # a torch.nn.Module's file, where PyTorch is not installed
            if (err.name or "").split(".")[0] != "torch":
                raise
            raise needs_torch from None
        except ValueError as err:            # a module by name that imports torch ("cannot import ...")
            if "'torch'" in str(err) or "of torch halted" in str(err):
                import importlib.util
                if importlib.util.find_spec("torch") is None:
                    raise needs_torch from None
            raise
        if isinstance(made, tuple) and len(made) == 2:
            layer, weight = made                     # (fn, W): a NumPy function and its example weight
        elif isinstance(made, tuple):
            raise BadInput(f"{spec} returns a tuple of {len(made)}; return a torch.nn.Module, or a pair (fn, W)")
        else:
            layer = made
        result = probe(layer, weight, against=against, instances=instances, seed=seed, mode=mode,
                       output=output, symmetries=symmetries, input_directions=input_directions)
    except ValueError as err:
        raise BadInput(str(err)) from None
    print(result.table())
    return EXIT_OK if result.agrees else EXIT_FAIL


SYMMETRY_FORMATS = ("text", "json", "markdown", "latex")


def _symmetry_ids(normalizer: str | None, everything: bool, linear_bias: bool) -> list[str]:
    from ..catalogue.normalizers import with_linear_bias
    if everything:
        ids = list(NORMALIZERS)
    elif normalizer:
        ids = [find_normalizer(normalizer).id]
    else:
        raise BadInput("symmetries: give a NORMALIZER or --all")
    if linear_bias:
        dense = [i for i in ids if NORMALIZERS.get(i) is not None and NORMALIZERS[i].model.id == "dense"]
        if not everything and not dense:
            try:
                with_linear_bias(find_normalizer(ids[0]))
            except ValueError as err:   # not a dense normalizer: its one line, as bad input
                raise BadInput(str(err)) from None
        ids += [with_linear_bias(NORMALIZERS[i]).id for i in dense]
    return ids


def _one_layer(args) -> tuple[str, object, bool]:
    """(id, its rendering or document, complete) for one layer: both kinds, or the one asked."""
    from ..core.certificate import symmetries_json
    from ..derive.symmetries import symmetries
    from .symmetries_text import render_latex, render_markdown, render_text
    norm_id, kinds, fmt, backend = args
    # the certificate holds no degenerate sizes: they are measured only where they are shown
    analyses = [symmetries(norm_id, k, degenerate=fmt != "json") for k in kinds]
    render = {"json": symmetries_json, "text": render_text, "markdown": render_markdown,
              "latex": render_latex}[fmt]
    out = norm_id, render(norm_id, analyses), all(s.complete and not s.witnesses for s in analyses)
    if backend is None:
        return out
    from ..numeric.symmetry_measure import check_layer   # measured, beside what was proved
    from .symmetries_text import sizes_label
    norm = find_normalizer(norm_id)
    checks = [check_layer(norm, s, backend) for s in analyses]
    label = lambda sizes: sizes_label(norm, sizes).replace(" = ", "=")   # noqa: E731
    return out + ([c.line(label) for c in checks], all(c.agrees for c in checks))


def symmetry_documents(ids, kinds=("parameter", "data"), fmt: str = "json", jobs: int | None = None,
                       backend: str | None = None) -> list:
    """(id, rendering, complete) for each layer, in parallel (one process per core by default); with
    a ``backend``, also (numeric lines, they agree) from :mod:`invariance.numeric.symmetry_measure`."""
    from .parallel import parallel_map
    return parallel_map(_one_layer, [(i, kinds, fmt, backend) for i in ids], jobs)


def write_symmetries(out: Path) -> list:
    """proofs/symmetries__<id>.json for every registered normalizer and the dense ones with a
    linear bias; returns (id, document, complete) for each."""
    layers = symmetry_documents(_symmetry_ids(None, True, True))
    for norm_id, doc, _ in layers:
        (out / f"symmetries__{norm_id}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return layers


def symmetries_command(normalizer: str | None = None, everything: bool = False, linear_bias: bool = False,
                       fmt: str = "text", kind: str = "both", jobs: int | None = None, numeric: bool = False,
                       backend: str | None = None, blocks: bool = False, formula: str | None = None) -> int:
    """Every symmetry of a layer: a proved basis, its dimension formula, completeness shown by the
    Jacobian's rank at three sets of sizes; with ``numeric``, the dimension measured on the NumPy
    (or PyTorch) layers.  Exit 1 if any layer is not shown complete or a measurement disagrees.
    A block's id (or ``blocks``: every block) goes to :func:`.block_symmetries_text.blocks_command`."""
    if backend is not None and not numeric:
        raise BadInput("--backend is for the numeric cross-check only; add --numeric")
    if numeric and backend == "torch":
        from ..numeric.torch_backend import available
        if not available():
            raise BadInput(f"--backend torch needs PyTorch, which is not installed: {INSTALL['torch']}")
    from ..catalogue.blocks import BLOCKS, formula_block
    if formula is not None:
        from ..core.syntax import BlockError
        if normalizer or blocks or everything:
            raise BadInput("--block takes the place of a NORMALIZER, a BLOCK, --blocks and --all")
        try:
            normalizer = formula_block(formula)
        except BlockError as err:
            raise BadInput(f"--block: {err}") from None
    if formula is not None or blocks or normalizer in BLOCKS:
        from .block_symmetries_text import blocks_command
        if (blocks and normalizer) or everything or linear_bias or kind == "data" or fmt not in ("text", "json"):
            raise BadInput("symmetries of blocks: give a BLOCK or --blocks, without --all, --linear-bias or "
                           "--kind data (a block's directions are its parameters'), --format text or json")
        return blocks_command(list(BLOCKS) if blocks else [normalizer], fmt, numeric, backend or "numpy")
    try:
        ids = _symmetry_ids(normalizer, everything, linear_bias)
    except UnknownId:   # name the blocks too
        from ..catalogue.registry import unknown
        raise unknown("normalizer or block", normalizer, [*NORMALIZERS, *BLOCKS]) from None
    kinds = ("parameter", "data") if kind == "both" else (kind,)
    results = symmetry_documents(ids, kinds, fmt, jobs, (backend or "numpy") if numeric else None)
    measured = [r[3] for r in results] if numeric else [[] for _ in results]
    if fmt == "json":   # the certificate alone: measurements are no part of it (verify refuses them)
        docs = [r[1] for r in results]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=1))
    elif fmt == "latex":
        print("\n\n".join(r[1] for r in results))
    else:               # each layer's measurements under it
        bullet = "- " if fmt == "markdown" else ""
        print("\n\n".join("\n\n".join([r[1]] + (["\n".join(bullet + line for line in m)] if m else []))
                           for r, m in zip(results, measured)))
    if fmt in ("json", "latex"):
        for lines in measured:
            if lines:
                print("\n".join(lines), file=sys.stderr)
    incomplete = [r[0] for r in results if not r[2]]
    if incomplete:
        print(f"not shown complete: {', '.join(incomplete)}", file=sys.stderr)
    disagree = [r[0] for r in results if numeric and not r[4]]
    if disagree:
        print(f"numeric disagreement: {', '.join(disagree)}", file=sys.stderr)
    return EXIT_FAIL if incomplete or disagree else EXIT_OK

