"""The library version (one place; pyproject.toml repeats it and a test checks the two agree)."""

__version__ = "0.3.0"
