"""The guided search's belief while too few cells are trained to cross-validate a completion."""

from __future__ import annotations

import numpy as np
import pytest

from cvzoo.predictors import random_effects as re
from cvzoo.search.guided import GuidedSearch, fit_completion


def sparse_grid() -> np.ndarray:
    """A 4 x 5 grid with five trained cells; row 0 and column 1 hold two each."""
    observed = np.full((4, 5), np.nan)
    observed[0, 0], observed[0, 1], observed[2, 1], observed[1, 3], observed[3, 4] = 76, 78, 71, 75, 73
    return observed


def gaussian_process(observed: np.ndarray, row_w: float, col_w: float, noise_w: float):
    """The same model the long way: explicit kernels and inverse (zero mean, scale by maximum likelihood)."""
    rows, cols = np.nonzero(np.isfinite(observed))
    y = observed[rows, cols]
    kernel = row_w * (rows[:, None] == rows) + col_w * (cols[:, None] == cols) + noise_w * np.eye(y.size)
    inv = np.linalg.inv(kernel)
    scale2 = y @ inv @ y / y.size
    grid_r, grid_c = (a.ravel() for a in np.indices(observed.shape))
    k = row_w * (rows[:, None] == grid_r) + col_w * (cols[:, None] == grid_c)
    mean = k.T @ inv @ y
    var = (row_w + col_w + noise_w - (k * (inv @ k)).sum(0)) * scale2
    return mean.reshape(observed.shape), var.reshape(observed.shape)


def test_closed_form_matches_the_explicit_gaussian_process() -> None:
    observed = sparse_grid() - 74.0
    observed[1, 1], observed[3, 1], observed[2, 4] = 0.0, -2.0, -4.0
    rows, cols = np.nonzero(np.isfinite(observed))
    by_row, by_col = re._indicators(rows), re._indicators(cols)
    mean, var, _ = re._posterior(by_row, by_col, observed[rows, cols], observed.shape, (0.3, 0.6, 0.1))
    want_mean, want_var = gaussian_process(observed, 0.3, 0.6, 0.1)
    free = np.isnan(observed)
    np.testing.assert_allclose(mean[free], want_mean[free])
    np.testing.assert_allclose(var[free], want_var[free])


def test_without_evidence_it_is_the_plain_bias_model() -> None:
    observed = sparse_grid()
    posterior, plain = re.random_effects(observed), re.equal_shares(observed)
    assert posterior.params["column_share"] == pytest.approx(1 / 3)
    np.testing.assert_allclose(posterior.mean, plain.mean, atol=1e-3)  # plain: iterated to 1e-4


def test_columns_at_very_different_levels_keep_their_own_level() -> None:
    rng = np.random.default_rng(0)
    levels = np.array([95.0, 80.0, 60.0, 40.0, 90.0, 70.0])  # datasets, far apart
    truth = levels[None, :] + rng.normal(0, 1.0, (8, 1)) + rng.normal(0, 0.3, (8, 6))
    observed = np.full_like(truth, np.nan)
    for r in range(8):  # each model measured on two datasets, every dataset on two or three models
        observed[r, [r % 6, (r + 3) % 6]] = truth[r, [r % 6, (r + 3) % 6]]
    posterior, plain = re.random_effects(observed), re.equal_shares(observed)
    hidden = np.isnan(observed)
    assert posterior.params["column_share"] > 1 / 3
    error = np.abs(posterior.mean - truth)[hidden].mean()
    assert error < 0.5 * np.abs(plain.mean - truth)[hidden].mean() and error < 2.0


def test_trained_cells_keep_their_values_and_have_no_doubt() -> None:
    observed = sparse_grid()
    posterior = re.random_effects(observed)
    known = np.isfinite(observed)
    assert np.array_equal(posterior.mean[known], observed[known]) and (posterior.std[known] == 0).all()
    assert (posterior.std[~known] > 0).all() and posterior.method == re.METHOD


def test_without_linked_cells_rows_and_columns_count_alike() -> None:
    observed = np.full((4, 5), np.nan)
    observed[0, 0], observed[1, 1], observed[2, 3] = 76.0, 78.0, 71.0
    posterior = re.random_effects(observed)
    assert posterior.mean[1, 4] == pytest.approx(posterior.mean[3, 1])  # best's row / best's column
    assert posterior.mean[1, 4] > posterior.mean[3, 4] > posterior.mean[2, 0]


def test_row_effects_carry_to_an_unseen_column() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([0.0, 3.0, 6.0])[:, None] + rng.normal(0, 0.1, (3, 6))  # rows matter, columns not
    observed = np.full_like(truth, np.nan)
    for r, c in [(0, 0), (1, 0), (2, 1), (0, 1), (1, 2), (2, 3), (0, 4)]:
        observed[r, c] = truth[r, c]
    posterior = re.random_effects(observed)
    assert posterior.mean[2, 5] > posterior.mean[1, 5] > posterior.mean[0, 5]  # an unseen column


def test_one_trained_cell_predicts_its_value_and_widest_doubt_far_from_it() -> None:
    observed = np.full((3, 3), np.nan)
    observed[0, 0] = 70.0
    posterior = re.random_effects(observed)
    assert np.allclose(posterior.mean, 70.0)
    assert posterior.std[2, 2] > posterior.std[0, 2] > 0


def test_search_uses_completion_once_it_can_be_cross_validated() -> None:
    assert fit_completion(sparse_grid()).method == re.METHOD
    rng = np.random.default_rng(1)
    dense = rng.normal(size=(12, 1)) + rng.normal(size=(1, 12))
    assert fit_completion(dense).method in ("bias", "als")
    assert fit_completion(sparse_grid(), method="bias").method == "bias"  # an explicit choice wins


def test_grids_with_more_trained_cells_than_the_exact_solve_takes_keep_the_completion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(re, "MAX_CELLS", 4)
    assert fit_completion(sparse_grid()).method in ("bias", "als")  # 5 cells > 4


def test_meta_features_fill_rows_without_records_else_the_prior_serves() -> None:
    observed = sparse_grid()
    features = np.arange(8.0).reshape(4, 2)
    assert fit_completion(observed, row_features=features).method == re.METHOD  # all rows seen
    observed[2, :] = np.nan  # row 2 has no record now: boosting predicts it from its features
    assert fit_completion(observed, row_features=features).params["cold_start"] == "boost"


def test_a_small_budget_search_spreads_its_first_picks() -> None:
    full = np.add.outer(np.arange(7.0), np.arange(13.0))
    search = GuidedSearch(list("abcdefg"), [str(j) for j in range(13)], 3, seed=0)
    fitted, cells = [], []
    while batch := search.ask():
        fitted.append(None if search.completion is None else search.completion.method)
        cells += batch
        for cell in batch:
            search.tell(cell, float(full[cell]))
    assert fitted == [None, re.METHOD, re.METHOD]  # one design cell, then two model picks
    (r0, c0), (r1, c1) = cells[:2]
    assert r0 != r1 and c0 != c1  # after one cell the widest doubt is in lines it does not share
