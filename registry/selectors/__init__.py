"""Reads of the registry, one module per part: source records, feeds, persons, review."""
