"""Benchmarks: scripts run as `python bench/<name>.py` (see bench/README.md); engine_vs_hf/ is engine.py's code."""
