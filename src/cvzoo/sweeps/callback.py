"""The Hydra callback that closes every multirun: matrix, report and a failure count."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cvzoo.errors import CvzooError
from cvzoo.results.matrix_writer import to_markdown, write_matrix
from cvzoo.results.pivot import default_metric, pivot_records
from cvzoo.results.store import find_records
from cvzoo.sweeps.axes import matrix_axes, swept_keys
from cvzoo.sweeps.lock import SweepLock, SweepLocked
from cvzoo.sweeps.resume import linked_run_dirs, resume_counts

log = logging.getLogger(__name__)
GUIDED_SUMMARY = "guided.json"


def sweep_records(sweep_dir: Path) -> list[dict[str, Any]]:
    """Records of this sweep's jobs, including the ones a resumed sweep reused."""
    dirs = [sweep_dir, *linked_run_dirs(sweep_dir)]
    return find_records([d for d in dirs if d.is_dir()], on_warning=log.warning)


def summarize_sweep(
    sweep_dir: Path, overrides: list[str], sweeper_params: dict[str, Any] | None = None
) -> tuple[int, int, dict[str, int]]:
    """Write the matrix (and report) for the swept axes; return (ok, not ok) job counts and
    how many cells were reused, continued and trained."""
    records = sweep_records(sweep_dir)
    ok = sum(r.get("status") == "ok" for r in records)
    axes = matrix_axes(swept_keys(overrides, sweeper_params))
    if (sweep_dir / GUIDED_SUMMARY).is_file():  # the guided sweeper wrote the matrix (with predictions)
        axes = None
    if records and axes:
        try:
            matrix = pivot_records(records, rows=axes[0], cols=axes[1], metric=default_metric(records))
            write_matrix(matrix, sweep_dir)
            print(f"\n{to_markdown(matrix)}\nmatrix: {sweep_dir / 'matrix.csv'}")
        except CvzooError as err:
            log.warning("no matrix for this sweep: %s", err)
    try:
        from cvzoo.results.report import write_report
    except ImportError:
        write_report = None
    if records and write_report is not None:
        try:
            write_report(records, sweep_dir)
        except CvzooError as err:
            log.warning("no report for this sweep: %s", err)
    return ok, len(records) - ok, resume_counts(sweep_dir, records)


class SweepSummary(Callback):
    """At the end of a multirun: matrix.csv/.md/.png, report, and exit status = failed jobs."""

    def __init__(self, exit_with_failures: bool = True) -> None:
        self.exit_with_failures = exit_with_failures
        self.lock: SweepLock | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Lock the sweep dir (a second sweep into it is refused) and let paths resolve there."""
        # Hydra sets HydraConfig only per job, but its sweeper resolves hydra.sweep.dir before any.
        HydraConfig.instance().set_config(config)
        self.lock = SweepLock(str(config.hydra.sweep.dir))
        try:
            self.lock.acquire()
        except SweepLocked as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Summarize the sweep directory once every job has finished."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        params = config.hydra.sweeper.get("params")
        params = OmegaConf.to_container(params, resolve=True) if params else None
        ok, failed, counts = summarize_sweep(sweep_dir, list(config.hydra.overrides.task), params)
        if self.lock is not None:
            self.lock.release()
        cells = ", ".join(f"{n} {what}" for what, n in counts.items())
        print(f"sweep finished: {ok} ok, {failed} failed | cells: {cells} | {sweep_dir}")
        if failed and self.exit_with_failures:
            sys.exit(min(failed, 125))
