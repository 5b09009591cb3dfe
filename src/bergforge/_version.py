"""The package version (also the default release version)."""

__version__ = "0.1.0"
