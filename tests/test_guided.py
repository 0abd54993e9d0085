"""The guided-search strategy: initial design, proposals, stop rule, regret estimate, ask/tell."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cvzoo.errors import ConfigError
from cvzoo.search import guided
from cvzoo.search.guided import (
    GuidedSearch,
    estimate_regret,
    initial_design,
    propose,
    resolve_budget,
    stop_probability,
)


def fake_completion(observed: np.ndarray, **_: object) -> SimpleNamespace:
    """Row mean + column mean model; std shrinks with the observations in the cell's lines."""
    known = np.isfinite(observed)
    mu = np.nanmean(observed)
    row = np.array([np.nanmean(r) - mu if k.any() else 0.0 for r, k in zip(observed, known)])
    col = np.array([np.nanmean(c) - mu if k.any() else 0.0 for c, k in zip(observed.T, known.T)])
    mean = np.where(known, observed, mu + row[:, None] + col[None, :])
    count = known.sum(1)[:, None] + known.sum(0)[None, :]
    std = np.where(known, 0.0, 1.0 / np.sqrt(1.0 + count))
    return SimpleNamespace(mean=mean, std=std)


@pytest.fixture
def fake_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the predictors with the cheap fake above (the strategy logic is under test)."""
    monkeypatch.setattr(guided, "fit_completion", lambda observed, **kw: fake_completion(observed))


def additive(n_rows: int, n_cols: int, seed: int = 0) -> np.ndarray:
    """A row effect + column effect matrix with a unique best cell."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=n_rows)[:, None] + rng.normal(size=n_cols)[None, :]


@pytest.mark.parametrize("shape", [(11, 11), (7, 13), (40, 3), (1, 5)])
def test_initial_design_covers_every_row_and_column(shape: tuple[int, int]) -> None:
    design = initial_design(*shape, None, np.random.default_rng(0))
    rows, cols = zip(*design)
    assert set(rows) == set(range(shape[0])) and set(cols) == set(range(shape[1]))
    assert len(design) == max(shape) and len(set(design)) == len(design)


def test_initial_design_uses_only_trainable_cells() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((7, 13)) < 0.35
    mask[0] = False  # a row nobody can train is skipped, not an error
    design = initial_design(7, 13, mask, rng)
    assert all(mask[cell] for cell in design)
    assert {r for r, _ in design} == set(np.flatnonzero(mask.any(1)))
    assert {c for _, c in design} == set(np.flatnonzero(mask.any(0)))


def test_propose_never_returns_trained_untrainable_or_duplicate_cells(fake_fit: None) -> None:
    rng = np.random.default_rng(0)
    full = additive(9, 8)
    trainable = rng.random(full.shape) < 0.8
    observed = np.where(trainable & (rng.random(full.shape) < 0.4), full, np.nan)
    pending = [tuple(np.argwhere(trainable & np.isnan(observed))[0])]
    for acquisition in ("ucb", "ei"):
        batch = propose(observed, trainable, 10, rng, acquisition=acquisition, pending=pending)
        assert len(batch) == 10 and len(set(batch)) == 10
        assert all(trainable[c] and np.isnan(observed[c]) and c not in pending for c in batch)


def test_propose_batch_is_limited_by_the_free_cells(fake_fit: None) -> None:
    observed = additive(3, 3)
    observed[0, 0] = observed[1, 1] = np.nan
    batch = propose(observed, None, 5, np.random.default_rng(0))
    assert sorted(batch) == [(0, 0), (1, 1)]


def test_propose_prefers_the_predicted_best_and_handles_lower_is_better() -> None:
    mean = np.array([[0.0, 5.0], [1.0, 2.0]])
    completion = SimpleNamespace(mean=mean, std=np.full((2, 2), 0.1))
    observed = np.full((2, 2), np.nan)
    observed[1, 0] = 1.0
    rng = np.random.default_rng(0)
    assert propose(observed, None, 1, rng, completion=completion) == [(0, 1)]
    best_low = propose(observed, None, 1, rng, completion=completion, lower_is_better=True)
    assert best_low == [(0, 0)]
    assert propose(observed, None, 1, rng, acquisition="ei", completion=completion) == [(0, 1)]


