"""Training: the task behind ``train.py`` (fit, test, record), its callbacks and its checks."""

from cvzoo.training.run import monitored_value, run_training, summary_line

__all__ = ["monitored_value", "run_training", "summary_line"]
