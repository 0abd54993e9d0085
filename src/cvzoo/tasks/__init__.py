"""The task registry: every task family is one module declaring a :class:`TaskSpec`.

``TASKS`` is the one list of tasks; add a task by writing its module and one line here.
"""

from __future__ import annotations

from cvzoo.errors import ConfigError, suggestion
from cvzoo.tasks.base import TaskSpec
from cvzoo.tasks.classification import ClassificationTask
from cvzoo.tasks.detection import DetectionTask
from cvzoo.tasks.segmentation import SegmentationTask

TASKS: dict[str, TaskSpec] = {}


def register_task(task: TaskSpec) -> TaskSpec:
    """Add ``task`` to the registry under its name (one line per task module)."""
    TASKS[task.name] = task
    return task


register_task(ClassificationTask())
register_task(SegmentationTask())
register_task(DetectionTask())


def get_task(name: str) -> TaskSpec:
    """The registered task called ``name``; an unknown one is a one-line ConfigError."""
    if name not in TASKS:
        hint = suggestion(str(name), TASKS) or f"one of {', '.join(TASKS)}"
        raise ConfigError(f"dataset.task={name!r} is not a task; {hint}")
    return TASKS[name]


__all__ = ["TASKS", "TaskSpec", "get_task", "register_task"]
