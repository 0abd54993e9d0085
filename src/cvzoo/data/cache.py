"""Decode once: a dataset's items, decoded and resized, kept on disk as uint8 ``.npy`` arrays.

A cache is a folder ``<cache_dir>/<name>-<size>-<key>/`` holding one ``<field>.npy`` per fixed-shape
field (``image`` ``(N, 3, S, S)``, ``mask`` ``(N, S, S)``, ...), a flat ``<field>.npy`` plus
``<field>.offsets.npy`` per ragged field (e.g. boxes, a varying number of rows per item), and
``index.json`` (layout, unreadable items, values seen per integer field, build time). The key
hashes the source files (path, size, mtime), the decode settings and the dataset name, so
touching a file or changing a setting selects another folder. One process builds while the
others wait on a ``fcntl`` lock; the build goes into a temporary folder that is fsynced and
renamed into place, so a killed build leaves nothing that is later trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cvzoo.data.cache_build import Decoded, UnreadableFile, build_arrays
from cvzoo.errors import DataError

log = logging.getLogger(__name__)
CACHE_VERSION = 1
INDEX = "index.json"

__all__ = [
    "CacheSpec",
    "CacheStatus",
    "CachedItems",
    "Decoded",
    "DecodedItems",
    "UnreadableFile",
    "open_cache",
]


@dataclass
class CacheSpec:
    """What to cache: ``count`` items, ``decode(i)`` giving each one's arrays, keyed by ``sources``."""

    name: str
    sources: Sequence[Path]
    count: int
    decode: Callable[[int], Decoded]
    settings: Mapping[str, Any]
    ragged: tuple[str, ...] = ()  # fields with a varying number of rows per item (e.g. boxes)
    size: int = 0  # side of the cached square, shown in the folder name


@dataclass
class CacheStatus:
    """What the run record says about the cache: built, reused or off, and what it found."""

    state: str
    path: str | None = None
    build_s: float | None = None
    items: int = 0
    bad_images: int = 0
    values: dict[str, list[int]] = field(default_factory=dict)


def cache_key(spec: CacheSpec) -> str:
    """A hash of the source files (path, size, mtime), the settings and the layout version."""
    digest = hashlib.sha256()
    head = {"version": CACHE_VERSION, "name": spec.name, "count": spec.count, "settings": dict(spec.settings)}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for path in spec.sources:
        try:
            stat = os.stat(path)
        except OSError as err:
            raise DataError(f"cannot read {path} ({err.strerror}); check the dataset folder") from err
        digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


class CachedItems:
    """The items of a built cache, read with positional reads (the page cache holds the data, not us)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.index = json.loads((self.path / INDEX).read_text())
        self.count = int(self.index["count"])
        self._files: dict[str, Any] = {}
        self._pid = -1

    def __len__(self) -> int:
        return self.count

    @property
    def bad(self) -> dict[int, str]:
        """Unreadable items found by the build: index -> message."""
        return {int(k): v for k, v in self.index["bad"].items()}

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "index": self.index, "count": self.count, "_files": {}, "_pid": -1}

    def __del__(self) -> None:
        if self._pid == os.getpid():
            for opened in self._files.values():
                if isinstance(opened[0], int):
                    os.close(opened[0])

    def _open(self) -> dict[str, Any]:
        """Open the arrays once per process (DataLoader workers reopen after the fork)."""
        if self._pid != os.getpid():
            self._files = {}
            for name, spec in self.index["fields"].items():
                fd = os.open(self.path / f"{name}.npy", os.O_RDONLY)
                shape, dtype = tuple(spec["shape"]), np.dtype(spec["dtype"])
                self._files[name] = (fd, int(spec["offset"]), shape, dtype)
            for name in self.index["ragged"]:
                self._files[name] = (
                    np.load(self.path / f"{name}.npy"),
                    np.load(self.path / f"{name}.offsets.npy"),
                )
            self._pid = os.getpid()
        return self._files

    def __getitem__(self, index: int) -> Decoded:
        files = self._open()
        out: Decoded = {}
        for name in self.index["fields"]:
            fd, offset, shape, dtype = files[name]
            array = np.empty(shape, dtype)
            if os.preadv(fd, [memoryview(array).cast("B")], offset + index * array.nbytes) != array.nbytes:
                raise DataError(f"the cache {self.path} is truncated ({name}.npy); delete that folder")
            out[name] = array
        for name in self.index["ragged"]:
            flat, offsets = files[name]
            out[name] = flat[offsets[index] : offsets[index + 1]].copy()
        return out


class DecodedItems:
    """The same items decoded on every access (``dataset.cache=false``)."""

    def __init__(self, decode: Callable[[int], Decoded], count: int) -> None:
        self.decode = decode
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Decoded:
        return self.decode(index)


@contextmanager
def _locked(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``lock_path`` (waiting, with a log line, if another holds it)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another job building the cache %s", what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _build(spec: CacheSpec, final: Path, workers: int) -> CachedItems:
    """Decode every item into a temporary folder, fsync it and rename it to ``final``."""
    for stale in final.parent.glob(f".{final.name}.building-*"):  # left by a killed builder
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=final.parent))
    try:
        start = time.perf_counter()
        index = build_arrays(spec.decode, spec.count, tmp, spec.ragged, workers)
        index.update(version=CACHE_VERSION, name=spec.name, settings=dict(spec.settings))
        index["build_s"] = round(time.perf_counter() - start, 3)
        for item in tmp.iterdir():
            with open(item, "rb+") as handle:
                os.fsync(handle.fileno())
        (tmp / INDEX).write_text(json.dumps(index, default=str))
        with open(tmp / INDEX, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; other jobs and users read it
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CachedItems(final)


def open_cache(spec: CacheSpec, cache_dir: str | Path, workers: int = 0) -> tuple[CachedItems, CacheStatus]:
    """The cache for ``spec`` under ``cache_dir``: reused when it exists, else built once (locked)."""
    root = Path(str(cache_dir)).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"dataset.cache_dir={root} cannot be created ({err.strerror}); point it elsewhere"
        ) from err
    final = root / f"{spec.name}-{spec.size}-{cache_key(spec)}"
    state = "reused"
    if not (final / INDEX).is_file():
        with _locked(final.with_name(final.name + ".lock"), str(final)):
            if not (final / INDEX).is_file():
                items = _build(spec, final, workers)
                state = "built"
                log.info(
                    "decoded %d items of %s into %s in %.1f s",
                    spec.count,
                    spec.name,
                    final,
                    items.index["build_s"],
                )
    if state == "reused":
        log.info("reading %s from the cache %s", spec.name, final)
    items = CachedItems(final)
    status = CacheStatus(
        state,
        str(final),
        float(items.index["build_s"]) if state == "built" else None,
        items.count,
        len(items.bad),
        {k: list(v) for k, v in items.index.get("values", {}).items()},
    )
    return items, status
