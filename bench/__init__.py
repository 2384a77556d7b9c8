"""Benchmarks: each `bench/<name>.py` runs with `make bench-<name>` (see docs/benchmarks.md)."""
