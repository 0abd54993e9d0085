"""Training: the task behind ``train.py`` (fit, test, record), its callbacks and its checks."""

from __future__ import annotations

from typing import Any

__all__ = ["monitored_value", "run_training", "summary_line"]


def __getattr__(name: str) -> Any:
    """Import lightning only when a training function is used (train.py's early checks stay light)."""
    if name in __all__:
        from cvzoo.training import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
