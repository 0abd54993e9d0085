"""The guided sweep over configurations (any number of swept keys), paid in epochs or whole runs.

Each configuration is a cell (row x column) with one level of every further swept key (the recipe
factors). ``cvzoo.search.multifidelity.EpochGuidedSearch`` picks (configuration, epoch target);
the first stage of a configuration is a normal job stopped at the target by
``trainer.stop_after_epochs`` (the schedule stays on ``trainer.max_epochs``), later stages continue
it in its own run directory from ``last.ckpt``, so its one record grows and no epoch is trained
twice. ``fidelity=runs`` is the same loop with one stage: the full length.

Hydra's launcher API is batch-synchronous (``launch`` returns when the whole batch has ended), so
decisions are made in batches of the launcher's parallelism: the top picks, no configuration twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.utils import JobReturn

from cvzoo.errors import ConfigError
from cvzoo.results.record import COMPLETE, FAILED, PROMOTED, load_record, write_record
from cvzoo.results.store import find_records
from cvzoo.search.design import resolve_budget
from cvzoo.search.fidelity import FidelityConfig
from cvzoo.search.multifidelity import EpochGuidedSearch
from cvzoo.sweeps.batch_clock import BatchClock
from cvzoo.sweeps.guided_grid import Config, Grid, job_record
from cvzoo.sweeps.resume import reached
from cvzoo.training.checkpoints import usable_checkpoint

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """One configuration in the sweep: its run directory, curve so far and how it ended."""

    run_dir: str | None = None
    values: list[float] = field(default_factory=list)  # the monitored metric per epoch
    complete: bool = False
    failed: bool = False
    earlier: bool = False  # found trained (or started) before this sweep
    stop_reason: str | None = None
    trained_here: int = 0  # epochs this sweep paid for

    @property
    def epochs(self) -> int:
        """Epochs trained so far."""
        return len(self.values)

    def best(self, sign: float) -> float | None:
        """The curve's best value (``sign`` -1: the lowest), None before any epoch."""
        return float(sign * max(sign * np.asarray(self.values, float))) if self.values else None


def curve(record: dict[str, Any]) -> list[float]:
    """The monitored metric of every epoch in a record's history."""
    monitor = str(record.get("monitor"))
    return [float(row[monitor]) for row in record.get("history") or [] if row.get(monitor) is not None]


def epoch_budget(budget: float | int, n_configs: int, max_epochs: int, fidelity: str) -> int:
    """The epochs a sweep may train: a share of (or a number of) runs or epochs."""
    whole = fidelity == "runs"
    units = n_configs if whole else n_configs * max_epochs
    try:
        amount = resolve_budget(budget, units)
    except ConfigError:
        unit = "runs" if whole else "epochs"
        raise ConfigError(
            f"hydra.sweeper.budget={budget!r} is invalid; use a share in (0, 1] of the {units} {unit} "
            f"that train every configuration fully, or a number of {unit} >= 1"
        ) from None
    return amount * max_epochs if whole else amount


def schedule(fidelity: str, knobs: FidelityConfig, max_epochs: int) -> FidelityConfig:
    """The stages: whole runs (one stage) or knobs' rungs, checked against ``trainer.max_epochs``."""
    if fidelity == "runs":
        return FidelityConfig(min_epochs=max_epochs, eta=knobs.eta)
    if knobs.min_epochs > max_epochs:
        raise ConfigError(
            f"hydra.sweeper.min_epochs={knobs.min_epochs} exceeds trainer.max_epochs={max_epochs}; "
            f"lower min_epochs or raise trainer.max_epochs"
        )
    return knobs


def next_job_number(sweep_dir: str | Path) -> int:
    """The first job number whose directory is free (a resumed sweep must not reuse a run's)."""
    taken = [int(p.name) for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()]
    return max(taken, default=-1) + 1


