"""The reject option: pick a max-softmax threshold below which the model answers ``unknown``.

On the validation split each threshold keeps a share of the answers (coverage) and removes a share
of the errors; the threshold is chosen for a target coverage or a target error among kept answers.
On unlabelled production images (domain shift) only a target coverage makes sense: the threshold is
the matching quantile of the confidence there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cvzoo.errors import ConfigError

CALIBRATION_NAME = "calibration.json"
PLOT_NAME = "calibration.png"
# Coverage levels shown in the chart and stored as the curve.
CURVE_COVERAGES = tuple(round(1.0 - 0.05 * i, 2) for i in range(11))


def check_targets(
    target_coverage: float | None, target_error: float | None
) -> tuple[float | None, float | None]:
    """Validate the targets (one of them; coverage 0.8 when neither is given)."""
    if target_coverage is not None and target_error is not None:
        raise ConfigError("give one of target_coverage=<0-1> or target_error=<0-1>, not both")
    if target_coverage is None and target_error is None:
        target_coverage = 0.8
    if target_coverage is not None and not 0.0 < float(target_coverage) <= 1.0:
        raise ConfigError(f"target_coverage={target_coverage} must be in (0, 1], e.g. target_coverage=0.8")
    if target_error is not None and not 0.0 <= float(target_error) < 1.0:
        raise ConfigError(f"target_error={target_error} must be in [0, 1), e.g. target_error=0.02")
    return target_coverage, target_error


def threshold_for_coverage(conf: np.ndarray, target: float) -> float:
    """The highest threshold that keeps at least ``target`` of the answers (``conf >= t`` kept)."""
    ranked = np.sort(np.asarray(conf, dtype=np.float64))[::-1]
    keep = min(len(ranked), max(1, math.ceil(float(target) * len(ranked) - 1e-9)))
    return float(ranked[keep - 1])


def threshold_for_error(conf: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold whose kept answers have an error rate of at most ``target``."""
    order = np.argsort(-np.asarray(conf, dtype=np.float64), kind="stable")
    ranked = np.asarray(conf, dtype=np.float64)[order]
    errors = np.cumsum(~np.asarray(correct, dtype=bool)[order])
    kept = np.arange(1, len(ranked) + 1)
    group_end = np.append(ranked[1:] < ranked[:-1], True)  # a threshold keeps whole tie groups
    ok = group_end & (errors / kept <= float(target))
    if not ok.any():
        best = float((errors / kept)[group_end].min())
        raise ConfigError(
            f"target_error={target} is not reachable on this split (lowest error {best:.3f}); raise it"
        )
    return float(ranked[np.flatnonzero(ok)[-1]])


def describe_threshold(conf: np.ndarray, correct: np.ndarray | None, threshold: float) -> dict[str, Any]:
    """Coverage, errors removed and error rates at ``threshold``."""
    kept = np.asarray(conf) >= threshold
    row: dict[str, Any] = {"threshold": float(threshold), "coverage": float(kept.mean())}
    if correct is not None:
        wrong = ~np.asarray(correct, dtype=bool)
        row["errors_removed"] = float((wrong & ~kept).sum() / wrong.sum()) if wrong.any() else None
        row["error_kept"] = float(wrong[kept].mean()) if kept.any() else None
        row["error_all"] = float(wrong.mean())
    return row


def reject_curve(
    conf: np.ndarray, correct: np.ndarray | None, coverages: Sequence[float] = CURVE_COVERAGES
) -> list[dict[str, Any]]:
    """One row per coverage level: its threshold, the coverage reached and the errors removed."""
    return [describe_threshold(conf, correct, threshold_for_coverage(conf, c)) for c in coverages]


def choose(
    conf: np.ndarray, correct: np.ndarray | None, target_coverage: float | None, target_error: float | None
) -> dict[str, Any]:
    """The threshold for the target, with its statistics and the curve."""
    target_coverage, target_error = check_targets(target_coverage, target_error)
    if target_error is not None:
        if correct is None:
            raise ConfigError("target_error needs labels; with images=DIR use target_coverage=<0-1>")
        threshold = threshold_for_error(conf, correct, target_error)
        target = {"target_error": float(target_error)}
    else:
        threshold = threshold_for_coverage(conf, float(target_coverage))
        target = {"target_coverage": float(target_coverage)}
    return {
        **target,
        **describe_threshold(conf, correct, threshold),
        "n": int(len(conf)),
        "curve": reject_curve(conf, correct),
    }


def _distinct_decimals(values: Sequence[float], most: int = 5) -> int:
    """The fewest decimals (2 to ``most``) that tell the distinct values apart."""
    for digits in range(2, most + 1):
        if len({round(v, digits) for v in values}) == len(set(values)):
            return digits
    return most


def plot_reject_curve(result: dict[str, Any], path: Path, title: str) -> Path:
    """Bars per threshold: share of answers kept and share of errors removed (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = [r for r in result["curve"] if r["threshold"] != result["threshold"]]
    rows = sorted([*curve, {**result, "chosen": True}], key=lambda r: r["threshold"])
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.7 * len(rows)), 4.2))
    has_errors = rows[0].get("errors_removed") is not None or "error_all" in rows[0]
    width = 0.4 if has_errors else 0.7
    ax.bar(
        x - (width / 2 if has_errors else 0), [100 * r["coverage"] for r in rows], width, label="answers kept"
    )
    if has_errors:
        ax.bar(
            x + width / 2,
            [100 * (r.get("errors_removed") or 0.0) for r in rows],
            width,
            label="errors removed",
        )
    digits = _distinct_decimals([r["threshold"] for r in rows])
    labels = [f"{r['threshold']:.{digits}f}" + ("\nchosen" if r.get("chosen") else "") for r in rows]
    ax.set_xticks(x, labels, rotation=45 if digits > 2 else 0)
    ax.set_xlabel("confidence threshold (max softmax); answers below it become 'unknown'")
    ax.set_ylabel("share (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_calibration(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``calibration.json`` (None when the model was never calibrated)."""
    import json

    path = Path(run_dir) / CALIBRATION_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None
