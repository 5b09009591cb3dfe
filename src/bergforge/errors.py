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


class ModelNotFoundError(BergforgeError, LookupError):
    """A model id is not in the BERG tree (the message lists the models that are)."""


class ModelLoadError(BergforgeError, RuntimeError):
    """A model's files are missing, unreadable, inconsistent or fail their manifest checksum."""


class InvalidParameterError(BergforgeError, ValueError):
    """A bad subject, split, selection key or selection value (the message lists the valid ones)."""


class StimulusError(BergforgeError, ValueError):
    """Images given to ``encode`` are not a 4-D uint8 ``[batch, 3, H, W]`` array of square images."""
