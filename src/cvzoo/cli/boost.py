"""``cvzoo boost``: how well do dataset, model and budget features predict a run's metric?"""

from __future__ import annotations

import argparse
from pathlib import Path

from cvzoo.cli._options import add_fit_options, add_from_results, print_summary, print_wrote


def run(args: argparse.Namespace) -> int:
    """Build the record table, cross-validate the booster, write boost.json and its plot."""
    from cvzoo.results.boost_report import boost_summary, describe, write_boost_outputs
    from cvzoo.results.store import find_records, parse_where

    records = find_records(args.from_results, where=parse_where(args.where), status="ok")
    summary = boost_summary(records, args.target, args.seed, progress=not args.quiet)
    paths = write_boost_outputs(summary, args.out or Path(args.from_results[0]))
    print_summary(summary, describe(summary), args.json)
    print_wrote(paths)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``boost`` sub-command."""
    parser = subparsers.add_parser(
        "boost",
        help="gradient boosting on dataset meta-features, model and budget features",
        description="Cross-validate a LightGBM model that predicts a run's metric from the "
        "dataset's meta-features, the model, the budget and ALS embeddings (random K-fold and "
        "leave-one-dataset-out), and plot feature importance.",
    )
    add_from_results(parser, required=True)
    parser.add_argument("--target", default="val/acc", help="metric to predict (val/acc)")
    parser.add_argument("--out", metavar="DIR", help="where boost.json goes (default: first DIR)")
    parser.add_argument("--json", action="store_true", help="print boost.json's content")
    add_fit_options(parser)
    parser.set_defaults(func=run)
