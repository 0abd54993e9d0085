"""Search over configurations: design, acquisition, guided search (runs or epochs), offline replay."""
