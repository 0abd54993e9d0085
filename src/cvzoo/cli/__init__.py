"""The ``cvzoo`` console script: every non-training command, one module per command.

Each module in this package defines ``register(subparsers)`` which adds its sub-command and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Adding a command therefore means adding one module here; nothing else is edited.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from cvzoo.errors import debug_requested, error_line


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


def _output_of(args: argparse.Namespace) -> str | None:
    """The output file or folder a command was given (named in a write error that lacks a path)."""
    for name in ("output", "out"):
        value = getattr(args, name, None)
        if value:
            return str(value)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the ``cvzoo`` command line; an error becomes one line on stderr (bad input: exit code 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as err:
        if args.debug or debug_requested():
            raise
        if isinstance(err, OSError) and err.filename is None:
            err.filename = _output_of(args)
        line, code = error_line(err)
        print(f"cvzoo {args.command}: error: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
