"""``cvzoo evaluate-completion``: hide cells of a full matrix, predict them, score every method."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from cvzoo.predictors.evaluation import evaluate_completion, method_runners
from cvzoo.predictors.progress import fit_progress
from cvzoo.results.completion_table import markdown_table, results_table
from cvzoo.results.matrix_io import drop_columns, read_features, read_table


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print a table (or JSON with --json)."""
    matrix = drop_columns(read_table(args.full), args.exclude_cols, args.full)
    rf = read_features(args.row_features, matrix.rows, "row") if args.row_features else None
    cf = read_features(args.col_features, matrix.cols, "column") if args.col_features else None
    steps = len(args.frac) * args.seeds * len(method_runners(rf, cf))
    with fit_progress(not (args.json or args.markdown), "evaluating completion", steps) as tick:
        rows = evaluate_completion(matrix.values, args.frac, args.seeds, rf, cf,
                                   args.lower_is_better, tick)  # fmt: skip
    if args.markdown:
        print(markdown_table(rows, Path(args.full).stem))
        return 0
    if args.json:
        print(
            json.dumps(
                {
                    "file": str(args.full),
                    "shape": list(matrix.values.shape),
                    "lower_is_better": args.lower_is_better,
                    "results": rows,
                },
                indent=2,
            )
        )
        return 0
    shape = f"{len(matrix.rows)}×{len(matrix.cols)}"
    title = f"{args.full} ({shape}), {args.seeds} seeds, per-column z-scores"
    Console(width=max(Console().width, 120)).print(results_table(rows, title))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate-completion`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate-completion",
        help="score completion methods by hiding cells of a full matrix",
        description=(
            "Hide cells at random (every row and column keeps one), run global mean, the plain "
            "shared-scale bias model, ALS and auto (and boost with side features), and report "
            "nRMSE, Spearman and top-1 regret on per-column z-scores and the std's coverage."
        ),
    )
    parser.add_argument("full", metavar="FULL.csv", help="matrix with the cells to hide")
    parser.add_argument(
        "--frac",
        type=float,
        nargs="+",
        default=[0.1, 0.2, 0.3],
        help="fractions of known cells kept observed (default 0.1 0.2 0.3)",
    )
    parser.add_argument("--seeds", type=int, default=10, help="random maskings per fraction")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument(
        "--markdown", action="store_true", help="one Markdown line per fraction, methods as columns"
    )
    parser.add_argument(
        "--lower-is-better",
        action="store_true",
        help="values are errors/losses (regret and ranks use the minimum)",
    )
    parser.add_argument(
        "--exclude-cols",
        nargs="+",
        default=[],
        metavar="COL",
        help="columns that are not targets (e.g. params, flops); names or globs ('params_*')",
    )
    parser.add_argument("--row-features", metavar="R.csv", help="side features per row label")
    parser.add_argument("--col-features", metavar="C.csv", help="side features per column label")
    parser.set_defaults(func=run)
