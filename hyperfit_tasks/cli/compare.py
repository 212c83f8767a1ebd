"""``hyperfit-compare``: a leaderboard of lm-eval runs, against a baseline, as Markdown/CSV/JSON/HTML.

Errors are one line on stderr (``hyperfit-compare: error: ...``) with exit status 1; ``--debug``
shows the traceback instead. Warnings about the inputs (mismatched settings, empty values) go
to stderr and into the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyperfit_tasks.common.errors import OneLineArgumentParser, run_command
from hyperfit_tasks.common.run_files import INDEX_HTML, TABLE_CSV, TABLE_JSON, TABLE_MD
from hyperfit_tasks.compare.paired import DEFAULT_MAUVE_PERMUTATIONS, DEFAULT_PERMUTATIONS, DEFAULT_SEED
from hyperfit_tasks.compare.plots import HEADLINE_METRICS
from hyperfit_tasks.compare.report import DEFAULT_EXAMPLES
from hyperfit_tasks.compare.results import CompareError

PROG = "hyperfit-compare"
STDOUT_FORMATS = ("markdown", "csv", "json")


def make_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description="Compare lm-eval runs side by side: one row per model or checkpoint, one column per task and "
        "metric, lm-eval's stderr, the difference to a baseline with its 95% interval and a paired permutation test "
        "(Holm-adjusted, from the --log_samples files): every difference significant, not significant or not tested "
        "(with the reason), and the significantly best run marked.",
        epilog="A folder stands for the newest results_*.json of every folder below it (lm_eval --output_path "
        "writes one folder per model); samples_<task>_*.jsonl files of the same run are found next to it.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="PATH[=NAME]",
        help="lm-eval results_<timestamp>.json files or --output_path folders, each optionally followed by "
        "=NAME, its display name in the table (a named folder must hold one run; default: the model's folder name)",
    )
    parser.add_argument("--baseline", metavar="NAME", help="run every delta is taken against (default: the first run)")
    parser.add_argument(
        "--same-prompts",
        action="append",
        type=_mapping,
        default=[],
        metavar="FROM=TO",
        help="read task FROM (and its subtasks FROM_*) as TO, a task with the same documents, so runs of both are "
        "paired prompt by prompt (e.g. hyperfit_continuation_top_p=hyperfit_continuation: sampled against greedy); "
        "repeatable",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write table.md, table.csv, table.json, plots/*.png and index.html (with example continuations) here",
    )
    parser.add_argument(
        "--format",
        choices=STDOUT_FORMATS,
        help="print the full table on stdout in this format (default: the compact headline table, at most 100 columns "
        "wide)",
    )
    parser.add_argument(
        "--full", action="store_true", help="print every task and metric as Markdown (the same as --format markdown)"
    )
    parser.add_argument(
        "--permutations",
        "--resamples",
        type=int,
        metavar="N",
        dest="permutations",
        help="random swap patterns of the paired permutation test (exact enumeration when 2^pairs is smaller; "
        f"default: enough for the largest task table, at least {DEFAULT_PERMUTATIONS}: 40 x its tests, so that Holm "
        "is not limited by the smallest p-value 1/(N+1)); --resamples is the older name",
    )
    parser.add_argument(
        "--mauve-permutations",
        "--mauve-resamples",
        type=int,
        default=DEFAULT_MAUVE_PERMUTATIONS,
        metavar="N",
        dest="mauve_permutations",
        help="permutations and bootstrap resamples for MAUVE, two k-means fits each (default: "
        f"{DEFAULT_MAUVE_PERMUTATIONS}, at most --permutations)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"seed of the permutations (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="mark the best run even in tasks whose settings differ between runs (prompt or generation length, texts, "
        "version)",
    )
    parser.add_argument("--tasks", type=_comma_list, metavar="T1,T2", help="only these tasks or groups (default: all)")
    parser.add_argument("--metrics", type=_comma_list, metavar="M1,M2", help="only these metrics (default: all)")
    parser.add_argument(
        "--headline",
        type=_comma_list,
        metavar="M1,M2",
        help=f"metrics of the plots (default: those of {', '.join(HEADLINE_METRICS)} present)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"example documents per task in index.html (default: {DEFAULT_EXAMPLES}; 0: none)",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    args = make_parser().parse_args(argv)
    return run_command(
        PROG,
        lambda: run(args),
        debug=args.debug,
        interrupted="interrupted: every file already written is complete, the others keep their previous version",
    )


def run(args: argparse.Namespace) -> int:
    """Load, compare, print and (with ``--out``) write the report."""
    from hyperfit_tasks.compare import (
        build_leaderboard,
        load_results,
        render_csv,
        render_json,
        render_markdown,
        render_terminal,
        with_statistics,
        write_report,
    )
    from hyperfit_tasks.compare.leaderboard import PAIRING, Note
    from hyperfit_tasks.compare.plots import headline_columns
    from hyperfit_tasks.compare.results import map_tasks

    if args.examples < 0:
        raise CompareError(f"--examples must be >= 0, got {args.examples}")
    paths, names = zip(*(split_input(text) for text in args.inputs))
    runs = load_results(paths, names)
    mapped = map_tasks(runs, args.same_prompts)
    table = build_leaderboard(
        runs, args.baseline, args.tasks, args.metrics, notes=[Note(text, PAIRING) for text in mapped]
    )
    headline_columns(table, args.headline)  # an unknown --headline metric fails before the statistics and any output
    board = with_statistics(table, args.permutations, args.seed, args.mauve_permutations, force=args.force)
    renderers = {"markdown": render_markdown, "csv": render_csv, "json": render_json}
    chosen = "markdown" if args.full else args.format
    if chosen is not None:
        sys.stdout.write(renderers[chosen](board))
    for line in board.warnings:
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    for line in board.notes:
        print(f"{PROG}: note: {line}", file=sys.stderr)
    files = ""
    if args.out is not None:
        written, notes = write_report(board, args.out, examples=args.examples, headline=args.headline)
        for line in notes:
            print(f"{PROG}: note: {line}", file=sys.stderr)
        print(
            f"{PROG}: wrote {len(written)} files to {args.out}: "
            f"{', '.join(str(path.relative_to(args.out)) for path in written)}",
            file=sys.stderr,
        )
        files = ", ".join(str(args.out / name) for name in (TABLE_MD, TABLE_CSV, TABLE_JSON, INDEX_HTML))
    if chosen is None:
        sys.stdout.write(render_terminal(board, files))
    return 0


def split_input(text: str) -> tuple[Path, str | None]:
    """``PATH=NAME`` -> (PATH, NAME); an existing path (even one containing "=") or no "=" -> (path, None)."""
    if Path(text).exists() or "=" not in text:
        return Path(text), None
    path, name = text.rsplit("=", 1)
    if not name.strip():
        raise CompareError(f"empty display name in {text!r}: write PATH=NAME, or PATH alone for the default name")
    return Path(path), name.strip()


def _mapping(text: str) -> tuple[str, str]:
    from hyperfit_tasks.compare.results import parse_mapping

    try:
        return parse_mapping(text)
    except CompareError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _comma_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return names


if __name__ == "__main__":
    sys.exit(main())
