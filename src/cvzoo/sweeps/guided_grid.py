"""The grid a guided sweep searches: two swept axes, the fixed overrides, and earlier records."""

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
from cvzoo.results.record import config_hash
from cvzoo.results.store import find_records
from cvzoo.sweeps.axes import _RECORD_KEY

log = logging.getLogger(__name__)

Cell = tuple[int, int]


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
    """Rows x columns of the sweep plus the overrides every job shares."""

    rows: Axis
    cols: Axis
    fixed: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.rows.options), len(self.cols.options)

    def overrides(self, cell: Cell) -> list[str]:
        """The full override list of one job."""
        return [*self.fixed, *self.rows.override(cell[0]), *self.cols.override(cell[1])]

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
    """Split parsed overrides into two swept axes (backbone x head first) and fixed overrides.

    One swept key gives a one-column grid (the other axis keeps its configured value); a third
    swept key is an error, because the search and its matrix are two-dimensional.
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
    if len(axes) > 2:
        extra = ", ".join(a.key for a in axes[2:])
        raise ConfigError(
            f"guided sweeper searches a 2-D grid ({axes[0].key} x {axes[1].key}) but {extra} is "
            f"swept too; fix it to one value (run one guided sweep per value) or use the basic sweeper"
        )
    if len(axes) == 1:
        other = "head" if axes[0].record_key != "head" else "backbone"
        axes.append(Axis("", other, [""]))
    return Grid(axes[0], axes[1], fixed)


def job_config_hashes(grid: Grid, load: Callable[[list[str]], DictConfig]) -> dict[str, Cell]:
    """``config_hash`` of every cell's job config (what its record will carry) -> cell."""
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hashes: dict[str, Cell] = {}
    try:
        for cell in grid.cells():
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
    if record.get("status") != "ok":
        return None
    value = (record.get("best_val") or {}).get(str(record.get("monitor")))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def earlier_results(
    log_dir: str | os.PathLike, hashes: Mapping[str, Cell], shape: tuple[int, int]
) -> tuple[np.ndarray, dict[Cell, str]]:
    """Values of cells already trained ok with the identical config (newest record per cell)."""
    observed = np.full(shape, np.nan)
    sources: dict[Cell, str] = {}
    if not Path(log_dir).is_dir():
        return observed, sources
    for record in find_records([log_dir], on_warning=log.warning):  # newest first
        cell = hashes.get(str(record.get("config_hash")))
        value = record_value(record)
        if cell is None or value is None or cell in sources:
            continue
        observed[cell] = value
        sources[cell] = str(record.get("run_dir", ""))
    return observed, sources


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
