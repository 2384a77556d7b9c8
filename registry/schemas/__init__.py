"""API schemas of the registry, one module per part."""
