"""How busy a sweep kept its workers: each batch's wall time against its jobs' run times.

Hydra's ``Launcher.launch`` returns when the whole batch has ended, so a worker whose job ends
early waits for the slowest job of its batch; ``idle_share`` measures that (plus each job's time
outside ``run_training``: Hydra's job setup, worker start-up).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn

from cvzoo.results.record import load_record
from cvzoo.sweeps.resume import LINK_NAME


def job_seconds(result: JobReturn) -> float:
    """How long a finished job trained (its record's finished_at - started_at); 0 when it reused
    an earlier record or left none."""
    folder = result.hydra_cfg.hydra.runtime.output_dir if result.hydra_cfg else None
    if folder is None or (Path(folder) / LINK_NAME).is_file():
        return 0.0
    try:
        record = load_record(folder)
        start = dt.datetime.fromisoformat(str(record["started_at"]))
        return max(0.0, (dt.datetime.fromisoformat(str(record["finished_at"])) - start).total_seconds())
    except (OSError, KeyError, TypeError, ValueError):
        return 0.0


class BatchClock:
    """Launch batches through a launcher and keep their wall and job times."""

    def __init__(self, launch: Callable[[list[list[str]], int], Sequence[JobReturn]], workers: int) -> None:
        self._launch, self.workers = launch, max(1, int(workers))
        self.batches: list[dict[str, float]] = []

    def launch(self, overrides: list[list[str]], first_job: int) -> list[JobReturn]:
        """Run one batch and time it."""
        start = time.perf_counter()
        results = list(self._launch(overrides, first_job))
        wall = time.perf_counter() - start
        busy = min(sum(job_seconds(r) for r in results), wall * self.workers)
        self.batches.append({"jobs": len(results), "wall_s": wall, "busy_s": busy})
        return results

    def idle_share(self) -> float | None:
        """sum over batches of (workers x wall time - job time) / sum of workers x wall time."""
        total = sum(self.workers * b["wall_s"] for b in self.batches)
        return None if total <= 0 else 1.0 - sum(b["busy_s"] for b in self.batches) / total

    def summary(self) -> dict[str, Any]:
        """The guided.json fields: workers, batches, idle_share, batch_times."""
        return {"workers": self.workers, "batches": len(self.batches), "idle_share": self.idle_share(),
                "batch_times": self.batches}  # fmt: skip
