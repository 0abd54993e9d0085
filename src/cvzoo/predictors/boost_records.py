"""Record-level boosting: predict a metric of a run from dataset, model and budget features.

One row per ok record: the dataset's meta-features (``dataset_meta``), the model (parameters,
FLOPs, backbone family, head, pretrained or not), the budget (epochs, fraction) and the ALS
embeddings of the record's backbone (row) and head (column) inside its dataset's
backbone x head matrix. ALS features of rows the booster trains on are computed out of fold; a
dataset without training records (cold start) has missing ALS features and is predicted from
its meta-features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cvzoo.errors import DataError
from cvzoo.predictors.bias import Cells
from cvzoo.predictors.boosting import als_features, als_width, lgbm_regressor, oof_als_features

NUMERIC_FIELDS = ("params", "flops_per_image", "pretrained_loaded", "epochs", "fraction")
CATEGORY_FIELDS = {"family": "backbone.family", "head_name": "head"}
ALS_NAMES = [f"als_{n}" for n in ("row1", "row2", "col1", "col2", "row_bias", "col_bias", "pred")]
KEY_COLUMNS = ("dataset", "backbone", "head", "y")


def _number(value: Any) -> float:
    """A record value as float (bools as 0/1), NaN when missing or not numeric."""
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else float("nan")


def record_table(records: Sequence[Mapping[str, Any]], target: str) -> pd.DataFrame:
    """One row per record holding ``target``: keys, target ``y`` and the raw features."""
    from cvzoo.results.record import get_value

    rows = []
    for record in records:
        y = get_value(record, target)
        if not isinstance(y, int | float) or not np.isfinite(y):
            continue
        row = {"dataset": str(record.get("dataset")), "backbone": str(record.get("backbone")),
               "head": str(record.get("head")), "y": float(y)}  # fmt: skip
        meta = record.get("dataset_meta") or {}
        row.update({f"meta_{k}": _number(v) for k, v in meta.items()})
        row.update({k: _number(record.get(k)) for k in NUMERIC_FIELDS})
        row.update({k: str(get_value(record, key)) for k, key in CATEGORY_FIELDS.items()})
        rows.append(row)
    if len(rows) < 4:
        raise DataError(
            f"need at least 4 ok records with {target!r} to learn from, found {len(rows)}; "
            "check --target and --where (see `cvzoo results`)"
        )
    table = pd.DataFrame(rows)
    for name in CATEGORY_FIELDS:
        table[name] = table[name].astype("category")
    return table


def _cells(train: pd.DataFrame, backbones: list[str], heads: list[str]) -> tuple[Cells, float, float]:
    """The dataset's backbone x head matrix of mean ``y`` as standardized cells (+ mean, scale)."""
    means = train.groupby(["backbone", "head"], observed=True)["y"].mean()
    rows = np.array([backbones.index(b) for b, _ in means.index], dtype=int)
    cols = np.array([heads.index(h) for _, h in means.index], dtype=int)
    mu, scale = float(means.mean()), float(means.std(ddof=0)) or 1.0
    return (
        Cells(rows, cols, (means.to_numpy() - mu) / scale, (len(backbones), len(heads))),
        mu,
        scale,
    )


def _als_for_dataset(train: pd.DataFrame, query: pd.DataFrame, seed: int):
    """ALS features of one dataset: out of fold for ``train`` rows, from all of it for ``query``."""
    backbones = sorted(set(train["backbone"]) | set(query["backbone"]))
    heads = sorted(set(train["head"]) | set(query["head"]))
    q_rows = np.array([backbones.index(b) for b in query["backbone"]], dtype=int)
    q_cols = np.array([heads.index(h) for h in query["head"]], dtype=int)
    q_feats = np.full((len(query), als_width()), np.nan)
    t_feats = np.full((len(train), als_width()), np.nan)
    if len(train) == 0:
        return t_feats, q_feats
    cells, mu, scale = _cells(train, backbones, heads)
    q_feats = als_features(cells, q_rows, q_cols, seed)
    oof = oof_als_features(cells, seed)
    index = {(int(r), int(c)): k for k, (r, c) in enumerate(zip(cells.rows, cells.cols))}
    t_rows = [backbones.index(b) for b in train["backbone"]]
    t_cols = [heads.index(h) for h in train["head"]]
    t_feats = oof[[index[(r, c)] for r, c in zip(t_rows, t_cols)]]
    for feats in (t_feats, q_feats):
        feats[:, -1] = feats[:, -1] * scale + mu  # the ALS prediction in the metric's own units
    return t_feats, q_feats


