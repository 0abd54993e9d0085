"""cvzoo: find the best timm backbone x head x recipe for your data without training every cell."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["create_model"]


def __getattr__(name: str) -> Any:
    """Import ``create_model`` (and with it torch) only when it is used, not for the CLI's start-up."""
    if name == "create_model":
        from cvzoo.factory import create_model

        return create_model
    raise AttributeError(f"module 'cvzoo' has no attribute {name!r}")
