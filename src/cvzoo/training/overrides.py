"""Reading train.py's command line before Hydra does: what each override selects, where cvzoo can tell.

Every Hydra syntax is accepted here (lists, ``glob()``, ``range()``, ``choice()``, ``interval()``,
``+``/``++``/``~``, ``null``); what these helpers cannot expand is left to Hydra, never refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from hydra.core.override_parser.types import ChoiceSweep, Glob, Override

from cvzoo.errors import ConfigError
from cvzoo.sweeps.axes import parse_overrides

# Hydra flags that change which config is composed: the early checks then stand aside.
CONFIG_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun")


def override_items(argv: Sequence[str]) -> list[str]:
    """The ``key=value`` overrides among the arguments (flags and their values dropped)."""
    return [arg for arg in argv if not arg.startswith("-") and "=" in arg]


def parse_command_line(argv: Sequence[str]) -> list[Override]:
    """Parse the overrides with Hydra's grammar; a syntax error becomes one ConfigError line."""
    items = override_items(argv)
    try:
        return parse_overrides(items)
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"cannot parse the overrides {' '.join(items)}: {first}") from err


def group_options(config_dir: Path, group: str) -> list[str]:
    """Names of the config files in one group folder."""
    folder = config_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def is_group(config_dir: Path, override: Override) -> bool:
    """True for an override that picks a file of a top-level config group (``backbone=...``)."""
    key = override.key_or_group
    return "." not in key and "/" not in key and (config_dir / key).is_dir()


def is_glob(override: Override) -> bool:
    """True for ``key=glob(...)``."""
    return isinstance(override.value(), Glob)


def selected_options(override: Override, known: Sequence[str]) -> list[str] | None:
    """Option names an override selects (globs matched against ``known``); None: only Hydra knows."""
    if override.is_delete():
        return []
    value = override.value()
    if isinstance(value, Glob):
        return value.filter(list(known))
    if override.is_sweep_override():
        if not isinstance(value, ChoiceSweep):
            return None  # range() and interval() of a group: Hydra reports what it makes of them
        return [str(v) for v in override.sweep_string_iterator()]
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [name.strip() for v in values for name in str(v).split(",") if name.strip() not in ("", "null")]


def group_override(config_dir: Path, overrides: Sequence[Override], group: str) -> Override | None:
    """The command line's override of the config group ``group`` (None when it sets none)."""
    for override in overrides:
        if override.key_or_group == group and is_group(config_dir, override):
            return override
    return None


def plain_value(overrides: Sequence[Override], key: str) -> str | None:
    """The value of a plain (unswept) ``key=value`` override, else None."""
    for override in overrides:
        if override.key_or_group == key and not override.is_sweep_override() and not override.is_delete():
            value = override.value()
            return None if value is None else str(value)
    return None


def read_yaml(path: Path) -> dict:
    """A config file as a dict ({} when missing or not a mapping)."""
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read {path}: {str(err).splitlines()[0]}; fix the file") from err
    return data if isinstance(data, dict) else {}


def defaults_choice(config_dir: Path, config: str, group: str) -> str | None:
    """The option a config file's defaults list picks for ``group`` (``head: x``, ``override /head: x``)."""
    for entry in read_yaml(config_dir / f"{config}.yaml").get("defaults") or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                name = str(key).removeprefix("override ").strip().lstrip("/")
                if name == group and value is not None:
                    return str(value)
    return None


def uses_other_config(argv: Sequence[str]) -> bool:
    """True when a flag points Hydra at another config (the early checks then stand aside)."""
    return any(arg.split("=")[0] in CONFIG_FLAGS for arg in argv)
