"""File-level completion: CSV in, filled CSV (+ std) out; records in, matrix + heatmap out."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cvzoo.errors import DataError
from cvzoo.predictors.completion import Completion, complete
from cvzoo.results.heatmap import plot_completion
from cvzoo.results.matrix_io import empty_lines_warning, read_features, read_matrix
from cvzoo.results.matrix_writer import to_markdown, write_csv
from cvzoo.results.quality_matrix import QualityMatrix


def complete_csv(
    input_path: str | Path,
    output_path: str | Path,
    method: str = "auto",
    row_features: str | Path | None = None,
    col_features: str | Path | None = None,
    std_path: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[QualityMatrix, Completion]:
    """Complete the matrix in ``input_path`` and write the filled matrix (and std) as CSV.

    Rows/columns without an observed cell are predicted too; one warning line names them.
    """
    matrix = read_matrix(input_path)
    warning = empty_lines_warning(matrix, row_features is not None, col_features is not None)
    if warning:
        print(f"warning: {input_path}: {warning}", file=sys.stderr)
    rf = read_features(row_features, matrix.rows, "row") if row_features else None
    cf = read_features(col_features, matrix.cols, "column") if col_features else None
    comp = complete(matrix.values, method, seed, rf, cf, progress)
    write_csv(matrix.with_values(comp.mean), output_path)
    if std_path is not None:
        write_csv(matrix.with_values(comp.std), std_path)
    return matrix, comp


def save_embeddings(prefix: str | Path, comp: Completion, matrix: QualityMatrix) -> list[Path]:
    """Write ``PREFIX.npz`` (row/col embeddings, mean, std) and ``PREFIX.json`` (labels, model)."""
    prefix = Path(prefix)
    n_rows, n_cols = comp.mean.shape
    rows_emb = comp.row_embeddings if comp.row_embeddings is not None else np.zeros((n_rows, 0))
    cols_emb = comp.col_embeddings if comp.col_embeddings is not None else np.zeros((n_cols, 0))
    npz = prefix.with_suffix(".npz")
    np.savez(npz, row_embeddings=rows_emb, col_embeddings=cols_emb, mean=comp.mean,
             std=comp.std)  # fmt: skip
    meta = {
        "rows": matrix.rows, "cols": matrix.cols, "row_key": matrix.row_key,
        "method": comp.method, "params": comp.params, "cv_rmse": comp.cv_rmse,
        "rank": int(rows_emb.shape[1]), "loss_curve": comp.loss_curve,
    }  # fmt: skip
    meta_path = prefix.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return [npz, meta_path]


def complete_records(
    dirs: Sequence[str | Path],
    rows: str,
    cols: str,
    metric: str,
    where: Mapping[str, str] | None = None,
    method: str = "auto",
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Path]:
    """Pivot records into matrix.csv, complete it, write matrix_completed.{csv,md,png,npz,json}."""
    from cvzoo.results.matrix_writer import write_matrix
    from cvzoo.results.pivot import pivot_records
    from cvzoo.results.store import find_records

    records = find_records(dirs, where=where)
    if not records:
        filters = f" with {where}" if where else ""
        raise DataError(f"no records under {' '.join(map(str, dirs))}{filters}; run training first")
    matrix = pivot_records(records, rows=rows, cols=cols, metric=metric)
    out_dir = Path(dirs[0])
    paths = write_matrix(matrix, out_dir)
    if not np.isfinite(matrix.values).any():
        raise DataError(f"no finite {metric!r} value in the matching records; check --metric")
    comp = complete(matrix.values, method, seed, progress=progress)
    paths["completed_csv"] = write_csv(matrix.with_values(comp.mean), out_dir / "matrix_completed.csv")
    paths["completed_std_csv"] = write_csv(matrix.with_values(comp.std), out_dir / "matrix_completed_std.csv")
    title = f"{metric} by {rows} × {cols}: completed"
    paths["completed_png"] = plot_completion(out_dir / "matrix_completed.png", comp, matrix, title)
    paths["completed_md"] = out_dir / "matrix_completed.md"
    paths["completed_md"].write_text(to_markdown(matrix.completed(comp.mean, comp.std)))
    npz, meta = save_embeddings(out_dir / "matrix_completed_embeddings", comp, matrix)
    paths["embeddings_npz"], paths["embeddings_json"] = npz, meta
    return paths
