"""bergforge: build image-computable brain encoding models in BERG's layout."""

from bergforge._version import __version__
from bergforge.errors import BergforgeError, ConfigError, DataError

__all__ = ["BergforgeError", "ConfigError", "DataError", "__version__"]
