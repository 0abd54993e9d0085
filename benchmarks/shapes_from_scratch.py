"""How fast does resnet18 + U-Net learn the default ``shapes`` from random init, next to a plain U-Net?

``python -m benchmarks.shapes_from_scratch [--images 8000] [--models resnet18_unet plain_unet ...]``

The diagnostic behind docs/results/segmentation.md (training from scratch). Every model sees the
same default ``shapes`` images, split as ``train.py`` splits them (``configs/dataset/shapes.yaml``
through ``cvzoo.data.shapes.load``: 64 px, 1,400 train / 300 val), the same loop (AdamW, one-cycle to
a peak lr of 4e-3, batch 16, cross-entropy) and the same number of training images; the script
prints val mIoU at each quarter of the budget and the wall time. ``plain_unet`` is a reference
that is not part of cvzoo: a 4-level VGG-style U-Net (0.49 M parameters) that convolves at full
resolution before its first pooling, unlike ImageNet backbones, whose stem is at stride 4;
``plain_unet_stride4`` is the same with ResNet's stride-4 stem in front.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import Tensor, nn
from torch.utils.data import Dataset

from benchmarks.common import CONFIG_DIR

DATASET = OmegaConf.load(CONFIG_DIR / "dataset" / "shapes.yaml")
NUM_CLASSES = 1 + len(DATASET.shapes)  # background + the shapes
MEAN, STD = tuple(DATASET.mean), tuple(DATASET.std)


def _double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU blocks (the heads' ``conv_stack`` with BatchNorm)."""
    from cvzoo.models.heads.blocks import conv_stack

    return conv_stack(in_ch, out_ch, 2, norm="batch")


def _resnet_stem(out_ch: int) -> nn.Sequential:
    """ResNet's stem: 7x7 stride-2 conv-BN-ReLU, then 3x3 stride-2 max-pooling (stride 4 in all)."""
    return nn.Sequential(
        nn.Conv2d(3, out_ch, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(out_ch),
        nn.ReLU(True), nn.MaxPool2d(3, stride=2, padding=1),
    )  # fmt: skip


class PlainUNet(nn.Module):
    """Reference U-Net: widths w, 2w, 4w, 8w, max-pooling down, nearest upsampling up.

    ``resnet_stem=True`` replaces the full-resolution first level with ResNet's stride-4 stem
    (logits then come at stride 4 and are resized), to see what that stem alone costs.
    """

    def __init__(self, width: int = 16, resnet_stem: bool = False) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(4)]
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.down = nn.ModuleList(_double_conv(i, o) for i, o in zip([3, *widths[:-1]], widths))
        if resnet_stem:
            self.down[0] = _resnet_stem(width)
        self.up = nn.ModuleList(_double_conv(widths[i + 1] + widths[i], widths[i]) for i in (2, 1, 0))
        self.classifier = nn.Conv2d(width, NUM_CLASSES, 1)

    def forward(self, images: Tensor) -> Tensor:
        """Logits at the input resolution."""
        x, skips = (images - self.mean) / self.std, []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:]), skip], dim=1))
        logits = self.classifier(x)
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def resnet18_unet() -> nn.Module:
    """The cvzoo model of ``experiment=shapes_unet``: resnet18 (random init) + the unet head config."""
    from cvzoo.models import build_model

    head = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "head" / "unet.yaml"))
    backbone = {"name": "resnet18", "pretrained": False, "kwargs": {}}
    return build_model(backbone, head, NUM_CLASSES, MEAN, STD)[0]


MODELS: dict[str, Callable[[], nn.Module]] = {
    "resnet18_unet": resnet18_unet,
    "plain_unet": PlainUNet,
    "plain_unet_stride4": lambda: PlainUNet(resnet_stem=True),
}


def val_miou(model: nn.Module, images: Tensor, masks: Tensor) -> float:
    """Mean IoU over the classes on the validation images (eval mode)."""
    from torchmetrics.classification import MulticlassJaccardIndex

    metric = MulticlassJaccardIndex(NUM_CLASSES)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(images), 100):
            logits = model(images[start : start + 100].float() / 255)
            metric.update(logits.argmax(1), masks[start : start + 100])
    model.train()
    return float(metric.compute())


def _stack(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """All uint8 images and long masks of a split as two tensors."""
    images, masks = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(images), torch.stack(masks)


def train(name: str, data: tuple[Tensor, ...], n_images: int, batch: int, lr: float) -> None:
    """Train one model on ``n_images`` images and print val mIoU at each quarter."""
    torch.manual_seed(0)
    x_train, y_train, x_val, y_val = data
    model = MODELS[name]()
    steps = n_images // batch
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.3)
    order = torch.Generator().manual_seed(0)
    start, shown = time.perf_counter(), []
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x_train), (batch,), generator=order)
        loss = F.cross_entropy(model(x_train[idx].float() / 255), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 4) == 0 or step == steps:
            shown.append(f"{step * batch}: {val_miou(model, x_val, y_val):.3f}")
    params = sum(p.numel() for p in model.parameters()) / 1e6
    elapsed = time.perf_counter() - start
    print(f"{name:14s} {params:5.2f} M params  val mIoU after images {', '.join(shown)}  ({elapsed:.0f} s)")


def main() -> None:
    """Parse the options, generate the default shapes and train each model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8000, help="training images per model")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS)[:2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from cvzoo.data.shapes import load

    cfg = OmegaConf.merge(DATASET, {"cache_dir": None})
    splits = load(OmegaConf.to_container(cfg, resolve=True))
    data = (*_stack(splits.train), *_stack(splits.val))
    for name in args.models:
        train(name, data, args.images, batch=16, lr=4e-3)


if __name__ == "__main__":
    main()
