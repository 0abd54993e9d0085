"""Search over a quality grid: design, acquisition, the guided search and its offline simulator."""
