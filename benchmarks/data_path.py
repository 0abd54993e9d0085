"""Section 7: the data path from image files: cvzoo's decode cache vs torchvision ImageFolder.

On a folder of real-size JPEGs written here (500x375), side by side in one run: cvzoo's first
epoch (decoding into the cache), cvzoo's later epochs (reading the cache), torchvision
``ImageFolder`` + v2 transforms in DataLoader workers, and the model's training step on the same
batch; images/s per CPU core (rate / data processes). Also: a 4-job sweep started at once decodes
every file exactly once (counted), and peak RSS of reading a cache at two dataset sizes.
"""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from benchmarks.common import REPO, Row, Settings, alternate, compose_cfg, fmt, ratio_row

SEC = "7 data path (files)"
WIDTH, HEIGHT = 500, 375
SIZE, CACHE_SIZE = 224, 256
BATCH = 32
WORKERS = 2
SWEEP_JOBS = 4


def write_jpegs(root: Path, count: int) -> Path:
    """``count`` smooth, textured 500x375 JPEGs in two class folders (photo-like file sizes)."""
    rng = np.random.default_rng(0)
    for i in range(count):
        coarse = torch.from_numpy(rng.random((1, 3, 6, 8), dtype=np.float32))
        smooth = torch.nn.functional.interpolate(coarse, size=(HEIGHT, WIDTH), mode="bicubic")[0]
        pixels = smooth.permute(1, 2, 0).numpy() * 200 + rng.normal(0, 12, (HEIGHT, WIDTH, 3))
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{i:05d}.jpg", quality=90)
    return root


def dataset_cfg(st: Settings, root: Path, cache_dir: Path, workers: int) -> Any:
    """The ``folder`` dataset config: 224 px training from a 256 px cache."""
    cfg = compose_cfg(
        st.workdir,
        "dataset=folder",
        f"dataset.root={root}",
        f"dataset.image_size={SIZE}",
        f"dataset.cache_size={CACHE_SIZE}",
        f"dataset.cache_dir={cache_dir}",
        f"dataset.num_workers={workers}",
    )
    return cfg.dataset


def epoch_rate(dataset: Any, workers: int) -> float:
    """Images/s of one shuffled epoch through a DataLoader (uint8 batches, like training gets)."""
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers)
    seen, start = 0, time.perf_counter()
    for images, _ in loader:
        seen += len(images)
    return seen / (time.perf_counter() - start)


def torchvision_rate(root: Path, workers: int) -> float:
    """ImageFolder + v2 RandomResizedCrop/flip to 224 (the standard recipe), decoded in workers."""
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    transform = v2.Compose([v2.RandomResizedCrop(SIZE), v2.RandomHorizontalFlip(), v2.PILToTensor()])
    return epoch_rate(ImageFolder(str(root), transform=transform), workers)


def cvzoo_first_rate(st: Settings, root: Path, workers: int) -> float:
    """Images/s of a first epoch: scan, decode into a fresh cache, then read the epoch from it."""
    from cvzoo.data.folder import labelled_dataset

    cache_dir = st.workdir / f"cache-first-{time.perf_counter_ns()}"
    start = time.perf_counter()
    dataset, _ = labelled_dataset(root, dataset_cfg(st, root, cache_dir, workers), [])
    build = time.perf_counter() - start
    read = len(dataset) / epoch_rate(dataset, 0)
    shutil.rmtree(cache_dir, ignore_errors=True)
    return len(dataset) / (build + read)


def cached_dataset(st: Settings, root: Path) -> Any:
    """The whole folder read from its (built once) cache."""
    from cvzoo.data.folder import labelled_dataset

    dataset, _ = labelled_dataset(root, dataset_cfg(st, root, st.workdir / "cache", WORKERS), [])
    return dataset


