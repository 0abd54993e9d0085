"""``cvzoo.create_model``: the model ``train.py`` builds, for notebooks and scripts.

The config is composed from the same ``configs/`` tree with the same overrides ``train.py`` would
get, and built by the same ``cvzoo.models.build_model``; nothing is duplicated here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cvzoo.errors import ConfigError
from cvzoo.models import CvzooModel, build_model
from cvzoo.training.compose import compose_train

CONFIG_DIR_ENV = "CVZOO_CONFIG_DIR"


def find_config_dir() -> Path:
    """The ``configs/`` folder: ``$CVZOO_CONFIG_DIR``, else the checkout the package was installed from."""
    given = os.environ.get(CONFIG_DIR_ENV)
    folder = Path(given) if given else Path(__file__).resolve().parents[2] / "configs"
    if not (folder / "train.yaml").is_file():
        raise ConfigError(
            f"no train.yaml in {folder}; install cvzoo from a checkout (pip install -e .) "
            f"or set {CONFIG_DIR_ENV}=/path/to/cvzoo/configs"
        )
    return folder


def model_overrides(
    backbone: str, head: str, dataset: str | None = None, pretrained: Any = None
) -> list[str]:
    """The ``train.py`` overrides that select ``backbone`` (a config or any timm name) and ``head``."""
    config_dir = find_config_dir()
    known = (config_dir / "backbone" / f"{backbone}.yaml").is_file()
    overrides = [f"backbone={backbone}" if known else f"backbone.name={backbone}", f"head={head}"]
    if dataset is not None:
        overrides.append(f"dataset={dataset}")
    if pretrained is not None:
        value = str(pretrained).lower() if isinstance(pretrained, bool) else str(pretrained)
        overrides.append(f"backbone.pretrained={value}")
    return overrides


def create_model(
    backbone: str = "resnet18",
    head: str = "linear",
    *,
    num_classes: int,
    dataset: str | None = None,
    pretrained: Any = None,
    overrides: Sequence[str] = (),
) -> CvzooModel:
    """Build ``backbone`` + ``head`` for ``num_classes`` exactly as ``train.py`` would.

    ``dataset`` picks the normalization (mean/std) and input size settings as in ``train.py``;
    ``pretrained`` is ``auto``/``true``/``false`` or a weights file (default: the backbone config's);
    ``overrides`` are further ``train.py`` overrides such as ``head.dropout=0.1``.
    """
    args = [*model_overrides(backbone, head, dataset, pretrained), *overrides]
    with tempfile.TemporaryDirectory() as root:
        cfg = compose_train(find_config_dir(), Path(root), *args)
    model, _ = build_model(cfg.backbone, cfg.head, num_classes, cfg.dataset.mean, cfg.dataset.std)
    return model
