"""Compose ``train.yaml`` outside a Hydra run (tests, benchmarks, scripts), every path under one root."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict


def compose_train(
    config_dir: Path, root: Path, *overrides: str, output_dir: Path | None = None
) -> DictConfig:
    """``train.yaml`` of ``config_dir`` with ``overrides``; data, logs and run dir under ``root``."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.root_dir = str(root)
        cfg.paths.data_dir = str(root / "data")
        cfg.paths.log_dir = str(root / "logs")
        cfg.paths.output_dir = str(output_dir or root / "run")
    return cfg
