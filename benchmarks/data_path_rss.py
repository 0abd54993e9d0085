"""Child process of section 7: read one epoch of a cache folder, print peak RSS in MiB.

``python -m benchmarks.data_path_rss <cache folder>``
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from cvzoo.data.cache import CachedItems


class Images(Dataset):
    """The cached images as uint8 tensors."""

    def __init__(self, items: CachedItems) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.items[index]["image"])


def main(path: str) -> float:
    """Peak RSS (MiB) after one shuffled epoch in batches of 32.

    Read from ``VmHWM`` (this process image only): ``ru_maxrss`` would keep the peak of the
    parent that spawned us.
    """
    for batch in DataLoader(Images(CachedItems(path)), batch_size=32, shuffle=True):
        batch.float().mean()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


if __name__ == "__main__":
    print(f"{main(sys.argv[1]):.1f}")
