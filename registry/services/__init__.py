"""Writes of the registry, one module per part: feeds and ingest, linkage, persons, review."""
