"""Export every curated backbone x head to ONNX with the parity check; write ``EXPORT_MATRIX.md``.

``python -m benchmarks.export_matrix [--backbones resnet18 vit] [--heads linear unet] [--size 64]``

Not a test (35 full-size exports take tens of minutes on a CPU): the tests export every head with
each tiny ``test_*`` backbone; this script checks the curated configs themselves (random weights,
``pretrained=false``) and records per cell whether the export passed parity, whether height/width
stayed dynamic, the largest logit difference and the export time.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

from omegaconf import OmegaConf

from benchmarks.common import CONFIG_DIR, compose_cfg, make_workdir

RESULT = Path(__file__).resolve().parent / "EXPORT_MATRIX.md"
SEG_HEADS = ("fpn", "unet", "deeplabv3plus")


def curated(group: str) -> list[str]:
    """The config names of a group, without the tiny ``test_*`` models."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("test_"))


def export_cell(workdir: Path, backbone: str, head: str, size: int) -> dict:
    """Save an untrained checkpoint of the cell, export it and return the parity facts."""
    from cvzoo.export.pipeline import ExportOptions, export_model
    from cvzoo.inference.checkpoint import save_checkpoint_from_config

    data = ("dataset=shapes", "dataset.num_images=16", "dataset.cache_dir=null") if head in SEG_HEADS else ()
    root = workdir / f"{backbone}_{head}"
    cfg = compose_cfg(
        root, f"backbone={backbone}", "backbone.pretrained=false", f"head={head}", *data,
        f"dataset.image_size={size}",
    )  # fmt: skip
    ckpt = save_checkpoint_from_config(
        OmegaConf.to_container(cfg, resolve=True), root / "run" / "checkpoints" / "best.ckpt"
    )
    start = time.perf_counter()
    try:
        card = export_model(ExportOptions(ckpt=str(ckpt), progress=False))
    except Exception as err:  # noqa: BLE001 - a failing cell is a result of this script
        (root / "error.log").write_text(traceback.format_exc())
        return {"ok": False, "error": str(err).splitlines()[0][:120], "seconds": time.perf_counter() - start}
    parity = json.loads((ckpt.parents[1] / "export" / "parity.json").read_text())
    return {
        "ok": bool(parity["ok"]),
        "dynamic_hw": card["input"]["dynamic_hw"],
        "max_abs_diff": parity["onnx"]["max_abs_diff"],
        "opencv": (parity.get("opencv") or {}).get("ok"),
        "seconds": time.perf_counter() - start,
    }


def cell_text(result: dict) -> str:
    """One markdown cell: pass/fail, dynamic or fixed size, max |diff|, seconds."""
    if not result["ok"]:
        return f"FAIL: {result.get('error', 'parity')}"
    size = "dynamic" if result["dynamic_hw"] else "fixed"
    return f"ok, {size}, {result['max_abs_diff']:.1e}, {result['seconds']:.0f} s"


def main() -> int:
    """Export the requested cells, print each, write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=curated("backbone"))
    parser.add_argument("--heads", nargs="+", default=curated("head"))
    parser.add_argument("--size", type=int, default=64, help="export (input) size in pixels")
    args = parser.parse_args()
    workdir = make_workdir()
    results: dict[tuple[str, str], dict] = {}
    for backbone in args.backbones:
        for head in args.heads:
            results[backbone, head] = export_cell(workdir, backbone, head, args.size)
            print(f"{backbone:24s} {head:14s} {cell_text(results[backbone, head])}", flush=True)
    lines = [
        "# Export matrix: every curated backbone x head",
        "",
        f"`python -m benchmarks.export_matrix --size {args.size}` (random weights; ONNX parity with "
        "onnxruntime at the export size and, when dynamic, a second size; OpenCV DNN as second consumer). "
        "Cell: parity result, dynamic or fixed height/width, max |logit difference|, export time.",
        "",
        "| backbone | " + " | ".join(args.heads) + " |",
        "|---|" + "---|" * len(args.heads),
    ]
    for backbone in args.backbones:
        cells = " | ".join(cell_text(results[backbone, h]) for h in args.heads)
        lines.append(f"| {backbone} | {cells} |")
    RESULT.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULT}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