class ConfigSweep:
    """Ask/launch/tell loop of one guided sweep over configurations (see module docstring)."""

    def __init__(
        self, grid: Grid, launch: Callable[[list[list[str]], int], Sequence[JobReturn]], *,
        max_epochs: int, fidelity: str, stages: FidelityConfig, budget: float | int, workers: int,
        lower_is_better: bool, seed: int, first_job: int = 0,
    ) -> None:  # fmt: skip
        self.grid, self.fidelity = grid, fidelity
        self.configs = grid.configs()
        self.max_epochs, self.workers = max_epochs, max(1, workers)
        self.sign = -1.0 if lower_is_better else 1.0
        self.stages = schedule(fidelity, stages, max_epochs)
        self.budget = epoch_budget(budget, len(self.configs), max_epochs, fidelity)
        table = np.array(self.configs)
        factors = table[:, 1:] if table.shape[1] > 2 else None  # the column is one factor among them
        self.search = EpochGuidedSearch(table[:, 0], table[:, 1], max_epochs, factors, self.stages, seed)
        self.progress = [Progress() for _ in self.configs]
        self.used, self.next_job = 0, first_job
        self.runs: list[dict[str, Any]] = []
        self.clock = BatchClock(launch, self.workers)

    def _tell(self, i: int) -> None:
        """Pass configuration ``i``'s curve (oriented: higher is better) to the search.

        An open curve short of the first stage (cut by the budget, or a run killed early) has no
        value the search can place: it is told as not started, and its next stage completes it.
        """
        p = self.progress[i]
        ended = p.complete or p.failed
        values = p.values if ended or p.epochs >= self.search.rungs[0] else []
        self.search.tell(i, self.sign * np.asarray(values, float), ended)

    def seed_with(self, dirs: Sequence[str | Path], hashes: dict[str, Config]) -> int:
        """Take over earlier records of the same configurations (newest first); how many were found.

        Complete runs count as trained; paused, promoted or killed ones are continued from their
        checkpoint in their own run directory; failed ones are not held against a configuration.
        """
        index = {config: i for i, config in enumerate(self.configs)}
        found = 0
        for record in find_records([d for d in dirs if Path(d).is_dir()], on_warning=log.warning):
            config = hashes.get(str(record.get("config_hash")))
            i = index.get(config) if config is not None else None
            if i is None or self.progress[i].earlier:
                continue
            run_dir = str(record.get("run_dir"))
            ok = record.get("status") == "ok"
            if not ok and usable_checkpoint(run_dir)[0] is None:
                continue
            values = curve(record)
            complete = reached(record)  # trained to its end
            self.progress[i] = Progress(run_dir, values, complete, earlier=True,
                                        stop_reason=record.get("stop_reason"))  # fmt: skip
            self._tell(i)
            found += 1
        return found

    def winner(self) -> int | None:
        """The configuration with the best value seen among those that did not fail (None: none has one)."""
        seen = [
            self.sign * p.best(self.sign) if p.values and not p.failed else -np.inf for p in self.progress
        ]
        return int(np.argmax(seen)) if np.isfinite(max(seen, default=-np.inf)) else None

    def _ask(self) -> list[tuple[int, int]]:
        """Up to ``workers`` (configuration, epoch target) decisions within the budget, none twice.

        A pick is held out of the rest of the batch by telling the search it ended where it
        stands (so the next pick is another configuration); its real state is restored after.
        """
        picks: list[tuple[int, int]] = []
        left = self.budget - self.used
        for _ in range(len(self.configs)):  # at most every configuration once per batch
            if len(picks) == self.workers or left <= 0:
                break
            choice = self.search.ask()
            if choice is None:
                break
            i, target = choice
            if self.progress[i].failed or self.progress[i].complete or any(i == j for j, _ in picks):
                log.warning("guided sweep: the search asked again for ended configuration %d", i)
                break  # never relaunch an ended (or failed) configuration
            target = min(int(target), self.progress[i].epochs + left)
            picks.append((i, target))
            left -= target - self.progress[i].epochs
            self.search.tell(i, self.sign * np.asarray(self.progress[i].values, float), True)  # taken
        for i, _ in picks:
            self._tell(i)
        return picks

    def _overrides(self, i: int, target: int) -> list[str]:
        """The job that trains configuration ``i`` to ``target`` epochs (continuing its run)."""
        out = self.grid.overrides(self.configs[i])
        if target < self.max_epochs:
            out.append(f"trainer.stop_after_epochs={target}")
        p = self.progress[i]
        checkpoint = usable_checkpoint(p.run_dir)[0] if p.run_dir else None
        if checkpoint is None:  # first stage (or nothing left to continue): a fresh run
            p.values = []
            return out
        self._mark_promoted(p.run_dir)
        return [*out, f"hydra.sweep.subdir='{p.run_dir}'", f"ckpt_path='{checkpoint}'"]

    @staticmethod
    def _mark_promoted(run_dir: str) -> None:
        """Say in the record that this run is being continued."""
        try:
            record = load_record(run_dir)
        except (OSError, ValueError):
            return
        if record.get("status") == "ok":
            record["stop_reason"] = PROMOTED
            write_record(run_dir, {k: v for k, v in record.items() if k != "schema_version"})

    def run(self) -> list[list[JobReturn]]:
        """Launch batches until the epoch budget is spent or every configuration has ended."""
        returns = []
        while picks := self._ask():
            overrides = [self._overrides(i, target) for i, target in picks]  # resets fresh curves
            before = {i: self.progress[i].epochs for i, _ in picks}
            results = self.clock.launch(overrides, self.next_job)
            self.next_job += len(picks)
            for (i, target), result in zip(picks, results, strict=True):
                self._take(i, target, before[i], result)
            returns.append(results)
        return returns

    def _take(self, i: int, target: int, before: int, result: JobReturn) -> None:
        """Read a finished job's record into configuration ``i``."""
        p = self.progress[i]
        output_dir = result.hydra_cfg.hydra.runtime.output_dir if result.hydra_cfg else None
        record = job_record(output_dir) if output_dir else None
        if record is not None:
            p.run_dir, p.values = str(record.get("run_dir", output_dir)), curve(record)
            p.stop_reason = record.get("stop_reason")
        ok = record is not None and record.get("status") == "ok"
        p.failed = not ok
        p.complete = ok and (p.stop_reason == COMPLETE or p.epochs >= self.max_epochs)
        reached = int(record.get("epochs") or 0) if record is not None else before
        paid = max(0, reached - before)  # a continued run starts at ``before``, a fresh one at 0
        p.trained_here += paid
        self.used += paid
        self._tell(i)
        value = p.best(self.sign)
        self.runs.append({"config": self.grid.overrides(self.configs[i])[len(self.grid.fixed):],
                          "from_epoch": before, "to_epoch": target, "epochs": p.epochs,
                          "stop_reason": p.stop_reason if ok else FAILED, "value": value})  # fmt: skip
        log.info("guided sweep: %s epochs %d -> %d: %s", self.runs[-1]["config"], before, p.epochs, value)
