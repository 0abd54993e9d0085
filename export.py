"""Export a trained checkpoint to ONNX with parity checks and a model card; see README.md "Export"."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from cvzoo.errors import ConfigError
from cvzoo.export.pipeline import FORMATS, ExportOptions, export_model
from cvzoo.inference.entry import check_entry_command_line, quote_commas, run_entry, typed

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def options(cfg: DictConfig) -> ExportOptions:
    """Map the config to export options (``format=tensorrt`` and ``trt=true`` are the same)."""
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format!r} must be one of {', '.join(FORMATS)}")
    parity = OmegaConf.to_container(cfg.parity, resolve=True)
    return ExportOptions(
        ckpt=cfg.ckpt,
        sweep=cfg["from"],
        pick=cfg.pick,
        out=cfg.out,
        input_format=str(cfg.input),
        opset=typed(cfg, "opset", int),
        dynamic=typed(cfg, "dynamic", bool),
        optimize=typed(cfg, "optimize", bool),
        simplify=typed(cfg, "simplify", bool),
        fp16=typed(cfg, "fp16", bool),
        tensorrt=typed(cfg, "trt", bool) or cfg.format == "tensorrt",
        opencv=typed(cfg, "opencv", bool),
        parity=parity,
        progress=typed(cfg, "progress", bool),
    )


def export(cfg: DictConfig) -> None:
    """Export and print where the files went and how parity went."""
    card = export_model(options(cfg))
    size = card["input"]["size"]
    dynamic = "dynamic H/W" if card["input"]["dynamic_hw"] else f"fixed {size[0]}x{size[1]}"
    print(
        f"exported {card['task']} model ({card['input']['format']} input, {dynamic}, "
        f"parity max |diff| {card['parity']['max_abs_diff']:.2g}) to {card['_dir']}"
    )


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="export")
def main(cfg: DictConfig) -> None:
    """Compose the export config and run it (errors: one line, exit code 2 for bad input)."""
    run_entry(export, cfg)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *quote_commas(sys.argv[1:], ("pick",))]
    check_entry_command_line(sys.argv[1:], CONFIG_DIR, "export")
    main()
