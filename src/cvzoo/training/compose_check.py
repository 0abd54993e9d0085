"""Compose the command line before Hydra runs it: bad keys and unwritable dirs as one line.

A sweep is composed at the first value of each swept axis, plus each other option of a swept
experiment or of a swept group whose keys are also set (every option of a config group is checked
by the group check); ``interval()`` and what cannot be expanded here is left to Hydra.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from cvzoo.errors import ConfigError, os_error_line
from cvzoo.training.overrides import (
    group_options,
    is_glob,
    is_group,
    parse_command_line,
    selected_options,
)

_PLAIN = re.compile(r"^[\w./:@+-]*$")
_SKIP_FLAGS = ("--hydra-help", "--info", "-i", "--shell-completion", "-sc")
# Keys whose numeric or boolean default also takes a word (Lightning: devices=auto, deterministic=warn;
# backbone.pretrained=auto or a local weights file).
_WORD_KEYS = ("trainer.devices", "trainer.deterministic", "backbone.pretrained")


def _quoted(value: str) -> str:
    """``value`` as Hydra reads it back (quoted unless it is a plain word or path)."""
    return value if _PLAIN.match(value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _options(config_dir: Path, override: Override) -> list[str]:
    """The values a sweep override expands to here ([] for what only Hydra expands)."""
    if override.is_interval_sweep():
        return []
    if is_group(config_dir, override):
        return selected_options(override, group_options(config_dir, override.key_or_group)) or []
    return [] if is_glob(override) else [str(v) for v in override.sweep_string_iterator()]


def _reshapes(config_dir: Path, override: Override, overrides: Sequence[Override]) -> bool:
    """True when another option of this swept group may change which keys exist (experiments,
    or a group whose keys the command line also sets, as ``dataset=a,b dataset.num_images=8``)."""
    group = override.key_or_group
    if not is_group(config_dir, override):
        return False
    return group == "experiment" or any(o.key_or_group.startswith(f"{group}.") for o in overrides)


def sweep_points(config_dir: Path, overrides: Sequence[Override]) -> list[list[str]]:
    """Sweep points worth composing: every axis at its first value, then each other option of the
    groups that may reshape the config (intervals and what only Hydra expands are dropped)."""
    fixed: list[str | None] = []
    swept: dict[int, list[str]] = {}
    for i, override in enumerate(overrides):
        if not override.is_sweep_override():
            fixed.append(override.input_line)
            continue
        options = _options(config_dir, override)
        fixed.append(f"{override.get_key_element()}={_quoted(options[0])}" if options else None)
        if len(options) > 1 and _reshapes(config_dir, override, overrides):
            swept[i] = options[1:]
    first = [item for item in fixed if item is not None]
    points = [first]
    for i, options in swept.items():
        for option in options:
            point = list(fixed)
            point[i] = f"{overrides[i].get_key_element()}={_quoted(option)}"
            points.append([item for item in point if item is not None])
    return points


def compose_point(config_dir: Path, overrides: Sequence[str], config_name: str) -> DictConfig:
    """Compose ``config_name`` with ``overrides``; a Hydra or OmegaConf error becomes one ConfigError."""
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return compose(config_name, overrides=list(overrides), return_hydra_config=True)
    except Exception as err:
        text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise ConfigError(f"{text or type(err).__name__} (overrides: {' '.join(overrides)})") from err


def check_writable(path: Path, what: str) -> None:
    """Raise unless ``path`` can be created and written (probed in its nearest existing folder)."""
    probe_dir = path
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise ConfigError(f"{what}={path}: {probe_dir} is a file, not a folder; pick another directory")
    try:
        with tempfile.TemporaryFile(dir=probe_dir) as handle:
            os.write(handle.fileno(), b"\0" * 4096)
    except OSError as err:
        raise ConfigError(f"{what}={path}: " + os_error_line(err)) from err


def _output_dirs(cfg: DictConfig, multirun: bool) -> dict[str, Path]:
    """The directories a run writes into, by the key that sets them."""
    HydraConfig.instance().set_config(cfg)
    run_key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    run_dir = cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir
    return {"paths.log_dir": Path(str(cfg.paths.log_dir)), run_key: Path(str(run_dir))}


def _type_error(key: str, value: object, default: object) -> str | None:
    """Why ``value`` cannot replace the number or boolean ``default`` (None when it can)."""
    if key in _WORD_KEYS or value is None:
        return None
    if isinstance(default, bool) and not isinstance(value, bool):
        return f"{key}={value!r} must be true or false (default {str(default).lower()})"
    if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, str):
        return f"{key}={value!r} must be a number (default {default})"
    return None


def check_value_types(config_dir: Path, overrides: Sequence[Override], config_name: str) -> None:
    """Refuse a word where the config holds a number or a boolean (``trainer.max_epochs=abc``)."""
    plain = [
        o for o in overrides
        if not o.is_sweep_override() and not o.is_delete() and not o.is_hydra_override()
        and not is_group(config_dir, o) and "/" not in o.key_or_group
    ]  # fmt: skip
    if not plain:
        return
    groups = [o.input_line for o in overrides if is_group(config_dir, o) and not o.is_sweep_override()]
    base = compose_point(config_dir, groups, config_name)
    for override in plain:
        default = OmegaConf.select(base, override.key_or_group, throw_on_resolution_failure=False)
        problem = _type_error(override.key_or_group, override.value(), default)
        if problem:
            raise ConfigError(f"{problem}; fix it on the command line")


def check_composes(argv: Sequence[str], config_dir: Path, config_name: str = "train") -> None:
    """Compose one point of the command line and probe its output folders; raise one ConfigError."""
    if any(arg in _SKIP_FLAGS for arg in argv):
        return
    overrides = parse_command_line(argv)
    points = sweep_points(config_dir, overrides)
    check_value_types(config_dir, overrides, config_name)
    for point in points[1:]:
        compose_point(config_dir, point, config_name)
    cfg = compose_point(config_dir, points[0], config_name)
    if "paths" not in cfg:
        return
    multirun = any(arg in ("-m", "--multirun") for arg in argv)
    try:
        dirs = _output_dirs(cfg, multirun)
    except Exception as err:
        raise ConfigError(f"cannot resolve the output folders: {str(err).splitlines()[0]}") from err
    for key, path in dirs.items():
        check_writable(path, key)
