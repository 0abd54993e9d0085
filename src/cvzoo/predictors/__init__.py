"""Predict the quality of untrained cells: matrix completion, boosting, learning curves."""

from __future__ import annotations

from cvzoo.predictors.completion import Completion, complete

__all__ = ["Completion", "complete"]
