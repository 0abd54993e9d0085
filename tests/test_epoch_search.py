"""Multi-fidelity search paid in epochs: the schedule, the ledger, the models and the replay CLI."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from cvzoo.cli import main
from cvzoo.errors import ConfigError, DataError
from cvzoo.search import baselines
from cvzoo.search.epoch_data import read_curves
from cvzoo.search.epoch_sim import STRATEGIES, replay, simulate_epochs
from cvzoo.search.factors import FactorModel
from cvzoo.search.fidelity import FidelityConfig, Ledger
from cvzoo.search.multifidelity import EpochGuidedSearch
from cvzoo.search.transfer import extrapolate, fit_step, fit_steps, rung_values
from cvzoo.search.trust import check

DATA = Path(__file__).parent / "data" / "epochs"
FT = DATA / "nmtlc_ft_zh_en_small.csv"  # 4 LLMs x 9 LoRA settings, BLEU per checkpoint
QT = DATA / "quicktune_prt_small.csv"  # 64 fine-tuning runs of 6 timm backbones, top-1 %
QT_CONFIGS = DATA / "quicktune_prt_small_configs.csv"


def test_rungs_grow_by_eta_and_end_at_the_full_length() -> None:
    assert FidelityConfig().rungs(50) == [1, 3, 9, 27, 50]
    assert FidelityConfig(min_epochs=2, eta=2).rungs(10) == [2, 4, 8, 10]
    with pytest.raises(ConfigError, match="eta"):
        FidelityConfig(eta=1)


def test_the_ledger_charges_every_epoch_once_and_stops_at_the_budget() -> None:
    ledger = Ledger([np.array([1.0, 3.0, 2.0]), np.array([5.0])], budget=3)
    assert ledger.train(0, 2) == 2 and ledger.train(0, 2) == 0  # nothing trained twice
    assert ledger.value(0) == 3.0
    assert ledger.train(1, 9) == 1 and ledger.complete(1)  # a curve ends where its run ended
    assert ledger.train(0, 3) == 0 and ledger.left == 0  # the budget is spent
    assert ledger.winner() == 1


def test_curves_are_read_per_task_with_factor_codes_but_not_outcome_columns() -> None:
    (prt,) = read_curves(str(QT), str(QT_CONFIGS))
    assert prt.task == "PRT" and prt.size == 64 and len(prt.rows) == 6
    assert prt.max_epochs == 50 and prt.total_epochs == int(prt.lengths.sum())
    assert prt.factors is not None and prt.factors.shape[0] == 64
    assert prt.factors.shape[1] < 32  # n_epochs, mean_epoch_time_s and constant columns dropped
    with pytest.raises(DataError, match="--task 'nope'"):
        read_curves(str(QT), task="nope")


def test_a_fitted_step_recovers_a_linear_gain_and_chains_to_the_final_value() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    step = fit_step(x, 2.0 + x, spread2=1.0)
    assert step.slope == pytest.approx(1.0) and step.intercept == pytest.approx(2.0)
    values = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0]),
              np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.5])]  # fmt: skip
    complete = np.array([True, True, True, False])
    levels = rung_values(values, complete, [1, 4])
    mean, var = extrapolate(levels, complete, fit_steps(levels, np.array([4, 4, 4, 1]), [1, 4]))
    assert mean[:3].tolist() == [4.0, 5.0, 3.0] and var[:3].tolist() == [0.0, 0.0, 0.0]
    assert mean[3] == pytest.approx(4.5) and var[3] > 0


def test_the_factor_model_keeps_finished_values_and_ranks_untrained_ones_by_their_row() -> None:
    rows = np.array([0, 0, 0, 1, 1, 1])
    model = FactorModel(rows, np.arange(6))
    post = model.fit(np.array([0, 1, 3, 4]), np.array([9.0, 9.5, 2.0, 2.5]), np.zeros(4))
    assert post.mean[0] == pytest.approx(9.0, abs=1e-3) and post.std[0] < 1e-3
    assert post.mean[2] > post.mean[5] and post.std[2] > 0


def test_the_guided_search_continues_the_configurations_that_can_win() -> None:
    rng = np.random.default_rng(0)
    finals = np.repeat([80.0, 60.0, 40.0], 4) + rng.normal(0, 1, 12)
    epochs = np.arange(1, 28)
    curves = [f * (1 - 0.6 * np.exp(-epochs / 6)) + rng.normal(0, 0.5, 27) for f in finals]
    ledger = Ledger(curves, budget=120)
    search = EpochGuidedSearch(np.repeat([0, 1, 2], 4), np.arange(12), 27)
    while ledger.left > 0 and (step := search.ask()) is not None:
        ledger.train(*step)
        search.tell(step[0], ledger.best_so_far[step[0]][: ledger.epochs[step[0]]], ledger.complete(step[0]))
    assert ledger.used == 120
    assert ledger.epochs[:4].sum() > ledger.epochs[8:].sum()  # the good row got the epochs
    assert finals[ledger.winner()] >= finals.max() - 5


def _run_guided(search: EpochGuidedSearch, ledger: Ledger) -> None:
    while ledger.left > 0 and (step := search.ask()) is not None:
        ledger.train(*step)
        search.tell(step[0], ledger.best_so_far[step[0]][: ledger.epochs[step[0]]], ledger.complete(step[0]))


def test_a_configuration_that_failed_before_its_first_epoch_is_never_asked_again() -> None:
    search = EpochGuidedSearch(np.arange(4) % 2, np.arange(4) // 2, max_epochs=9, seed=0)
    first, _ = search.ask()
    search.tell(first, np.zeros(0), complete=True)  # the job failed: no epoch, ended
    asked = []
    while (step := search.ask()) is not None:
        i, epochs = step
        asked.append(i)
        search.tell(i, np.linspace(50, 60, epochs) + i, complete=epochs >= 9)
    assert first not in asked and set(asked) == set(range(4)) - {first}


def test_levels_count_the_rung_reached_and_an_ended_curve_as_reaching_its_target() -> None:
    search = EpochGuidedSearch(np.arange(4), np.zeros(4, int), 9)  # rungs at 1, 3 and 9 epochs
    search.tell(0, np.ones(4), complete=False)  # past rung 3, on its way to 9
    search.tell(1, np.ones(2), complete=True)  # ended while trained towards rung 3
    search.tell(2, np.ones(1), complete=False)
    assert search.levels().tolist() == [1, 1, 0, -1]


@pytest.mark.parametrize("seed", range(3))
def test_without_evidence_the_guided_search_promotes_like_successive_halving(seed: int) -> None:
    curves = [np.full(9, float(v)) for v in range(9)]  # nothing shared: every config its own row
    ledger = Ledger(curves, budget=15)
    search = EpochGuidedSearch(np.arange(9), np.zeros(9, int), 9, seed=seed)
    _run_guided(search, ledger)
    started, promoted = ledger.epochs > 0, ledger.epochs >= 3
    assert promoted.any() and promoted.sum() <= started.sum() // 3  # the top third at most
    assert not promoted[:2].any()  # by rank at the rung: the two worst never qualify
    assert ledger.winner() == np.flatnonzero(started).max()
    assert not search.trust.start and not any(search.trust.promote.values())


def _slow_starters(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """3 x 10 grid: the column sets the final value, and the best columns start slowest."""
    rng = np.random.default_rng(seed)
    rows, cols = np.repeat(np.arange(3), 10), np.tile(np.arange(10), 3)
    finals = 10.0 + cols + rng.normal(0, 0.3, 30)
    curves = [np.where(np.arange(1, 10) >= 3, f, 9.0 - 0.5 * (f - 10)) for f in finals]
    return rows, cols, finals, curves


@pytest.mark.parametrize("seed", range(3))
def test_the_model_takes_over_promotion_where_rank_at_the_rung_misleads(seed: int) -> None:
    rows, cols, finals, curves = _slow_starters(seed)
    guided, asha = Ledger(curves, budget=80), Ledger(curves, budget=80)
    search = EpochGuidedSearch(rows, cols, 9, seed=seed)
    _run_guided(search, guided)
    baselines.run_asha(asha, np.random.default_rng(seed), FidelityConfig())
    assert search.trust.promote[0]  # its held-out check beat the epoch-1 rank
    assert finals.max() - finals[guided.winner()] < 1.0 < finals.max() - finals[asha.winner()]


def test_the_held_out_check_trusts_only_a_model_that_ranks_better_than_the_rung() -> None:
    finals = np.arange(8.0)
    values = [np.array([9.0 - f, f, f]) for f in finals]  # epoch 1 ranks them backwards
    complete, level, rungs = np.zeros(8, bool), np.ones(8, int), [1, 3, 9]

    def oracle(v: list[np.ndarray], c: np.ndarray) -> np.ndarray:
        return finals

    def at_epoch_1(v: list[np.ndarray], c: np.ndarray) -> np.ndarray:
        return np.array([x[0] if x.size else 0.0 for x in v])

    assert check(oracle, values, complete, level, rungs, finals).promote == {0: True}
    trust = check(at_epoch_1, values, complete, level, rungs, finals)
    assert trust.promote == {0: False} and not trust.start  # hidden curves all predict 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_spends_the_same_epoch_budget(strategy: str) -> None:
    (zh_en,) = read_curves(str(FT))
    ledger = replay(zh_en, strategy, budget=100, seed=0, fidelity=FidelityConfig())
    assert ledger.used == 100 and 0 <= ledger.winner() < zh_en.size


@pytest.mark.parametrize("seed", range(5))
def test_asha_promotes_by_rank_among_the_configurations_seen_so_far(seed: int) -> None:
    curves = [np.full(9, float(v)) for v in range(9)]  # configuration v scores v at every epoch
    ledger = Ledger(curves, budget=15)  # rungs at epochs 1, 3 and 9
    baselines.run_asha(ledger, np.random.default_rng(seed), FidelityConfig())
    started, promoted = ledger.epochs > 0, ledger.epochs >= 3
    assert promoted.any() and ledger.used == 15
    assert not promoted[:2].any()  # the two worst are never in the top third of a rung
    assert ledger.winner() == np.flatnonzero(started).max()  # the best started one is named


def test_replay_reports_regret_and_within_1pct_per_budget() -> None:
    (zh_en,) = read_curves(str(FT))
    result = simulate_epochs([zh_en], [0.1, 0.3], seeds=3, strategies=("random", "guided"))
    guided = result["tasks"]["zh-en"]["guided"]
    assert len(guided["regret"]) == 2 and all(r >= 0 for r in guided["regret"])
    assert guided["epochs_used"] == [round(0.1 * zh_en.total_epochs), round(0.3 * zh_en.total_epochs)]
    assert result["mean"]["guided"]["p_within_1pct"] == guided["p_within_1pct"]


def test_cli_prints_the_documented_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(FT), "--fidelity", "epoch", "--budget", "0.1", "--seeds", "2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"budgets", "tasks", "mean"} and out["budgets"] == [0.1]
    assert set(out["tasks"]["zh-en"]) == set(STRATEGIES)
    assert set(out["tasks"]["zh-en"]["asha"]) == {"regret", "p_within_1pct", "epochs_used"}
    assert set(out["mean"]["guided"]) == {"regret", "p_within_1pct"}


def test_cli_reads_factor_columns_and_rejects_a_bad_budget(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", str(QT), "--fidelity", "epoch", "--configs", str(QT_CONFIGS), "--task", "PRT"]
    assert main([*args, "--budget", "0.05", "--seeds", "1"]) == 0
    assert "| PRT | guided |" in capsys.readouterr().out
    assert main([*args, "--budget", "1.5"]) == 2
    assert "--budget '1.5' is invalid" in capsys.readouterr().err


@pytest.mark.slow
def test_the_commands_of_the_multi_fidelity_guide_run_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).parents[1]
    guide = (repo / "docs" / "guides" / "multi-fidelity.md").read_text()
    block = guide.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line) for line in block.splitlines() if line.strip()]
    assert commands and all(c[:2] == ["cvzoo", "simulate"] for c in commands)
    monkeypatch.chdir(repo)
    for command in commands:
        assert main(command[1:]) == 0
        assert "guided" in capsys.readouterr().out


def test_configurations_that_share_factor_levels_share_their_effect() -> None:
    factors = np.array([[0, 0], [0, 0], [1, 1], [1, 1]])  # e.g. optimizer and learning-rate bin
    model = FactorModel(np.zeros(4, int), np.arange(4), factors)
    post = model.fit(np.array([0, 2]), np.array([9.0, 1.0]), np.zeros(2))
    assert post.mean[1] > post.mean[3]  # like its factor-twin 0, not like 2


def test_within_1pct_is_relative_to_the_best_value_for_negated_metrics_too() -> None:
    from cvzoo.search.epoch_data import CurveSet

    # minus perplexity: -10.05 is within 1% of the best -10, -11 is not
    close = CurveSet("t", ["a", "b"], ["x"], np.array([0, 1]), np.array([0, 0]),
                     [np.array([-10.0]), np.array([-10.05])])  # fmt: skip
    far = CurveSet("t", ["a", "b"], ["x"], np.array([0, 1]), np.array([0, 0]),
                   [np.array([-10.0]), np.array([-11.0])])  # fmt: skip
    for curves in (close, far):
        result = simulate_epochs([curves], [1], seeds=10, strategies=("random",))
        regret = result["tasks"]["t"]["random"]["regret"][0]
        within = result["tasks"]["t"]["random"]["p_within_1pct"][0]
        assert regret > 0  # one epoch: random names the worse configuration in some seeds
        assert within == 1.0 if curves is close else within < 1.0
