"""``cvzoo`` help texts render, and every sub-command takes ``--flags``."""

from __future__ import annotations

import argparse

import pytest

from cvzoo.cli import build_parser
from cvzoo.cli.calibrate import flag_settings, parse_settings


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every ``cvzoo`` sub-command's parser, by name."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_help_renders_without_escapes(name: str) -> None:
    text = subcommands()[name].format_help()
    assert "%%" not in text and "%(" not in text


def test_curve_help_shows_a_plain_percent_sign() -> None:
    assert "90 % intervals" in " ".join(subcommands()["curve"].format_help().split())


def test_calibrate_takes_flags_like_its_siblings() -> None:
    args = build_parser().parse_args(["calibrate", "--ckpt", "run/best.ckpt", "--target-coverage", "0.9"])
    assert parse_settings([*args.settings, *flag_settings(args)]) == {
        "ckpt": "run/best.ckpt",
        "target_coverage": 0.9,
    }


def test_calibrate_still_reads_key_value_settings() -> None:
    args = build_parser().parse_args(["calibrate", "ckpt=run/best.ckpt", "target_error=0.02"])
    assert parse_settings([*args.settings, *flag_settings(args)]) == {
        "ckpt": "run/best.ckpt",
        "target_error": 0.02,
    }
