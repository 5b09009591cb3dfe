"""Errors of the features stage; each names the backbone, node, file or setting at fault."""

from __future__ import annotations

from bergforge.errors import BergforgeError, ConfigError, DataError


class BackboneError(ConfigError):
    """An unknown backbone, library, model, transform or node, or an invalid registry entry."""


class UnknownBackboneError(BackboneError, KeyError):
    """A backbone name that is neither in the registry nor defined by ``library`` and ``model``."""

    def __str__(self) -> str:
        return str(self.args[0])


class WeightsUnavailableError(BergforgeError):
    """Pretrained weights that are not available offline (never downloaded by bergforge)."""


class ImageError(DataError):
    """A stimulus image that is missing, unreadable, corrupt or not RGB."""


class MissingPackageError(BergforgeError, ImportError):
    """An optional model library (open_clip, timm) that is not installed."""
