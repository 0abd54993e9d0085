"""Read and validate quality matrices from CSV (first column = row label, header = columns)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd

from cvzoo.errors import DataError, suggestion
from cvzoo.results.quality_matrix import QualityMatrix

MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "failed"})


def _read_raw(path: str | Path) -> pd.DataFrame:
    """Read every cell of a CSV as a stripped string (header included as row 0)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass the path of an existing CSV")
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty; expected a header row and one row per label") from None
    except pd.errors.ParserError as err:
        first = str(err).strip().splitlines()[0]
        raise DataError(f"{path}: not a rectangular CSV ({first}); fix the row lengths") from None
    return raw.apply(lambda col: col.str.strip())


def _check_unique(labels: list[str], what: str, path: Path) -> None:
    """Raise DataError naming the first duplicated or empty label."""
    seen: set[str] = set()
    for label in labels:
        if label == "":
            raise DataError(f"{path}: a {what} label is empty; give every {what} a name")
        if label in seen:
            raise DataError(f"{path}: duplicate {what} label {label!r}; labels must be unique")
        seen.add(label)


def parse_numeric(cells: pd.DataFrame, path: Path) -> np.ndarray:
    """Convert string cells to floats (missing tokens -> NaN); name the first bad cell."""
    lowered = cells.apply(lambda col: col.str.lower())
    missing = lowered.isin(MISSING_TOKENS).to_numpy()
    values = cells.apply(lambda col: pd.to_numeric(col, errors="coerce")).to_numpy(float, copy=True)
    bad = (~missing) & ~np.isfinite(values)
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(
            f"{path}: cell (row {cells.index[i]!r}, column {cells.columns[j]!r}) holds "
            f"non-numeric value {cells.iat[i, j]!r}; use a finite number or leave it empty"
        )
    values[missing] = np.nan
    return values


def read_table(path: str | Path) -> QualityMatrix:
    """Read a labelled numeric CSV; raise DataError on empty files, duplicates, bad cells."""
    path = Path(path)
    raw = _read_raw(path)
    if raw.shape[0] < 2 or raw.shape[1] < 2:
        raise DataError(
            f"{path}: needs a header row, at least one data row and one value column "
            f"(got {raw.shape[0]} rows x {raw.shape[1]} columns)"
        )
    header = raw.iloc[0].tolist()
    rows = raw.iloc[1:, 0].tolist()
    cols = header[1:]
    _check_unique(cols, "column", path)
    _check_unique(rows, "row", path)
    cells = raw.iloc[1:, 1:]
    cells.index, cells.columns = rows, cols
    return QualityMatrix(rows, cols, parse_numeric(cells, path), row_key=header[0])


def empty_lines_warning(matrix: QualityMatrix, rows_ok: bool = False, cols_ok: bool = False) -> str | None:
    """One warning line naming the rows/columns with no observed cell, None when there are none.

    Such lines are predicted from the other side's effects alone, with a wide std; side features
    (``rows_ok``/``cols_ok``: given for that side) narrow the prediction, so they are not warned.
    Raises DataError when no cell at all is observed.
    """
    observed = np.isfinite(matrix.values)
    if not observed.any():
        raise DataError("every cell is empty; observe at least one value")
    parts, flags = [], []
    for axis, labels, ok, what, flag in (
        (1, matrix.rows, rows_ok, "row", "--row-features"),
        (0, matrix.cols, cols_ok, "column", "--col-features"),
    ):
        empty = np.flatnonzero(~observed.any(axis=axis))
        if empty.size and not ok:
            names = ", ".join(repr(labels[i]) for i in empty[:3])
            more = f" (and {empty.size - 3} more)" if empty.size > 3 else ""
            parts.append(f"{what} {names}{more}")
            flags.append(flag)
    if not parts:
        return None
    return (f"{' and '.join(parts)} has no observed value: predicted from the "
            f"{'column' if flags[0] == '--row-features' else 'row'} effects with a wide std; "
            f"pass {' / '.join(flags)} to narrow it")  # fmt: skip


def read_matrix(path: str | Path) -> QualityMatrix:
    """Read a quality matrix CSV; raise DataError when it holds no observed cell."""
    matrix = read_table(path)
    if not np.isfinite(matrix.values).any():
        raise DataError(f"{path}: every cell is empty; observe at least one value")
    return matrix


def read_features(path: str | Path, labels: list[str], what: str) -> np.ndarray:
    """Read a side-feature CSV and return its rows aligned to ``labels`` (NaN = unknown)."""
    table = read_table(path)
    index = {label: i for i, label in enumerate(table.rows)}
    missing = [label for label in labels if label not in index]
    if missing:
        raise DataError(
            f"{path}: no {what} features for {missing[0]!r}"
            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
            f"add a row per {what} label of the matrix"
        )
    return table.values[[index[label] for label in labels]]


def match_columns(matrix: QualityMatrix, patterns: list[str], path: str | Path) -> list[str]:
    """Columns named by ``patterns``: exact names or shell-style globs (``params_*``), each used."""
    names: list[str] = []
    for pattern in patterns:
        hits = [c for c in matrix.cols if fnmatch.fnmatchcase(c, pattern)]
        if not hits:
            hint = suggestion(pattern, matrix.cols)
            raise DataError(f"{path}: no column {pattern!r} to exclude{'; ' + hint if hint else ''}")
        names += [c for c in hits if c not in names]
    return names


def drop_columns(matrix: QualityMatrix, names: list[str], path: str | Path) -> QualityMatrix:
    """Return the matrix without the named columns (names or globs; each must match)."""
    drop = set(match_columns(matrix, names, path))
    keep = [j for j, c in enumerate(matrix.cols) if c not in drop]
    return QualityMatrix(
        matrix.rows, [matrix.cols[j] for j in keep], matrix.values[:, keep], row_key=matrix.row_key
    )