def test_stop_probability_and_regret_follow_the_gaussians() -> None:
    observed = np.array([[1.0, np.nan]])
    sure_worse = SimpleNamespace(mean=np.array([[1.0, 0.0]]), std=np.array([[0.0, 0.01]]))
    coin_flip = SimpleNamespace(mean=np.array([[1.0, 1.0]]), std=np.array([[0.0, 1.0]]))
    assert stop_probability(sure_worse, observed) < 1e-6
    assert stop_probability(coin_flip, observed) == pytest.approx(0.5)
    assert estimate_regret(sure_worse, observed) == pytest.approx(0.0, abs=1e-6)
    # E[max(0, X)] for X ~ N(0, 1) is 1 / sqrt(2 pi)
    assert estimate_regret(coin_flip, observed) == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-3)


@pytest.mark.parametrize(("budget", "runs"), [(0.25, 25), (1.0, 100), (30, 30), (500, 100)])
def test_resolve_budget_reads_fractions_and_run_counts(budget: float, runs: int) -> None:
    assert resolve_budget(budget, 100) == runs


@pytest.mark.parametrize("budget", [0, -0.5, 1.5, "0.3", True])
def test_resolve_budget_rejects_bad_values_in_one_line(budget: object) -> None:
    with pytest.raises(ConfigError, match="budget") as err:
        resolve_budget(budget, 100)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_guided_search_ask_tell_spends_the_budget_and_skips_failures(fake_fit: None) -> None:
    full = additive(6, 5)
    search = GuidedSearch(
        [f"r{i}" for i in range(6)],
        [f"c{j}" for j in range(5)],
        0.6,
        batch_size=3,
        stop_threshold=0.0,
        seed=0,
    )
    asked: list[tuple[int, int]] = []
    while batch := search.ask():
        assert len(batch) <= 3 and not set(batch) & set(asked)
        asked += batch
        for cell in batch:
            search.tell(cell, None if cell == asked[0] else full[cell])
    assert len(asked) == search.budget == 18 and search.done
    assert {r for r, _ in asked[:6]} == set(range(6))  # the design comes first
    assert not search.trainable[asked[0]] and search.failed == {asked[0]}
    summary = search.summary()
    winner = search.best()
    assert summary["winner"] == [f"r{winner[0][0]}", f"c{winner[0][1]}"]
    assert summary["trained"] == 17 and summary["failed"] == 1 and summary["estimated_regret"] >= 0


def test_guided_search_skips_lines_covered_by_earlier_records(fake_fit: None) -> None:
    prior = np.full((4, 4), np.nan)
    prior[0, 0], prior[1, 1] = 1.0, 2.0
    search = GuidedSearch(list("abcd"), list("wxyz"), 4, observed=prior, seed=0)
    assert len(search._design) == 2
    assert {r for r, _ in search._design} == {2, 3} and {c for _, c in search._design} == {2, 3}


def test_guided_search_stops_when_nothing_can_beat_the_best(monkeypatch) -> None:
    def certain(observed: np.ndarray, **_: object) -> SimpleNamespace:
        return SimpleNamespace(
            mean=np.where(np.isnan(observed), -10.0, observed), std=np.full(observed.shape, 1e-3)
        )

    monkeypatch.setattr(guided, "fit_completion", certain)
    search = GuidedSearch(list("ab"), list("xyz"), 1.0, seed=0)
    while batch := search.ask():
        search.tell(batch[0], 1.0)
    assert search.stopped and search.spent == 3  # design only: the model says stop


def test_guided_search_fills_a_first_batch_larger_than_its_design(fake_fit: None) -> None:
    search = GuidedSearch([f"r{i}" for i in range(10)], list("xyz"), 8, batch_size=6, seed=0)
    assert len(search._design) == 2  # a quarter of the budget: the covering design is too big
    first = search.ask()
    assert len(first) == 6 and len(set(first)) == 6
    for cell in first:
        search.tell(cell, 1.0)
    assert len(search.ask()) == 2 and search.ask() == []


def test_log_expected_improvement_matches_ei_and_keeps_ranking_far_tails() -> None:
    from scipy.stats import norm

    from cvzoo.search.acquisition import log_expected_improvement

    mean = np.array([2.0, 0.0, -3.0, -12.0, -40.0, -41.0])
    std = np.ones_like(mean)
    log_ei = log_expected_improvement(mean, std, best=0.0)
    exact = mean * norm.cdf(mean) + norm.pdf(mean)
    assert np.allclose(log_ei[:3], np.log(exact[:3]))
    assert np.all(np.isfinite(log_ei)) and np.all(np.diff(log_ei) < 0)  # plain EI is 0 there
