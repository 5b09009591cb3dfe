"""bergforge: build image-computable brain encoding models in BERG's layout."""

from bergforge._version import __version__
from bergforge.errors import BergforgeError, ConfigError, DataError

__all__ = ["BERG", "BergforgeError", "ConfigError", "DataError", "__version__"]


def __getattr__(name: str):
    """Import the BERG loader (torch, sklearn) only when it is first used."""
    if name == "BERG":
        from bergforge.api.berg import BERG

        return BERG
    raise AttributeError(f"module 'bergforge' has no attribute {name!r}")
