"""The package version, in a module of its own: the client reads it for its User-Agent
without importing the package's ``__init__`` (which names every layer for type checkers)."""

__version__ = "0.1.0"
