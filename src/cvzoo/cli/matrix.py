"""``cvzoo matrix``: pivot run records over two keys into the backbone x head quality matrix."""

from __future__ import annotations

import argparse

from cvzoo.cli._options import add_pivot_keys, add_record_filters, print_wrote, require_records, warn
from cvzoo.results.matrix_writer import to_markdown, write_matrix
from cvzoo.results.pivot import default_metric, pivot_records
from cvzoo.results.store import find_records, parse_where


def run(args: argparse.Namespace) -> int:
    """Pivot the matching records, write matrix.csv/.md/.png and print the markdown table."""
    where = parse_where(args.where)
    records = find_records(args.dirs, where, on_warning=warn)
    require_records(records, args.dirs, args.where)
    metric = args.metric or default_metric(records)
    matrix = pivot_records(records, rows=args.rows, cols=args.cols, metric=metric)
    paths = write_matrix(matrix, args.out or args.dirs[0])
    print(to_markdown(matrix), end="")
    print_wrote(paths.values())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``matrix`` sub-command."""
    parser = subparsers.add_parser(
        "matrix",
        help="pivot records into a quality matrix (csv, md, png)",
        description="Pivot result.json records over two keys, mean ± std over seeds.",
    )
    add_record_filters(parser)
    add_pivot_keys(parser)
    parser.add_argument(
        "--metric", default=None,
        help="metric such as val/mIoU or test/acc (default: the records' monitored metric)",
    )  # fmt: skip
    parser.add_argument("--out", default=None, help="output directory (default: the first DIR)")
    parser.set_defaults(func=run)
