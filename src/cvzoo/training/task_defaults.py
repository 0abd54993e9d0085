"""The dataset a command line trains on: the head's task picks its default, mismatches stop early.

``python train.py -m backbone=resnet18,vit head=fpn,unet`` names no dataset, so the heads' task
(segmentation) picks that task's embedded default (``shapes``) by adding ``dataset=shapes`` to the
command line before Hydra composes it. A head that cannot serve the given dataset, or a sweep whose
heads serve different tasks with no dataset given, is refused here, before any job starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.types import Override

from cvzoo.errors import ConfigError
from cvzoo.models.heads import head_class
from cvzoo.tasks import TASKS
from cvzoo.training.overrides import (
    defaults_choice,
    group_options,
    group_override,
    parse_command_line,
    plain_value,
    read_yaml,
    selected_options,
    uses_other_config,
)

PRIMARY = "train"


def head_tasks(config_dir: Path, head: str) -> tuple[str, ...]:
    """The tasks the head config ``head`` serves (from its class's ``tasks``)."""
    return head_class(read_yaml(config_dir / "head" / f"{head}.yaml")).tasks


def dataset_task(config_dir: Path, dataset: str) -> str | None:
    """The task a dataset config declares (None when its file is not in the config dir)."""
    task = read_yaml(config_dir / "dataset" / f"{dataset}.yaml").get("task")
    return None if task is None else str(task)


def heads_by_task(config_dir: Path) -> dict[str, list[str]]:
    """Every task mapped to the head configs that serve it."""
    table: dict[str, list[str]] = {task: [] for task in TASKS}
    for head in group_options(config_dir, "head"):
        for task in head_tasks(config_dir, head):
            table.setdefault(task, []).append(head)
    return table


def mismatch_message(config_dir: Path, head: str, dataset: str, task: str) -> str:
    """One line naming both fixes: a dataset of the head's task, or a head of the dataset's task."""
    served = head_tasks(config_dir, head)
    datasets = [
        f"dataset={TASKS[t].default_dataset}" for t in served if t in TASKS and TASKS[t].default_dataset
    ]
    heads = "|".join(heads_by_task(config_dir).get(task, [])) or "?"
    return (
        f"head={head} serves {'/'.join(served)} but dataset={dataset} is {task}; "
        f"pick a {'/'.join(served)} dataset ({' or '.join(datasets) or 'dataset=...'}) "
        f"or a {task} head (head={heads})"
    )


def mixed_tasks_message(by_task: dict[str, list[str]]) -> str:
    """One line for a sweep whose heads serve several tasks: one sweep per task, with its dataset."""
    heads = ",".join(h for names in by_task.values() for h in names)
    per_task = " and ".join(
        f"head={','.join(names)} (dataset={TASKS[task].default_dataset if task in TASKS else '...'})"
        for task, names in by_task.items()
    )
    return (
        f"head={heads} mixes {' and '.join(by_task)} heads, which no dataset serves together; "
        f"sweep them separately: {per_task}"
    )


@dataclass(frozen=True)
class Job:
    """The head and dataset one point of the command line's sweep trains (dataset None: the default)."""

    head: str
    dataset: str | None
    experiment: str | None


def _choices(config_dir: Path, overrides: Sequence[Override], group: str) -> list[str] | None:
    """Options the command line picks for ``group`` ([] when it does not set it); None: only Hydra knows."""
    override = group_override(config_dir, overrides, group)
    return [] if override is None else selected_options(override, group_options(config_dir, group))


def _jobs(config_dir: Path, overrides: Sequence[Override]) -> list[Job] | None:
    """The head x dataset combinations the command line asks for; None when they cannot be read."""
    heads = _choices(config_dir, overrides, "head")
    datasets = _choices(config_dir, overrides, "dataset")
    experiments = _choices(config_dir, overrides, "experiment")
    if heads is None or datasets is None or experiments is None:
        return None
    jobs = []
    for experiment in experiments or [None]:
        exp_file = f"experiment/{experiment}"
        exp_head = defaults_choice(config_dir, exp_file, "head") if experiment else None
        exp_data = defaults_choice(config_dir, exp_file, "dataset") if experiment else None
        for head in heads or [exp_head or defaults_choice(config_dir, PRIMARY, "head")]:
            if head is None:
                return None
            jobs.extend(Job(head, dataset, experiment) for dataset in datasets or [exp_data])
    return jobs


def _check_given(config_dir: Path, job: Job, task_override: str | None) -> None:
    """Raise when the job's head cannot serve its (explicit) dataset."""
    if job.dataset is None or not (config_dir / "dataset" / f"{job.dataset}.yaml").is_file():
        return  # an unknown dataset is reported by the group check
    task = task_override or dataset_task(config_dir, job.dataset)
    if task is not None and task not in head_tasks(config_dir, job.head):
        raise ConfigError(mismatch_message(config_dir, job.head, job.dataset, task))


def default_dataset_override(argv: Sequence[str], config_dir: Path) -> str | None:
    """``dataset=<default>`` to add when the heads' task is not the default dataset's; checks first."""
    if uses_other_config(argv):
        return None
    overrides = parse_command_line(argv)
    jobs = _jobs(config_dir, overrides)
    if not jobs:
        return None
    task_override = plain_value(overrides, "dataset.task")
    for job in jobs:
        _check_given(config_dir, job, task_override)
    open_jobs = [job for job in jobs if job.dataset is None]
    if not open_jobs:
        return None
    by_task: dict[str, list[str]] = {}
    for job in open_jobs:
        served = head_tasks(config_dir, job.head)
        if served and job.head not in by_task.setdefault(served[0], []):
            by_task[served[0]].append(job.head)
    if len(by_task) != 1:
        if not by_task:
            return None
        raise ConfigError(mixed_tasks_message(by_task))
    tasks = list(by_task)
    default = TASKS[tasks[0]].default_dataset
    base = defaults_choice(config_dir, PRIMARY, "dataset")
    if default == base:
        return None
    if len(open_jobs) < len(jobs):
        experiments = ",".join(sorted({str(j.experiment) for j in jobs if j.dataset is not None}))
        raise ConfigError(
            f"experiment={experiments} sets its own dataset, the others would need dataset={default}; "
            "give dataset=... or sweep these experiments separately"
        )
    return f"dataset={default}"
