"""Backbones: any timm model built with ``features_only`` so every head sees a feature pyramid.

``pretrained`` is ``auto`` (load weights when the hub or the local cache has them, else train from
scratch with one loud warning), ``true`` (fail when weights cannot be loaded), ``false``, or the path
of a local weights file (``.safetensors``/``.pth``/``.pt``/``.bin``; see ``cvzoo.models.weights``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cvzoo.errors import ModelError, suggestion
from cvzoo.models.weights import (
    cached_weights_file,
    check_keys_fit,
    check_weights_file,
    is_weights_path,
    mismatch_error,
)

log = logging.getLogger(__name__)
PRETRAINED_CHOICES = ("auto", "true", "false")


@dataclass
class BuiltBackbone:
    """A timm feature extractor plus what the rest of the model needs to know about it."""

    module: nn.Module
    channels: list[int]
    reductions: list[int]
    channels_last_output: bool
    pretrained_loaded: bool
    pretrained_file: str | None = None


@lru_cache(maxsize=1)
def available_models() -> frozenset[str]:
    """All model names timm can build (pretrained tags stripped)."""
    return frozenset(timm.list_models())


def check_model_name(name: str) -> None:
    """Raise ModelError naming the closest timm models when ``name`` is not a timm model."""
    if name in available_models() or name.split(".")[0] in available_models():
        return
    hint = suggestion(name, available_models())
    raise ModelError(f"unknown timm backbone {name!r}; {hint or 'see timm.list_models()'}")


def normalize_pretrained(value: Any) -> str:
    """Map the config value of ``pretrained`` to ``auto``/``true``/``false``, or ``file`` for a path."""
    if is_weights_path(value):
        check_weights_file(value)
        return "file"
    text = str(value).strip().lower()
    if text not in PRETRAINED_CHOICES:
        raise ModelError(
            f"backbone.pretrained={value!r} is not one of auto, true, false, or a path to a "
            ".safetensors/.pth/.bin file"
        )
    return text


def requested_pretrained(value: Any) -> str:
    """What the record keeps as ``pretrained_requested``: auto/true/false, or the weights file as given."""
    return str(value).strip() if is_weights_path(value) else str(value).strip().lower()


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub answers on its HTTPS port (False when offline is forced)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Make huggingface_hub read only its local cache (no retries against an unreachable hub)."""
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def _create(name: str, pretrained: bool, kwargs: Mapping[str, Any]) -> nn.Module:
    """Call timm with features_only, turning its errors into one ModelError line."""
    try:
        return timm.create_model(name, pretrained=pretrained, features_only=True, **kwargs)
    except (RuntimeError, ValueError, TypeError, AssertionError) as err:
        if pretrained:
            raise
        raise ModelError(
            f"timm cannot build {name!r} as a feature extractor with {dict(kwargs)}: "
            f"{str(err).splitlines()[0]}"
        ) from err


def _create_pretrained(name: str, mode: str, kwargs: Mapping[str, Any]) -> nn.Module | None:
    """Try to build with weights; None when they are unreachable and ``mode`` is auto."""
    online = hub_reachable()
    try:
        if online:
            return _create(name, True, kwargs)
        with _hub_offline():
            return _create(name, True, kwargs)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        where = "hub and local cache" if online else "local cache (hub unreachable)"
        if mode == "true":
            raise ModelError(
                f"pretrained weights for {name!r} could not be loaded from the {where}: {reason}; "
                "connect to the hub, pre-download them, or set backbone.pretrained=false"
            ) from err
        log.warning(
            "!!! PRETRAINED WEIGHTS UNAVAILABLE for %s (%s): training FROM SCRATCH. "
            "Set backbone.pretrained=false to silence this, or true to make it an error. !!!",
            name,
            where,
        )
        return None


def _create_from_file(name: str, path: Path, kwargs: Mapping[str, Any]) -> nn.Module:
    """Build with the weights of a local file through timm's loader (no network)."""
    check_keys_fit(name, path, kwargs)
    try:
        with _hub_offline():
            return _create(name, True, {**kwargs, "pretrained_cfg_overlay": {"file": str(path)}})
    except Exception as err:  # torch, pickle and safetensors raise their own types
        raise mismatch_error(name, path, err) from err


def build_backbone(
    name: str, pretrained: Any = "auto", kwargs: Mapping[str, Any] | None = None
) -> BuiltBackbone:
    """Build ``name`` from timm as a feature extractor and describe its outputs."""
    check_model_name(name)
    mode = normalize_pretrained(pretrained)
    kwargs = (
        OmegaConf.to_container(kwargs, resolve=True) if isinstance(kwargs, DictConfig) else dict(kwargs or {})
    )
    source: str | None = None
    if mode == "file":
        path = check_weights_file(pretrained)
        module, source = _create_from_file(name, path, kwargs), str(path)
    else:
        module = _create_pretrained(name, mode, kwargs) if mode != "false" else None
        source = cached_weights_file(name) if module is not None else None
    loaded = module is not None
    if module is None:
        module = _create(name, False, kwargs)
    info = module.feature_info
    fmt = str(getattr(module, "output_fmt", "NCHW"))
    return BuiltBackbone(
        module=module,
        channels=list(info.channels()),
        reductions=list(info.reduction()),
        channels_last_output=fmt.endswith("NHWC"),
        pretrained_loaded=loaded,
        pretrained_file=source,
    )
