"""Options and output shared by several ``cvzoo`` sub-commands: each is defined once, here.

This module has no ``register``: the command discovery in ``cvzoo.cli`` passes over it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cvzoo.errors import DataError

WHERE_HELP = "keep records whose field, metric or dotted config key equals VALUE (all must hold)"


def add_where(parser: argparse.ArgumentParser, *, after_dirs: bool = False, note: str = "") -> None:
    """``--where KEY=VALUE``; repeatable, and (without positional DIRs) several after one flag."""
    # After positional DIR ... a greedy nargs would swallow the directories: one value per flag.
    style: dict[str, Any] = {"action": "append"} if after_dirs else {"nargs": "+", "action": "extend"}
    parser.add_argument("--where", default=[], metavar="KEY=VALUE", help=WHERE_HELP + note, **style)


def add_record_filters(parser: argparse.ArgumentParser) -> None:
    """Positional ``DIR ...`` (default logs) and ``--where``, as ``results``/``matrix``/``report`` take."""
    parser.add_argument(
        "dirs", nargs="*", default=["logs"], metavar="DIR",
        help="directories searched recursively for result.json (default: logs)",
    )  # fmt: skip
    add_where(parser, after_dirs=True)


def add_from_results(parser: argparse.ArgumentParser, *, required: bool = False, note: str = "") -> None:
    """``--from-results DIR ...`` plus its ``--where`` filter."""
    parser.add_argument(
        "--from-results", nargs="+", required=required, metavar="DIR",
        help="directories searched recursively for result.json records" + note,
    )  # fmt: skip
    add_where(parser, note=note)


def add_pivot_keys(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--rows`` and ``--cols``: the record keys a matrix is pivoted over."""
    parser.add_argument("--rows", default="backbone", help=f"record key for rows (default: backbone){note}")
    parser.add_argument("--cols", default="head", help=f"record key for columns (default: head){note}")


def add_fit_options(parser: argparse.ArgumentParser) -> None:
    """``--seed`` of the cross-validation folds and ``--quiet`` (no progress bar)."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the CV folds (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def warn(message: str) -> None:
    """Show a skipped record (or another non-fatal problem) as one warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def require_records(records: Sequence[Mapping], dirs: Sequence[str], where: Sequence[str]) -> None:
    """Stop with one line when the filters left no record."""
    if not records:
        filters = " with " + " ".join(where) if where else ""
        raise DataError(f"no records under {' '.join(map(str, dirs))}{filters}; run training first")


def print_wrote(paths: Iterable[Any]) -> None:
    """The files a command wrote, as one line on stderr."""
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)


def print_summary(summary: Mapping[str, Any], text: str, as_json: bool) -> None:
    """Exactly one JSON object on stdout (text to stderr) with ``--json``, else the text on stdout."""
    if as_json:
        print(json.dumps(summary))
        print(text, file=sys.stderr)
    else:
        print(text)
