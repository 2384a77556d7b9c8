"""Helpers for the test suites of every app (no test collection here)."""
