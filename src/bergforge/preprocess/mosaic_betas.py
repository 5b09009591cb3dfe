"""MOSAIC's per-subject NSD betas → the betas file GLMsingle writes for simulated studies.

A MOSAIC subject file (``sub-XX_NSD.hdf5``) holds group ``betas`` with one (91282,) dataset per
trial, named ``sub-XX_NSD_stimulus-{stem}_phase-{phase}_rep-{r}`` (blahner/mosaic-preprocessing,
``create_hdf5.py``; already z-scored per session by MOSAIC). ``nsd_stiminfo.tsv`` has one row per
stimulus: ``filename`` (the COCO file name, whose stem is ``{stem}``), ``alias`` (the 0-based NSD
id, so 73k id = alias + 1), ``source`` (``COCO`` or ``NSDsynthetic``), ``test_train`` (``test`` =
the shared-1000 images) and ``sub-XX_reps``. Every name and column is a :class:`MosaicLayout`
option (config ``datasets.<name>.mosaic``) in case a release renames them.

:func:`mosaic_betas_job` streams the file one trial at a time, keeps the model vertices (Glasser
groups, minus MOSAIC's NaN grayordinates), skips artificial stimuli (not in ``nsd_stimuli.hdf5``),
and streams them into ``betas_by_trial`` (trial, V) with ``grayordinates`` and the trial table as
``trial_*`` arrays (``image_73k_id``, ``session``, ``run``, ``shared``, ``repetition``): the
contract of ``results/fmri/{dataset}/betas/sub-XX.npz`` (:mod:`bergforge.preprocess.betas_file`),
holding one trial in memory at a time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bergforge.config import dataclass_from_section
from bergforge.datasets.grayordinates import N_GROUPS, grayordinate_space
from bergforge.datasets.mosaic import MosaicBetas, read_stimulus_table
from bergforge.errors import ConfigError, DataError
from bergforge.preprocess.betas_file import write_betas

log = logging.getLogger(__name__)

#: MOSAIC's trial dataset names (``create_hdf5.py``): subject, stimulus stem, phase, repetition.
NAME_PATTERN = (
    r"^sub-(?P<subject>\d+)_NSD_stimulus-(?P<stimulus>.+)_phase-(?P<phase>[^_]+)_rep-(?P<rep>\d+)$"
)


@dataclass(frozen=True)
class MosaicLayout:
    """Names in MOSAIC's files (defaults: the published layout) and the model vertices kept."""

    name_pattern: str = NAME_PATTERN  # regex with groups ``stimulus`` and ``rep`` (``subject``)
    stimulus_column: str = "filename"  # matched to ``stimulus`` without its extension
    id_column: str = "alias"
    id_offset: int = 1  # 73k id = id_column + id_offset (alias is 0-based)
    split_column: str = "test_train"
    test_value: str = "test"  # rows with this split are the shared test images
    source_column: str = "source"
    sources: tuple[str, ...] = ("COCO",)  # rows from other sources (NSDsynthetic) are skipped
    groups: tuple[int, ...] = tuple(range(1, N_GROUPS + 1))  # Glasser groups of the model

    @classmethod
    def from_config(cls, values: dict[str, Any] | None) -> MosaicLayout:
        """The layout from config ``datasets.<name>.mosaic`` (unknown keys refused)."""
        layout = dataclass_from_section(cls, values, "datasets.<name>.mosaic")
        groups = set(re.compile(layout.name_pattern).groupindex)
        if not {"stimulus", "rep"} <= groups:
            raise ConfigError(
                f"mosaic.name_pattern {layout.name_pattern!r} must have the named groups "
                "'stimulus' and 'rep'"
            )
        return layout


def stimulus_lookup(stiminfo: Path, layout: MosaicLayout) -> pd.DataFrame:
    """Stiminfo rows indexed by file stem: ``image_73k_id``, ``shared``, ``kept`` (source)."""
    columns = [layout.stimulus_column, layout.id_column, layout.split_column]
    columns += [layout.source_column] if layout.sources else []
    table = read_stimulus_table(stiminfo, columns)
    stems = table[layout.stimulus_column].astype(str).map(lambda s: Path(s).stem)
    if stems.duplicated().any():
        dup = sorted(set(stems[stems.duplicated()]))[:5]
        raise DataError(f"{stiminfo}: stimulus names {dup} appear more than once")
    kept = (
        table[layout.source_column].isin(layout.sources)
        if layout.sources
        else pd.Series(True, index=table.index)
    )
    return pd.DataFrame(
        {
            "image_73k_id": pd.to_numeric(table[layout.id_column], errors="coerce")
            + layout.id_offset,
            "shared": table[layout.split_column].astype(str) == layout.test_value,
            "kept": kept.to_numpy(),
        }
    ).set_index(stems.to_numpy())


def trial_table(
    names: list[str], lookup: pd.DataFrame, layout: MosaicLayout, subject: int, where: Path
) -> pd.DataFrame:
    """One row per kept trial name: ``name``, ``image_73k_id``, ``shared``, ``repetition``."""
    pattern = re.compile(layout.name_pattern)
    rows, skipped = [], 0
    for name in names:
        match = pattern.match(name)
        if match is None:
            raise DataError(
                f"{where}: betas/{name} does not match mosaic.name_pattern {layout.name_pattern!r}"
            )
        parts = match.groupdict()
        if parts.get("subject") is not None and int(parts["subject"]) != subject:
            raise DataError(f"{where}: betas/{name} belongs to subject {parts['subject']}")
        stem = parts["stimulus"]
        if stem not in lookup.index:
            raise DataError(
                f"{where}: betas/{name} names stimulus {stem!r}, which is not in the "
                f"stimulus table (column {layout.stimulus_column!r})"
            )
        row = lookup.loc[stem]
        if not row["kept"]:
            skipped += 1
            continue
        if not np.isfinite(row["image_73k_id"]):
            raise DataError(f"stimulus {stem!r}: no numeric {layout.id_column!r} in the table")
        rows.append(
            {
                "name": name,
                "image_73k_id": int(row["image_73k_id"]),
                "shared": bool(row["shared"]),
                "repetition": int(parts["rep"]),
            }
        )
    if not rows:
        raise DataError(f"{where}: no trials of the sources {list(layout.sources)} in 'betas'")
    if skipped:
        log.info("skipped %d trials of other sources (not in %s)", skipped, list(layout.sources))
    table = pd.DataFrame(rows).sort_values(["image_73k_id", "repetition"], ignore_index=True)
    return table


def mosaic_betas_job(
    betas_file: Path, stiminfo: Path, subject: int, mosaic: dict | None, out: Path
) -> None:
    """Write ``out`` (npz: ``betas_by_trial`` (trial, V), grayordinates, ``trial_*``) from a MOSAIC
    file, one trial at a time."""
    layout = MosaicLayout.from_config(mosaic)
    vertices = grayordinate_space().model_space(layout.groups)
    lookup = stimulus_lookup(Path(stiminfo), layout)
    with MosaicBetas(Path(betas_file)) as source:
        trials = trial_table(source.names, lookup, layout, subject, source.path)
        log.info(
            "MOSAIC sub-%02d: %d trials of %d images, %d vertices",
            subject,
            len(trials),
            trials["image_73k_id"].nunique(),
            vertices.size,
        )
        write_betas(
            Path(out),
            _trial_rows(source, trials["name"], vertices),
            len(trials),
            vertices,
            {
                "image_73k_id": trials["image_73k_id"].to_numpy(np.int64),
                "session": np.zeros(len(trials), dtype=np.int64),  # not in MOSAIC's files
                "run": np.zeros(len(trials), dtype=np.int64),
                "shared": trials["shared"].to_numpy(bool),
                "repetition": trials["repetition"].to_numpy(np.int64),
            },
        )


def _trial_rows(
    source: MosaicBetas, names: pd.Series, vertices: np.ndarray
) -> Iterator[np.ndarray]:
    """The model vertices of each trial, one trial read at a time; NaN there is an error."""
    for k, name in enumerate(names):
        row = source.read([name], vertices)[0]
        bad = ~np.isfinite(row)
        if bad.any():
            raise DataError(
                f"{source.path}: betas/{name} is NaN at {int(bad.sum())} model vertices "
                f"(e.g. grayordinate {int(vertices[bad][0])}); expected finite values "
                "outside MOSAIC's NaN grayordinates"
            )
        if (k + 1) % 2000 == 0:
            log.info("MOSAIC: %d of %d trials read", k + 1, len(names))
        yield row
