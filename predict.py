"""Predict image files with a checkpoint or an exported ONNX; see README.md "Predict"."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from cvzoo.inference.entry import check_entry_command_line, run_entry, typed
from cvzoo.inference.run import PredictOptions, predict

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def run(cfg: DictConfig) -> int:
    """Predict, print a one-line summary, and return the number of images answered."""
    inputs = OmegaConf.to_container(cfg.inputs) if OmegaConf.is_list(cfg.inputs) else str(cfg.inputs)
    opts = PredictOptions(
        batch_size=typed(cfg, "batch_size", int),
        topk=typed(cfg, "topk", int),
        reject=typed(cfg, "reject", bool),
        threshold=typed(cfg, "threshold", float),
        overlay_alpha=typed(cfg, "overlay_alpha", float),
        progress=typed(cfg, "progress", bool),
    )
    result = predict(cfg.model, inputs, cfg.out, cfg.backend, str(cfg.device), opts)
    reject = (
        f", {result.rejected} unknown (threshold {result.threshold:.3f})"
        if result.threshold is not None
        else ""
    )
    skipped = f", {len(result.failed)} unreadable skipped (errors.csv)" if result.failed else ""
    print(f"predicted {result.images} images{reject}{skipped}: {result.out / 'predictions.csv'}")
    return result.images


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="predict")
def main(cfg: DictConfig) -> None:
    """Compose the predict config and run it (errors: one line, exit code 2 for bad input)."""
    run_entry(run, cfg)


if __name__ == "__main__":
    check_entry_command_line(sys.argv[1:], CONFIG_DIR, "predict")
    main()
