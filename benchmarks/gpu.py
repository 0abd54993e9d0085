"""Section 6 (CUDA only): resnet50 training precision/compile variants, FLOP/s vs peak, parallel sweep."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from benchmarks.common import REPO, Row, Settings, compose_cfg, fmt

SEC = "6 GPU"
SIZE = 224
# Dense bf16 tensor-core peaks in TFLOP/s (no sparsity); the first name contained in the device name wins.
BF16_PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
)


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a device from the table (None when unknown)."""
    for key, value in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


def _model(st: Settings) -> torch.nn.Module:
    """resnet50 with a linear head, random init, on the GPU."""
    from cvzoo.models import build_model

    cfg = compose_cfg(st.workdir, "backbone=resnet50", "backbone.pretrained=false", "head=linear")
    model, _ = build_model(cfg.backbone, cfg.head, 1000, cfg.dataset.mean, cfg.dataset.std)
    return model.cuda().train()


def forward_flops_per_image(model: torch.nn.Module) -> float:
    """Counted forward FLOPs of one image (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.rand(1, 3, SIZE, SIZE, device="cuda"))
    return float(counter.get_total_flops())


def train_rate(
    st: Settings, bf16: bool, channels_last: bool, compile_: bool, batch: int, steps: int
) -> float:
    """Training images/s of one variant (uint8 batch on the GPU, /255, forward, CE, backward, step)."""
    model = _model(st)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model: Callable = torch.compile(model) if compile_ else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8, device="cuda")
    targets = torch.randint(0, 1000, (batch,), device="cuda")

    def step() -> None:
        x = images.float().div_(255.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(step_model(x), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(10 if compile_ else 3):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def training_rows(st: Settings) -> list[Row]:
    """Images/s and achieved FLOP/s of the three variants."""
    batch, steps = (16, 5) if st.quick else (128, 30)
    name = torch.cuda.get_device_name(0)
    peak = peak_tflops(name)
    flops = 3.0 * forward_flops_per_image(_model(st))  # forward + backward ~ 3x forward
    rows = []
    variants = (
        ("fp32 eager", False, False, False),
        ("bf16 autocast + channels_last", True, True, False),
        ("bf16 autocast + channels_last + compile", True, True, True),
    )
    for label, bf16, cl, comp in variants:
        try:
            rate = train_rate(st, bf16, cl, comp, batch, steps)
            torch.cuda.empty_cache()
        except Exception as err:  # noqa: BLE001  e.g. compile unavailable: report and go on
            rows.append(Row(SEC, f"resnet50 {SIZE}px train {label}", "n/a", str(err).splitlines()[0][:80]))
            continue
        achieved = rate * flops / 1e12
        share = f"{achieved / peak:.0%} of {peak:g} TFLOP/s bf16 peak" if peak else f"peak unknown for {name}"
        rows.append(
            Row(
                SEC,
                f"resnet50 {SIZE}px bs{batch} train {label}",
                fmt(rate, "img/s"),
                f"{achieved:.1f} TFLOP/s = {share}",
            )
        )
    return rows


def sweep_row(st: Settings) -> Row:
    """Wall time of a ``hydra/launcher=local_parallel`` sweep with one job per GPU (two jobs each)."""
    gpus = torch.cuda.device_count()
    jobs = 2 * gpus
    seeds = ",".join(str(i) for i in range(jobs))
    command = [
        sys.executable,
        str(REPO / "train.py"),
        "-m",
        "hydra/launcher=local_parallel",
        f"hydra.launcher.n_jobs={gpus}",
        f"seed={seeds}",
        "backbone=resnet18",
        "backbone.pretrained=false",
        "dataset=digits",
        "trainer=gpu",
        f"trainer.max_epochs={1 if st.quick else 3}",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"paths.log_dir={st.workdir / 'sweep'}",
        f"paths.data_dir={st.workdir / 'data'}",
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=st.workdir,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    seconds = time.perf_counter() - start
    records = len(list((st.workdir / "sweep").rglob("result.json")))
    label = f"local_parallel sweep: {jobs} resnet18/digits jobs on {gpus} GPU(s)"
    if done.returncode != 0:
        return Row(SEC, label, "failed", (done.stderr.strip().splitlines() or ["?"])[-1][:80])
    return Row(SEC, label, fmt(seconds, "s"), f"{records} records, {60 * jobs / seconds:.1f} jobs/min")


def run(st: Settings) -> list[Row]:
    """Section 6, or one line saying why it was skipped."""
    if st.device != "cuda":
        return [Row(SEC, "skipped", "n/a", "CPU run; use --device cuda (make bench-gpu)")]
    if not torch.cuda.is_available():
        return [Row(SEC, "skipped", "n/a", "CUDA is not available on this machine")]
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 eager means fp32
    torch.backends.cudnn.allow_tf32 = False
    return [*training_rows(st), sweep_row(st)]
