"""Find the commands documented in README.md and docs/ and check that each one still works.

Conventions the checker relies on (docs/index.md repeats them for writers):

- Commands live in fenced code blocks tagged ``bash``, ``sh``, ``shell`` or untagged; output shown
  to the reader goes in ``text`` blocks, which are never read. A line continues with a trailing ``\\``.
- Checked lines start with ``python train.py``, ``python export.py``, ``python predict.py``,
  ``cvzoo`` or ``make`` (after optional ``VAR=value`` prefixes). Shell redirections and pipes end
  the command; ``# ...`` comments are dropped.
- ``# not checked: REASON`` at the end of a line marks a command that cannot even be composed or
  parsed on a CI machine; the test reports it as skipped with that REASON.
- A block preceded by ``<!-- docs-check: run -->`` is also *run* in CI, in order, in one scratch
  directory, with tiny training settings added (:data:`TINY`); ``# not run: REASON`` exempts one line.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENTRY_SCRIPTS = {"train.py": "train", "export.py": "export", "predict.py": "predict"}
SHELL_OPERATORS = {">", ">>", "2>", "2>&1", "|", "&&", "||", ";", "&"}
COMMAND_LANGS = {"", "bash", "sh", "shell"}
RUN_MARKER = "<!-- docs-check: run -->"
# Hydra's own flags: dropped before composing (the value-taking ones with their value).
HYDRA_FLAGS = {"-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "-i", "--resolve"}
HYDRA_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path", "-cp"}
# Small enough for CI: added to every train.py command that is run, unless the command sets the key.
TINY = (
    "trainer.max_epochs=1",
    "dataset.fraction=0.1",
    "dataset.image_size=32",
    "trainer.enable_progress_bar=false",
)
# Commands that cannot run inside the test suite by their nature (checked statically all the same).
NOT_RUNNABLE_HERE = {
    "make test": "runs this very test suite",
    "make test-fast": "runs this very test suite",
    "make install": "installs into the .venv the suite is running from",
    "make bench": "the benchmarks take tens of minutes",
    "make bench-gpu": "needs a CUDA GPU",
}


@dataclass(frozen=True)
class DocCommand:
    """One documented command: where it is, its words, and what the page says about running it."""

    path: Path
    line: int
    argv: tuple[str, ...]
    run: bool = False
    skip_reason: str | None = None
    no_run_reason: str | None = None

    @property
    def where(self) -> str:
        """``README.md:12`` style location for test ids and messages."""
        return f"{self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path}:{self.line}"

    @property
    def text(self) -> str:
        """The command as one line."""
        return shlex.join(self.argv)


def _logical_lines(block: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Join ``\\``-continued lines; yield (first line number, text)."""
    start, parts = None, []
    for number, raw in block:
        start = number if start is None else start
        if raw.rstrip().endswith("\\"):
            parts.append(raw.rstrip()[:-1])
            continue
        parts.append(raw)
        yield start, " ".join(parts)
        start, parts = None, []
    if parts:
        yield start, " ".join(parts)


def _marker(text: str, name: str) -> str | None:
    """The REASON of a trailing ``# name: REASON`` comment."""
    found = re.search(rf"#\s*{name}:\s*(.+?)\s*$", text)
    return found.group(1) if found else None


def command_words(text: str) -> tuple[str, ...] | None:
    """The words of a checked command (None when the line is not one)."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return None
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]
    for i, word in enumerate(words):
        if word in SHELL_OPERATORS or word.startswith((">", "2>")):
            words = words[:i]
            break
    if len(words) >= 2 and words[0] == "python" and words[1] in ENTRY_SCRIPTS:
        return tuple(words)
    if words and words[0] in ("cvzoo", "make"):
        return tuple(words)
    return None


def collect(path: Path) -> list[DocCommand]:
    """Every checked command in the fenced bash blocks of one Markdown file."""
    commands: list[DocCommand] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    block: list[tuple[int, str]] | None = None
    lang, run, previous = "", False, ""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            if block is None:
                block, lang, run = [], stripped[3:].strip().lower(), previous == RUN_MARKER
            else:
                if lang in COMMAND_LANGS:
                    for start, text in _logical_lines(block):
                        argv = command_words(text)
                        if argv is not None:
                            commands.append(
                                DocCommand(
                                    path, start, argv, run,
                                    _marker(text, "not checked"), _marker(text, "not run"),
                                )
                            )  # fmt: skip
                block = None
        elif block is not None:
            block.append((number, line))
        if stripped:
            previous = stripped
    return commands


def documented_pages(repo: Path = REPO) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]


def _hydra_overrides(argv: Sequence[str]) -> list[str]:
    """The overrides of an entry-script command, Hydra's own flags removed."""
    out, skip = [], False
    for word in argv[2:]:
        if skip:
            skip = False
        elif word in HYDRA_VALUE_FLAGS:
            skip = True
        elif word not in HYDRA_FLAGS:
            out.append(word)
    return out


