"""``cvzoo.create_model``: the notebook one-liner builds the very model train.py trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cvzoo
from cvzoo.errors import ConfigError
from cvzoo.module import CvzooModule


def _structure(model: torch.nn.Module) -> list[tuple[str, str]]:
    """Every submodule's name and class, in order."""
    return [(name, type(module).__name__) for name, module in model.named_modules()]


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """state_dict keys and tensor shapes."""
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


@pytest.mark.parametrize(
    ("backbone", "head", "dataset", "classes"),
    [
        ("test_resnet", "fpn", "shapes", 4),
        ("test_vit", "unet", "shapes", 4),
        ("test_convnext", "mlp", None, 10),
    ],
)
def test_create_model_matches_the_model_train_py_builds(
    compose_cfg, backbone, head, dataset, classes
) -> None:
    overrides = [f"backbone={backbone}", f"head={head}", "backbone.pretrained=false"]
    overrides += [f"dataset={dataset}"] if dataset else []
    trained = CvzooModule(compose_cfg(*overrides), class_names=[str(i) for i in range(classes)]).model
    model = cvzoo.create_model(backbone, head=head, num_classes=classes, dataset=dataset, pretrained=False)
    assert type(model) is type(trained)
    assert _structure(model) == _structure(trained)
    assert _shapes(model) == _shapes(trained)
    assert torch.equal(model.mean, trained.mean) and torch.equal(model.std, trained.std)


def test_the_readme_one_liner_gives_segmentation_logits_at_the_input_size() -> None:
    model = cvzoo.create_model("resnet18", head="fpn", num_classes=4, pretrained=False)
    with torch.no_grad():
        logits = model.eval()(torch.rand(1, 3, 64, 64))
    assert logits.shape == (1, 4, 64, 64)


def test_any_timm_name_and_extra_overrides_work() -> None:
    model = cvzoo.create_model(
        "resnet10t", head="mlp", num_classes=3, pretrained=False, overrides=["head.hidden_dim=32"]
    )
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_a_missing_config_folder_says_how_to_fix_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CVZOO_CONFIG_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="CVZOO_CONFIG_DIR"):
        cvzoo.create_model("resnet18", num_classes=2)
