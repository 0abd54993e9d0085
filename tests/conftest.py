"""Shared fixtures: offline, single-threaded, and Hydra configs composed against tmp paths."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from omegaconf import DictConfig

from cvzoo.training.compose import compose_train

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose ``configs/train.yaml`` with overrides, paths pointed at ``tmp_path``."""

    def _compose(*overrides: str) -> DictConfig:
        return compose_train(CONFIG_DIR, tmp_path, *overrides)

    return _compose


FAST = (
    "backbone=test_resnet",
    "dataset.fraction=0.1",
    "dataset.image_size=32",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "logger=none",
)


@pytest.fixture
def run_train(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``train.py`` in a subprocess with logs under ``tmp_path/logs``."""

    def _run(*args: str, fast: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        flags = [a for a in args if a.startswith("-")]
        argv: Sequence[str] = [
            *flags,
            *(FAST if fast else ()),
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.data_dir={tmp_path / 'data'}",
            *(a for a in args if not a.startswith("-")),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        return subprocess.run(
            [sys.executable, str(REPO / "train.py"), *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return _run
