"""The application layer: the `Pipeline`/`Run` facade, the CLI, the demo and the pytest
fixtures for plugin authors (ARCHITECTURE.md, Layers)."""
