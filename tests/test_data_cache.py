"""Decode once: the on-disk cache of file datasets, aspect-preserving resizing, device-side fitting."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from cvzoo.augment import build_augmentation
from cvzoo.data import build_splits
from cvzoo.data.cache import CacheSpec, UnreadableFile, open_cache
from cvzoo.errors import ConfigError, DataError
from tests.test_folder_seg import make_folder


def write_classes(root: Path, per_class: int = 6, size: tuple[int, int] = (40, 30)) -> Path:
    """An ImageFolder tree ``root/{cat,dog}/<i>.png`` of random images ``size`` (width, height)."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def folder_splits(compose_cfg, root: Path, *overrides: str):
    """build_splits for ``dataset=folder`` at 16 px, cached at 20 px."""
    cfg = compose_cfg(
        "dataset=folder", f"dataset.root={root}", "dataset.image_size=16", "dataset.cache_size=20", *overrides
    )
    return build_splits(cfg.dataset)


def cache_state(splits) -> str:
    """What the record will say: built, reused or off."""
    return splits.extra["data_cache"]["state"]


def test_second_load_reuses_touching_a_file_rebuilds_and_a_new_size_uses_another(compose_cfg, tmp_path):
    root = write_classes(tmp_path / "pets")
    first = folder_splits(compose_cfg, root)
    assert cache_state(first) == "built" and first.extra["data_cache"]["build_s"] > 0
    assert first.train[0][0].shape == (3, 20, 20) and first.train[0][0].dtype == torch.uint8
    again = folder_splits(compose_cfg, root)
    assert (
        cache_state(again) == "reused"
        and again.extra["data_cache"]["paths"] == first.extra["data_cache"]["paths"]
    )

    image = root / "cat" / "3.png"
    os.utime(image, ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = folder_splits(compose_cfg, root)
    assert cache_state(touched) == "built"
    assert touched.extra["data_cache"]["paths"] != first.extra["data_cache"]["paths"]

    larger = folder_splits(compose_cfg, root, "dataset.cache_size=24")
    assert cache_state(larger) == "built" and larger.train[0][0].shape == (3, 24, 24)
    assert cache_state(folder_splits(compose_cfg, root, "dataset.cache=false")) == "off"


def test_cached_and_uncached_runs_give_identical_batches(compose_cfg, tmp_path):
    root = write_classes(tmp_path / "pets")
    batches = []
    for cache in ("true", "false"):
        splits = folder_splits(compose_cfg, root, f"dataset.cache={cache}")
        loader = DataLoader(
            splits.train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3)
        )
        images, labels = next(iter(loader))
        augment = build_augmentation(
            {"strong": {"resized_crop": {"p": 1.0}, "hflip": {"p": 0.5}}}, "x", 255, 16
        )
        torch.manual_seed(0)
        augmented, _ = augment(images.float() / 255, None)
        batches.append((images, labels, augmented))
    (a, la, aug_a), (b, lb, aug_b) = batches
    assert torch.equal(a, b) and torch.equal(la, lb) and torch.equal(aug_a, aug_b)
    assert aug_a.shape == (4, 3, 16, 16)


