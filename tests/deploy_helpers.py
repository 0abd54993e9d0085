"""Fixtures shared by the deployment tests (export, predict, calibrate): one small trained run.

Imported by tests/test_export.py, test_predict.py and test_calibrate.py. pytest keeps one fixture
per importing module, so the expensive results are also cached per process: the run is trained
and exported once per test session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from sklearn.datasets import load_digits
from torch import Tensor, nn

from cvzoo.export.pipeline import ExportOptions, export_model
from cvzoo.models.heads import Head
from cvzoo.models.pyramid import PyramidInfo
from cvzoo.training.compose import compose_train as compose_with_paths

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"
# A quick digits run at 48x48 (the export is checked at 48 and run at 64 by the tests).
TRAIN_OVERRIDES = (
    "backbone=test_resnet",
    "dataset.image_size=48",
    "dataset.fraction=0.3",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "logger=csv",
    "test=false",
)


def compose_train(root: Path, *overrides: str, output_dir: Path | None = None) -> DictConfig:
    """A train config with every path under ``root``."""
    return compose_with_paths(CONFIG_DIR, root, *overrides, output_dir=output_dir)


def run_script(script: str, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``export.py`` / ``predict.py`` in a subprocess, single-threaded."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_digit_images(folder: Path, count: int = 12, size: int = 40) -> list[Path]:
    """Real digits as RGB PNGs (some in a sub-folder) plus one unreadable file."""
    digits = load_digits()
    paths = []
    for i in range(count):
        sub = folder / ("more" if i % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
        path = sub / f"digit_{i:02d}_{digits.target[i]}.png"
        Image.fromarray(pixels).resize((size, size)).convert("RGB").save(path)
        paths.append(path)
    (folder / "broken.jpg").write_text("not an image")
    return paths


_MADE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished training run (digits, test_resnet, 48 px): result.json + checkpoints/best.ckpt."""
    from cvzoo.training import run_training

    if "trained" not in _MADE:
        root = tmp_path_factory.mktemp("deploy")
        run_dir = root / "logs" / "train" / "runs" / "digits48"
        run_training(compose_train(root, *TRAIN_OVERRIDES, output_dir=run_dir))
        _MADE["trained"] = run_dir
    return _MADE["trained"]


@pytest.fixture(scope="session")
def exported_run(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained run with ``export/`` (dynamic uint8 ONNX + card) written by export_model."""
    if "exported" not in _MADE:
        run_dir = tmp_path_factory.mktemp("exported") / "run"
        shutil.copytree(trained_run, run_dir)
        export_model(ExportOptions(ckpt=str(run_dir / "checkpoints" / "best.ckpt"), progress=False))
        _MADE["exported"] = run_dir
    return _MADE["exported"]


@pytest.fixture
def fresh_run(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run (tests may write calibration/export files into it)."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir, ignore=shutil.ignore_patterns("export", "calibration.*"))
    return run_dir


def untrained_checkpoint(root: Path, backbone: str, head: str, size: int = 32, *overrides: str) -> Path:
    """An untrained Lightning checkpoint for any backbone x head (segmentation heads use shapes)."""
    from cvzoo.inference.checkpoint import save_checkpoint_from_config

    seg = head in ("fpn", "unet", "deeplabv3plus")
    data = ("dataset=shapes", "dataset.num_images=24", "dataset.cache_dir=null") if seg else ()
    cfg = compose_train(
        root, f"backbone={backbone}", f"head={head}", f"dataset.image_size={size}", *data, *overrides
    )
    container = OmegaConf.to_container(cfg, resolve=True)
    return save_checkpoint_from_config(container, root / f"{backbone}_{head}" / "checkpoints" / "best.ckpt")


class GridPoolHead(Head):
    """A classification head pooling to a 2x2 grid: AdaptiveAvgPool2d with output > 1 (no dynamic ONNX)."""

    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    def __init__(self, feature_info: PyramidInfo, num_classes: int) -> None:
        super().__init__(feature_info, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(4 * feature_info.channels[-1], num_classes)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return ``(B, num_classes)`` logits."""
        return self.fc(self.pool(features[-1]).flatten(1))
