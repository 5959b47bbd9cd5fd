"""Benchmarks: measured figures printed as tables (`python -m bench.pages`)."""