def test_unreadable_images_are_found_once_and_counted(compose_cfg, tmp_path, monkeypatch):
    root = write_classes(tmp_path / "pets")
    (root / "dog" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot decode image .*broken.jpg .*on_bad_image=skip"):
        folder_splits(compose_cfg, root)
    import cvzoo.data.files
    import cvzoo.data.folder

    def never(*args, **kwargs):
        raise AssertionError("a reused cache decodes or verifies nothing")

    monkeypatch.setattr(cvzoo.data.folder, "read_fitted", never)
    monkeypatch.setattr(cvzoo.data.files, "is_readable", never)
    skipped = folder_splits(compose_cfg, root, "dataset.on_bad_image=skip")
    assert cache_state(skipped) == "reused" and skipped.extra["data_cache"]["bad_images"] == 1
    assert len(skipped.train) + len(skipped.val) + len(skipped.test) == 12


class CountingDecode:
    """A decode function that appends each decoded index to a file (and can be slowed down)."""

    def __init__(self, log: Path, count: int, delay: float = 0.0) -> None:
        self.log, self.count, self.delay = log, count, delay

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        with open(self.log, "a") as handle:
            handle.write(f"{index}\n")
        time.sleep(self.delay)
        if index == 3:
            raise UnreadableFile("item 3")
        return {"image": np.full((3, 4, 4), index, dtype=np.uint8), "boxes": np.ones((index % 3, 4))}


def spec_for(tmp_path: Path, delay: float = 0.0, count: int = 8) -> CacheSpec:
    """A cache spec over one source file, decoding ``count`` small items."""
    source = tmp_path / "source.txt"
    if not source.exists():  # touching it would change the key
        source.write_text("items")
    decode = CountingDecode(tmp_path / "decoded.log", count, delay)
    return CacheSpec("toy", [source], count, decode, {"size": 4}, ragged=("boxes",), size=4)


def build_in_process(tmp_path: Path, delay: float, results) -> None:
    """One job of a sweep: open (or build) the cache and report its state."""
    items, status = open_cache(spec_for(tmp_path, delay), tmp_path / "cache")
    results.put((status.state, int(items[5]["image"][0, 0, 0])))


def test_concurrent_builders_make_one_valid_cache_decoding_each_item_once(tmp_path):
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    jobs = [context.Process(target=build_in_process, args=(tmp_path, 0.05, results)) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in jobs)
    assert outcomes == [("built", 5), ("reused", 5)]
    decoded = (tmp_path / "decoded.log").read_text().split()
    assert sorted(map(int, decoded)) == list(range(8))
    items, status = open_cache(spec_for(tmp_path), tmp_path / "cache")
    assert status.state == "reused" and items.bad == {3: "item 3"}
    assert items[2]["boxes"].shape == (2, 4) and items[3]["boxes"].shape[0] == 0
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [Path(status.path).name]


def test_a_killed_build_is_never_used(tmp_path):
    context = multiprocessing.get_context("fork")
    job = context.Process(target=build_in_process, args=(tmp_path, 0.5, context.Queue()))
    job.start()
    log = tmp_path / "decoded.log"
    while not log.exists() or len(log.read_text().split()) < 2:
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.join()
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(leftovers) == 1 and ".building-" in leftovers[0]
    log.unlink()
    items, status = open_cache(spec_for(tmp_path), tmp_path / "cache")
    assert status.state == "built" and len(log.read_text().split()) == 8
    assert int(items[7]["image"].max()) == 7
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [Path(status.path).name]


def test_folder_seg_cache_keeps_ignore_and_finds_classes_without_rescanning(compose_cfg, tmp_path):
    root = make_folder(tmp_path / "seg")
    for cache in ("true", "false"):
        splits = build_splits(
            compose_cfg(
                "dataset=folder_seg",
                f"dataset.root={root}",
                "dataset.image_size=8",
                "dataset.cache_size=12",
                "dataset.resize=letterbox",
                f"dataset.cache={cache}",
            ).dataset
        )
        assert splits.class_names == ["0", "1", "2"]
        image, mask = splits.train[0]
        assert image.shape == (3, 12, 12) and mask.shape == (12, 12) and mask.dtype == torch.int64
        assert set(mask.unique().tolist()) == {0, 1, 2, 255}
        assert (mask[:1] == 255).all()  # letterbox padding of a 20x16 image is ignored


def test_folder_seg_with_a_negative_ignore_index_counts_its_classes_from_the_cache(compose_cfg, tmp_path):
    root = make_folder(tmp_path / "seg")
    for path in (root / "masks").iterdir():
        with Image.open(path) as img:
            values = np.asarray(img).astype(np.int64)
        Image.fromarray(np.where(values == 255, 0, values).astype(np.uint8)).save(path)
    cfg = compose_cfg(
        "dataset=folder_seg", f"dataset.root={root}", "dataset.image_size=8", "dataset.ignore_index=-1"
    )
    splits = build_splits(cfg.dataset)
    assert splits.class_names == ["0", "1", "2"] and splits.ignore_index == -1
    assert set(splits.train[0][1].unique().tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dataset.cache_size=8", r"dataset.cache_size=8 is below dataset.image_size=16; use 16 or more"),
        ("dataset.resize=stretch", r"dataset.resize='stretch' must be one of crop, letterbox, squash"),
        ("dataset.on_bad_image=ignore", r"dataset.on_bad_image='ignore' must be one of fail, skip"),
    ],
)
def test_bad_decode_settings_are_one_line_config_errors(compose_cfg, tmp_path, override, message):
    root = write_classes(tmp_path / "pets")
    with pytest.raises(ConfigError, match=message):
        folder_splits(compose_cfg, root, override)


