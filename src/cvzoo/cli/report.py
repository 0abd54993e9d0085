"""``cvzoo report``: the comparison report of a sweep (report.md, report.csv and PNG plots)."""

from __future__ import annotations

import argparse

from cvzoo.cli._options import add_record_filters, print_wrote, require_records, warn
from cvzoo.results.report import write_report
from cvzoo.results.store import find_records, parse_where


def run(args: argparse.Namespace) -> int:
    """Write the report of the matching runs into --out (default: the first DIR)."""
    records = find_records(args.dirs, parse_where(args.where), on_warning=warn)
    require_records(records, args.dirs, args.where)
    paths = write_report(records, args.out or args.dirs[0], progress=True)
    ok = sum(r.get("status") == "ok" for r in records)
    print(f"{paths['md']}  ({len(records)} runs, {ok} ok)")
    print_wrote(paths.values())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report",
        help="compare the runs of a sweep (report.md, report.csv, plots)",
        description="Rank the runs under DIR ... by their monitored metric and write report.md, "
        "report.csv, overlaid curves, confusion matrices or per-class IoU bars and a "
        "hyperparameter chart into --out (default: the first DIR).",
    )
    add_record_filters(parser)
    parser.add_argument("--out", default=None, help="output directory (default: the first DIR)")
    parser.set_defaults(func=run)
