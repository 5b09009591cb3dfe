"""BOLD5000 (OpenNeuro ds001499 v1.3.1) as the decoding task reads it: the design, the file
layout, the ``events.tsv`` files, the stimulus tree and the trial table.

Design (research/decoding.md §1.2, §2.1): CSI1–3 have 15 sessions, CSI4 9; a session has 9 runs
or 10 (:data:`TEN_RUN_SESSIONS`); every run has 37 trials, onsets about every 10 s from ≈ 6 s,
TR 2 s, 194 volumes. A trial's image is ``stim_file``; its folder in the stimulus tree follows
``ImgType`` (coco → COCO, imagenet → ImageNet, scenes → Scene, with or without the ``rep_``
prefix). Test trials are every presentation of an image listed in
``Scene_Stimuli/repeated_stimuli_113_list.txt`` (including its first, which ``ImgType`` labels
without ``rep_``). Every failure names the file and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.errors import DataError

TASK = "5000scenes"
TR = 2.0
N_VOLUMES = 194
TRIALS_PER_RUN = 37
SESSIONS = {1: 15, 2: 15, 3: 15, 4: 9}
TEN_RUN_SESSIONS = {
    1: (1, 2, 3, 5, 7, 10, 15),
    2: (1, 3, 4, 5, 11, 12, 14),
    3: (1, 3, 5, 6, 7, 11, 15),
    4: (1, 4, 9),
}
#: ``events.tsv`` columns as ds001499 names them (task-5000scenes_events.json)
EVENT_COLUMNS = (
    "onset",
    "duration",
    "Subj",
    "Sess",
    "Run",
    "Trial",
    "ImgName",
    "ImgType",
    "StimOn(s)",
    "StimOff(s)",
    "Response",
    "RT",
    "stim_file",
)
IMAGE_FOLDERS = {"coco": "COCO", "imagenet": "ImageNet", "scenes": "Scene"}
IMG_TYPES = tuple(IMAGE_FOLDERS) + tuple(f"rep_{t}" for t in IMAGE_FOLDERS)
STIMULI = Path("BOLD5000_Stimuli") / "Scene_Stimuli"
REPEATED_LIST = STIMULI / "repeated_stimuli_113_list.txt"
HEMISPHERES = {"L": "lh", "R": "rh"}


def runs_of(subject: int) -> list[tuple[int, int]]:
    """(session, run) of every ``task-5000scenes`` run of ``CSI{subject}``, in recording order."""
    if subject not in SESSIONS:
        raise DataError(f"BOLD5000 has subjects CSI1–CSI4; got subject {subject}")
    return [
        (session, run)
        for session in range(1, SESSIONS[subject] + 1)
        for run in range(1, (10 if session in TEN_RUN_SESSIONS[subject] else 9) + 1)
    ]


def run_stem(subject: int, session: int, run: int) -> str:
    return f"sub-CSI{subject}_ses-{session:02d}_task-{TASK}_run-{run:02d}"


def events_path(root: Path, subject: int, session: int, run: int) -> Path:
    """``sub-CSI{n}/ses-{ss}/func/…_events.tsv`` of the dataset root."""
    func = Path(root) / f"sub-CSI{subject}" / f"ses-{session:02d}" / "func"
    return func / f"{run_stem(subject, session, run)}_events.tsv"


def surface_run_path(root: Path, subject: int, session: int, run: int, hemi: str) -> Path:
    """fMRIPrep's fsnative time series of one hemisphere (``L`` or ``R``) of one run."""
    if hemi not in HEMISPHERES:
        raise DataError(f"hemisphere {hemi!r}; expected 'L' or 'R'")
    func = Path(root) / "derivatives" / "fmriprep" / f"sub-CSI{subject}" / f"ses-{session:02d}"
    return func / "func" / f"{run_stem(subject, session, run)}_bold_space-fsnative.{hemi}.func.gii"


def freesurfer_surf(root: Path, subject: int | str) -> Path:
    """``derivatives/freesurfer/sub-CSI{n}/surf`` (or ``fsaverage/surf`` for ``"fsaverage"``)."""
    name = subject if subject == "fsaverage" else f"sub-CSI{subject}"
    return Path(root) / "derivatives" / "freesurfer" / str(name) / "surf"


