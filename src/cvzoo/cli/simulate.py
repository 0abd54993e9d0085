"""``cvzoo simulate``: replay the guided sweep and random search on a complete quality matrix."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cvzoo.cli import simulate_epochs
from cvzoo.errors import ConfigError
from cvzoo.results.matrix_io import drop_columns, match_columns, read_table
from cvzoo.search.knobs import DEFAULTS
from cvzoo.search.simulate import simulate


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    p = subparsers.add_parser(
        "simulate",
        help="replay the guided sweep vs random search on a complete matrix",
        description=__doc__.splitlines()[0] + " Empty cells are untrainable.",
    )
    p.add_argument(
        "full",
        metavar="FULL.csv",
        help="quality matrix (first column = row label); with --fidelity epoch: long curves",
    )
    simulate_epochs.add_arguments(p)
    p.add_argument(
        "--budget",
        nargs="+",
        default=["0.1", "0.2", "0.3"],
        help="fractions of the trainable cells (0.3) or numbers of runs (25)",
    )
    p.add_argument("--seeds", type=int, default=20, help="replays per budget (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--lower-is-better", action="store_true", help="smaller values are better")
    p.add_argument(
        "--exclude-cols",
        nargs="+",
        default=[],
        metavar="COL",
        help="side-feature columns (params, FLOPs) that are not cells of the grid; names or "
        "globs (quote them: 'params_*')",
    )
    p.add_argument(
        "--features",
        action="store_true",
        help="give the excluded columns to the predictors as row features (boosting; slower)",
    )
    p.add_argument("--batch-size", type=int, default=1, help="cells per proposal (default 1)")
    p.add_argument(
        "--acquisition",
        choices=("ei", "ucb"),
        default=DEFAULTS.acquisition,
        help="expected improvement (default) or upper confidence bound mean + 2 std",
    )
    p.add_argument("--method", default=DEFAULTS.method, help="quality model (auto, bias, als, boost)")
    p.add_argument(
        "--init-share",
        type=float,
        default=DEFAULTS.init_share,
        help="share of the budget the covering design is cut to when it would take it all (with "
        "--no-full-design: whenever it takes more than 2 x this share) (default 0.25)",
    )
    p.add_argument(
        "--full-design",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.full_design,
        help="keep the whole covering design whenever it leaves at least one model-guided run "
        "(default, as hydra/sweeper=guided); --no-full-design cuts it by --init-share alone",
    )
    p.add_argument(
        "--max-refits",
        type=int,
        default=None,
        help="predictor fits per replay at most (default 10, fewer on grids over 5,000 cells; "
        "0 = refit before every batch)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the matrix, replay both strategies, print a table or one JSON object."""
    if args.fidelity is not None:
        return simulate_epochs.run(args)
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be >= 1")
    if not 0 < args.init_share <= 1:
        raise ConfigError(f"--init-share {args.init_share} must be in (0, 1]")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} must be >= 1")
    budgets = [simulate_epochs.parse_budget(text) for text in args.budget]
    matrix = read_table(args.full)
    features = None
    if args.exclude_cols:
        names = match_columns(matrix, args.exclude_cols, args.full)  # checks every pattern
        if args.features:
            features = matrix.values[:, [matrix.cols.index(c) for c in names]]
        matrix = drop_columns(matrix, names, args.full)
    refits = "auto" if args.max_refits is None else (args.max_refits or None)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    err = Console(stderr=True)
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("replaying", total=len(budgets) * args.seeds)
        result = simulate(
            matrix.values, budgets, args.seeds, lower_is_better=args.lower_is_better,
            batch_size=args.batch_size, max_refits=refits,
            row_features=features, method=args.method, acquisition=args.acquisition,
            init_share=args.init_share, full_design=args.full_design,
            on_step=lambda: bar.advance(task),
        )  # fmt: skip
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        shape = f"{len(matrix.rows)}x{len(matrix.cols)}"
        print(f"{args.full} ({shape}), {args.seeds} seeds, mean over seeds:\n")
        print(result.to_markdown())
    print(f"simulated in {result.seconds:.1f} s", file=sys.stderr)
    return 0
