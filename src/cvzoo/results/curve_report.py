"""Learning-curve inputs and outputs: points from a CSV or records, the JSON summary, the plot."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvzoo.errors import ConfigError, DataError, suggestion
from cvzoo.predictors.curves import LearningCurve, fit_curve, size_for_target

SIZE_FIELD = "train_images"
# Record keys that make two runs different cells; a curve must vary only the training-set size.
CELL_KEYS = ("dataset", "backbone", "head")


def points_from_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``size,metric`` columns from a CSV (other columns ignored)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such points file: {path}; give a CSV with columns size,metric")
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"cannot read {path} as CSV ({err}); expected columns size,metric") from None
    for column in ("size", "metric"):
        if column not in table.columns:
            hint = suggestion(column, [str(c) for c in table.columns])
            raise DataError(
                f"{path} has no column {column!r} (columns: {', '.join(map(str, table.columns))})"
                + (f"; {hint}" if hint else "; expected columns size,metric")
            )
    return _numeric(table["size"], "size", path), _numeric(table["metric"], "metric", path)


def _numeric(column: pd.Series, name: str, path: Path) -> np.ndarray:
    """The column as floats, or a ``DataError`` naming the first bad row."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(float)
    bad = np.nonzero(~np.isfinite(values))[0]
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{path}: column {name!r} row {row + 2} holds {column.iloc[row]!r}, not a finite "
            "number; fix or drop that row"
        )
    return values


def points_from_records(
    dirs: Sequence[str | Path], where: Mapping[str, str], metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """(training images, metric) of every ok record under ``dirs`` matching ``where``."""
    from cvzoo.results.record import get_value
    from cvzoo.results.store import find_records

    records = find_records(dirs, where=where, status="ok")
    if not records:
        raise DataError(f"no ok records under {', '.join(map(str, dirs))} matching {dict(where)}")
    _check_one_cell(records)
    sizes, values = [], []
    for record in records:
        size, value = record.get(SIZE_FIELD), get_value(record, metric)
        if isinstance(size, int | float) and isinstance(value, int | float):
            sizes.append(float(size))
            values.append(float(value))
    if not sizes:
        raise DataError(
            f"no record has both {SIZE_FIELD!r} and metric {metric!r}; check --metric (see `cvzoo results`)"
        )
    return np.array(sizes), np.array(values)


def _check_one_cell(records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse records of several (dataset, backbone, head) cells: their sizes are not one curve."""
    for key in CELL_KEYS:
        found = sorted({str(r.get(key)) for r in records})
        if len(found) > 1:
            raise ConfigError(
                f"records mix {len(found)} values of {key!r} ({', '.join(found[:4])}); "
                f"pick one with --where {key}={found[0]}"
            )


def _finite(value: float | None) -> float | None:
    """A float JSON can hold, or None."""
    return float(value) if value is not None and math.isfinite(value) else None


def curve_summary(curve: LearningCurve, at: Sequence[float], target: float | None) -> dict[str, Any]:
    """The ``cvzoo curve --json`` object: model, params, predictions, target answer."""
    at_arr = np.asarray(at, float)
    mid, (low, high) = curve.predict(at_arr), curve.interval(at_arr)
    predictions = [
        {"size": _size(s), "metric": float(m), "low": float(lo), "high": float(hi)}
        for s, m, lo, hi in zip(at_arr, mid, low, high)
    ]
    summary: dict[str, Any] = {
        "model": curve.model,
        "params": curve.params,
        "predictions": predictions,
        "target": None if target is None else float(target),
        "size_for_target": None,
        "reachable": None,
    }
    if target is not None:
        answer = size_for_target(curve, target)
        summary["reachable"] = answer.reachable
        if answer.reachable:
            summary["size_for_target"] = {
                "size": _size(answer.size),
                "low": _size(answer.low),
                "high": _size(answer.high),
            }
    return summary


def _size(value: float | None) -> int | None:
    """A training-set size as a whole number of images (at least 1), None when unbounded."""
    if value is None or not math.isfinite(value):
        return None
    return max(1, round(value))


def default_sizes(curve: LearningCurve) -> list[float]:
    """Sizes to predict at when none are asked for: the largest observed size x1, x2, x4."""
    top = float(curve.sizes.max())
    return [top, 2 * top, 4 * top]


def analyse(sizes, metrics, at: Sequence[float] | None, target: float | None):
    """Fit the points and summarize: returns ``(curve, summary)``."""
    curve = fit_curve(sizes, metrics)
    return curve, curve_summary(curve, at or default_sizes(curve), target)


def describe(summary: Mapping[str, Any], curve: LearningCurve) -> str:
    """Human-readable lines for the terminal."""
    params = ", ".join(f"{k}={v:.4g}" for k, v in summary["params"].items())
    lines = [f"model: {summary['model']} ({params}); leave-last-out error " + ", ".join(
        f"{k}={v:.4g}" for k, v in curve.loo_errors.items())]  # fmt: skip
    for p in summary["predictions"]:
        lines.append(f"size {p['size']}: {p['metric']:.4f} [{p['low']:.4f}, {p['high']:.4f}]")
    if summary["target"] is not None:
        if summary["reachable"]:
            s = summary["size_for_target"]
            high = "unbounded" if s["high"] is None else s["high"]
            lines.append(f"target {summary['target']:g}: size {s['size']} [{s['low']}, {high}]")
        else:
            lines.append(f"target {summary['target']:g}: {unreachable_message(curve)}")
    return "\n".join(lines)


def unreachable_message(curve: LearningCurve) -> str:
    """The answer for a target beyond the curve's asymptote."""
    return f"not reachable: asymptote {curve.asymptote:.4g}"


def write_outputs(
    out_dir: str | Path, summary: Mapping[str, Any], curve: LearningCurve, metric: str
) -> tuple[Path, Path]:
    """Write ``curve.json`` and ``curve.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / "curve.json", out_dir / "curve.png"
    body = {**summary, "asymptote": curve.asymptote, "metric_name": metric}
    body["loo_errors"] = curve.loo_errors
    if summary.get("reachable") is False:
        body["message"] = unreachable_message(curve)
    body["points"] = {"size": curve.sizes.tolist(), "metric": curve.metrics.tolist()}
    json_path.write_text(json.dumps(body, indent=2) + "\n")
    plot_curve(curve, summary, png_path, metric)
    return json_path, png_path


def plot_curve(curve: LearningCurve, summary: Mapping[str, Any], path: Path, metric: str) -> None:
    """Points, fitted curve, interval band, target line and asked-for sizes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ends = [*curve.sizes, *(p["size"] for p in summary["predictions"])]
    answer = summary.get("size_for_target") or {}
    ends += [v for v in (answer.get("size"), answer.get("high")) if v]
    grid = np.geomspace(min(ends) / 1.5, max(ends) * 1.5, 300)
    low, high = curve.interval(grid)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.fill_between(grid, low, high, alpha=0.25, label="90 % interval")
    ax.plot(grid, curve.predict(grid), label=f"{curve.model} fit")
    ax.scatter(curve.sizes, curve.metrics, color="black", zorder=3, label="runs")
    for p in summary["predictions"]:
        yerr = [[p["metric"] - p["low"]], [p["high"] - p["metric"]]]
        ax.errorbar(p["size"], p["metric"], yerr=yerr, fmt="s", color="tab:red", capsize=3)
    if summary["target"] is not None:
        ax.axhline(summary["target"], color="tab:green", linestyle="--", label="target")
        if answer.get("size"):
            ax.axvline(answer["size"], color="tab:green", linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("training-set size (images)")
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curve: {metric} vs training-set size")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
