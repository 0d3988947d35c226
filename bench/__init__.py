"""Benchmarks: `python -m bench` (or `./run.sh bench`)."""
