"""The errors cvzoo raises at its boundaries: one line that names the bad value and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CvzooError(Exception):
    """Base class: a user-facing error whose message is one actionable line."""


class ConfigError(CvzooError):
    """A config value is unknown, out of range or does not fit the rest of the config."""


class DataError(CvzooError):
    """A dataset is missing, empty or holds a file that cannot be used."""


class ModelError(CvzooError):
    """A backbone or head cannot be built (unknown name, weights unreachable, bad combination)."""


class DivergedError(CvzooError):
    """Training produced a non-finite loss."""


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
