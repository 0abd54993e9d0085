"""The benchmark runner's plumbing (no timing: benchmarks are never unit tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

run = pytest.importorskip("benchmarks.run")
from benchmarks.common import Row  # noqa: E402
from benchmarks.gpu import peak_tflops  # noqa: E402


def test_gpu_section_is_skipped_with_a_clear_line_on_cpu(tmp_path: Path) -> None:
    from benchmarks import gpu
    from benchmarks.common import Settings

    rows = gpu.run(Settings("cpu", True, 1, tmp_path))
    assert [r.name for r in rows] == ["skipped"]
    assert "--device cuda" in rows[0].target


def test_results_file_holds_note_machine_and_the_table(tmp_path: Path, monkeypatch) -> None:
    # Library versions are read by machine_lines (slow imports); its CPU line is checked here.
    monkeypatch.setattr(run, "machine_lines", lambda device, threads: [f"- CPU: {run.cpu_model()}"])
    args = run.parse_args(["--device", "cpu", "--note", "shared machine"])
    out = tmp_path / "RESULTS.md"
    run.write_results(out, [Row("1 x", "a / b", "1.00x", ">= 0.93 (met)")], args, 1, 60.0)
    text = out.read_text()
    assert f"- CPU: {run.cpu_model()}" in text and run.cpu_model()
    assert "shared machine" in text
    assert "| 1 x | a / b | 1.00x | >= 0.93 (met) |" in text


def test_peak_table_prefers_the_specific_device_name() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops("Mystery GPU") is None


def test_shapes_from_scratch_trains_each_model_and_prints_its_curve(monkeypatch, capsys) -> None:
    from benchmarks import shapes_from_scratch

    args = ["shapes_from_scratch", "--images", "32", "--threads", "1"]
    monkeypatch.setattr("sys.argv", args)
    shapes_from_scratch.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["resnet18_unet", "plain_unet"]
    assert all("val mIoU after images 16: " in line and line.endswith(" s)") for line in lines)


def test_data_path_rss_child_reads_a_cache_and_reports_its_peak(tmp_path: Path) -> None:
    from benchmarks.data_path import RandomImages, peak_rss_mib
    from cvzoo.data.cache import CacheSpec, open_cache

    spec = CacheSpec("rss", [], 4, RandomImages(), {"n": 4}, size=256)
    _, status = open_cache(spec, tmp_path)
    assert status.state == "built" and 50 < peak_rss_mib(str(status.path)) < 4096
