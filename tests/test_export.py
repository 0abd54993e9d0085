"""export.py / export_model: a checkpoint becomes a checked uint8-NHWC ONNX with a model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from cvzoo.errors import EXIT_BAD_INPUT, ConfigError, DataError
from cvzoo.export.card import read_metadata
from cvzoo.export.checks import verify_onnx
from cvzoo.export.parity import ParityError, Tolerance, compare, resize_nhwc
from cvzoo.export.pipeline import ExportOptions, export_model
from cvzoo.inference import load_checkpoint
from cvzoo.inference.inputs import load_split
from cvzoo.inference.source import resolve_source
from cvzoo.results import load_record, write_record
from tests.deploy_helpers import exported_run, run_script, trained_run, untrained_checkpoint

__all__ = ["exported_run", "trained_run"]  # fixtures from deploy_helpers used below


def session(path: Path) -> ort.InferenceSession:
    """An onnxruntime CPU session."""
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_export_writes_onnx_card_and_parity_report(exported_run: Path) -> None:
    export = exported_run / "export"
    assert {"model.onnx", "model.json", "parity.json"} <= {p.name for p in export.iterdir()}
    card = json.loads((export / "model.json").read_text())
    assert card["task"] == "classification" and card["class_names"] == [str(i) for i in range(10)]
    assert card["input"]["format"] == "uint8" and card["input"]["size"] == [48, 48]
    assert card["input"]["dynamic_hw"] is True and card["input"]["tested_sizes"][0] == 48
    assert card["normalization"]["mean"] == [0.305] * 3 and card["normalization"]["inside_graph"]
    assert card["metrics"]["monitor"] == "val/acc" and "val/acc" in card["metrics"]["best_val"]
    assert card["source"]["config"]["backbone"]["name"] == "test_resnet"
    parity = json.loads((export / "parity.json").read_text())
    assert parity["ok"] and parity["data"].startswith("8 validation images of digits")
    sizes = {(c["input"], c["size"]) for c in parity["onnx"]["checks"]}
    assert ("validation", 48) in sizes and ("random", card["input"]["tested_sizes"][1]) in sizes
    assert parity["onnx"]["max_abs_diff"] < 1e-4 and parity["onnx"]["min_agreement"] == 1.0
    assert parity["opencv"]["loaded"] in (True, False)  # reported either way, never fatal


def test_onnx_holds_class_names_and_normalization_in_metadata(exported_run: Path) -> None:
    sess = session(exported_run / "export" / "model.onnx")
    facts = read_metadata(sess.get_modelmeta().custom_metadata_map)
    assert facts["class_names"] == [str(i) for i in range(10)] and facts["std"] == [0.324] * 3
    assert facts["input_format"] == "uint8" and facts["image_size"] == 48
    (inp,) = sess.get_inputs()
    assert inp.type == "tensor(uint8)" and inp.shape[3] == 3
    assert all(isinstance(d, str) for d in inp.shape[:3])  # dynamic batch, height, width


def test_model_trained_at_48_runs_at_64_like_torch(exported_run: Path) -> None:
    model, meta = load_checkpoint(exported_run / "checkpoints" / "best.ckpt")
    images, _ = load_split(meta.cfg["dataset"], "val", limit=6)
    at64 = resize_nhwc(images, 64)
    onnx_logits = session(exported_run / "export" / "model.onnx").run(None, {"images": at64})[0]
    with torch.inference_mode():
        torch_logits = model(torch.from_numpy(at64).permute(0, 3, 1, 2).float() / 255).numpy()
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4
    assert (onnx_logits.argmax(1) == torch_logits.argmax(1)).all()


def test_tampered_onnx_fails_the_parity_check(exported_run: Path, tmp_path: Path) -> None:
    shutil.copytree(exported_run / "export", tmp_path / "export")
    path = tmp_path / "export" / "model.onnx"
    assert verify_onnx(path)["ok"]
    model = onnx.load(str(path))
    classifier = next(t for t in model.graph.initializer if t.name.endswith("head.fc.weight"))
    weights = numpy_helper.to_array(classifier)
    noise = np.random.default_rng(0).normal(0, 0.1 * weights.std(), weights.shape).astype(weights.dtype)
    classifier.CopyFrom(numpy_helper.from_array(weights + noise, classifier.name))
    onnx.save(model, str(path))
    with pytest.raises(ParityError, match="parity failed on validation inputs at 48px: max"):
        verify_onnx(path)


def test_compare_counts_near_ties_as_agreement() -> None:
    reference = np.array([[1.0, 1.0000001, -3.0], [2.0, 0.0, 0.0]], np.float32)
    flipped = np.array([[1.0000001, 1.0, -3.0], [2.0, 0.0, 0.0]], np.float32)
    result = compare(reference, flipped, Tolerance())
    assert result["agreement"] == 0.5 and result["agreement_ties_allowed"] == 1.0 and result["ok"]
    assert not compare(reference, reference + 0.1, Tolerance())["ok"]


def test_from_sweep_picks_the_best_ok_record_or_the_named_cell(trained_run: Path, tmp_path: Path) -> None:
    base = load_record(trained_run)
    ckpt = str(trained_run / "checkpoints" / "best.ckpt")
    cells = [
        ("test_resnet", "linear", 0.5, "ok"),
        ("test_vit", "mlp", 0.9, "ok"),
        ("test_vit", "linear", 0.99, "failed"),
    ]
    for i, (backbone, head, acc, status) in enumerate(cells):
        write_record(
            tmp_path / str(i),
            {
                **base,
                "backbone": backbone,
                "head": head,
                "status": status,
                "best_val": {"val/acc": acc},
                "checkpoint": ckpt,
            },
        )
    assert resolve_source(sweep=tmp_path).record["backbone"] == "test_vit"
    assert resolve_source(sweep=tmp_path, pick="test_resnet, linear").record["best_val"] == {"val/acc": 0.5}
    with pytest.raises(ConfigError, match=r"pick=test_resnet,mlp matches no ok record.*did you mean"):
        resolve_source(sweep=tmp_path, pick="test_resnet,mlp")
    with pytest.raises(DataError, match=r"holds no result\.json with status ok"):
        resolve_source(sweep=tmp_path / "2")


def test_bad_sources_are_one_line_errors(tmp_path: Path) -> None:
    missing = run_script("export.py", f"ckpt={tmp_path / 'nope.ckpt'}", cwd=tmp_path)
    assert missing.returncode == EXIT_BAD_INPUT
    assert (
        missing.stderr.strip()
        == f"error: ckpt={tmp_path / 'nope.ckpt'} does not exist; pass ckpt=<run>/checkpoints/best.ckpt"
    )
    (tmp_path / "sweep").mkdir()
    empty = run_script("export.py", f"from={tmp_path / 'sweep'}", "pick=test_vit,linear", cwd=tmp_path)
    assert empty.returncode == EXIT_BAD_INPUT and len(empty.stderr.strip().splitlines()) == 1
    assert "holds no result.json with status ok" in empty.stderr


def test_tensorrt_without_gpu_says_what_to_install(trained_run: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the TensorRT path itself runs")
    with pytest.raises(ConfigError, match=r"^format=tensorrt needs a CUDA GPU .*pip install tensorrt"):
        export_model(ExportOptions(ckpt=str(trained_run / "checkpoints" / "best.ckpt"), tensorrt=True))


@pytest.mark.slow
def test_float_input_fixed_size_fp16_export(trained_run: Path, tmp_path: Path) -> None:
    ckpt = str(trained_run / "checkpoints" / "best.ckpt")
    opts = ExportOptions(
        ckpt=ckpt, out=str(tmp_path), input_format="float", dynamic=False, fp16=True, simplify=True
    )
    card = export_model(opts)
    assert card["input"]["dynamic_hw"] is False and card["files"]["onnx_fp16"] == "model.fp16.onnx"
    sess = session(tmp_path / "model.fp16.onnx")
    assert sess.get_inputs()[0].type == "tensor(float)" and sess.get_inputs()[0].shape[1:] == [3, 48, 48]
    assert json.loads((tmp_path / "parity.json").read_text())["fp16"]["ok"]


# Every head with each tiny test backbone: a fast subset here, the whole matrix marked slow.
FAST_CELLS = [("test_vit", "fpn"), ("test_convnext", "unet"), ("test_efficientnet", "deeplabv3plus")]
ALL_CELLS = [
    (b, h)
    for b in ("test_resnet", "test_vit", "test_convnext", "test_efficientnet", "test_swin")
    for h in ("linear", "mlp", "fpn", "unet", "deeplabv3plus")
]
SLOW_CELLS = [pytest.param(*c, marks=pytest.mark.slow) for c in ALL_CELLS if c not in FAST_CELLS]


@pytest.mark.parametrize(("backbone", "head"), [*FAST_CELLS, *SLOW_CELLS])
def test_every_backbone_and_head_exports_with_parity(backbone: str, head: str, tmp_path: Path) -> None:
    ckpt = untrained_checkpoint(tmp_path, backbone, head)
    card = export_model(ExportOptions(ckpt=str(ckpt), progress=False))
    parity = json.loads((ckpt.parents[1] / "export" / "parity.json").read_text())
    assert parity["ok"] and parity["onnx"]["max_abs_diff"] <= parity["onnx"]["checks"][0]["allowed_diff"]
    task = "classification" if head in ("linear", "mlp") else "segmentation"
    assert card["task"] == task and card["input"]["tested_sizes"][0] == 32
    if not card["input"]["dynamic_hw"]:  # a fixed-size fallback must say why
        assert parity["onnx"]["dynamic_attempt"]["note"]


def test_a_head_that_breaks_dynamic_sizes_falls_back_to_fixed_size(tmp_path: Path) -> None:
    # AdaptiveAvgPool2d(2) exports with dynamic H/W but is wrong at other sizes: only parity catches it
    grid = ("head._target_=tests.deploy_helpers.GridPoolHead", "~head.dropout")
    ckpt = untrained_checkpoint(tmp_path, "test_resnet", "linear", 32, *grid)
    card = export_model(ExportOptions(ckpt=str(ckpt), opencv=False, progress=False))
    parity = json.loads((ckpt.parents[1] / "export" / "parity.json").read_text())
    assert card["input"]["dynamic_hw"] is False and card["input"]["tested_sizes"] == [32]
    assert parity["ok"] and "exported fixed-size instead" in parity["onnx"]["dynamic_attempt"]["note"]
    sess = session(ckpt.parents[1] / "export" / "model.onnx")
    assert sess.get_inputs()[0].shape[1:] == [32, 32, 3]


def test_parity_beyond_tolerance_fails_loudly_and_leaves_the_report(
    trained_run: Path, tmp_path: Path
) -> None:
    opts = ExportOptions(
        ckpt=str(trained_run / "checkpoints" / "best.ckpt"),
        out=str(tmp_path),
        dynamic=False,
        opencv=False,
        progress=False,
        parity={"min_agreement": 1.01},
    )
    with pytest.raises(ParityError, match=r"^ONNX parity failed on validation inputs at 48px: .*agreement"):
        export_model(opts)
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["ok"] is False and not (tmp_path / "model.json").exists()
