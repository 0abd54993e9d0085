"""What a guided sweep leaves in its directory: guided.json and the observed + predicted matrix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cvzoo.results.matrix_writer import write_matrix
from cvzoo.results.quality_matrix import QualityMatrix


def winner_line(summary: Mapping[str, Any]) -> str:
    """The winner, the remaining-regret estimate and why the search stopped, in one line."""
    s = summary
    return (f"Winner: {s.get('winner')} = {s.get('winner_value')}; estimated remaining regret "
            f"{s.get('estimated_regret')}; P(an untrained cell beats it) {s.get('stop_probability')}; "
            f"runs {s.get('spent')}/{s.get('budget')} ({s.get('stop_reason')}).")  # fmt: skip


def write_outputs(
    matrix: QualityMatrix, sweep_dir: str | Path, extra: Mapping[str, Any], notes: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write guided.json and the matrix files (csv, std, count, md, png) into the sweep directory;
    ``notes`` end matrix.md (default: the winner line)."""
    folder = Path(sweep_dir)
    folder.mkdir(parents=True, exist_ok=True)
    body = {**matrix.summary, **extra, "cells": matrix.cells()}
    json_path = folder / "guided.json"
    json_path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    notes = [winner_line(matrix.summary)] if notes is None else list(notes)
    paths = write_matrix(matrix, folder, notes=notes)
    return {"json": json_path, **paths}
