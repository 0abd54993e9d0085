"""The errors cvzoo raises at its boundaries: one line that names the bad value and the fix."""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable

# Exit codes shared by train.py, export.py, predict.py and cvzoo (docs/reference/exit-codes.md).
EXIT_BAD_INPUT = 2  # the command was refused: a bad value, file or directory, as argparse does
EXIT_FAILED = 1  # the work itself failed: training diverged, or an unexpected error


class CvzooError(Exception):
    """Base class: a user-facing error whose message is one actionable line."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(CvzooError):
    """A config value is unknown, out of range or does not fit the rest of the config."""


class DataError(CvzooError):
    """A dataset is missing, empty or holds a file that cannot be used."""


class ModelError(CvzooError):
    """A backbone or head cannot be built (unknown name, weights unreachable, bad combination)."""


class DivergedError(CvzooError):
    """Training produced a non-finite loss."""

    exit_code = EXIT_FAILED


def closest(name: str, candidates: Iterable[str], n: int = 5, cutoff: float = 0.5) -> list[str]:
    """Return up to ``n`` candidates that look most like ``name`` (prefix matches first)."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=n, cutoff=cutoff)
    prefix = [c for c in pool if c.startswith(name) and c not in close]
    return (close + prefix)[:n]


def suggestion(name: str, candidates: Iterable[str], n: int = 5) -> str:
    """Format the closest candidates as ``did you mean: a, b, c`` (empty when none)."""
    found = closest(name, candidates, n=n)
    return f"did you mean: {', '.join(found)}" if found else ""


def debug_requested() -> bool:
    """True when the user asked for full tracebacks (``CVZOO_DEBUG=1`` or ``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get("CVZOO_DEBUG", "0") not in ("", "0") or os.environ.get("HYDRA_FULL_ERROR") == "1"


def os_error_line(err: OSError) -> str:
    """One line naming the path an operating-system error hit and what to do about it."""
    path = err.filename if err.filename is not None else "the output"
    if err.errno == errno.ENOSPC:
        return f"no space left on the device holding {path}; free some space or write elsewhere"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path} ({err.strerror}); pick a writable directory"
    if err.errno == errno.ENOTDIR:
        return f"{path}: part of this path is a file, not a directory; pick another directory"
    if err.errno == errno.ENOENT:
        return f"{path} does not exist; check the path"
    return f"{path}: {err.strerror or err}; check the path and the disk"


def _omegaconf_line(err: Exception) -> str | None:
    """One line for a missing or invalid config value (OmegaConf's own errors), else None."""
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    if not isinstance(err, OmegaConfBaseException):
        return None
    key = getattr(err, "full_key", None) or "a config value"
    if isinstance(err, MissingMandatoryValue):
        return f"{key} is required; give {key}=VALUE on the command line"
    return f"{key}: {str(err).splitlines()[0]}; fix this value on the command line"


def error_line(err: Exception) -> tuple[str, int]:
    """The one-line message and exit code an entry point shows for ``err`` (never a traceback)."""
    if isinstance(err, CvzooError):
        return str(err) or type(err).__name__, err.exit_code
    if isinstance(err, OSError):
        return os_error_line(err), EXIT_BAD_INPUT
    line = _omegaconf_line(err)
    if line is not None:
        return line, EXIT_BAD_INPUT
    first = str(err).splitlines()[0] if str(err) else ""
    return f"unexpected {type(err).__name__}: {first} (CVZOO_DEBUG=1 shows the traceback)", EXIT_FAILED
