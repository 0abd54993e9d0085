"""``cvzoo calibrate --ckpt PATH [--target-coverage 0.8 | --target-error 0.02]``: the reject option."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from cvzoo.errors import ConfigError, suggestion

# key -> converter of the key=value settings this command takes.
SETTINGS = {
    "ckpt": str,
    "target_coverage": float,
    "target_error": float,
    "images": str,
    "batch_size": int,
    "out": str,
}


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """Turn ``["ckpt=a.ckpt", "target_coverage=0.9"]`` into typed settings (bad keys/values raise)."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(
                f"bad argument {item!r}: expected --flag VALUE or key=value, e.g. --ckpt best.ckpt"
            )
        if key not in SETTINGS:
            hint = suggestion(key, SETTINGS) or f"keys: {', '.join(SETTINGS)}"
            raise ConfigError(f"unknown setting {key!r}; {hint}")
        try:
            settings[key] = SETTINGS[key](value)
        except ValueError:
            raise ConfigError(f"{key}={value!r} is not a {SETTINGS[key].__name__}") from None
    if "ckpt" not in settings:
        raise ConfigError("missing --ckpt <run>/checkpoints/best.ckpt")
    return settings


def flag_settings(args: argparse.Namespace) -> list[str]:
    """The ``--flag VALUE`` settings as ``key=value`` items (after the positional ones, so flags win)."""
    return [f"{key}={getattr(args, key)}" for key in SETTINGS if getattr(args, key, None) is not None]


def run(args: argparse.Namespace) -> int:
    """Calibrate, print the chosen threshold (or one JSON object) and the files written."""
    from cvzoo.inference.calibrate import run_calibration

    settings = parse_settings([*args.settings, *flag_settings(args)])
    result = run_calibration(**settings, progress=not args.json)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}))
    else:
        removed = result.get("errors_removed")
        errors = f", removes {removed:.0%} of errors" if removed is not None else ""
        print(
            f"threshold {result['threshold']:.4f}: keeps {result['coverage']:.1%} of answers{errors} "
            f"({result['n']} {result['unit']}s, {result['source']})"
        )
    print("wrote " + ", ".join(result["files"]), file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` sub-command."""
    parser = subparsers.add_parser(
        "calibrate",
        help="choose the confidence threshold below which predict.py answers 'unknown'",
        description="Reject option: on the validation split (or unlabelled --images DIR), measure for "
        "each max-softmax threshold the share of answers kept and of errors removed, pick the "
        "threshold for --target-coverage (default 0.8) or --target-error, and store it in "
        "<run>/calibration.json (and export/model.json when exported).",
    )
    helps = {
        "ckpt": "training checkpoint, e.g. <run>/checkpoints/best.ckpt (required)",
        "target_coverage": "share of answers to keep (default 0.8)",
        "target_error": "largest error rate of the kept answers (instead of --target-coverage)",
        "images": "calibrate on these unlabelled images instead of the validation split",
        "batch_size": "images per batch (default 64)",
        "out": "where calibration.json/.csv/.png go (default: the run dir)",
    }
    for key, kind in SETTINGS.items():
        metavar = {str: "PATH", float: "X", int: "N"}[kind]
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, metavar=metavar, help=helps[key])
    parser.add_argument(
        "settings", nargs="*", metavar="KEY=VALUE",
        help="the same settings as key=value (ckpt=PATH target_coverage=0.8), like predict.py's",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")
    parser.set_defaults(func=run)
