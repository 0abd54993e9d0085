"""What ``train.py`` wraps around a run: early checks of the command line and clean failures."""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from cvzoo.errors import ConfigError, CvzooError, suggestion
from cvzoo.models.backbones import available_models
from cvzoo.sweeps.axes import override_options, parse_overrides
from cvzoo.sweeps.job import configure_parallel_job, reuse_or_resume
from cvzoo.training.guards import RunInterrupted, stop_after_signal
from cvzoo.training.run import monitored_value, run_training, summary_line

log = logging.getLogger(__name__)


def _group_options(config_dir: Path, group: str) -> list[str]:
    """Names of the config files in one group folder."""
    folder = config_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _unknown_option_message(config_dir: Path, group: str, option: str) -> str:
    """One line naming the closest options of ``group`` (and timm names for backbones)."""
    options = _group_options(config_dir, group)
    hint = suggestion(option, options) or f"options: {', '.join(options)}"
    message = f"unknown {group} {option!r}; {hint}"
    if group == "backbone":
        timm_hint = suggestion(option, available_models())
        message += "; any timm model works as backbone.name=<name>" + (f" ({timm_hint})" if timm_hint else "")
    return message


def check_overrides(argv: Sequence[str], config_dir: Path) -> None:
    """Reject ``group=option`` overrides whose option has no config file, before Hydra starts."""
    items = [arg for arg in argv if not arg.startswith("-") and "=" in arg]
    try:
        overrides = parse_overrides(items)
    except Exception as err:
        raise ConfigError(
            f"cannot parse the overrides {' '.join(items)}: {str(err).splitlines()[0]}"
        ) from err
    for override in overrides:
        key = override.key_or_group
        if "." in key or "/" in key or not (config_dir / key).is_dir():
            continue
        known = _group_options(config_dir, key)
        for option in override_options(override):
            for name in option.strip("[]").split(","):
                name = name.strip()
                if name and name != "null" and name not in known:
                    raise ConfigError(_unknown_option_message(config_dir, key, name))


def _is_multirun() -> bool:
    """True inside a Hydra multirun job."""
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def _debug() -> bool:
    """True when the user asked for full tracebacks."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("CVZOO_DEBUG") == "1"


def train_task(cfg: DictConfig) -> float:
    """Run one job; a single run exits non-zero with one line, a sweep job records and goes on."""
    reused = reuse_or_resume(cfg)
    if reused is not None:
        log.info("job skipped (resume): identical config already ok: %s", summary_line(reused))
        return monitored_value(reused)
    configure_parallel_job(cfg)
    try:
        record = run_training(cfg)
    except (RunInterrupted, SIGTERMException) as err:
        record = getattr(err, "record", None)
        line = summary_line(record) if record else str(err)
        if _is_multirun():
            log.error("job interrupted: %s", line)
        else:
            print(f"interrupted: {line}", file=sys.stderr)
        stop_after_signal(err)  # exit 128 + signal (after submitit's requeue handler, if any)
    except Exception as err:
        if _debug():
            raise
        line = str(err) if isinstance(err, CvzooError) else f"{type(err).__name__}: {err}"
        where = f" (traceback in {cfg.paths.output_dir}/error.log)" if not isinstance(err, CvzooError) else ""
        if _is_multirun():
            record = getattr(err, "record", None)
            log.error("job failed: %s%s", summary_line(record) if record else line, where)
            return math.nan
        print(f"error: {line}{where}", file=sys.stderr)
        sys.exit(1)
    line = summary_line(record)
    if _is_multirun():
        log.info("job done: %s", line)
    else:
        print(f"\nrun finished: {line}")
    return monitored_value(record)


def fail_early(argv: Sequence[str], config_dir: Path) -> None:
    """Run the command-line checks; print one line and exit 1 on a bad override."""
    try:
        check_overrides(argv, config_dir)
    except CvzooError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
