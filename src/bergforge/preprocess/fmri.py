"""From an NSD-like study's BOLD runs to the prepared store ``[image, repetition, vertex]``.

Per subject: read every run's BOLD (``…_bold.npy``, vertices × time) and events (``…_events.tsv``,
``onset`` in s, ``image_73k_id``, ``shared``), fit GLMsingle over all runs (sessions marked, so
cross-validation sees repeats across sessions), z-score the type-D betas per vertex and session,
and sort trials into ``train`` (the subject's own images) and ``test`` (the shared images).

Interface decision: NSD subjects see different training images, so ``stimuli.tsv`` lists the union
of all subjects' images and each subject's ``train`` array has a row for every training image of
the dataset, all NaN where that subject never saw the image (Zarr does not store such chunks).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.errors import DataError
from bergforge.preprocess import glm_design as dz
from bergforge.preprocess.betas_file import BetasFile
from bergforge.preprocess.glmsingle import (
    GLMSingleParams,
    fit_glmsingle,
    save_glmsingle_outputs,
    zscore_betas_per_session,
)
from bergforge.preprocess.store import atomic_store, write_attributes

log = logging.getLogger(__name__)
BETA_TYPE = "TYPED_FITHRF_GLMDENOISE_RR"


@dataclass
class SubjectRuns:
    """One subject's runs: BOLD (V, T), events, session and run numbers, and the timing."""

    data: list[np.ndarray]
    events: list[pd.DataFrame]
    session: list[int]
    run: list[int]
    tr: float
    stimdur: float
    grayordinates: np.ndarray


def read_subject_runs(raw_dir: Path, subject: int) -> SubjectRuns:
    """Every ``sub-XX/ses-YY/func/*_bold.npy`` with its ``_events.tsv``, in session/run order."""
    raw_dir = Path(raw_dir)
    meta_path = raw_dir / "experiment.json"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: missing; expected the study's timing and grayordinates")
    meta = json.loads(meta_path.read_text())
    files = sorted((raw_dir / f"sub-{subject:02d}").glob("ses-*/func/*_bold.npy"))
    if not files:
        raise DataError(f"{raw_dir}/sub-{subject:02d}: no ses-*/func/*_bold.npy runs found")
    runs = SubjectRuns(
        [], [], [], [], float(meta["tr"]), float(meta["stimdur"]), np.asarray(meta["grayordinates"])
    )
    for path in files:
        events_path = Path(str(path).replace("_bold.npy", "_events.tsv"))
        if not events_path.is_file():
            raise DataError(f"{events_path}: missing events for {path.name}")
        data = np.load(path)
        if data.ndim != 2 or data.shape[0] != runs.grayordinates.size:
            raise DataError(
                f"{path}: expected ({runs.grayordinates.size} vertices, time), got {data.shape}"
            )
        events = pd.read_csv(events_path, sep="\t")
        missing = {"onset", "image_73k_id", "shared"} - set(events.columns)
        if missing:
            raise DataError(f"{events_path}: missing column(s) {sorted(missing)}")
        runs.data.append(data)
        runs.events.append(events)
        runs.session.append(int(path.parts[-3].split("-")[1]))
        runs.run.append(int(path.name.split("_run-")[1].split("_")[0]))
    return runs


def subject_betas(
    runs: SubjectRuns, params: GLMSingleParams | None = None, out_dir: Path | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Per-session z-scored type-D betas (V, trials) and a trial table (chronological)."""
    ids = np.unique(np.concatenate([e["image_73k_id"].to_numpy() for e in runs.events]))
    designs, trials = [], []
    for r, (data, events) in enumerate(zip(runs.data, runs.events, strict=True)):
        cond = np.searchsorted(ids, events["image_73k_id"].to_numpy())
        design = dz.design_from_onsets(
            events["onset"].to_numpy(), cond, data.shape[1], ids.size, runs.tr
        )
        volume, order_cond = dz.trial_onsets(design)
        if volume.size != len(events):
            raise DataError(
                f"run {r}: two events fall on the same volume; expected one trial per volume"
            )
        designs.append(design)
        trials.append(
            pd.DataFrame(
                {
                    "image_73k_id": ids[order_cond],
                    "session": runs.session[r],
                    "run": runs.run[r],
                }
            )
        )
    table = pd.concat(trials, ignore_index=True)
    shared_ids = set(
        np.concatenate(
            [e.loc[e["shared"].astype(bool), "image_73k_id"].to_numpy() for e in runs.events]
        )
    )
    table["shared"] = table["image_73k_id"].isin(shared_ids)
    results = fit_glmsingle(
        runs.data, designs, runs.stimdur, runs.tr, params, session_indicator=runs.session
    )
    if out_dir is not None:
        save_glmsingle_outputs(results, Path(out_dir), params)
    betas = zscore_betas_per_session(results[BETA_TYPE]["betasmd"], table["session"].to_numpy())
    return betas.astype(np.float32), table


def stimulus_rows(tables: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The dataset's ``stimuli.tsv``: union of all subjects' images, train first, then test."""
    all_trials = pd.concat(tables.values(), ignore_index=True)
    images = all_trials.groupby("image_73k_id")["shared"].first().reset_index()
    images["split"] = np.where(images["shared"], "test", "train")
    images = images.sort_values(
        ["split", "image_73k_id"], ascending=[False, True], ignore_index=True
    )
    images["index"] = images.groupby("split").cumcount()
    images["image_id"] = [f"nsd-{i:05d}" for i in images["image_73k_id"]]
    images["concept"] = ""
    images["file"] = ""
    return images[["image_id", "split", "index", "concept", "file", "image_73k_id"]]


def write_prepared_subject(
    betas: BetasFile,
    stimuli: pd.DataFrame,
    out: Path,
    dataset: str,
    subject: int,
    chunk_images: int = 64,
) -> None:
    """Write ``sub-XX.zarr`` with ``train``/``test`` ``[image, repetition, vertex]`` (NaN = missing)
    from a betas file, one chunk of images at a time: only that chunk's trial rows are read (the
    betas stay memory-mapped), so memory holds one chunk whatever the subject's size."""
    from bergforge import __version__

    trials, rows = betas.trials(), betas.rows()
    row_of = stimuli.set_index("image_73k_id")[["split", "index"]]
    placed = trials.join(row_of, on="image_73k_id")
    if placed["split"].isna().any():
        raise DataError(f"{betas.path}: some trials show images that are not in stimuli.tsv")
    placed["rep"] = placed.groupby("image_73k_id").cumcount()
    n_reps, n_vertices = int(placed["rep"].max()) + 1, rows.shape[1]
    with atomic_store(Path(out)) as (group, _staging):
        for split in ("train", "test"):
            n_img = int((stimuli["split"] == split).sum())
            part = placed[placed["split"] == split]
            chunk = min(chunk_images, max(n_img, 1))
            arr = group.create_array(
                split,
                shape=(n_img, n_reps, n_vertices),
                dtype="float32",
                chunks=(chunk, n_reps, n_vertices),
                fill_value=np.nan,
            )
            image = part["index"].to_numpy(int)
            for start in range(0, n_img, chunk):
                stop = min(start + chunk, n_img)
                sel = part[(image >= start) & (image < stop)]
                if sel.empty:
                    continue  # an all-NaN chunk is the fill value: Zarr stores nothing
                block = np.full((stop - start, n_reps, n_vertices), np.nan, dtype=np.float32)
                trial_rows = sel.index.to_numpy()
                order = np.argsort(trial_rows)  # the memory map reads fastest in file order
                block[sel["index"].to_numpy(int)[order] - start, sel["rep"].to_numpy()[order]] = (
                    rows[trial_rows[order]]
                )
                arr[start:stop] = block
            for key in ("session", "run"):
                ids = np.full((n_img, n_reps), -1, dtype=np.int16)
                ids[image, part["rep"].to_numpy()] = part[key].to_numpy()
                group.create_array(f"{split}_{key}", data=ids)
        write_attributes(
            group,
            {
                "modality": "fmri",
                "dataset": dataset,
                "subject": int(subject),
                "dims": ["image", "repetition", "vertex"],
                "vertices": np.asarray(betas.grayordinates(), dtype=int),
                "preprocessing": {"betas": BETA_TYPE, "zscore": "per vertex and session"},
                "bergforge_version": __version__,
            },
        )
