"""Pretrained weights from a local file or the local caches, for machines without internet.

``backbone.pretrained=/path/to/weights.safetensors`` (or ``.pth``/``.pt``/``.bin``) loads a file
saved from the full timm model (``timm.create_model(name).state_dict()``) through timm's own
loader (``pretrained_cfg_overlay={"file": ...}``), so timm's key filters apply exactly as for
hub weights. Hub weights already in the Hugging Face cache (or torch hub's) load with no network
access; :func:`cached_weights_file` names the file that was used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch

from cvzoo.errors import ModelError

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# File names timm looks for in a Hugging Face repository, in its order of preference.
_HF_FILENAMES = ("model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin")


def is_weights_path(value: Any) -> bool:
    """True when a ``backbone.pretrained`` value names a file rather than auto/true/false."""
    text = str(value).strip()
    return text.lower().endswith(WEIGHT_SUFFIXES) or "/" in text or "\\" in text


def check_weights_file(value: Any) -> Path:
    """The existing weights file named by ``backbone.pretrained``, or one line saying what is wrong."""
    path = Path(str(value).strip()).expanduser()
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ModelError(
            f"backbone.pretrained={value} is not a weights file; give a "
            f"{'/'.join(WEIGHT_SUFFIXES)} file, or one of auto, true, false"
        )
    if not path.is_file():
        raise ModelError(
            f"backbone.pretrained={value}: no such file; check the path (it is never downloaded)"
        )
    return path.resolve()


def _classifier_prefixes(name: str) -> tuple[str, ...]:
    """Key prefixes of the classifier, which a feature extractor drops (so a fine-tuned head fits)."""
    cfg = timm.models.get_pretrained_cfg(name)
    names = getattr(cfg, "classifier", None) or ()
    return tuple(f"{c}." for c in ((names,) if isinstance(names, str) else names))


def _read_state_dict(path: Path) -> dict[str, Any]:
    """The state dict stored in ``path``, or one line saying it cannot be read."""
    try:
        return timm.models.load_state_dict(str(path))
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelError(f"backbone.pretrained={path} cannot be read as a state dict: {reason}") from err


def _does_not_fit(name: str, path: Path, detail: str) -> ModelError:
    """The one-line error for a weights file that does not fit ``name``."""
    return ModelError(
        f"backbone.pretrained={path} does not fit {name}: {detail}; "
        f"save the weights of timm.create_model({name!r}) or pick the backbone they came from"
    )


def check_keys_fit(name: str, path: Path, kwargs: Mapping[str, Any]) -> None:
    """Raise when the file lacks a key of the model or has one it does not know (classifier aside).

    timm loads files non-strictly in some cases, so a file of another architecture would
    otherwise leave most layers at random init without a word.
    """
    skip = _classifier_prefixes(name)
    keep = lambda keys: {k: v for k, v in keys.items() if not k.startswith(skip)}  # noqa: E731
    expected = keep(timm.create_model(name, pretrained=False, **kwargs).state_dict())
    found = keep(_read_state_dict(path))
    missing = next((k for k in expected if k not in found), None)
    if missing is not None:
        raise _does_not_fit(name, path, f"key {missing!r} is missing from the file")
    extra = next((k for k in found if k not in expected), None)
    if extra is not None:
        raise _does_not_fit(name, path, f"the file has the unexpected key {extra!r}")


_SIZE_MISMATCH = re.compile(
    r"size mismatch for ([^:]+): copying a param with shape (.+?) from checkpoint, "
    r"the shape in current model is (.+?)\."
)


def mismatch_error(name: str, path: Path, err: Exception) -> ModelError:
    """One line naming the first key of ``path`` whose shape does not fit (from torch's message)."""
    found = _SIZE_MISMATCH.search(str(err))
    if found is None:
        return _does_not_fit(name, path, str(err).splitlines()[0] if str(err) else type(err).__name__)
    key, file_shape, model_shape = found.groups()
    return _does_not_fit(
        name, path, f"key {key!r} has shape {file_shape} in the file but {model_shape} in the model"
    )


def cached_weights_file(name: str) -> str | None:
    """The local file hub weights of ``name`` load from (HF cache, torch hub cache), or their hub id."""
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.file:
        return str(cfg.file)
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        for filename in (cfg.hf_hub_filename, *_HF_FILENAMES):
            found = try_to_load_from_cache(repo, filename) if filename else None
            if isinstance(found, str):
                return found
        return f"hf-hub:{cfg.hf_hub_id}"
    if cfg.url:
        local = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        return str(local) if local.is_file() else cfg.url
    return None
