"""One sweep per sweep directory: an exclusive lock held by the launching process."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cvzoo.errors import CvzooError

LOCK_NAME = ".sweep.lock"


class SweepLocked(CvzooError):
    """Another sweep is running into the same sweep directory."""


class SweepLock:
    """``flock`` on ``<sweep dir>/.sweep.lock``; the kernel drops it when the holder dies (even kill -9)."""

    def __init__(self, sweep_dir: str | os.PathLike) -> None:
        self.path = Path(sweep_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``SweepLocked`` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SweepLocked(
                f"another sweep (pid {holder}) is running into {self.path.parent}; wait for it to end "
                "or choose another hydra.sweep.dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the next sweep in."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
