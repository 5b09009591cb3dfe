"""One exception family for the whole package.

Every error bergforge raises on purpose derives from :class:`BergforgeError`, so callers can catch
them all at once; each message names the bad value and what was expected.
"""

from __future__ import annotations

import errno
import re


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


#: errno values of a write that failed for lack of room: disk full, file size limit, quota
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_ROOM_HINTS = {
    errno.ENOSPC: "disk full?",
    errno.EFBIG: "file size limit (ulimit -f) or disk full?",
    errno.EDQUOT: "disk quota used up?",
}
#: numpy's ``tofile`` (``np.save`` to a file) reports a short write without an errno
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def out_of_room(err: OSError) -> bool:
    """Whether ``err`` is a write that failed for lack of room (or a short write, its usual cause)."""
    if err.errno is None:
        return bool(_SHORT_WRITE.fullmatch(str(err)))
    return err.errno in DISK_FULL_ERRNOS


class WriteError(BergforgeError, OSError):
    """Writing a file or store failed for lack of room (disk full, file size limit or quota).

    ``str()`` names the target and the cause in one line, e.g. ``writing results/x.zarr: [Errno 27]
    File too large (file size limit (ulimit -f) or disk full?)``; ``errno`` is the cause's.
    """

    def __init__(self, target: object, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(target))

    def __str__(self) -> str:
        if self.errno is None:
            return f"writing {self.filename}: short write, {self.strerror} (disk full or file size limit?)"
        hint = _ROOM_HINTS.get(self.errno, "out of room?")
        return f"writing {self.filename}: [Errno {self.errno}] {self.strerror} ({hint})"
