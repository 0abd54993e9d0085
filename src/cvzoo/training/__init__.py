"""Training: the task behind ``train.py`` (fit, test, record), its callbacks and its checks."""

from cvzoo.training.run import run_training

__all__ = ["run_training"]
