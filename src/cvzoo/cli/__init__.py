"""The ``cvzoo`` console script: every non-training command, one module per command.

Each module in this package defines ``register(subparsers)`` which adds its sub-command and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Adding a command therefore means adding one module here; nothing else is edited.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from cvzoo.errors import CvzooError


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-command per module of this package."""
    parser = argparse.ArgumentParser(prog="cvzoo", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``cvzoo`` command line; errors become one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CvzooError as err:
        if args.debug or os.environ.get("CVZOO_DEBUG"):
            raise
        print(f"cvzoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
