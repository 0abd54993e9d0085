"""cvzoo resnet18 + FCOS head next to torchvision's FCOS with a ResNet-18 FPN backbone on ``shapes_det``.

``python -m benchmarks.detection [--images 4800] [--seeds 0 1] [--models cvzoo_fcos torchvision_fcos]``

Both models start from random weights and see the same default ``shapes_det`` images (64 px,
split as ``train.py`` splits them through ``cvzoo.data.shapes_det.load``), the same batches in
the same order, the same optimizer (AdamW, one-cycle to a peak lr of 2e-3, weight decay 0.05,
batch 16), the same number of training images and the same evaluation (torchmetrics
``MeanAveragePrecision`` on the validation split; reported: mAP50 and mAP@[.5:.95]).
torchvision's FCOS gets its own resize disabled (``min_size = max_size = 64``), the dataset's
mean/std, trainable BatchNorm (its default FrozenBatchNorm2d cannot learn from random init) and
cvzoo's post-processing settings (score threshold, NMS IoU, detections per image); it keeps its
default FPN (P3-P7, 256 channels, 4-conv towers), cvzoo uses ``configs/head/fcos.yaml`` (P3-P5,
128 channels, 2-conv towers).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from benchmarks.common import CONFIG_DIR

DATASET = OmegaConf.load(CONFIG_DIR / "dataset" / "shapes_det.yaml")
NUM_CLASSES = len(DATASET.shapes)
MEAN, STD = list(DATASET.mean), list(DATASET.std)
Targets = list[dict[str, Tensor]]


class CvzooFCOS(nn.Module):
    """cvzoo's resnet18 + fcos head; ``forward`` gives the loss (train) or detections (eval)."""

    def __init__(self) -> None:
        super().__init__()
        from cvzoo.models import build_model

        head = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "head" / "fcos.yaml"))
        backbone = {"name": "resnet18", "pretrained": False, "kwargs": {}}
        self.model = build_model(backbone, head, NUM_CLASSES, MEAN, STD)[0]

    def forward(self, images: Tensor, targets: Targets | None = None) -> Tensor | Targets:
        """Training loss with targets, else detections per image."""
        outputs = self.model(images)
        if targets is not None:
            return self.model.head.loss(outputs, targets)
        return self.model.head.detections(outputs)


class TorchvisionFCOS(nn.Module):
    """torchvision.models.detection.FCOS on a randomly initialised ResNet-18 FPN backbone."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.detection import FCOS
        from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        backbone = resnet_fpn_backbone(
            backbone_name="resnet18",
            weights=None,
            norm_layer=nn.BatchNorm2d,  # the default FrozenBatchNorm2d cannot train from random init
            trainable_layers=5,
            returned_layers=[2, 3, 4],
            extra_blocks=LastLevelP6P7(256, 256),
        )
        self.model = FCOS(backbone, NUM_CLASSES, min_size=64, max_size=64, image_mean=MEAN, image_std=STD)

    def forward(self, images: Tensor, targets: Targets | None = None) -> Tensor | Targets:
        """Training loss with targets, else detections per image."""
        if targets is not None:
            return sum(self.model(list(images), targets).values())
        return self.model(list(images))


MODELS: dict[str, Callable[[], nn.Module]] = {"cvzoo_fcos": CvzooFCOS, "torchvision_fcos": TorchvisionFCOS}


def evaluate(model: nn.Module, images: Tensor, targets: Targets) -> dict[str, float]:
    """Validation mAP50 and mAP@[.5:.95] (eval mode)."""
    from cvzoo.tasks.detection import mean_average_precision

    metric = mean_average_precision()
    model.eval()
    with torch.no_grad():
        for start in range(0, len(images), 100):
            found = model(images[start : start + 100].float() / 255)
            metric.update(
                [{k: v.detach() for k, v in f.items()} for f in found], targets[start : start + 100]
            )
    model.train()
    result = metric.compute()
    return {"mAP50": float(result["map_50"]), "mAP": float(result["map"])}


def train(name: str, data: tuple, n_images: int, batch: int, lr: float, seed: int) -> dict[str, float]:
    """Train one model on ``n_images`` images; return its val mAPs, parameter count and wall time."""
    torch.manual_seed(seed)
    x_train, y_train, x_val, y_val = data
    model = MODELS[name]()
    steps = n_images // batch
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.3)
    order = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (batch,), generator=order).tolist()
        loss = model(x_train[idx].float() / 255, [y_train[i] for i in idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sched.step()
    elapsed = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {**evaluate(model, x_val, y_val), "params_m": params, "seconds": elapsed}


def _split(dataset) -> tuple[Tensor, Targets]:
    """All uint8 images of a split as one tensor and their targets as a list."""
    images, targets = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(images), list(targets)


def main() -> None:
    """Parse the options, generate the default shapes_det and train each model per seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4800, help="training images per model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from cvzoo.data.shapes_det import load

    cfg = OmegaConf.merge(DATASET, {"cache_dir": None})
    splits = load(OmegaConf.to_container(cfg, resolve=True))
    data = (*_split(splits.train), *_split(splits.val))
    print(
        f"shapes_det: {len(data[0])} train / {len(data[2])} val images, {args.images} training images per run"
    )
    print("| model | params (M) | val mAP50 | val mAP@[.5:.95] | seconds per run |")
    print("|---|---|---|---|---|")
    for name in args.models:
        runs = [train(name, data, args.images, batch=16, lr=2e-3, seed=s) for s in args.seeds]
        cells = [f"{runs[0]['params_m']:.2f}"]
        for key in ("mAP50", "mAP"):
            values = [r[key] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(
                f"{statistics.mean(values):.3f} ± {spread:.3f} ({', '.join(f'{v:.3f}' for v in values)})"
            )
        cells.append(f"{statistics.mean(r['seconds'] for r in runs):.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
