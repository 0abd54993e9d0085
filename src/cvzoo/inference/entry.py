"""What ``export.py`` and ``predict.py`` wrap around their work: one-line errors, non-zero exit."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import torch

from cvzoo.errors import CvzooError


def run_entry(func: Callable[[Any], Any], cfg: Any) -> Any:
    """Call ``func(cfg)``; a CvzooError prints ``error: <line>`` and exits 1 (traceback: CVZOO_DEBUG=1)."""
    if "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
    try:
        return func(cfg)
    except CvzooError as err:
        if os.environ.get("CVZOO_DEBUG") == "1" or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


def quote_commas(argv: list[str], keys: tuple[str, ...]) -> list[str]:
    """Quote ``key=a,b`` arguments so Hydra reads them as one string, not as a sweep (``pick=b,h``)."""
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in keys and "," in value and value[:1] not in "'\"[":
            arg = f"{key}='{value}'"
        out.append(arg)
    return out
