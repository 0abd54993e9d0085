"""``cvzoo complete``: fill every cell of a quality matrix (CSV or run records)."""

from __future__ import annotations

import argparse
import sys

from cvzoo.cli._options import add_fit_options, add_from_results, add_pivot_keys, print_wrote
from cvzoo.errors import ConfigError
from cvzoo.predictors.completion import METHODS, MIN_HELD_TO_SWITCH
from cvzoo.results.completion_files import complete_csv, complete_records


def _describe(comp) -> str:
    """One line: chosen method, its parameters and the cross-validated error (or why there is none)."""
    params = ", ".join(f"{k}={v}" for k, v in comp.params.items() if k != "held_out_cells")
    if "held_out_cells" in comp.params:
        held = comp.params["held_out_cells"]
        return (f"method={comp.method} ({params}); sparse grid: {held} cells can be held out, "
                f"{MIN_HELD_TO_SWITCH} needed to cross-validate")  # fmt: skip
    return f"method={comp.method} ({params}), CV RMSE on observed cells={comp.cv_rmse:.4g}"


def _from_results(args: argparse.Namespace) -> int:
    """Pivot records, complete the matrix and write it with its heatmap next to matrix.csv."""
    from cvzoo.results.store import parse_where

    if args.input or args.output:
        raise ConfigError("--from-results takes no INPUT/OUTPUT; drop them or drop --from-results")
    if not args.metric:
        raise ConfigError("--from-results needs --metric, e.g. --metric val/mIoU")
    paths = complete_records(args.from_results, args.rows, args.cols, args.metric,
                             parse_where(args.where), args.method, args.seed,
                             progress=not args.quiet)  # fmt: skip
    print_wrote(paths.values())
    return 0


def run(args: argparse.Namespace) -> int:
    """Complete INPUT.csv into OUTPUT.csv, or records with --from-results."""
    if args.from_results:
        return _from_results(args)
    if not args.input or not args.output:
        raise ConfigError("give INPUT.csv and OUTPUT.csv, or --from-results DIR")
    matrix, comp = complete_csv(args.input, args.output, args.method, args.row_features,
                                args.col_features, args.std, args.seed,
                                progress=not args.quiet)  # fmt: skip
    shape = f"{len(matrix.rows)}x{len(matrix.cols)}"
    print(f"wrote {args.output} ({shape}); {_describe(comp)}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``complete`` sub-command."""
    parser = subparsers.add_parser(
        "complete",
        help="fill the unknown cells of a quality matrix (bias, ALS, boosting)",
        description="Fill every empty cell of a quality matrix; observed cells keep their values.",
    )
    parser.add_argument(
        "input",
        nargs="?",
        metavar="INPUT.csv",
        help="first column = row label, header = column labels, empty = unknown",
    )
    parser.add_argument("output", nargs="?", metavar="OUTPUT.csv", help="the filled matrix")
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="auto picks by cross-validation on the observed cells (default)",
    )
    parser.add_argument("--row-features", metavar="R.csv", help="side features per row label")
    parser.add_argument("--col-features", metavar="C.csv", help="side features per column label")
    parser.add_argument("--std", metavar="STD.csv", help="also write the per-cell uncertainty")
    add_fit_options(parser)
    add_from_results(parser, note=" (with --from-results: complete the matrix pivoted from them)")
    add_pivot_keys(parser, note=" (with --from-results)")
    parser.add_argument("--metric", help="metric to pivot, e.g. val/mIoU (with --from-results)")
    parser.set_defaults(func=run)
