"""``cvzoo curve``: how much data? Fit a learning curve and extrapolate it to larger sizes."""

from __future__ import annotations

import argparse
from pathlib import Path

from cvzoo.cli._options import add_from_results, print_summary, print_wrote
from cvzoo.errors import ConfigError


def _sizes(text: str | None) -> list[float] | None:
    """Parse ``--at 1000,5000`` into positive numbers."""
    if not text:
        return None
    try:
        sizes = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ConfigError(f"bad --at {text!r}: expected sizes like --at 1000,5000") from None
    if not sizes or min(sizes) <= 0:
        raise ConfigError(f"bad --at {text!r}: sizes must be positive, e.g. --at 1000,5000")
    return sizes


def run(args: argparse.Namespace) -> int:
    """Read the points, fit, print (text or one JSON object) and write curve.json + curve.png."""
    from cvzoo.results.curve_report import (
        analyse,
        describe,
        points_from_csv,
        points_from_records,
        write_outputs,
    )

    if bool(args.input) == bool(args.from_results):
        raise ConfigError("give exactly one of --input points.csv or --from-results DIR")
    at = _sizes(args.at)
    if args.input:
        sizes, metrics = points_from_csv(args.input)
        metric, default_out = "metric", Path(args.input).parent
    else:
        from cvzoo.results.store import parse_where

        sizes, metrics = points_from_records(args.from_results, parse_where(args.where), args.metric)
        metric, default_out = args.metric, Path(args.from_results[0])
    curve, summary = analyse(sizes, metrics, at, args.target)
    paths = write_outputs(args.out or default_out, summary, curve, metric)
    print_summary(summary, describe(summary, curve), args.json)
    print_wrote(paths)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``curve`` sub-command."""
    parser = subparsers.add_parser(
        "curve",
        help="fit metric vs training-set size and extrapolate (how much data is needed?)",
        description="Fit a learning curve (4-parameter logistic in log-size or power law, chosen "
        "by leave-last-out error); predict larger sizes with 90 % intervals and the size needed "
        "for a target.",
    )
    parser.add_argument("--input", metavar="points.csv", help="CSV with columns size,metric")
    add_from_results(parser, note=" (a dataset.fraction sweep: size = train_images)")
    parser.add_argument("--metric", default="val/acc", help="metric of the records (val/acc)")
    parser.add_argument("--target", type=float, help="metric to reach, e.g. 0.9")
    parser.add_argument("--at", metavar="N,N", help="sizes to predict at, e.g. 1000,5000")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument(
        "--out", metavar="DIR", help="where curve.json/curve.png go (default: next to the input)"
    )
    parser.set_defaults(func=run)
