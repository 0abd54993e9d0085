"""``hydra/sweeper=guided``: train a covering design, then the cells the predictors find promising.

The strategy (design, acquisition, stopping, regret estimate) is ``cvzoo.search.guided``;
this module turns it into a Hydra ``Sweeper``: it parses the swept axes, reads the results of
earlier sweeps with the identical config, launches batches through whatever launcher is
configured, and writes ``guided.json`` + ``matrix.{csv,md,png}`` into the sweep directory.
Two swept keys with ``fidelity=runs`` search the matrix (``GuidedSearch``); further swept keys
(recipe factors) or ``fidelity=epochs`` search configurations (``cvzoo.sweeps.epoch_sweep``).
Hydra only loads plugins from the ``hydra_plugins`` package, so the class configured by
``configs/hydra/sweeper/guided.yaml`` is a thin subclass in ``hydra_plugins.cvzoo_guided_sweeper``.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from cvzoo.errors import ConfigError, CvzooError, debug_requested
from cvzoo.results.quality_matrix import EARLIER, FAILED, NOT_RUN, TRAINED, QualityMatrix
from cvzoo.search.guided import GuidedSearch
from cvzoo.search.knobs import GuidedKnobs
from cvzoo.sweeps.batch_clock import BatchClock
from cvzoo.sweeps.config_report import best_per_cell, config_rows, summary_line, sweep_summary
from cvzoo.sweeps.epoch_sweep import ConfigSweep, next_job_number
from cvzoo.sweeps.guided_grid import (
    Cell,
    Grid,
    build_grid,
    earlier_results,
    job_config_hashes,
    job_record,
    launcher_parallelism,
    size_features,
)
from cvzoo.sweeps.guided_report import write_outputs
from cvzoo.sweeps.resume import record_dirs, resume_requested

log = logging.getLogger(__name__)


def job_value(result: JobReturn) -> float | None:
    """The metric a job returned; None when it failed, crashed or returned no finite number."""
    if result.status != JobStatus.COMPLETED:
        return None
    value = result.return_value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


@contextmanager
def refused_in_one_line() -> Iterator[None]:
    """Print a cvzoo refusal raised inside Hydra as one ``error:`` line and exit (not a traceback)."""
    try:
        yield
    except CvzooError as err:
        if debug_requested():
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)


class GuidedSweeper(Sweeper):
    """Model-guided sweep over backbone x head (x recipe factors) within a budget of runs or epochs."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        with refused_in_one_line():
            knobs = GuidedKnobs.from_options(**options)  # the yaml's keys; defaults from GuidedKnobs
        self.options, self.knobs = knobs.search_options(), knobs
        self.budget, self.batch_size, self.use_earlier = knobs.budget, knobs.batch_size, knobs.use_earlier
        self.seed, self.params, self.meta_features = knobs.seed, dict(knobs.params or {}), knobs.meta_features
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep the context and instantiate the configured launcher."""
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _load(self, overrides: list[str]) -> DictConfig:
        """The composed config of one job (what the launcher will run)."""
        return self.hydra_context.config_loader.load_sweep_config(
            master_config=self.config, sweep_overrides=overrides
        )

    def _grid(self, arguments: list[str]) -> Grid:
        """Parse ``hydra.sweeper.params`` and the command line into the grid."""
        items = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        return build_grid(parser.parse_overrides(items))

    def _start(self, grid: Grid) -> tuple[GuidedSearch, dict[Cell, dict]]:
        """The search, seeded with earlier ok records of the identical job configs."""
        hashes = job_config_hashes(grid, self._load)
        observed, earlier = np.full(grid.shape, np.nan), {}
        if self.use_earlier:
            observed, earlier = earlier_results(self._record_dirs(), hashes, grid.shape)
        if earlier:
            log.info("guided sweep: %d cell(s) already trained in earlier sweeps", len(earlier))
        search = GuidedSearch(
            grid.rows.options, grid.cols.options, self.budget, self._workers(), observed=observed,
            lower_is_better=self._lower_is_better(), seed=self.seed,
            **self.options,
        )  # fmt: skip
        return search, earlier

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        """Run batches until the budget is spent or no untrained cell is likely to win."""
        with refused_in_one_line():
            return self._sweep(arguments)

    def _sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        """The guided loop (``sweep`` turns its refusals into one error line)."""
        if not HydraConfig.initialized():  # ${hydra:runtime.cwd} in the default paths must resolve
            HydraConfig.instance().set_config(self.config)
        grid = self._grid(arguments)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        if grid.factors or self.knobs.fidelity != "runs":
            return self._sweep_configs(grid, sweep_dir)
        search, earlier = self._start(grid)
        records = dict(earlier)
        returns, runs = [], []
        clock = BatchClock(self._launch, search.batch_size)
        while batch := search.ask():
            results = clock.launch([grid.overrides(cell) for cell in batch], len(runs))
            for cell, result in zip(batch, results, strict=True):
                value = job_value(result)
                search.tell(cell, value)
                runs.append({grid.rows.record_key: grid.rows.options[cell[0]],
                             grid.cols.record_key: grid.cols.options[cell[1]], "value": value})  # fmt: skip
                log.info("guided sweep: %s -> %s", grid.overrides(cell)[-2:], value)
                record = job_record(result.hydra_cfg.hydra.runtime.output_dir) if result.hydra_cfg else None
                if record is not None and value is not None:
                    records[cell] = record
            returns.append(list(results))
            if self.meta_features:
                rows, cols = size_features(records, grid.shape)
                search.features = {"row_features": rows, "col_features": cols}
        self._finish(search, grid, earlier, runs, sweep_dir, clock)
        return returns

    def _record_dirs(self) -> list[Path]:
        """Where earlier records of this sweep's configurations may be: sweep dir, log dir, resume_from."""
        cfg = self.config
        return record_dirs(str(cfg.hydra.sweep.dir), str(cfg.paths.log_dir), cfg.get("resume_from"))

    def _workers(self) -> int:
        """Jobs per batch: ``batch_size``, else the launcher's parallelism."""
        return self.batch_size or launcher_parallelism(self.config.hydra.get("launcher"))

    def _lower_is_better(self) -> bool:
        """True when the monitored metric is minimized (``monitor_mode: min``)."""
        return str(self.config.get("monitor_mode", "max")) == "min"

    def _launch(self, overrides: list[list[str]], first: int) -> Sequence[JobReturn]:
        """Launch one batch of jobs numbered from ``first``."""
        self.validate_batch_is_legal(overrides)
        return self.launcher.launch(overrides, initial_job_idx=first)

    def _sweep_configs(self, grid: Grid, sweep_dir: Path) -> list[list[JobReturn]]:
        """The guided sweep over configurations (recipe factors, or epochs as fidelity)."""
        cfg = self.config
        every = int(cfg.trainer.get("check_val_every_n_epoch") or 1)
        if self.knobs.fidelity == "epochs" and every != 1:
            raise ConfigError(
                f"hydra.sweeper.fidelity=epochs reads a validation value per epoch, but "
                f"trainer.check_val_every_n_epoch={every}; set trainer.check_val_every_n_epoch=1"
            )
        sweep = ConfigSweep(
            grid, self._launch, max_epochs=int(cfg.trainer.max_epochs), fidelity=self.knobs.fidelity,
            stages=self.knobs.fidelity_config(), budget=self.budget,
            workers=self._workers(), lower_is_better=self._lower_is_better(), seed=self.seed,
            first_job=next_job_number(sweep_dir),
        )  # fmt: skip
        if self.use_earlier or resume_requested(cfg):
            found = sweep.seed_with(self._record_dirs(), job_config_hashes(grid, self._load))
            log.info("guided sweep: %d configuration(s) found trained or started earlier", found)
        returns = sweep.run()
        rows = config_rows(sweep)
        matrix = best_per_cell(sweep, rows, str(cfg.get("monitor", "metric")))
        matrix.summary = sweep_summary(sweep, rows)
        extra = {"rows": grid.rows.record_key, "cols": grid.cols.record_key, "metric": matrix.metric,
                 "lower_is_better": sweep.sign < 0, "runs": sweep.runs,
                 "configs": rows}  # fmt: skip
        paths = write_outputs(matrix, sweep_dir, extra, notes=[summary_line(matrix.summary)])
        print(f"\n{paths['md'].read_text()}guided sweep: {paths['json']}")
        return returns

    def _finish(
        self,
        search: GuidedSearch,
        grid: Grid,
        earlier: dict[Cell, dict],
        runs: list[dict[str, Any]],
        sweep_dir: Path,
        clock: BatchClock,
    ) -> None:
        """Fit once more on everything and write guided.json and the matrix files."""
        summary = search.summary()
        reason = "stop probability under threshold" if search.stopped else "budget spent"
        if search.remaining and not search.stopped:
            reason = "every cell trained"
        summary.update(stop_reason=reason, stop_threshold=search.stop_threshold, batch_size=search.batch_size)
        matrix = guided_matrix(search, grid, earlier, str(self.config.get("monitor", "metric")), summary)
        extra = {"rows": grid.rows.record_key, "cols": grid.cols.record_key, "metric": matrix.metric,
                 "lower_is_better": search.lower_is_better, "runs": runs,
                 "earlier": {f"{grid.rows.options[r]} x {grid.cols.options[c]}": rec.get("run_dir")
                             for (r, c), rec in earlier.items()},
                 "predictor": getattr(search.completion, "method", None), **clock.summary()}  # fmt: skip
        paths = write_outputs(matrix, sweep_dir, extra)
        print(f"\n{paths['md'].read_text()}guided sweep: {paths['json']}")


def guided_matrix(
    search: GuidedSearch, grid: Grid, earlier: dict[Cell, dict], metric: str, summary: dict[str, Any]
) -> QualityMatrix:
    """Trained, earlier and failed cells of the finished search, the rest predicted by its model."""
    observed = search.observed
    status = np.where(np.isfinite(observed), TRAINED, NOT_RUN).astype(object)
    value = observed.copy()
    for cell in earlier:
        status[cell] = EARLIER
    for cell in search.failed:
        status[cell], value[cell] = FAILED, np.nan
    best = search.best()
    matrix = QualityMatrix(
        list(grid.rows.options), list(grid.cols.options), value, grid.rows.record_key,
        grid.cols.record_key, metric, count=np.isfinite(observed).astype(int), status=status,
        direction="min" if search.lower_is_better else "max", winner=best[0] if best else None,
        summary=summary,
    )  # fmt: skip
    if search.completion is None:
        return matrix
    mean, spread = np.asarray(search.completion.mean, float), np.asarray(search.completion.std, float)
    return matrix.completed(mean, spread * search.std_scale)
