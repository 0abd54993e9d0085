"""Train one backbone x head on one dataset (or a sweep with -m); see README.md."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from cvzoo.training.precheck import fail_early

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float:
    """Compose the config, train, test, write result.json and return the optimized metric."""
    from cvzoo.training.entry import train_task  # lightning: imported once the early checks passed

    return train_task(cfg)


if __name__ == "__main__":
    sys.argv[1:] = fail_early(sys.argv[1:], CONFIG_DIR)
    main()
