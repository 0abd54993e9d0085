"""cvzoo benchmarks: ``python -m benchmarks.run --device cpu|cuda [--quick]`` (never part of the tests)."""
