"""What ``train.py`` wraps around each run: resume, one job, and clean failures."""

from __future__ import annotations

import logging
import math
import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from cvzoo.errors import EXIT_FAILED, CvzooError, debug_requested
from cvzoo.sweeps.job import configure_parallel_job, reuse_or_resume
from cvzoo.training.guards import RunInterrupted, stop_after_signal
from cvzoo.training.help import register_help_resolver
from cvzoo.training.run import monitored_value, run_training, summary_line

log = logging.getLogger(__name__)
# ``--help`` and any job process (which imports this module) can resolve the heads-by-task table.
register_help_resolver()


def _is_multirun() -> bool:
    """True inside a Hydra multirun job."""
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def train_task(cfg: DictConfig) -> float:
    """Run one job; a single run exits non-zero with one line, a sweep job records and goes on."""
    try:
        reused = reuse_or_resume(cfg)
        if reused is not None:
            log.info("job skipped (resume): identical config already ok: %s", summary_line(reused))
            return monitored_value(reused)
        configure_parallel_job(cfg)
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
        if debug_requested():
            raise
        line = str(err) if isinstance(err, CvzooError) else f"{type(err).__name__}: {err}"
        where = f" (traceback in {cfg.paths.output_dir}/error.log)" if not isinstance(err, CvzooError) else ""
        if _is_multirun():
            record = getattr(err, "record", None)
            log.error("job failed: %s%s", summary_line(record) if record else line, where)
            return math.nan
        print(f"error: {line}{where}", file=sys.stderr)
        sys.exit(err.exit_code if isinstance(err, CvzooError) else EXIT_FAILED)
    line = summary_line(record)
    if _is_multirun():
        log.info("job done: %s", line)
    else:
        print(f"\nrun finished: {line}")
    return monitored_value(record)