def sweep_points(overrides: Sequence[str]) -> list[list[str]]:
    """Override lists that together use every value of every swept key at least once."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from cvzoo.training.overrides import group_options, is_glob, selected_options

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    columns: list[list[str]] = []
    for item in parsed:
        if is_glob(item):  # glob(...) of a config group: the options it matches
            known = group_options(REPO / "configs", item.key_or_group)
            columns.append([f"{item.get_key_element()}={v}" for v in selected_options(item, known)])
            continue
        if not item.is_sweep_override():
            columns.append([item.input_line])
            continue
        try:
            values = list(item.sweep_string_iterator())
        except Exception:  # noqa: BLE001 - interval sweeps cannot be enumerated: take their start
            values = [str(item.value().start)]
        columns.append([f"{item.get_key_element()}={v}" for v in values])
    width = max((len(c) for c in columns), default=1)
    return [[c[i % len(c)] for c in columns] for i in range(width)]


def check_entry_script(argv: Sequence[str], config_dir: Path = REPO / "configs") -> None:
    """Compose the script's config with the command's overrides (each sweep point once)."""
    from hydra import compose, initialize_config_dir

    from cvzoo.inference.entry import quote_commas

    overrides = _hydra_overrides(argv)
    if argv[1] == "export.py":  # export.py quotes pick=<backbone>,<head> before Hydra sees it
        overrides = quote_commas(overrides, ("pick",))
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        for point in sweep_points(overrides):
            compose(ENTRY_SCRIPTS[argv[1]], overrides=point, return_hydra_config=True)


class ParseError(Exception):
    """argparse rejected a documented ``cvzoo`` command."""


def check_cvzoo(
    argv: Sequence[str], build_parser: Callable[[], argparse.ArgumentParser] | None = None
) -> None:
    """Parse a ``cvzoo`` command with the real parser (nothing is run); raise ParseError on rejection."""
    import contextlib
    import io

    if build_parser is None:
        from cvzoo.cli import build_parser
    parser = build_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(list(argv[1:]))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise ParseError(err.getvalue().strip().splitlines()[-1]) from None


def make_targets(makefile: Path = REPO / "Makefile") -> set[str]:
    """The targets a Makefile defines."""
    found = re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile.read_text(), flags=re.MULTILINE)
    return set(found)


def check_make(argv: Sequence[str], makefile: Path = REPO / "Makefile") -> None:
    """Every target named on a documented ``make`` line exists (``VAR=value`` words are variables)."""
    targets = make_targets(makefile)
    for word in argv[1:]:
        if "=" not in word and not word.startswith("-") and word not in targets:
            raise ParseError(
                f"make target {word!r} is not in {makefile.name} (targets: {', '.join(sorted(targets))})"
            )


def check(command: DocCommand, build_parser: Callable[[], argparse.ArgumentParser] | None = None) -> None:
    """The static check of one command: compose, parse, or find its make targets."""
    if command.argv[0] == "python":
        check_entry_script(command.argv)
    elif command.argv[0] == "cvzoo":
        check_cvzoo(command.argv, build_parser)
    else:
        check_make(command.argv)


def make_recipe(target: str, makefile: Path = REPO / "Makefile") -> list[str] | None:
    """The recipe lines of a simple Makefile target (None when it has none)."""
    text = makefile.read_text()
    found = re.search(rf"^{re.escape(target)}\s*:[^\n]*\n((?:\t[^\n]*\n?)+)", text, flags=re.MULTILINE)
    return [line.strip() for line in found.group(1).splitlines()] if found else None


def with_tiny_settings(argv: Sequence[str]) -> list[str]:
    """A train.py command with :data:`TINY` added for every key the command does not set."""
    if len(argv) < 2 or argv[1] != "train.py":
        return list(argv)
    keys = {word.split("=", 1)[0].lstrip("+~") for word in argv[2:] if "=" in word}
    return [*argv, *(t for t in TINY if t.split("=", 1)[0] not in keys)]
