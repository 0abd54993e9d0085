"""The training order of an epoch as a function of the run's seed and the epoch alone.

A run continued from a checkpoint then sees the same batches as one trained straight through.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

# Spaces the per-epoch seeds of runs with neighbouring seeds apart.
SEED_STRIDE = 100_003


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch of a run (shared by a straight and a staged run)."""
    return (int(seed) * SEED_STRIDE + int(epoch)) % (2**32)


class EpochShuffle(Sampler[int]):
    """A random order of the training set that depends only on the run's seed and the epoch.

    Lightning calls ``set_epoch`` before each epoch; the order is drawn when iteration starts.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = int(size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next iteration yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        yield from torch.randperm(self.size, generator=generator).tolist()
