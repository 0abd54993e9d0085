"""Sweeps: what happens around the jobs of a multirun (resume, devices, the end-of-sweep summary)."""
