"""Logging set-up shared by the workflow scripts: messages go to the job's log file and stderr."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any


def setup_logging(log_file: str | Path | None, level: int = logging.INFO) -> None:
    """Send bergforge's log records (and Python warnings) to ``log_file`` and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")


#: Prefix of the log line that records a job's runtime settings (threads, memory, device, …).
RUNTIME_PREFIX = "runtime settings used:"


def log_runtime(values: dict[str, Any], logger: logging.Logger | None = None) -> None:
    """Log the runtime settings a job actually used, as one ``key=value`` line."""
    text = ", ".join(f"{k}={v}" for k, v in values.items())
    (logger or logging.getLogger("bergforge")).info("%s %s", RUNTIME_PREFIX, text)
