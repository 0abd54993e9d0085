"""The grid a guided sweep searches: rows x columns, recipe factors, fixed overrides, earlier records."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict

from cvzoo.errors import ConfigError
from cvzoo.results.record import RECORD_NAME, config_hash, load_record
from cvzoo.results.store import find_records
from cvzoo.sweeps.axes import _RECORD_KEY
from cvzoo.sweeps.resume import LINK_NAME, reached

log = logging.getLogger(__name__)

Cell = tuple[int, int]
Config = tuple[int, ...]  # (row, col, factor levels...): one job of the sweep
# Record fields that describe a cell's model size: meta-features for the boosting predictor.
META_KEYS = ("params", "flops_per_image")


@dataclass
class Axis:
    """One side of the grid: the override key (``backbone``), record key and option values."""

    key: str
    record_key: str
    options: list[str]

    def override(self, index: int) -> list[str]:
        """The override that selects option ``index`` (none for a fixed, unswept axis)."""
        return [f"{self.key}={self.options[index]}"] if self.key else []


@dataclass
class Grid:
    """Rows x columns of the sweep, the recipe factors (further swept keys) and the shared overrides."""

    rows: Axis
    cols: Axis
    fixed: list[str] = field(default_factory=list)
    factors: list[Axis] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.rows.options), len(self.cols.options)

    def overrides(self, config: Config) -> list[str]:
        """The full override list of one job (a cell, or a cell and its factor levels)."""
        axes = [self.rows, self.cols, *self.factors]
        return [*self.fixed, *(o for axis, i in zip(axes, config, strict=False) for o in axis.override(i))]

    def configs(self) -> list[Config]:
        """Every configuration: each cell with every combination of factor levels (row-major)."""
        sizes = [*self.shape, *(len(f.options) for f in self.factors)]
        return [tuple(int(i) for i in index) for index in np.ndindex(*sizes)]

    def recipe(self, config: Config) -> dict[str, str]:
        """The factor levels of a configuration, by override key."""
        return {f.key: f.options[i] for f, i in zip(self.factors, config[2:], strict=True)}

    def cells(self) -> list[Cell]:
        """Every cell, row-major."""
        return [(r, c) for r in range(self.shape[0]) for c in range(self.shape[1])]


def _axis(override: Override) -> Axis:
    """An axis from a discrete sweep override; other sweep kinds are refused."""
    key = override.get_key_element()
    if not override.is_discrete_sweep():
        raise ConfigError(
            f"guided sweeper: {key} sweeps an interval; list the values instead, e.g. {key}=a,b,c"
        )
    group = override.key_or_group
    options = [str(v) for v in override.sweep_string_iterator()]
    return Axis(key, _RECORD_KEY.get(group, group), options)


def build_grid(overrides: Sequence[Override]) -> Grid:
    """Split parsed overrides into swept axes and fixed overrides: rows and columns are the first
    two swept keys (backbone x head when both are swept), every further swept key is a recipe
    factor. One swept key gives a one-column grid (the other axis keeps its configured value).
    """
    axes, fixed = [], []
    for override in overrides:
        if override.is_sweep_override():
            axes.append(_axis(override))
        else:
            fixed.append(f"{override.get_key_element()}={override.get_value_element_as_str()}")
    if not axes:
        raise ConfigError(
            "guided sweeper: nothing is swept; give two axes, e.g. backbone=resnet18,vit head=fpn,unet"
        )
    preferred = {"backbone": 0, "head": 1}
    axes.sort(key=lambda a: preferred.get(a.record_key, 2))
    if len(axes) == 1:
        other = "head" if axes[0].record_key != "head" else "backbone"
        axes.append(Axis("", other, [""]))
    return Grid(axes[0], axes[1], fixed, axes[2:])


def job_config_hashes(grid: Grid, load: Callable[[list[str]], DictConfig]) -> dict[str, Config]:
    """``config_hash`` of every configuration's job config (what its record will carry) -> config."""
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hashes: dict[str, Config] = {}
    try:
        for cell in grid.configs():
            cfg = load(grid.overrides(cell))
            hydra_config.set_config(cfg)  # ${hydra:runtime.cwd} resolves as in the job
            body = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
            with open_dict(body):
                if body.get("paths") is not None:
                    body.paths.output_dir = ""  # set per job by the launcher; not in the hash
            if not grid.cols.key:  # the fixed axis gets its label from the composed config
                name = OmegaConf.select(body, f"{grid.cols.record_key}.name", default="-")
                grid.cols.options[0] = str(name)
            hashes[config_hash(OmegaConf.to_container(body, resolve=True))] = cell
    finally:
        hydra_config.cfg = previous
    return hashes


def record_value(record: Mapping[str, Any]) -> float | None:
    """The best monitored value of an ok record, None when it has none."""
    if not reached(record):
        return None  # a run paused part-way is not a trained cell
    value = (record.get("best_val") or {}).get(str(record.get("monitor")))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def earlier_results(
    dirs: Sequence[str | os.PathLike], hashes: Mapping[str, Cell], shape: tuple[int, int]
) -> tuple[np.ndarray, dict[Cell, dict]]:
    """Values and records of cells already trained ok with the identical config (newest first).

    ``dirs`` come from ``cvzoo.sweeps.resume.record_dirs``, the search ``+resume=true`` uses.
    """
    observed = np.full(shape, np.nan)
    found: dict[Cell, dict] = {}
    dirs = [d for d in dirs if Path(d).is_dir()]
    if not dirs:
        return observed, found
    for record in find_records(dirs, on_warning=log.warning):  # newest first
        cell = hashes.get(str(record.get("config_hash")))
        value = record_value(record)
        if cell is None or value is None or cell in found:
            continue
        observed[cell] = value
        found[cell] = record
    return observed, found


def job_record(output_dir: str | os.PathLike) -> dict | None:
    """The record a job left (or the one it reused with +resume=true), None if unreadable."""
    folder = Path(output_dir)
    link = folder / LINK_NAME
    if link.is_file():
        folder = Path(link.read_text().strip())
    try:
        return load_record(folder / RECORD_NAME)
    except (OSError, ValueError):
        return None


def _log_mean(values: list[Any]) -> float:
    """Mean of log10 of the positive numbers in ``values`` (nan when there are none)."""
    good = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and v > 0]
    return float(np.mean(np.log10(good))) if good else math.nan


def size_features(
    records: Mapping[Cell, Mapping[str, Any]], shape: tuple[int, int]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Row and column meta-features (log10 params and FLOPs averaged over their records).

    None for a side where some row (column) has no record with both numbers yet: the boosting
    predictor needs the features of every row (column) it predicts.
    """
    out = []
    for axis, size in ((0, shape[0]), (1, shape[1])):
        table = np.full((size, len(META_KEYS)), np.nan)
        for index in range(size):
            mine = [rec for cell, rec in records.items() if cell[axis] == index]
            table[index] = [_log_mean([rec.get(key) for rec in mine]) for key in META_KEYS]
        out.append(table if np.isfinite(table).all() else None)
    return out[0], out[1]


def launcher_parallelism(launcher: Mapping[str, Any] | None) -> int:
    """Jobs the launcher runs at once: joblib ``n_jobs``, submitit ``array_parallelism``, else 1."""
    if not launcher:
        return 1
    for key in ("n_jobs", "array_parallelism"):
        value = launcher.get(key)
        if value is not None:
            value = int(value)
            return (os.cpu_count() or 1) if value < 0 else max(1, value)
    return 1