def test_shared_yaml_block_mirrors_the_settings_dataclass():
    import yaml

    from cvzoo.data.files import FileDataSettings
    from tests.conftest import CONFIG_DIR

    block = yaml.safe_load((CONFIG_DIR / "dataset" / "files" / "cache.yaml").read_text())
    defaults = FileDataSettings()
    assert set(block) == set(defaults.__dataclass_fields__)
    assert all(block[k] == getattr(defaults, k) for k in block if k != "cache_dir")


@pytest.mark.parametrize("augmentation", ["none", "basic", "strong"])
def test_the_module_brings_cached_squares_to_the_training_size(compose_cfg, augmentation):
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from cvzoo.module import CvzooModule

    cfg = compose_cfg("backbone=test_resnet", "dataset.image_size=16", f"augmentation={augmentation}")
    module = CvzooModule(OmegaConf.to_container(cfg, resolve=True), ["a", "b"])
    batch = (torch.randint(0, 255, (4, 3, 20, 20), dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
    for training in (True, False):
        module._trainer = SimpleNamespace(training=training)
        images, labels = module.on_after_batch_transfer(batch, 0)
        assert images.shape == (4, 3, 16, 16) and images.dtype == torch.float32
        assert torch.equal(labels, batch[1])


class FakeCifar:
    """Stands in for torchvision's CIFAR10: the same attributes, tiny random data, real batch files."""

    classes = ("plane", "car")
    base_folder = "cifar-10-batches-py"
    train_list = (("data_batch_1", ""),)
    test_list = (("test_batch", ""),)

    def __init__(self, root: str, train: bool, download: bool) -> None:
        self.root, self.train = root, train
        count = 20 if train else 6
        self.data = np.random.default_rng(count).integers(0, 255, (count, 8, 8, 3), dtype=np.uint8)
        self.targets = [i % 2 for i in range(count)]
        folder = Path(root) / self.base_folder
        folder.mkdir(parents=True, exist_ok=True)
        for name, _ in self.train_list if train else self.test_list:
            if not (folder / name).exists():  # rewriting it would change the cache key
                (folder / name).write_bytes(self.data.tobytes())


def test_cifar10_is_cached_at_the_cache_size(compose_cfg, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCifar)
    cfg = compose_cfg("dataset=cifar10", "dataset.image_size=8", "dataset.cache_size=12").dataset
    splits = build_splits(cfg)
    image, label = splits.test[0]
    assert image.shape == (3, 12, 12) and image.dtype == torch.uint8 and int(label) == 0
    assert splits.extra["data_cache"]["state"] == "built" and splits.extra["data_cache"]["items"] == 26
    assert build_splits(cfg).extra["data_cache"]["state"] == "reused"


@pytest.mark.slow
def test_the_second_run_reuses_the_cache_and_both_records_say_so(run_train, tmp_path):
    import json

    root = write_classes(tmp_path / "pets", per_class=10)
    args = ("dataset=folder", f"dataset.root={root}", "dataset.cache_size=40", "augmentation=strong")
    first, second = run_train(*args), run_train(*args)
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-1500:]
    records = sorted((tmp_path / "logs").rglob("result.json"))
    logs = [(p.parent / "train.log").read_text() for p in records]
    assert "decoded 20 items of folder into" in logs[0] and "reading folder from the cache" in logs[1]
    caches = [json.loads(p.read_text())["data_cache"] for p in records]
    assert sorted(c["state"] for c in caches) == ["built", "reused"]
    assert caches[0]["paths"] == caches[1]["paths"] and all(c["bad_images"] == 0 for c in caches)