def stimulus_path(stimuli_root: Path, img_type: str, stim_file: str) -> Path:
    """``Presented_Stimuli/{COCO|ImageNet|Scene}/<stim_file>`` of the stimulus tree."""
    kind = img_type.removeprefix("rep_")
    if kind not in IMAGE_FOLDERS:
        raise DataError(f"ImgType {img_type!r}; expected one of {IMG_TYPES}")
    return Path(stimuli_root) / STIMULI / "Presented_Stimuli" / IMAGE_FOLDERS[kind] / stim_file


def read_events(path: Path) -> pd.DataFrame:
    """One run's ``events.tsv``, checked: the ds001499 columns, finite increasing onsets, a
    known ``ImgType`` and a ``stim_file`` on every row."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", dtype={"stim_file": str, "ImgType": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the events table ({err})") from err
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        hint = ""
        if missing == ["stim_file"]:  # the 12 other columns: an earlier snapshot's table
            hint = (
                " (an earlier ds001499 snapshot's events have no stim_file column; the route "
                "reads the current one's, v1.3.1, as OpenNeuro serves it)"
            )
        raise DataError(
            f"{path}: events table lacks column(s) {missing}; expected BOLD5000's "
            f"{list(EVENT_COLUMNS)}{hint}"
        )
    onset = pd.to_numeric(table["onset"], errors="coerce").to_numpy(np.float64)
    if len(table) == 0 or not np.all(np.isfinite(onset)) or np.any(np.diff(onset) <= 0):
        raise DataError(f"{path}: onsets must be finite and increasing, one row per trial")
    bad_type = sorted(set(table["ImgType"].fillna("")) - set(IMG_TYPES))
    if bad_type:
        raise DataError(f"{path}: ImgType {bad_type}; expected one of {list(IMG_TYPES)}")
    if table["stim_file"].isna().any() or (table["stim_file"].str.strip() == "").any():
        raise DataError(f"{path}: a row has no stim_file; expected an image file name per trial")
    return table.assign(onset=onset)


def read_repeated(stimuli_root: Path) -> set[str]:
    """The image names of ``repeated_stimuli_113_list.txt`` (the test images)."""
    path = Path(stimuli_root) / REPEATED_LIST
    try:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise DataError(f"{path}: cannot read the list of repeated (test) images ({err})") from err
    if len(set(names)) != len(names):
        raise DataError(f"{path}: an image is listed twice; expected unique names")
    return set(names)


def trial_table(
    root: Path,
    subject: int,
    repeated: set[str],
    stimuli_root: Path,
    runs: list[tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """Every trial of ``CSI{subject}``'s runs (or of ``runs``, (session, run) pairs of its
    design) in recording order: subject, session, run, trial, image (``stim_file``), img_type,
    onset, duration, split (``test`` for a repeated image, else ``train``) and file (the image in
    the stimulus tree)."""
    design = runs_of(subject)
    unknown = sorted(set(runs or []) - set(design))
    if unknown:
        raise DataError(
            f"CSI{subject} has no run(s) {unknown} (session, run); expected runs of its "
            f"{SESSIONS[subject]} sessions"
        )
    rows = []
    for session, run in [r for r in design if runs is None or r in set(runs)]:
        events = read_events(events_path(root, subject, session, run))
        rows.append(
            pd.DataFrame(
                {
                    "subject": subject,
                    "session": session,
                    "run": run,
                    "trial": np.arange(1, len(events) + 1),
                    "image": events["stim_file"].to_numpy(str),
                    "img_type": events["ImgType"].to_numpy(str),
                    "onset": events["onset"].to_numpy(np.float64),
                    "duration": pd.to_numeric(events["duration"], errors="coerce").to_numpy(),
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    table["split"] = np.where(table["image"].isin(repeated), "test", "train")
    table["file"] = [
        str(stimulus_path(stimuli_root, t, f))
        for t, f in zip(table["img_type"], table["image"], strict=True)
    ]
    return table
