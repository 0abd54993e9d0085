"""Hydra plugin entry for cvzoo's guided sweeper (Hydra loads plugins only from hydra_plugins)."""
