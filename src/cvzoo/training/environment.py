"""Facts about the machine and libraries a run used, and the model's FLOPs, for run records."""

from __future__ import annotations

import importlib.metadata
import platform

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "lightning",
    "hydra-core",
    "kornia",
    "torchmetrics",
    "cvzoo",
)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that decide a run's numbers."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def device_name(device: torch.device) -> str:
    """A readable device name such as ``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``cpu (x86_64)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({platform.machine()}, {torch.get_num_threads()} threads)"


def count_flops(model: nn.Module, image_size: int) -> int | None:
    """Forward FLOPs for one ``image_size`` RGB image (None when counting fails)."""
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    x = torch.rand(1, 3, image_size, image_size, device=param.device)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return int(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - FLOPs are informative, never fatal
        return None
    finally:
        model.train(was_training)
