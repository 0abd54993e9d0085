"""The heads-by-task table that ``python train.py --help`` shows (an OmegaConf resolver)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

RESOLVER = "cvzoo_heads_by_task"


def main_config_dir(root: Any) -> Path | None:
    """The folder of the primary config, as Hydra recorded it in ``hydra.runtime.config_sources``."""
    for source in root.hydra.runtime.config_sources:
        if source.provider == "main" and source.schema == "file":
            return Path(str(source.path))
    return None


def heads_by_task_text(*, _root_: Any) -> str:
    """One line per task: its heads and the dataset used when none is given."""
    from cvzoo.tasks import TASKS
    from cvzoo.training.task_defaults import heads_by_task

    config_dir = main_config_dir(_root_)
    if config_dir is None:
        return ""
    lines = []
    for task, heads in heads_by_task(config_dir).items():
        default = TASKS[task].default_dataset if task in TASKS else ""
        lines.append(f"  {task}: head={'|'.join(heads)} (no dataset given: dataset={default})")
    return "\n".join(lines)


def register_help_resolver() -> None:
    """Make ``${cvzoo_heads_by_task:}`` resolvable (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, heads_by_task_text)