def add_als_columns(train: pd.DataFrame, query: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of ``train`` and ``query`` with the ALS feature columns, dataset by dataset."""
    train, query = train.copy(), query.copy()
    for frame in (train, query):
        for name in ALS_NAMES:
            frame[name] = np.nan
    for dataset in set(train["dataset"]) | set(query["dataset"]):
        t_mask, q_mask = train["dataset"] == dataset, query["dataset"] == dataset
        t_feats, q_feats = _als_for_dataset(train[t_mask], query[q_mask], seed)
        train.loc[t_mask, ALS_NAMES] = t_feats
        query.loc[q_mask, ALS_NAMES] = q_feats
    return train, query


def feature_columns(table: pd.DataFrame) -> list[str]:
    """Columns the booster reads: every column but the keys and the target."""
    return [c for c in table.columns if c not in KEY_COLUMNS]


@dataclass
class RecordModel:
    """A booster fitted on a record table; ``predict`` works for unseen datasets too."""

    booster: Any
    train: pd.DataFrame
    columns: list[str]
    seed: int

    def predict(self, query: pd.DataFrame) -> np.ndarray:
        """Predicted target of each row of ``query`` (a ``record_table`` frame)."""
        _, query = add_als_columns(self.train, query, self.seed)
        return self.booster.predict(query[self.columns])

    def importance(self) -> dict[str, float]:
        """Total gain of each feature, largest first."""
        gain = self.booster.booster_.feature_importance(importance_type="gain")
        pairs = sorted(zip(self.columns, gain), key=lambda p: -p[1])
        return {name: float(value) for name, value in pairs}


def fit_record_model(table: pd.DataFrame, seed: int = 0) -> RecordModel:
    """Fit the booster on every row of ``table`` (ALS features out of fold)."""
    train, _ = add_als_columns(table, table.iloc[:0], seed)
    columns = feature_columns(train)
    cold = train.copy()
    cold[ALS_NAMES] = np.nan  # teach the booster what to do for an unseen dataset
    both = pd.concat([train, cold], ignore_index=True)
    booster = lgbm_regressor(seed, len(both), bagging=False)
    booster.fit(both[columns], both["y"].to_numpy())
    return RecordModel(booster, table, columns, seed)


def _scores(truth: np.ndarray, pred: np.ndarray, base: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of the booster and of the mean baseline on the same held-out rows."""
    return {
        "rmse": float(np.sqrt(np.mean((pred - truth) ** 2))),
        "mae": float(np.mean(np.abs(pred - truth))),
        "baseline_rmse": float(np.sqrt(np.mean((base - truth) ** 2))),
        "baseline_mae": float(np.mean(np.abs(base - truth))),
        "n": int(truth.size),
    }


def _held_out(table: pd.DataFrame, groups: np.ndarray, seed: int, tick=None) -> dict[str, float]:
    """Predict each group from a model fitted on the others; score against the mean baseline."""
    pred, base = np.empty(len(table)), np.empty(len(table))
    for group in np.unique(groups):
        held = groups == group
        model = fit_record_model(table[~held], seed)
        pred[held] = model.predict(table[held])
        base[held] = table["y"][~held].mean()
        if tick is not None:
            tick()
    scores = _scores(table["y"].to_numpy(), pred, base)
    return {**scores, "folds": int(np.unique(groups).size)}


def cross_validate(table: pd.DataFrame, seed: int = 0, folds: int = 5, tick=None) -> dict:
    """Random K-fold error, and leave-one-dataset-out error when there are 2+ datasets."""
    table = table.reset_index(drop=True)
    k = min(folds, len(table))
    random_groups = np.random.default_rng(seed).permutation(len(table)) % k
    result: dict[str, Any] = {"random": _held_out(table, random_groups, seed, tick)}
    datasets = table["dataset"].to_numpy()
    many = np.unique(datasets).size >= 2
    result["leave_one_dataset_out"] = _held_out(table, datasets, seed, tick) if many else None
    return result
