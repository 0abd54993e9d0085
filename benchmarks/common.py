"""Shared pieces of the benchmark sections: result rows, alternating timing, config composition."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")


@dataclass
class Row:
    """One line of the result table."""

    section: str
    name: str
    value: str
    target: str = ""


@dataclass
class Settings:
    """What every section is told: device, size of the run, threads."""

    device: str
    quick: bool
    threads: int
    workdir: Path


def fmt(value: float, unit: str = "", digits: int = 1) -> str:
    """A number with thousands separators and a unit."""
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def ratio_row(section: str, name: str, ratio: float, target: float) -> Row:
    """A ratio with its target and whether it was met."""
    verdict = "met" if ratio >= target else "MISSED"
    return Row(section, name, f"{ratio:.2f}x", f">= {target:g} ({verdict})")


def alternate(variants: Sequence[Callable[[], float]], repeats: int) -> list[float]:
    """Run the variants A, B, A, B, ... ``repeats`` times; median of each one's returned rate."""
    results: list[list[float]] = [[] for _ in variants]
    for _ in range(repeats):
        for i, variant in enumerate(variants):
            results[i].append(variant())
    return [statistics.median(r) for r in results]


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compose_cfg(workdir: Path, *overrides: str) -> DictConfig:
    """``configs/train.yaml`` with overrides, every path under ``workdir``."""
    from cvzoo.training.compose import compose_train

    return compose_train(CONFIG_DIR, workdir, *overrides)


def make_workdir() -> Path:
    """A fresh temporary directory for logs, data and exported graphs."""
    return Path(tempfile.mkdtemp(prefix="cvzoo-bench-"))
