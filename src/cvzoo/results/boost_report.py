"""``cvzoo boost`` output: cross-validated error of the record-level booster, plot, JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cvzoo.predictors.boost_records import cross_validate, fit_record_model, record_table
from cvzoo.predictors.progress import fit_progress

TOP_FEATURES = 20


def boost_summary(
    records: Sequence[Mapping[str, Any]], target: str, seed: int = 0, progress: bool = False
) -> dict[str, Any]:
    """Cross-validate and fit the booster on ``records``; return the ``boost.json`` content."""
    table = record_table(records, target)
    n_datasets = int(table["dataset"].nunique())
    steps = min(5, len(table)) + (n_datasets if n_datasets >= 2 else 0)
    with fit_progress(progress, "cross-validating the booster", steps) as tick:
        cv = cross_validate(table, seed, tick=tick)
    model = fit_record_model(table, seed)
    return {
        "target": target,
        "n_records": len(table),
        "n_datasets": n_datasets,
        "datasets": sorted(table["dataset"].unique().tolist()),
        "features": model.columns,
        "cv": cv,
        "importance": model.importance(),
    }


def describe(summary: Mapping[str, Any]) -> str:
    """Terminal lines: the CV errors against the mean baseline and the top features."""
    lines = [f"{summary['n_records']} records, {summary['n_datasets']} datasets, "
             f"target {summary['target']}"]  # fmt: skip
    for name, scores in summary["cv"].items():
        if scores is None:
            lines.append(f"{name}: needs 2+ datasets")
            continue
        lines.append(
            f"{name} ({scores['folds']} folds): RMSE {scores['rmse']:.4g} "
            f"(mean baseline {scores['baseline_rmse']:.4g}), MAE {scores['mae']:.4g} "
            f"(baseline {scores['baseline_mae']:.4g})"
        )
    top = list(summary["importance"].items())[:5]
    lines.append("top features (gain): " + ", ".join(f"{k}={v:.3g}" for k, v in top))
    return "\n".join(lines)


def plot_importance(importance: Mapping[str, float], path: Path, target: str) -> None:
    """Horizontal bar chart of the features' total gain (largest on top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = list(importance.items())[:TOP_FEATURES][::-1]
    names, gains = [k for k, _ in items], np.array([v for _, v in items])
    total = gains.sum() or 1.0
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.5))
    ax.barh(names, 100.0 * gains / total)
    ax.set_xlabel("share of total gain (%)")
    ax.set_title(f"Boosting feature importance for {target}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_boost_outputs(summary: Mapping[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``boost.json`` and ``boost_importance.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / "boost.json", out_dir / "boost_importance.png"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    plot_importance(summary["importance"], png_path, summary["target"])
    return json_path, png_path
