"""Readers of THINGS-MEG1 (OpenNeuro ds004212 layout): runs, events tables, images, epochs.

Raw runs are CTF ``.ds`` folders in the real data and FIF files in the demo; :func:`read_run`
dispatches on the path. Every failure names the file and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.datasets.sensors import MEG_TRIGGER_CHANNEL, MEG_TRIGGER_VALUE
from bergforge.errors import DataError

#: Design of the real study: 12 sessions of 10 runs per participant.
N_SESSIONS, RUNS_PER_SESSION = 12, 10
#: Signal dropouts that THINGS-data's step1 patches, (participant, session, run) → onset (s); its
#: run indices are 0-based positions in the sorted run list (4 → run-05, 2 → run-03).
DROPOUTS = {(1, 11, 5): 13.4, (2, 10, 3): 59.8}
#: Length of each patched window (s); step1 takes ``int(0.2 / (1 / sfreq))`` samples (240 at 1200 Hz).
DROPOUT_SECONDS = 0.2
EVENT_COLUMNS = ("trial_type", "value", "sample")
TRIAL_TYPES = ("exp", "test", "catch")


@dataclass(frozen=True)
class MegRun:
    """The files of one run."""

    session: int
    run: int
    data: Path  # ``…_meg.fif`` or ``…_meg.ds``
    events: Path  # ``…_events.tsv``
    subject: int = 0

    @property
    def dropout(self) -> float | None:
        """Onset (s) of this run's known signal dropout (:data:`DROPOUTS`), or None."""
        return DROPOUTS.get((self.subject, self.session, self.run))


def subject_dir(raw_dir: Path, subject: int) -> Path:
    """``sub-BIGMEG{n}`` of a dataset folder."""
    return Path(raw_dir) / f"sub-BIGMEG{subject}"


def find_runs(raw_dir: Path, subject: int, n_sessions: int, runs_per_session: int) -> list[MegRun]:
    """The runs of a subject in session/run order; every run of the design must be there."""
    sub = subject_dir(raw_dir, subject)
    if not sub.is_dir():
        raise DataError(f"subject {subject} does not exist: no folder {sub}")
    runs = []
    for session in range(1, n_sessions + 1):
        for run in range(1, runs_per_session + 1):
            stem = f"sub-BIGMEG{subject}_ses-{session:02d}_task-main_run-{run:02d}"
            folder = sub / f"ses-{session:02d}" / "meg"
            candidates = [folder / f"{stem}_meg.ds", folder / f"{stem}_meg.fif"]
            data = next((c for c in candidates if c.exists()), None)
            if data is None:
                raise DataError(
                    f"missing run: {candidates[1]} (or .ds) not found; expected "
                    f"{n_sessions} sessions × {runs_per_session} runs for subject {subject}"
                )
            events = folder / f"{stem}_events.tsv"
            if not events.exists():
                raise DataError(f"missing events table {events} for run {data}")
            runs.append(MegRun(session, run, data, events, subject))
    return runs


def read_run(path: Path, preload: bool = True):
    """The continuous recording of one run as ``mne.io.Raw`` (CTF ``.ds`` folder or FIF file)."""
    import mne

    path = Path(path)
    try:
        if path.suffix == ".ds":
            return mne.io.read_raw_ctf(path, preload=preload, verbose="error")
        return mne.io.read_raw_fif(path, preload=preload, verbose="error")
    except Exception as err:  # MNE raises many types for damaged files
        raise DataError(
            f"{path}: cannot read the MEG run ({type(err).__name__}: {err}); "
            "expected a complete CTF .ds folder or FIF file"
        ) from err


def patch_dropout(raw, onset: float) -> None:
    """Replace ``DROPOUT_SECONDS`` of every loaded channel from ``onset`` by the channel's median.

    As THINGS-data's step1: the window starts at the sample nearest ``onset`` (in ``raw.times``)
    and holds ``int(DROPOUT_SECONDS / (1 / sfreq))`` samples; the medians are over the whole run.
    """
    n = int(DROPOUT_SECONDS / (1 / raw.info["sfreq"]))
    start = int(np.argmin(np.abs(raw.times - onset)))

    def patch(data: np.ndarray) -> np.ndarray:
        data[:, start : start + n] = np.median(data, axis=1)[:, None]
        return data

    raw.apply_function(patch, channel_wise=False, verbose="error")


def load_signal(raw, path: Path) -> None:
    """Load the (picked) channels of a run opened with ``preload=False``, in place."""
    try:
        raw.load_data(verbose="error")
    except Exception as err:  # a truncated file fails only when its data are read
        raise DataError(
            f"{path}: cannot read the MEG run's data ({type(err).__name__}: {err}); "
            "expected a complete CTF .ds folder or FIF file"
        ) from err


def read_events(path: Path) -> pd.DataFrame:
    """A run's BIDS ``events.tsv`` with ``trial_type``, ``value`` (image nr or NaN) and ``sample``."""
    try:
        events = pd.read_csv(path, sep="\t", na_values=["n/a", "N/A"])
    except Exception as err:
        raise DataError(f"{path}: cannot read the events table ({err})") from err
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(
            f"{path}: events table lacks column(s) {missing}; expected {list(EVENT_COLUMNS)}"
        )
    bad = sorted(set(events.trial_type) - set(TRIAL_TYPES))
    if bad:
        raise DataError(f"{path}: unknown trial_type(s) {bad}; expected {list(TRIAL_TYPES)}")
    shown = events.trial_type != "catch"
    if events.loc[shown, "value"].isna().any():
        raise DataError(f"{path}: exp/test rows without an image number in column 'value'")
    return events


def onset_events(raw, events: pd.DataFrame, events_path: Path) -> np.ndarray:
    """MNE events at the photodiode onsets: trigger rows replaced by the events table (as step1).

    The ``UPPT001`` onsets (value 64) must be as many as the table's rows; column 0 becomes the
    table's ``sample`` and column 2 its ``value`` (999999 for catch trials)."""
    import mne

    if MEG_TRIGGER_CHANNEL not in raw.ch_names:
        raise DataError(f"{events_path}: the run has no trigger channel {MEG_TRIGGER_CHANNEL}")
    try:
        found = mne.find_events(raw, MEG_TRIGGER_CHANNEL, initial_event=True, verbose="error")
    except Exception as err:  # a truncated file fails only when its data are read
        raise DataError(
            f"{raw.filenames[0]}: cannot read the MEG run's trigger channel "
            f"({type(err).__name__}: {err}); expected a complete CTF .ds folder or FIF file"
        ) from err
    found = found[found[:, 2] == MEG_TRIGGER_VALUE]
    if len(found) != len(events):
        raise DataError(
            f"{events_path}: {len(events)} rows but the run has {len(found)} "
            f"{MEG_TRIGGER_CHANNEL} onsets of value {MEG_TRIGGER_VALUE}; expected one row per onset"
        )
    found[:, 0] = events["sample"].to_numpy(dtype=np.int64)
    found[:, 2] = events["value"].fillna(999999).to_numpy(dtype=np.int64)
    return found


def image_table(raw_dir: Path) -> pd.DataFrame:
    """Training and test images from ``images/image_paths.tsv`` (catch images left out).

    Columns: ``image_id`` (file stem), ``split``, ``concept``, ``path`` (relative to ``raw_dir``),
    ``code`` (THINGS image number, the events' ``value``)."""
    path = Path(raw_dir) / "images" / "image_paths.tsv"
    if not path.exists():
        raise DataError(f"missing image table {path} (columns image_nr, split, concept, path)")
    images = pd.read_csv(path, sep="\t")
    missing = [c for c in ("image_nr", "split", "concept", "path") if c not in images.columns]
    if missing:
        raise DataError(f"{path}: lacks column(s) {missing}")
    images = images[images.split.isin(["train", "test"])].sort_values("image_nr")
    return pd.DataFrame(
        {
            "image_id": [Path(p).stem for p in images.path],
            "split": images.split.to_numpy(),
            "concept": images.concept.to_numpy(),
            "path": ["images/" + p for p in images.path],
            "code": images.image_nr.to_numpy(),
        }
    )


def published_epochs_path(raw_dir: Path, subject: int) -> Path:
    """``derivatives/preprocessed/preprocessed_P{n}-epo.fif`` (MNE reads its split parts too)."""
    return Path(raw_dir) / "derivatives" / "preprocessed" / f"preprocessed_P{subject}-epo.fif"


def read_published_epochs(path: Path):
    """The published preprocessed epochs of one participant, not loaded (``preload=False``)."""
    import mne

    path = Path(path)
    if not path.exists():
        raise DataError(f"missing preprocessed epochs {path}")
    try:
        epochs = mne.read_epochs(path, preload=False, verbose="error")
    except Exception as err:
        raise DataError(f"{path}: cannot read the epochs ({type(err).__name__}: {err})") from err
    meta = epochs.metadata
    if meta is None or "trial_type" not in meta.columns or len(meta) != len(epochs):
        raise DataError(f"{path}: expected per-epoch metadata with a 'trial_type' column")
    return epochs
