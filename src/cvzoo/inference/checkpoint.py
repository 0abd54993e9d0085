"""Load a training checkpoint back into an eval-mode ``CvzooModel`` (shared by export, predict, calibrate)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cvzoo.errors import ModelError
from cvzoo.inference.geometry import Geometry
from cvzoo.models import build_model
from cvzoo.models.model import CvzooModel
from cvzoo.results import RECORD_NAME, load_record

# Prefix of the CvzooModel's weights inside the LightningModule's state dict.
_MODEL_PREFIX = "model."


@dataclass
class CheckpointMeta:
    """What a checkpoint says about its model: config, classes, task and preprocessing."""

    cfg: dict[str, Any]
    class_names: list[str]
    task: str
    image_size: int
    mean: list[float]
    std: list[float]
    geometry: Geometry
    ignore_index: int = 255
    checkpoint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """The training run directory holding the checkpoint (``<run>/checkpoints/x.ckpt``)."""
        return run_dir_of(Path(self.checkpoint))


def run_dir_of(ckpt: Path) -> Path:
    """The run directory of a checkpoint: the parent of ``checkpoints/``, else its own folder."""
    ckpt = Path(ckpt)
    if ckpt.parent.name == "checkpoints":
        return ckpt.parent.parent
    return ckpt.parent


def record_of(ckpt: Path) -> dict[str, Any] | None:
    """The ``result.json`` of the checkpoint's run, or None when there is none."""
    path = run_dir_of(ckpt) / RECORD_NAME
    try:
        return load_record(path) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _read(path: Path) -> Mapping[str, Any]:
    """torch.load a Lightning checkpoint, turning a missing or foreign file into one ModelError."""
    if not path.is_file():
        raise ModelError(f"checkpoint {str(path)!r} does not exist; pass ckpt=<run>/checkpoints/best.ckpt")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        reason = (str(err).splitlines() or [""])[0][:200]
        raise ModelError(
            f"cannot read checkpoint {str(path)!r} ({type(err).__name__}: {reason}); it is empty, "
            "truncated or not a checkpoint: pick another one (e.g. checkpoints/last.ckpt) or retrain"
        ) from err
    if not isinstance(data, Mapping) or "state_dict" not in data or "hyper_parameters" not in data:
        raise ModelError(
            f"{str(path)!r} is not a cvzoo Lightning checkpoint (no state_dict/hyper_parameters)"
        )
    return data


def meta_from_hparams(hparams: Mapping[str, Any], checkpoint: str = "") -> CheckpointMeta:
    """Build the metadata from a CvzooModule's saved hyper-parameters (geometry: its dataset config)."""
    cfg = copy.deepcopy(dict(hparams["cfg"]))
    data = cfg["dataset"]
    return CheckpointMeta(
        cfg=cfg,
        class_names=[str(n) for n in hparams["class_names"]],
        task=str(data["task"]),
        image_size=int(data["image_size"]),
        mean=[float(v) for v in data["mean"]],
        std=[float(v) for v in data["std"]],
        geometry=Geometry.of_dataset(data),
        ignore_index=int(hparams.get("ignore_index", 255)),
        checkpoint=checkpoint,
    )


def load_checkpoint(path: str | Path) -> tuple[CvzooModel, CheckpointMeta]:
    """Rebuild the checkpoint's model (no pretrained download), load its weights, return it in eval mode."""
    path = Path(path).expanduser()
    data = _read(path)
    meta = meta_from_hparams(data["hyper_parameters"], str(path.resolve()))
    backbone_cfg = {**meta.cfg["backbone"], "pretrained": False}
    model, _ = build_model(backbone_cfg, meta.cfg["head"], len(meta.class_names), meta.mean, meta.std)
    weights = {
        k[len(_MODEL_PREFIX) :]: v for k, v in data["state_dict"].items() if k.startswith(_MODEL_PREFIX)
    }
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1:2] or [str(err)]
        raise ModelError(f"weights of {str(path)!r} do not fit its config: {first[0].strip()}") from err
    model.eval()
    return model, meta


def save_checkpoint_from_config(cfg: Mapping[str, Any], path: str | Path) -> Path:
    """Build the module a resolved train config describes (untrained) and save it as a Lightning checkpoint.

    For exports, benchmarks and tests of architectures nobody trained yet.
    """
    import lightning as L

    from cvzoo.data import build_splits
    from cvzoo.module import CvzooModule

    splits = build_splits(cfg["dataset"])
    module = CvzooModule(cfg, splits.class_names, splits.ignore_index)
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.strategy.connect(module)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(path)
    return path
