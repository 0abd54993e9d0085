"""Search strategies over configurations: multi-fidelity (epochs) guided search and its replay."""
