"""The guided search's knobs are defined once: the yaml, the sweeper and simulate follow them."""

from __future__ import annotations

import inspect
from dataclasses import asdict
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cvzoo.cli import build_parser
from cvzoo.errors import ConfigError
from cvzoo.search.guided import GuidedSearch
from cvzoo.search.knobs import DEFAULTS, GuidedKnobs
from cvzoo.sweeps.guided_sweeper import GuidedSweeper

YAML = Path(__file__).parents[1] / "configs" / "hydra" / "sweeper" / "guided.yaml"


def test_the_sweeper_yaml_lists_every_knob_with_its_default() -> None:
    yaml = OmegaConf.to_container(OmegaConf.load(YAML))
    yaml.pop("_target_")
    assert yaml == asdict(DEFAULTS)


def test_the_search_and_simulate_take_their_defaults_from_the_knobs() -> None:
    signature = inspect.signature(GuidedSearch.__init__).parameters
    for name, value in DEFAULTS.search_options().items():
        assert signature[name].default == value, name
    args = build_parser().parse_args(["simulate", "full.csv"])
    assert (args.method, args.acquisition, args.init_share, args.full_design) == (
        DEFAULTS.method, DEFAULTS.acquisition, DEFAULTS.init_share, DEFAULTS.full_design,
    )  # fmt: skip


def test_an_unknown_sweeper_option_is_one_clear_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match="unknown guided sweeper option 'budjet'"):
        GuidedKnobs.from_options(budjet=0.5)
    with pytest.raises(SystemExit) as exit_info:  # inside Hydra: one error line and exit 2
        GuidedSweeper(budjet=0.5)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "budjet" in err and "Traceback" not in err
    sweeper = GuidedSweeper(budget=4, kappa=1.0)
    assert sweeper.budget == 4 and sweeper.options["kappa"] == 1.0
    assert GuidedKnobs.from_options(budget=4).search_options()["method"] == "auto"
