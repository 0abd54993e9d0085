"""Offline pretrained weights: a local file, or the Hugging Face cache, with no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from cvzoo.errors import ModelError
from cvzoo.models.backbones import build_backbone, normalize_pretrained
from cvzoo.module import CvzooModule


def _save_random_weights(path: Path, name: str = "test_resnet") -> dict[str, torch.Tensor]:
    """Save a randomly initialized full timm model's weights (as a user would) and return them."""
    torch.manual_seed(123)
    state = {k: v.contiguous() for k, v in timm.create_model(name).state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return state


@pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".bin"])
def test_local_file_loads_into_the_backbone(tmp_path: Path, suffix: str) -> None:
    saved = _save_random_weights(tmp_path / f"weights{suffix}")
    built = build_backbone("test_resnet", str(tmp_path / f"weights{suffix}"))
    assert built.pretrained_loaded
    assert built.pretrained_file == str((tmp_path / f"weights{suffix}").resolve())
    loaded = built.module.state_dict()
    assert loaded, "the feature extractor has weights"
    for key, value in loaded.items():
        assert torch.equal(value, saved[key]), key


def test_train_config_with_a_weights_file_builds_the_saved_tensors(compose_cfg, tmp_path: Path) -> None:
    saved = _save_random_weights(tmp_path / "w.safetensors")
    cfg = compose_cfg("backbone=test_resnet", f"backbone.pretrained={tmp_path / 'w.safetensors'}")
    module = CvzooModule(cfg, class_names=[str(i) for i in range(10)])
    backbone = module.model.backbone.state_dict()
    assert all(torch.equal(backbone[k], saved[k]) for k in backbone)
    assert module.model_info.pretrained_file == str((tmp_path / "w.safetensors").resolve())


def test_file_of_another_architecture_names_the_first_mismatching_key(tmp_path: Path) -> None:
    _save_random_weights(tmp_path / "convnext.safetensors", name="test_convnext")
    with pytest.raises(ModelError) as err:
        build_backbone("test_resnet", str(tmp_path / "convnext.safetensors"))
    message = str(err.value)
    assert "\n" not in message
    assert "does not fit test_resnet" in message and "key '" in message


def test_missing_file_and_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        normalize_pretrained(str(tmp_path / "absent.safetensors"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match="is not a weights file"):
        normalize_pretrained(str(tmp_path / "notes.txt"))
    with pytest.raises(ModelError, match="auto, true, false"):
        normalize_pretrained("maybe")


def test_file_with_a_wrongly_shaped_tensor_names_that_key(tmp_path: Path) -> None:
    state = _save_random_weights(tmp_path / "w.safetensors")
    key = next(k for k, v in state.items() if v.ndim == 4)
    state[key] = torch.zeros(1, *state[key].shape[1:])
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(ModelError, match=f"key '{key}' has shape") as err:
        build_backbone("test_resnet", str(tmp_path / "w.safetensors"))
    assert "\n" not in str(err.value)


def _fake_hf_cache(cache: Path, repo: str, state: dict[str, torch.Tensor]) -> Path:
    """Lay out ``cache`` as huggingface_hub does after a download of ``repo``'s model.safetensors."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_text(json.dumps({"architecture": "test_resnet"}))
    return snapshot / "model.safetensors"


def test_weights_in_the_hugging_face_cache_load_offline(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    torch.manual_seed(7)
    state = {k: v.contiguous() for k, v in timm.create_model("test_resnet").state_dict().items()}
    repo = timm.models.get_pretrained_cfg("test_resnet").hf_hub_id
    cached = _fake_hf_cache(tmp_path / "hub", repo, state)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    built = build_backbone("test_resnet", "true")
    assert built.pretrained_loaded
    assert built.pretrained_file == str(cached)
    for key, value in built.module.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.slow
def test_a_run_with_a_weights_file_names_it_in_the_record(run_train, tmp_path: Path) -> None:
    _save_random_weights(tmp_path / "w.pth")
    result = run_train(f"backbone.pretrained={tmp_path / 'w.pth'}")
    assert result.returncode == 0, result.stderr[-2000:]
    (record_path,) = (tmp_path / "logs").rglob("result.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "ok"
    assert record["pretrained_loaded"] is True
    assert record["pretrained_requested"] == str(tmp_path / "w.pth")
    assert record["pretrained_file"] == str((tmp_path / "w.pth").resolve())