def device_rate(dataset: Any, device: str) -> float:
    """Images/s of the device side: uint8 -> float, random-resized crop to 224 and flip (Kornia)."""
    from cvzoo.augment import build_augmentation

    augment = build_augmentation({"crop": {"resized_crop": {"p": 1.0}, "hflip": {"p": 0.5}}}, "x", 255, SIZE)
    images = torch.stack([dataset[i][0] for i in range(BATCH)]).to(device)
    start = time.perf_counter()
    for _ in range(3):
        out, _ = augment(images.float().div_(255.0), None)
    if device == "cuda":
        torch.cuda.synchronize()
    assert out.shape[-1] == SIZE
    return 3 * BATCH / (time.perf_counter() - start)


def train_step_rate(st: Settings, dataset: Any, backbone: str, batch: int, steps: int) -> float:
    """Images/s of forward + backward + optimizer step on one batch at 224 px."""
    from cvzoo.models import build_model

    cfg = compose_cfg(st.workdir, f"backbone={backbone}", "backbone.pretrained=false", "head=linear")
    model, _ = build_model(cfg.backbone, cfg.head, 2, [0.5] * 3, [0.2] * 3)
    model = model.to(st.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    images = torch.stack([dataset[i][0][:, :SIZE, :SIZE] for i in range(batch)]).to(st.device).float() / 255
    targets = torch.zeros(batch, dtype=torch.long, device=st.device)
    stamps = []
    for _ in range(steps + 1):  # the first step warms up
        loss = torch.nn.functional.cross_entropy(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if st.device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
    return steps * batch / (stamps[-1] - stamps[0])


def sweep_job(cfg: Any, log: Path) -> None:
    """One job of a sweep: load the dataset (counting every image decode into ``log``)."""
    import cvzoo.data.folder as folder
    from cvzoo.data import build_splits

    decode = folder.read_fitted

    def counted(path: Path, *args: Any, **kwargs: Any) -> np.ndarray:
        with open(log, "a") as handle:
            handle.write(f"{path}\n")
        return decode(path, *args, **kwargs)

    folder.read_fitted = counted
    build_splits(cfg)


def sweep_decodes(st: Settings, root: Path) -> tuple[int, int]:
    """Start ``SWEEP_JOBS`` jobs at once on a fresh cache; (files decoded, distinct files decoded)."""
    cfg = dataset_cfg(st, root, st.workdir / "cache-sweep", WORKERS)
    log = st.workdir / "sweep-decodes.log"
    context = multiprocessing.get_context("fork")
    jobs = [context.Process(target=sweep_job, args=(cfg, log)) for _ in range(SWEEP_JOBS)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    if any(job.exitcode for job in jobs):
        raise RuntimeError(f"a sweep job failed: exit codes {[job.exitcode for job in jobs]}")
    lines = log.read_text().split()
    return len(lines), len(set(lines))


def peak_rss_mib(cache_path: str) -> float:
    """Peak RSS (MiB) of a fresh process that reads one epoch of the cache at ``cache_path``."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.data_path_rss", cache_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def run(st: Settings) -> list[Row]:
    """Section 7."""
    count = 64 if st.quick else 600
    root = write_jpegs(st.workdir / "jpegs", count)
    repeats = 1 if st.quick else 2
    dataset = cached_dataset(st, root)
    tv0, tv, first0, first, later = alternate(
        [
            lambda: torchvision_rate(root, 0),
            lambda: torchvision_rate(root, WORKERS),
            lambda: cvzoo_first_rate(st, root, 0),
            lambda: cvzoo_first_rate(st, root, WORKERS),
            lambda: epoch_rate(dataset, 0),
        ],
        repeats,
    )
    tv_core, first_core = tv / WORKERS, first / WORKERS
    backbone, batch = ("test_resnet", 8) if st.quick else ("resnet18", BATCH)
    step = train_step_rate(st, dataset, backbone, batch, 1)
    where = f"{count} JPEGs {WIDTH}x{HEIGHT}, {SIZE} px from a {CACHE_SIZE} px cache, batch {BATCH}"
    per_core = "img/s/core"
    rows = [
        Row(SEC, f"torchvision ImageFolder + v2, 0 workers ({where})", fmt(tv0, per_core)),
        Row(
            SEC, f"torchvision ImageFolder + v2, {WORKERS} workers", fmt(tv_core, per_core), fmt(tv, "img/s")
        ),
        Row(SEC, "cvzoo first epoch (decode into the cache), 0 workers", fmt(first0, per_core)),
        Row(SEC, f"cvzoo first epoch, {WORKERS} workers", fmt(first_core, per_core), fmt(first, "img/s")),
        Row(SEC, "cvzoo later epochs (read the cache), 0 workers", fmt(later, per_core)),
        ratio_row(
            SEC, f"cvzoo later epochs / torchvision {WORKERS} workers, per core", later / tv_core, 20.0
        ),
        ratio_row(
            SEC, f"cvzoo first epoch / torchvision, {WORKERS} workers, per core", first_core / tv_core, 1.0
        ),
        ratio_row(SEC, "cvzoo first epoch / torchvision, 0 workers", first0 / tv0, 1.0),
        Row(
            SEC,
            f"device side: crop to {SIZE} + flip on {st.device}",
            fmt(device_rate(dataset, st.device), "img/s"),
        ),
        Row(SEC, f"{backbone} train step on {st.device} (batch {batch}, {SIZE} px)", fmt(step, "img/s")),
    ]
    decodes, distinct = sweep_decodes(st, root)
    verdict = "met" if decodes == distinct == count else "MISSED"
    rows.append(
        Row(
            SEC,
            f"{SWEEP_JOBS}-job sweep started at once: files decoded",
            f"{decodes} ({distinct} distinct)",
            f"= {count} ({verdict})",
        )
    )
    rows += rss_rows(st, count)
    rows.append(gpu_row(st))
    for name in ("cache", "cache-sweep", "cache-rss", "jpegs"):  # ~1 GB of scratch
        shutil.rmtree(st.workdir / name, ignore_errors=True)
    return rows


def rss_rows(st: Settings, count: int) -> list[Row]:
    """Peak RSS of reading one epoch of a cache of ``count`` and ``4 * count`` random images."""
    from cvzoo.data.cache import CacheSpec, open_cache

    rows, peaks = [], []
    for n in (count, 4 * count):
        spec = CacheSpec("rss", [], n, RandomImages(), {"n": n}, size=CACHE_SIZE)
        _, status = open_cache(spec, st.workdir / "cache-rss")
        peaks.append(peak_rss_mib(str(status.path)))
        disk = sum(p.stat().st_size for p in Path(status.path).iterdir()) / 2**20
        rows.append(
            Row(
                SEC,
                f"peak RSS reading one epoch, {n} cached images ({disk:,.0f} MiB on disk)",
                fmt(peaks[-1], "MiB"),
            )
        )
    growth = peaks[1] - peaks[0]
    rows.append(
        Row(
            SEC,
            "peak RSS growth for 4x the images",
            fmt(growth, "MiB"),
            "bounded (does not grow with the data)",
        )
    )
    return rows


class RandomImages:
    """Decode function of random 256 px uint8 images (for the RSS measurement)."""

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(index)
        return {"image": rng.integers(0, 255, (3, CACHE_SIZE, CACHE_SIZE), dtype=np.uint8)}


def gpu_row(st: Settings) -> Row:
    """The GPU's busy share while fed from the cache (only with a GPU)."""
    name = f"GPU busy share, resnet18 {SIZE} px bf16 fed from the cache"
    if st.device != "cuda" or not torch.cuda.is_available():
        return Row(SEC, name, "not run (no GPU lent)")
    from benchmarks.data_path_gpu import busy_share

    cfg = compose_cfg(st.workdir, "backbone=resnet18", "backbone.pretrained=false", "head=linear")
    return Row(SEC, name, f"{busy_share(cached_dataset(st, st.workdir / 'jpegs'), cfg):.0%}")
