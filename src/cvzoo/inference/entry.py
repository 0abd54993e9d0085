"""What ``export.py`` and ``predict.py`` wrap around their work: one-line errors, non-zero exit."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cvzoo.errors import ConfigError, CvzooError, debug_requested, error_line

_KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false"}


def run_entry(func: Callable[[Any], Any], cfg: Any) -> Any:
    """Call ``func(cfg)``; an error prints one ``error: <line>`` and exits non-zero (CVZOO_DEBUG=1: raise)."""
    import torch

    if "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
    try:
        return func(cfg)
    except Exception as err:
        if debug_requested():
            raise
        if isinstance(err, OSError) and err.filename is None and cfg.get("out") is not None:
            err.filename = str(cfg.get("out"))  # a failed flush or close names no file: name the output
        line, code = error_line(err)
        print(f"error: {line}", file=sys.stderr)
        sys.exit(code)


def check_entry_command_line(argv: Sequence[str], config_dir: Path, config_name: str) -> None:
    """Compose ``config_name`` with the arguments before Hydra does; a bad one prints one line and exits."""
    from cvzoo.training.precheck import check_command_line

    try:
        check_command_line(argv, config_dir, config_name)
    except CvzooError as err:
        if debug_requested():
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)


def quote_commas(argv: list[str], keys: tuple[str, ...]) -> list[str]:
    """Quote ``key=a,b`` arguments so Hydra reads them as one string, not as a sweep (``pick=b,h``)."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in keys and "," in value and value[:1] not in "'\"[":
            arg = f"{key}='{value}'"
        out.append(arg)
    return out


def typed(cfg: Any, key: str, kind: type) -> Any:
    """``cfg[key]`` as ``kind`` (int, float or bool); a value of another type is one ConfigError."""
    value = cfg[key]
    if value is None:
        return None
    ok = isinstance(value, bool) if kind is bool else not isinstance(value, bool)
    try:
        if ok:
            return kind(value)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{key}={value!r} must be {_KIND_NAMES[kind]}; fix it on the command line")
