"""Benchmarks: each ``bench_*.py`` module runs with ``python -m bench.<module>``."""
