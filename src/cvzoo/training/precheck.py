"""The checks ``train.py`` runs on its command line before Hydra starts (no torch training imports).

Each bad override prints one ``error:`` line and exits with ``EXIT_BAD_INPUT``: unknown group
options (globs included), a head that cannot serve the dataset, keys Hydra cannot compose, and
output folders that cannot be written. Heads given without a dataset get their task's default.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from cvzoo.errors import ConfigError, CvzooError, debug_requested, suggestion
from cvzoo.training.compose_check import check_composes
from cvzoo.training.help import register_help_resolver
from cvzoo.training.overrides import (
    group_options,
    is_glob,
    is_group,
    override_items,
    parse_command_line,
    selected_options,
    uses_other_config,
)
from cvzoo.training.task_defaults import default_dataset_override

# Hydra's mutually exclusive modes, by flag (Hydra itself answers a mix of them with a traceback).
_MODES = {
    "-m": "multirun", "--multirun": "multirun", "--cfg": "cfg", "-c": "cfg", "--info": "info", "-i": "info",
    "--shell-completion": "shell-completion", "-sc": "shell-completion", "--run": "run", "-r": "run",
}  # fmt: skip
# Sweepers that enumerate their values (interval() needs one that samples, e.g. a plugin's).
_LISTING_SWEEPERS = ("basic", "guided")


def _unknown_option_message(config_dir: Path, group: str, option: str) -> str:
    """One line naming the closest options of ``group`` (and timm names for backbones)."""
    options = group_options(config_dir, group)
    hint = suggestion(option, options) or f"options: {', '.join(options)}"
    message = f"unknown {group} {option!r}; {hint}"
    if group == "backbone":
        from cvzoo.models.backbones import available_models

        timm_hint = suggestion(option, available_models())
        message += "; any timm model works as backbone.name=<name>" + (f" ({timm_hint})" if timm_hint else "")
    return message


def check_overrides(argv: Sequence[str], config_dir: Path) -> None:
    """Reject ``group=option`` overrides whose option has no config file, before Hydra starts."""
    for override in parse_command_line(argv):
        if not is_group(config_dir, override):
            continue
        key = override.key_or_group
        known = group_options(config_dir, key)
        selected = selected_options(override, known)
        if selected is None:
            continue  # range()/interval() of a group: Hydra reports it
        if is_glob(override) and not selected:
            raise ConfigError(f"{override.input_line} matches no {key} option; options: {', '.join(known)}")
        for name in selected:
            if name not in known:
                raise ConfigError(_unknown_option_message(config_dir, key, name))


def check_modes(argv: Sequence[str]) -> None:
    """Refuse two Hydra modes at once (``-m`` with ``--cfg``), which Hydra reports as a traceback."""
    flags = [arg for arg in argv if arg.split("=")[0] in _MODES]
    if len({_MODES[flag.split("=")[0]] for flag in flags}) > 1:
        raise ConfigError(
            f"{' and '.join(flags)} cannot be combined; use one of -m, --cfg, --info, --shell-completion, "
            "--run (e.g. drop -m to print the config with --cfg job)"
        )


def check_sweep_forms(argv: Sequence[str]) -> None:
    """Refuse sweeps without ``-m`` and ``interval()`` under Hydra's basic sweeper (one line each)."""
    multirun = any(arg in ("-m", "--multirun") for arg in argv)
    overrides = parse_command_line(argv)
    sweeper = next((str(o.value()) for o in overrides if o.key_or_group == "hydra/sweeper"), "basic")
    for override in overrides:
        if not override.is_sweep_override():
            continue
        line = override.input_line
        if not multirun:
            raise ConfigError(f"{line} is a sweep; add -m for one job per value, or quote it for one value")
        if override.is_interval_sweep() and sweeper in _LISTING_SWEEPERS:
            raise ConfigError(
                f"{line}: the {sweeper} sweeper cannot sample an interval; list the values instead, "
                f"e.g. {override.get_key_element()}=a,b,c (or use a sweeper that samples)"
            )


def with_override(argv: Sequence[str], item: str) -> list[str]:
    """``argv`` with ``item`` placed after its last override (argparse wants overrides together)."""
    items = override_items(argv)
    if not items:
        return [*argv, item]
    last = max(i for i, arg in enumerate(argv) if arg in items)
    return [*argv[: last + 1], item, *argv[last + 1 :]]


def check_command_line(argv: Sequence[str], config_dir: Path, config_name: str) -> None:
    """The checks every Hydra entry point shares: modes, sweep forms, and one composition."""
    check_modes(argv)
    check_sweep_forms(argv)
    check_composes(argv, config_dir, config_name)


def fail_early(argv: Sequence[str], config_dir: Path) -> list[str]:
    """Check the command line before Hydra runs it; return it with the task's default dataset added.

    A bad override prints one ``error:`` line and exits with ``EXIT_BAD_INPUT`` before any job starts.
    """
    register_help_resolver()
    if uses_other_config(argv):
        return list(argv)
    try:
        check_modes(argv)
        check_sweep_forms(argv)
        check_overrides(argv, config_dir)
        dataset = default_dataset_override(argv, config_dir)
        if dataset:
            print(
                f"no dataset given: the heads' task trains on {dataset} (set dataset=... to choose)",
                file=sys.stderr,
            )
        argv = with_override(argv, dataset) if dataset else list(argv)
        check_composes(argv, config_dir)
    except CvzooError as err:
        if debug_requested():
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    return argv
