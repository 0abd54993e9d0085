"""Heads: modules built from a ``PyramidInfo`` and called on the pyramid's maps.

Every head subclasses :class:`Head`: ``Head(feature_info, num_classes, **options)`` then
``head(features) -> logits``. Classification heads return ``(B, classes)``; segmentation heads
return ``(B, classes, h, w)`` at any stride (the model upsamples to the input resolution);
detection heads return ``(B, A, 9 + classes)`` over their priors (see ``heads/detection.py``).
A head declares which tasks it serves and whether it needs a multi-scale pyramid.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from cvzoo.errors import ConfigError
from cvzoo.models.pyramid import PyramidInfo

# Keys of a head config that describe the head rather than configure its constructor.
_META_KEYS = ("_target_", "name")


class Head(nn.Module, ABC):
    """Base class of all heads."""

    tasks: ClassVar[tuple[str, ...]] = ()
    needs_pyramid: ClassVar[bool] = False

    def __init__(self, feature_info: PyramidInfo, num_classes: int) -> None:
        super().__init__()
        self.feature_info = feature_info
        self.num_classes = num_classes

    @abstractmethod
    def forward(self, features: list[Tensor]) -> Tensor:
        """Map the pyramid's maps to logits (every head defines it; the base cannot be built)."""


def head_class(cfg: Mapping[str, Any]) -> type[Head]:
    """Resolve the head class named by a head config's ``_target_``."""
    target = cfg.get("_target_")
    try:
        cls = get_class(str(target))
    except Exception as err:
        raise ConfigError(f"head._target_={target!r} cannot be imported: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, Head)):
        raise ConfigError(f"head._target_={target!r} is not a cvzoo Head subclass")
    return cls


def check_head_task(cfg: Mapping[str, Any], task: str) -> None:
    """Raise ConfigError when the configured head cannot serve ``task``."""
    from cvzoo.tasks import TASKS

    cls = head_class(cfg)
    if task not in cls.tasks:
        name = cfg.get("name", cls.__name__)
        served = "/".join(cls.tasks)
        defaults = " or ".join(f"dataset={TASKS[t].default_dataset}" for t in cls.tasks if t in TASKS)
        raise ConfigError(
            f"head={name} serves {served} but the dataset is {task}; pick a {served} dataset "
            f"({defaults or 'dataset=...'}) or a {task} head (`python train.py --help` lists them)"
        )


def build_head(cfg: Mapping[str, Any], feature_info: PyramidInfo, num_classes: int) -> Head:
    """Instantiate the head described by ``cfg`` for the given pyramid and class count."""
    cls = head_class(cfg)
    plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    options = {k: v for k, v in plain.items() if k not in _META_KEYS}
    try:
        return cls(feature_info, num_classes, **options)
    except TypeError as err:
        raise ConfigError(f"head={cfg.get('name')} got a bad option: {err}") from err
