"""The results store: find every result.json, newest first, filter with key=value, list it."""

from __future__ import annotations

import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from cvzoo.cli import main
from cvzoo.errors import ConfigError
from cvzoo.results import write_record
from cvzoo.results.store import RecordWarning, find_records, parse_where


def record(**fields):
    """A small but realistic record; ``fields`` override the defaults."""
    base = {
        "status": "ok",
        "backbone": "resnet18",
        "head": "linear",
        "dataset": "digits",
        "fraction": 1.0,
        "seed": 0,
        "monitor": "val/acc",
        "best_val": {"val/acc": 0.9},
        "test": {"test/acc": 0.88},
        "train_time_s": 12.5,
        "config": {"optimizer": {"name": "adamw", "lr": 0.001}, "backbone": {"name": "resnet18"}},
    }
    return {**base, **fields}


@pytest.fixture
def logs(tmp_path):
    """Three runs (one failed), a temp file left by a writer and a truncated record."""
    root = tmp_path / "logs"
    write_record(root / "a" / "0", record(finished_at="2024-05-01T10:00:00"))
    write_record(
        root / "a" / "1",
        record(head="mlp", seed=1, best_val={"val/acc": 0.95}, finished_at="2024-05-01T12:00:00"),
    )
    write_record(
        root / "b" / "0",
        record(
            status="failed",
            dataset="shapes",
            fraction=0.5,
            best_val={},
            test={},
            error="ModelError: head 'fpn' needs a feature pyramid",
            started_at="2024-05-01T11:00:00",
            config={"optimizer": {"name": "sgd", "lr": 0.01}},
        ),
    )
    (root / "a" / "1" / ".result.tmp123.json").write_text('{"status": "ok"')
    (root / "c").mkdir()
    (root / "c" / "result.json").write_text('{"status": "ok", "backbone": "vi')
    return root


def test_find_records_newest_first_and_skips_temp_and_corrupt_files(logs):
    with pytest.warns(RecordWarning, match="c/result.json"):
        records = find_records([logs])
    assert [(r["head"], r["status"]) for r in records] == [
        ("mlp", "ok"),
        ("linear", "failed"),
        ("linear", "ok"),
    ]
    assert records[0]["run_dir"] == str(logs / "a" / "1")


def test_records_without_timestamps_are_ordered_by_file_time(tmp_path):
    old = write_record(tmp_path / "old", record(seed=1))
    write_record(tmp_path / "new", record(seed=2))
    os.utime(old, (1_000_000, 1_000_000))
    assert [r["seed"] for r in find_records([tmp_path])] == [2, 1]


def test_where_matches_fields_metrics_and_dotted_config_keys(logs):
    def seeds(**where):
        with pytest.warns(RecordWarning):
            return sorted((r["status"], r["seed"]) for r in find_records([logs], where))

    assert seeds(dataset="shapes") == [("failed", 0)]
    assert seeds(fraction="1") == [("ok", 0), ("ok", 1)]  # 1 matches 1.0
    assert seeds(**{"optimizer.lr": "1e-3"}) == [("ok", 0), ("ok", 1)]
    assert seeds(**{"optimizer.name": "sgd"}) == [("failed", 0)]
    assert seeds(**{"val/acc": "0.95"}) == [("ok", 1)]
    with pytest.warns(RecordWarning):
        assert len(find_records([logs], status="ok")) == 2


def test_parse_where_and_its_errors(logs):
    assert parse_where(["dataset=shapes", "optimizer.lr = 0.01", "tag=a=b"]) == {
        "dataset": "shapes",
        "optimizer.lr": "0.01",
        "tag": "a=b",
    }
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_where(["dataset"])
    with pytest.warns(RecordWarning), pytest.raises(ConfigError, match="did you mean: dataset"):
        find_records([logs], {"datset": "shapes"})


def test_records_written_concurrently_are_all_found(tmp_path):
    stop, partial = threading.Event(), []

    def keep_scanning():
        while not stop.is_set():
            find_records([tmp_path], on_warning=partial.append)

    scanner = threading.Thread(target=keep_scanning)
    scanner.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: write_record(tmp_path / f"job{i}", record(seed=i)), range(24)))
    stop.set()
    scanner.join()
    assert partial == []  # atomic writes: a reader never sees half a file
    assert sorted(r["seed"] for r in find_records([tmp_path])) == list(range(24))
    assert not list(tmp_path.rglob(".result.*"))


def test_cli_results_table_lists_status_metrics_and_error(logs, capsys):
    assert main(["results", str(logs)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["finished", "status", "backbone", "head"]
    assert "ok" in lines[1] and "mlp" in lines[1] and "val/acc=0.9500" in lines[1]
    assert "test/acc=0.8800" in lines[1] and str(logs / "a" / "1") in lines[1]
    assert "failed" in lines[2] and "head 'fpn' needs a feature pyramid" in lines[2]
    assert len(lines) == 4
    assert err.count("warning: skipped unreadable record") == 1 and "c/result.json" in err


def test_cli_results_csv_and_json(logs, capsys):
    assert main(["results", str(logs), "--format", "csv", "--where", "dataset=digits"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table["seed"].tolist() == [1, 0]
    assert table["monitor_value"].tolist() == [0.95, 0.9]

    assert main(["results", str(logs), "--format", "json", "--status", "failed"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["status"], r["dataset"], r["fraction"]) for r in rows] == [("failed", "shapes", 0.5)]
    assert rows[0]["error"].startswith("ModelError")


def test_cli_results_errors_are_one_line_with_exit_code_2(logs, tmp_path, capsys):
    assert main(["results", str(logs), "--where", "dataset"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "cvzoo results: error: bad --where item 'dataset': expected key=value, "
        "e.g. dataset=shapes or backbone.name=resnet18"
    ]
    assert main(["results", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_cli_results_empty_directory(tmp_path, capsys):
    assert main(["results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "no records found"
