"""``cvzoo results``: list every run record under some directories, newest first."""

from __future__ import annotations

import argparse

from cvzoo.cli._options import add_record_filters, warn
from cvzoo.results.store import LIST_FORMATS, find_records, format_listing, parse_where


def run(args: argparse.Namespace) -> int:
    """List the records matching the filters in the chosen format."""
    records = find_records(args.dirs, parse_where(args.where), status=args.status, on_warning=warn)
    print(format_listing(records, args.format))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``results`` sub-command."""
    parser = subparsers.add_parser(
        "results",
        help="list run records (result.json) newest first",
        description="List every result.json under DIR ... newest first, with status and metrics.",
    )
    add_record_filters(parser)
    parser.add_argument(
        "--status", choices=["ok", "failed", "diverged", "interrupted", "running"], default=None
    )
    parser.add_argument("--format", choices=LIST_FORMATS, default="table")
    parser.set_defaults(func=run)
