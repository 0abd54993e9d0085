"""Section 7 on a GPU: how busy resnet18 (224 px, bf16) stays when fed from the decode cache."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch.utils.data import DataLoader

SIZE = 224
BATCH = 256
STEPS = 20


def _steps(model: Any, optimizer: Any, batches: Any, augment: Any, device: str) -> float:
    """Seconds for ``STEPS`` training steps on ``batches`` (uint8 on the host or the device)."""
    start = time.perf_counter()
    for i, images in enumerate(batches):
        if i == STEPS:
            break
        images = images.to(device, non_blocking=True).float().div_(255.0)
        images, _ = augment(images, None)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            loss = model(images.contiguous(memory_format=torch.channels_last)).float().logsumexp(1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def busy_share(dataset: Any, cfg: Any, device: str = "cuda", batch: int = BATCH) -> float:
    """Step time on one resident batch / step time fed from the cache (1.0: the GPU never waits).

    ``cfg`` is a composed train config whose backbone and head are trained.
    """
    from cvzoo.augment import build_augmentation
    from cvzoo.models import build_model

    model, _ = build_model(cfg.backbone, cfg.head, 2, [0.5] * 3, [0.2] * 3)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), 0.01)
    augment = build_augmentation({"crop": {"resized_crop": {"p": 1.0}, "hflip": {"p": 0.5}}}, "x", 255, SIZE)
    images = [dataset[i % len(dataset)][0] for i in range(batch)]
    resident = torch.stack(images).to(device)
    _steps(model, optimizer, [resident] * 3, augment, device)  # warm-up
    alone = _steps(model, optimizer, [resident] * STEPS, augment, device)
    loader = DataLoader(
        _Images(dataset),
        batch_size=batch,
        shuffle=True,
        num_workers=2,
        pin_memory=device == "cuda",
        drop_last=True,
    )
    fed = _steps(model, optimizer, _repeat(loader), augment, device)
    return alone / fed


class _Images(torch.utils.data.Dataset):
    """Images only, from an (image, label) dataset."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.dataset[index][0]


def _repeat(loader: DataLoader) -> Any:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader
