"""Logging set-up shared by the workflow scripts: messages go to the job's log file and stderr.

:func:`start_job` is the first call of every Snakemake script: besides the logging it records a
failing job's error in the job's log file (one ``ERROR`` line naming the job and what failed, then
the traceback), turns SIGTERM (a cluster's time limit or ``scancel``) into a clean stop, and removes
the stale temporaries an earlier, killed attempt left beside the job's outputs.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from bergforge.atomic import remove_stale_temporaries
from bergforge.errors import WriteError, out_of_room

#: Logger of the job-level lines (failure, SIGTERM)
JOB_LOGGER = "bergforge.job"


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


def start_job(snakemake: Any) -> None:
    """Set up a Snakemake ``script:`` job (the injected ``snakemake`` object).

    Logs go to ``snakemake.log[0]`` and stderr; an uncaught error is logged there as one line
    naming the job and what failed (for a full disk, which file) followed by its traceback;
    SIGTERM stops the job through Python's clean-up (temporaries removed); stale temporaries of
    every declared output are removed before the job's work starts.
    """
    setup_logging(snakemake.log[0])
    label = job_label(snakemake.rule, dict(snakemake.wildcards.items()))
    outputs = [str(p) for p in snakemake.output]
    sys.excepthook = _failure_hook(label, outputs)
    signal.signal(signal.SIGTERM, _sigterm_handler(label))
    for output in outputs:
        remove_stale_temporaries(output)


def job_label(rule: str, wildcards: dict[str, str]) -> str:
    """``rule fit_linear (dataset=x, subject=01)``: which job a line is about."""
    values = ", ".join(f"{k}={v}" for k, v in wildcards.items())
    return f"rule {rule}" + (f" ({values})" if values else "")


def describe_failure(exc: BaseException, outputs: list[str]) -> str:
    """One line saying what failed: a full disk names the file, anything else its type and text."""
    if isinstance(exc, OSError) and out_of_room(exc):
        if not isinstance(exc, WriteError):
            exc = WriteError(exc.filename or " or ".join(outputs) or "a file", exc)
        return str(exc)
    text = " ".join(str(exc).split())  # one line, however the message was wrapped
    if len(text) > 500:
        text = text[:500] + " …"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure_hook(label: str, outputs: list[str]):
    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        logging.getLogger(JOB_LOGGER).error(
            "%s failed: %s", label, describe_failure(exc, outputs), exc_info=(exc_type, exc, tb)
        )

    return hook


def _sigterm_handler(label: str):
    job_pid = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != job_pid:  # a forked worker (e.g. a DataLoader's): die as before
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        # a second SIGTERM must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logging.getLogger(JOB_LOGGER).error(
            "%s stopped: received SIGTERM (cluster time limit or cancel?); "
            "removing its temporaries",
            label,
        )
        raise SystemExit(128 + signum)

    return handler


#: Prefix of the log line that records a job's runtime settings (threads, memory, device, …).
RUNTIME_PREFIX = "runtime settings used:"


def log_runtime(values: dict[str, Any], logger: logging.Logger | None = None) -> None:
    """Log the runtime settings a job actually used, as one ``key=value`` line."""
    text = ", ".join(f"{k}={v}" for k, v in values.items())
    (logger or logging.getLogger("bergforge")).info("%s %s", RUNTIME_PREFIX, text)
