"""``cvzoo simulate CURVES.csv --fidelity epoch``: replay multi-fidelity strategies on real curves."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cvzoo.errors import ConfigError
from cvzoo.search.epoch_data import read_curves
from cvzoo.search.epoch_sim import STRATEGIES, simulate_epochs
from cvzoo.search.fidelity import FidelityConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options only the epoch replay reads (``--fidelity`` selects it)."""
    parser.add_argument(
        "--fidelity",
        choices=("epoch",),
        default=None,
        help="replay on long learning curves task,row,col,epoch,value instead of a matrix",
    )
    parser.add_argument("--configs", default=None, help="with --fidelity: factor columns per task,col")
    parser.add_argument("--task", default=None, help="with --fidelity: replay only this task")


def parse_budget(text: str, unit: str = "runs") -> float | int:
    """A budget: a share in (0, 1] ("0.3") or a whole number of ``unit`` (runs or epochs: "25")."""
    try:
        value: float | int = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = 0
    if isinstance(value, float) and value > 1 and value.is_integer():
        value = int(value)
    if value <= 0 or (isinstance(value, float) and value > 1):
        raise ConfigError(f"--budget {text!r} is invalid; use shares in (0, 1] like 0.3 or {unit} like 25")
    return value


def _table(result: dict, seeds: int) -> str:
    """Markdown: one row per task and strategy, mean regret ± sd and P(within 1%) per budget."""
    budgets = result["budgets"]
    head = ["task", "strategy", *[f"regret @ {b}" for b in budgets], *[f"P(1%) @ {b}" for b in budgets]]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (2 * len(budgets))]
    for task, by_strategy in result["tasks"].items():
        for name, m in by_strategy.items():
            regret = [f"{r:.3g} ± {s:.2g}" for r, s in zip(m["regret"], m["regret_sd"])]
            share = [f"{p:.2f}" for p in m["p_within_1pct"]]
            lines.append("| " + " | ".join([task, name, *regret, *share]) + " |")
    if len(result["tasks"]) > 1:
        for name, m in result["mean"].items():
            regret = [f"{r:.3g}" for r in m["regret"]]
            share = [f"{p:.2f}" for p in m["p_within_1pct"]]
            lines.append("| " + " | ".join(["mean of tasks", name, *regret, *share]) + " |")
    return "\n".join(lines) + f"\n\nmean ± sd over {seeds} seeds"


def run(args: argparse.Namespace) -> int:
    """Read the curves, replay every strategy at every budget, print a table or one JSON object."""
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds} must be >= 1")
    budgets = [parse_budget(text, "epochs") for text in args.budget]
    sets = read_curves(args.full, args.configs, args.task)
    err = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    total = len(sets) * len(budgets) * len(STRATEGIES) * args.seeds
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("replaying", total=total)
        result = simulate_epochs(
            sets, budgets, args.seeds, fidelity=FidelityConfig(), on_step=lambda: bar.advance(task)
        )
    seconds = result.pop("seconds")
    if args.json:
        for by_strategy in result["tasks"].values():
            for metrics in by_strategy.values():
                metrics.pop("regret_sd")
        print(json.dumps(result))
    else:
        print(f"{args.full}, {args.seeds} seeds, budgets as shares of all epochs:\n")
        print(_table(result, args.seeds))
    print(f"simulated in {seconds:.1f} s", file=sys.stderr)
    return 0
