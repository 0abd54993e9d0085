"""Filling a cache folder: decode every item (in DataLoader workers) and write it in place.

The first readable item fixes the layout (shape and dtype per field); the ``.npy`` files are then
preallocated and every worker writes its items at their offsets with ``pwrite``, so decoded
pixels never travel between processes. Ragged fields (a varying number of rows per item) come
back to the main process and are saved at the end.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from cvzoo.errors import DataError

log = logging.getLogger(__name__)
Decoded = dict[str, np.ndarray]


class UnreadableFile(Exception):
    """Raised by a decode function for an input that cannot be decoded (recorded, then the policy)."""


class _WriteItems(Dataset):
    """Decode item ``i``, write its fixed fields at their offsets, return the rest to the builder."""

    def __init__(
        self,
        decode: Callable[[int], Decoded],
        count: int,
        folder: Path,
        layout: dict[str, Any],
        ragged: Sequence[str],
    ) -> None:
        self.decode = decode
        self.count = count
        self.folder = folder
        self.layout = layout
        self.ragged = tuple(ragged)
        self._fds: dict[str, int] = {}
        self._pid = -1

    def __len__(self) -> int:
        return self.count

    def _fd(self, name: str) -> int:
        if self._pid != os.getpid():
            self._fds, self._pid = {}, os.getpid()
        if name not in self._fds:
            self._fds[name] = os.open(self.folder / f"{name}.npy", os.O_WRONLY)
        return self._fds[name]

    def close(self) -> None:
        """Close this process's file descriptors."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def __getitem__(self, index: int) -> tuple[int, str, Any]:
        try:
            arrays = self.decode(index)
        except DataError as err:
            return index, "error", str(err)
        except UnreadableFile as err:
            return index, "bad", str(err)
        return self.write(index, arrays)

    def write(self, index: int, arrays: Decoded) -> tuple[int, str, Any]:
        """Write one decoded item; return what the builder collects (or the layout error)."""
        values = {}
        for name, spec in self.layout.items():
            array = np.ascontiguousarray(arrays[name])
            if list(array.shape) != spec["shape"] or str(array.dtype) != spec["dtype"]:
                return (
                    index,
                    "error",
                    (
                        f"item {index} field {name} is {array.dtype}{list(array.shape)}, the first item "
                        f"{spec['dtype']}{spec['shape']}; the decode function must return one layout"
                    ),
                )
            os.pwrite(self._fd(name), array.tobytes(), spec["offset"] + index * array.nbytes)
            if name != "image" and array.dtype.kind in "iu":  # masks: the values (classes) seen
                values[name] = np.unique(array).tolist()
        return index, "ok", ({k: np.asarray(arrays[k]) for k in self.ragged}, values)


def _keep(item: Any) -> Any:
    """The DataLoader's collate: items unchanged."""
    return item


def _layout(first: Decoded, ragged: Sequence[str], count: int, folder: Path) -> dict[str, Any]:
    """Preallocate one ``.npy`` per fixed field, sized from the first readable item."""
    layout = {}
    for name, array in first.items():
        if name in ragged:
            continue
        array = np.asarray(array)
        target = np.lib.format.open_memmap(folder / f"{name}.npy", "w+", array.dtype, (count, *array.shape))
        layout[name] = {"shape": list(array.shape), "dtype": str(array.dtype), "offset": int(target.offset)}
        del target
    return layout


def _first_readable(decode: Callable[[int], Decoded], count: int) -> tuple[int, Decoded, dict[int, str]]:
    """The first item that decodes, and the unreadable ones before it."""
    bad: dict[int, str] = {}
    for index in range(count):
        try:
            return index, decode(index), bad
        except UnreadableFile as err:
            bad[index] = str(err)
    raise DataError(f"none of the {count} files could be decoded; check the dataset folder")


def build_arrays(
    decode: Callable[[int], Decoded], count: int, folder: Path, ragged: Sequence[str], workers: int
) -> dict[str, Any]:
    """Decode ``count`` items into ``folder``; return the index (layout, bad items, values seen)."""
    log.info("decoding %d items once into the cache %s (%d workers)", count, folder.parent, workers)
    start, first, bad = _first_readable(decode, count)
    layout = _layout(first, ragged, count, folder)
    job = _WriteItems(decode, count, folder, layout, ragged)
    written = job.write(start, first)
    job.close()  # workers open their own descriptors
    loader = DataLoader(
        job, batch_size=None, sampler=range(start + 1, count), num_workers=workers, collate_fn=_keep
    )
    pieces: dict[str, list[np.ndarray]] = {k: [np.zeros((0,))] * count for k in ragged}
    values: dict[str, set[int]] = {}
    for index, outcome, payload in itertools.chain([written], loader):
        if outcome == "error":
            raise DataError(payload)
        if outcome == "bad":
            bad[index] = payload
            continue
        extra, seen = payload
        for name, array in extra.items():
            pieces[name][index] = array
        for name, found in seen.items():
            values.setdefault(name, set()).update(found)
    for name, arrays in pieces.items():
        template = next((a for a in arrays if a.size), np.zeros((0,), dtype=np.float32))
        rows = [a.reshape(-1, *template.shape[1:]).astype(template.dtype) for a in arrays]
        np.save(folder / f"{name}.npy", np.concatenate(rows) if rows else template)
        np.save(folder / f"{name}.offsets.npy", np.cumsum([0, *(len(r) for r in rows)]).astype(np.int64))
    job.close()
    return {
        "count": count,
        "fields": layout,
        "ragged": list(ragged),
        "bad": {str(k): v for k, v in sorted(bad.items())},
        "values": {k: sorted(v) for k, v in values.items()},
    }
