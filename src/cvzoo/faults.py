"""Fault injection for tests: ``CVZOO_FAULT=<event>=<n>[:<signal>]`` sends a signal at a chosen point.

Events are counted per process: ``train_step`` (global step after a training batch),
``val_batch`` (validation batches outside the sanity check), ``record_write`` and
``ckpt_write`` (the n-th write of a ``result.json`` or checkpoint, halfway through the bytes).
The signal defaults to ``KILL``; ``TERM`` or ``USR1`` exercise the preemption path.
``CVZOO_FAULT=oom_above=<batch size>`` raises an out-of-memory error for larger batches.
Unset (the normal case) every hook is a no-op.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

FAULT_ENV = "CVZOO_FAULT"
_counts: Counter[str] = Counter()


def _spec() -> tuple[str, int, str] | None:
    """(event, n, signal name) from the environment, None when unset or malformed."""
    text = os.environ.get(FAULT_ENV, "")
    event, _, rest = text.partition("=")
    number, _, name = rest.partition(":")
    if not event or not number.strip().isdigit():
        return None
    return event.strip(), int(number), (name.strip() or "KILL").upper().removeprefix("SIG")


def fault_point(event: str, count: int | None = None) -> None:
    """Signal this process when ``event`` reaches the configured count (``count`` or a tally)."""
    spec = _spec()
    if spec is None or spec[0] != event:
        return
    if count is None:
        _counts[event] += 1
        count = _counts[event]
    if count == spec[1]:
        os.kill(os.getpid(), getattr(signal, f"SIG{spec[2]}"))


def oom_limit() -> int | None:
    """The batch size above which an out-of-memory error is injected (None: no injection)."""
    spec = _spec()
    return spec[1] if spec and spec[0] == "oom_above" else None


def write_with_faults(handle, data: bytes, event: str) -> None:
    """Write ``data`` to an open binary file, passing ``fault_point(event)`` halfway through."""
    half = len(data) // 2
    handle.write(data[:half])
    handle.flush()
    fault_point(event)
    handle.write(data[half:])
