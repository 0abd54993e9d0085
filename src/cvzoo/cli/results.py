"""``cvzoo results``: list every run record under some directories, newest first."""

from __future__ import annotations

import argparse
import sys

from cvzoo.results.store import LIST_FORMATS, find_records, format_listing, parse_where


def add_record_filters(parser: argparse.ArgumentParser) -> None:
    """The DIR ... and --where arguments shared by ``results`` and ``matrix``."""
    parser.add_argument(
        "dirs", nargs="*", default=["logs"], metavar="DIR",
        help="directories searched recursively for result.json (default: logs)",
    )  # fmt: skip
    parser.add_argument(
        "--where", action="append", default=[], metavar="KEY=VALUE",
        help="keep records whose field, metric or dotted config key equals VALUE (repeatable)",
    )  # fmt: skip


def print_warning(message: str) -> None:
    """Show a skipped record as one warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """List the records matching the filters in the chosen format."""
    records = find_records(
        args.dirs, parse_where(args.where), status=args.status, on_warning=print_warning
    )
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
    parser.add_argument("--status", choices=["ok", "failed", "diverged", "running"], default=None)
    parser.add_argument("--format", choices=LIST_FORMATS, default="table")
    parser.set_defaults(func=run)
