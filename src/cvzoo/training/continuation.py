"""Continue a finished or half-done run directory to a (larger) epoch budget, epoch for epoch.

Used by ``+resume=true`` for half-done cells and by budget-raising searches (train a cell for a
few epochs, keep training the promising ones). The state comes from the run's last whole
checkpoint (``last.ckpt``, else ``best.ckpt``): weights, optimizer, scheduler step, loop counters
and the record's per-epoch history, so no epoch is trained or listed twice.

The learning-rate schedule is a function of ``trainer.max_epochs``: the step-wise schedules
(``cosine``, ``onecycle``) are rebuilt for the new total number of steps and continue from the
restored step count: a run continued from 2 to 4 epochs takes the learning rates of the 4-epoch
schedule from its third epoch on (its first 2 epochs followed the 2-epoch one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf, open_dict

from cvzoo.errors import CvzooError
from cvzoo.results.record import load_record
from cvzoo.training.checkpoints import usable_checkpoint
from cvzoo.training.run import run_training


class NothingToContinue(CvzooError):
    """A run directory has no record or no whole checkpoint to continue from."""


def continue_run(
    run_dir: str | os.PathLike,
    max_epochs: int | None = None,
    output_dir: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Continue ``run_dir`` to ``max_epochs`` (default: its own) and return the new record.

    The record and checkpoints are rewritten in ``run_dir`` unless ``output_dir`` is given (then
    the old run stays as it was). ``overrides`` are dotted config keys set before training (e.g.
    ``{"trainer.enable_progress_bar": False}``). Raises ``NothingToContinue`` (one line) when
    there is no record or no whole checkpoint, and the run's own error when training fails.
    """
    run_dir = Path(run_dir)
    try:
        record = load_record(run_dir)
    except (OSError, ValueError) as err:
        raise NothingToContinue(f"no readable result.json in {run_dir} ({type(err).__name__})") from err
    checkpoint, notes = usable_checkpoint(run_dir)
    if checkpoint is None:
        damaged = f" ({'; '.join(notes)})" if notes else ""
        raise NothingToContinue(f"no whole checkpoint in {run_dir / 'checkpoints'}{damaged}; train it anew")
    cfg = OmegaConf.create(record["config"])
    with open_dict(cfg):
        if max_epochs is not None:
            cfg.trainer.max_epochs = int(max_epochs)
        cfg.paths.output_dir = str(output_dir or run_dir)
        cfg.ckpt_path = checkpoint
        for key, value in (overrides or {}).items():
            OmegaConf.update(cfg, key, value, force_add=True)
    return run_training(cfg)
