"""The package version, in a module of its own so that modules inside `quantize` can name it
without importing the package's `__init__` (which imports them lazily: that would be a circle)."""

__version__ = "0.1.0"
