"""One exception family for the whole package.

Every error bergforge raises on purpose derives from :class:`BergforgeError`, so callers can catch
them all at once; each message names the bad value and what was expected.
"""

from __future__ import annotations


class BergforgeError(Exception):
    """Base class of every error bergforge raises on purpose."""


class ConfigError(BergforgeError, ValueError):
    """The workflow configuration is invalid (unknown key, wrong type, missing field)."""


class DataError(BergforgeError, ValueError):
    """An input file is missing, truncated, corrupt or inconsistent with the design."""
