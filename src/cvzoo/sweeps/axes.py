"""Which config keys a sweep varied, and the record keys that name them."""

from __future__ import annotations

from collections.abc import Sequence

# Swept Hydra keys whose record field has another name.
_RECORD_KEY = {"backbone.name": "backbone", "head.name": "head", "dataset.name": "dataset"}
_SWEEP_FUNCTIONS = ("range(", "choice(", "interval(", "glob(")


def swept_keys(overrides: Sequence[str]) -> list[str]:
    """Keys of ``key=a,b`` (or ``choice(...)``/``range(...)``) overrides, as record keys."""
    keys = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            continue
        key = key.lstrip("+~")
        if "," in value or value.startswith(_SWEEP_FUNCTIONS):
            record_key = _RECORD_KEY.get(key, key)
            if record_key not in keys:
                keys.append(record_key)
    return keys


def matrix_axes(keys: Sequence[str]) -> tuple[str, str] | None:
    """Rows and columns of the sweep's matrix: backbone x head when both vary, else the first two."""
    if not keys:
        return None
    preferred = [k for k in ("backbone", "head") if k in keys]
    ordered = preferred + [k for k in keys if k not in preferred]
    if len(ordered) == 1:
        other = "head" if ordered[0] != "head" else "backbone"
        return ordered[0], other
    return ordered[0], ordered[1]
