"""Which config keys a sweep varied, and the record keys that name them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

# Swept Hydra keys whose record field has another name.
_RECORD_KEY = {"backbone.name": "backbone", "head.name": "head", "dataset.name": "dataset"}


def parse_overrides(items: Sequence[str]) -> list[Override]:
    """Parse command-line overrides with Hydra's own grammar (lists, sweeps, range/choice)."""
    return OverridesParser.create().parse_overrides(list(items))


def override_options(override: Override) -> list[str]:
    """The option names an override selects: one for a plain value, several for a sweep."""
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    value = override.value()
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def swept_keys(overrides: Sequence[str], sweeper_params: Mapping[str, Any] | None = None) -> list[str]:
    """Record keys of the swept overrides (command line, then ``hydra.sweeper.params``)."""
    params = [f"{k}={v}" for k, v in (sweeper_params or {}).items()]
    keys: list[str] = []
    for override in parse_overrides([*overrides, *params]):
        if override.is_sweep_override():
            key = _RECORD_KEY.get(override.key_or_group, override.key_or_group)
            if key not in keys:
                keys.append(key)
    return keys


def matrix_axes(keys: Iterable[str]) -> tuple[str, str] | None:
    """Rows and columns of the sweep's matrix: backbone x head when both vary, else the first two."""
    keys = list(keys)
    if not keys:
        return None
    preferred = [k for k in ("backbone", "head") if k in keys]
    ordered = preferred + [k for k in keys if k not in preferred]
    if len(ordered) == 1:
        other = "head" if ordered[0] != "head" else "backbone"
        return ordered[0], other
    return ordered[0], ordered[1]
