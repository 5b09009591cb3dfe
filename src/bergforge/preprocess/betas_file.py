"""The one writer and reader of a subject's fMRI betas file ``results/fmri/{dataset}/betas/sub-XX.npz``.

An uncompressed ``.npz`` (no pickles): ``betas_by_trial`` float32 ``(trial, vertex)``,
``grayordinates`` (the 91,282-space index of each vertex) and one ``trial_{column}`` array per
trial-table column. One row per trial, so that neither side holds every beta: the writer streams
blocks of trials into the member (MOSAIC's files are read one trial at a time), and the reader
memory-maps the member and reads only the rows it asks for (a real NSD subject: 30,000 trials ×
57,051 vertices = 6.8 GB). The trial table is read without touching the betas.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.atomic import FIXED_ZIP_TIME, atomic_file
from bergforge.errors import DataError

BETAS = "betas_by_trial"
DTYPE = np.dtype("<f4")


def _member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    return zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)


def write_betas(
    path: Path,
    blocks: Iterable[np.ndarray],
    n_trials: int,
    grayordinates: np.ndarray,
    trials: Mapping[str, np.ndarray],
) -> None:
    """Write the betas file atomically from ``blocks`` of trial rows (each ``(k, vertex)`` or one
    ``(vertex,)`` row), ``n_trials`` rows in all, in the order of the ``trials`` table."""
    path = Path(path)
    n_vertices = len(grayordinates)
    for column, values in trials.items():
        if len(values) != n_trials:
            raise DataError(
                f"{path}: trial column {column!r} has {len(values)} rows, not {n_trials}"
            )
    with (
        atomic_file(path) as tmp,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        arrays = {"grayordinates": np.asarray(grayordinates)}
        arrays |= {f"trial_{column}": np.asarray(values) for column, values in trials.items()}
        for name, value in arrays.items():
            with zf.open(_member(zf, name), "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, value, allow_pickle=False)
        header = {"descr": DTYPE.str, "fortran_order": False, "shape": (n_trials, n_vertices)}
        written = 0
        with zf.open(_member(zf, BETAS), "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_2_0(fh, header)
            for block in blocks:
                rows = np.asarray(block, dtype=DTYPE)
                rows = rows[None] if rows.ndim == 1 else rows
                if rows.ndim != 2 or rows.shape[1] != n_vertices:
                    raise DataError(
                        f"{path}: a block of betas has shape {np.shape(block)}; expected "
                        f"(trials, {n_vertices}) rows"
                    )
                written += len(rows)
                if written > n_trials:
                    break
                fh.write(np.ascontiguousarray(rows).tobytes())
        if written != n_trials:
            raise DataError(f"{path}: {written} rows of betas given; expected {n_trials}")


class BetasFile:
    """A written betas file: its trial table, grayordinates, and its betas memory-mapped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: betas file not found")
        try:
            with zipfile.ZipFile(self.path) as zf:
                self._members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
        except (zipfile.BadZipFile, OSError) as err:
            raise DataError(f"{self.path}: not a readable betas file ({err})") from err
        if BETAS not in self._members:
            older = " (an older layout, 'betas' by vertex: delete it and rerun)"
            raise DataError(
                f"{self.path}: no '{BETAS}' array"
                + (older if "betas" in self._members else "")
                + "; expected the betas file of bergforge.preprocess.betas_file"
            )

    def trials(self) -> pd.DataFrame:
        """The trial table (``trial_*`` columns), read without the betas."""
        with np.load(self.path, allow_pickle=False) as f:
            return pd.DataFrame({k[6:]: f[k] for k in f.files if k.startswith("trial_")})

    def grayordinates(self) -> np.ndarray:
        with np.load(self.path, allow_pickle=False) as f:
            return f["grayordinates"]

    def rows(self) -> np.ndarray:
        """``(trial, vertex)`` float32, memory-mapped read-only (index it to read rows)."""
        info = self._members[BETAS]
        if info.compress_type != zipfile.ZIP_STORED:
            raise DataError(f"{self.path}: '{BETAS}' is compressed; expected a stored member")
        with open(self.path, "rb") as fh:
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise DataError(f"{self.path}: damaged zip header of '{BETAS}'")
            name_len = int.from_bytes(local[26:28], "little")
            extra_len = int.from_bytes(local[28:30], "little")
            start = info.header_offset + 30 + name_len + extra_len
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise DataError(f"{self.path}: '{BETAS}' has .npy format {version}")
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
        if fortran or dtype != DTYPE or len(shape) != 2:
            raise DataError(
                f"{self.path}: '{BETAS}' is {dtype} {shape}; expected C-order float32 (trial, vertex)"
            )
        expected = offset + shape[0] * shape[1] * DTYPE.itemsize
        if self.path.stat().st_size < expected:
            raise DataError(f"{self.path}: truncated ('{BETAS}' needs {expected} bytes)")
        self._check_crc(start, info)
        return np.memmap(self.path, dtype=DTYPE, mode="r", offset=offset, shape=tuple(shape))

    def _check_crc(self, start: int, info: zipfile.ZipInfo, block: int = 1 << 22) -> None:
        """The member's CRC-32 against the zip's (a memory map bypasses zipfile's own check), read
        sequentially in 4 MB blocks from its first byte ``start``: about a second per GB."""
        crc, left = 0, info.file_size
        with open(self.path, "rb") as fh:
            fh.seek(start)
            while left > 0 and (chunk := fh.read(min(block, left))):
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
        if left or crc != info.CRC:
            raise DataError(
                f"{self.path}: '{BETAS}' does not match its CRC-32 (the file is damaged: delete "
                "it and rerun the job that writes it)"
            )
