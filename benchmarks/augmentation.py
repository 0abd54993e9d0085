"""Section 3: Kornia batch augmentation on the device vs torchvision.transforms.v2 in DataLoader workers."""

from __future__ import annotations

import time

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import Row, Settings, alternate, compose_cfg, fmt

SIZE = 64
BATCH = 64
WORKERS = 2


class TorchvisionDataset(Dataset):
    """uint8 images augmented one by one with the torchvision equivalent of ``basic``."""

    def __init__(self, images: torch.Tensor) -> None:
        from torchvision.transforms import v2

        self.images = images
        self.transform = v2.Compose(
            [
                v2.RandomHorizontalFlip(0.5),
                v2.RandomApply([v2.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1))], p=0.5),
                v2.RandomApply([v2.ColorJitter(0.2, 0.2, 0.2, 0.02)], p=0.8),
                v2.ToDtype(torch.float32, scale=True),
            ]
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.images[index])


def kornia_rate(images: torch.Tensor, device: str, augment: torch.nn.Module) -> float:
    """Images/s of cvzoo's ``basic`` block on whole batches on the device."""
    start = time.perf_counter()
    for batch in images.split(BATCH):
        augment(batch.to(device).float().div_(255.0), None)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - start)


def torchvision_rate(loader: DataLoader) -> float:
    """Images/s of one epoch of per-sample torchvision transforms in persistent workers."""
    seen, start = 0, time.perf_counter()
    for batch in loader:
        seen += len(batch)
    return seen / (time.perf_counter() - start)


def run(st: Settings) -> list[Row]:
    """Section 3."""
    from cvzoo.augment import build_augmentation

    options = OmegaConf.to_container(compose_cfg(st.workdir, "augmentation=basic").augmentation)
    augment = build_augmentation(options, "classification").to(st.device)
    count = 256 if st.quick else 1024
    images = torch.randint(0, 256, (count, 3, SIZE, SIZE), dtype=torch.uint8)
    loader = DataLoader(
        TorchvisionDataset(images), batch_size=BATCH, num_workers=WORKERS, persistent_workers=True
    )
    torchvision_rate(loader)  # start the workers
    kornia_rate(images[:BATCH], st.device, augment)  # warm up
    kornia, tv = alternate(
        [lambda: kornia_rate(images, st.device, augment), lambda: torchvision_rate(loader)],
        1 if st.quick else 3,
    )
    sec = "3 augmentation"
    return [
        Row(sec, f"Kornia basic, batch {BATCH} on {st.device} ({SIZE}px)", fmt(kornia, "img/s")),
        Row(sec, f"torchvision v2 per sample, {WORKERS} workers", fmt(tv, "img/s")),
        Row(sec, "Kornia / torchvision", f"{kornia / tv:.2f}x"),
    ]
