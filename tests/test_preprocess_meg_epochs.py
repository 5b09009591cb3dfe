"""THINGS-MEG1 from published preprocessed epochs (split FIF parts + metadata), read in chunks."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
import zarr

from bergforge.datasets.sensors import BAD_MEG_SENSOR, meg_sensor_names
from bergforge.errors import DataError
from bergforge.preprocess.meg_epochs import prepare_subject_from_epochs
from bergforge.preprocess.params import meg_params
from bergforge.preprocess.stimuli import stimulus_table

N_SESSIONS = 3


@pytest.fixture(scope="module")
def published(tiny_meg, tmp_path_factory):
    """An epochs file in the THINGS-MEG1 derivative form: 271 sensors, 200 Hz, split in parts."""
    images = pd.read_csv(tiny_meg / "images" / "image_paths.tsv", sep="\t")
    train = images.image_nr[images.split == "train"].to_numpy()
    test = images.image_nr[images.split == "test"].to_numpy()
    rng = np.random.default_rng(0)
    rows = []
    for session in range(1, N_SESSIONS + 1):
        trials = (
            [("exp", nr) for nr in np.array_split(train, N_SESSIONS)[session - 1]]
            + [("test", nr) for nr in test]
            + [("catch", 999999)] * 2
        )
        for k in rng.permutation(len(trials)):
            rows.append({"trial_type": trials[k][0], "value": trials[k][1], "session_nr": session})
    meta = pd.DataFrame(rows)
    meta["run_nr"] = 1
    names = [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR]
    info = mne.create_info(names, 200.0, "mag")
    data = rng.standard_normal((len(meta), len(names), 281)).astype(np.float32)
    events = np.column_stack([np.arange(len(meta)) * 400, np.zeros(len(meta)), meta.value])
    epochs = mne.EpochsArray(
        data, info, events=events.astype(int), tmin=-0.1, event_id=None, verbose="error"
    )
    epochs.metadata = meta
    folder = tmp_path_factory.mktemp("derivatives")
    path = folder / "preprocessed_P1-epo.fif"
    epochs.save(path, split_size="8MB", verbose="error")
    return path, data.astype(np.float32), meta


def test_split_parts_are_read_in_chunks_into_the_store(published, tiny_meg, tmp_path):
    path, data, meta = published
    assert (path.parent / "preprocessed_P1-epo-1.fif").exists(), "MNE split the file in parts"
    out = tmp_path / "sub-01.zarr"
    reps = prepare_subject_from_epochs(path, tiny_meg, 1, out, meg_params(), chunk_epochs=16)
    assert reps == {"train": 1, "test": N_SESSIONS}
    group = zarr.open_group(out, mode="r")
    stimuli = stimulus_table("things_meg1", tiny_meg).set_index("code")
    assert group["test"].shape == (len(stimuli) - 30, N_SESSIONS, 271, 281)
    assert not np.isnan(group["train"][:]).any() and not np.isnan(group["test"][:]).any()
    assert group.attrs["preprocessing"]["source"] == "published epochs"
    times = np.asarray(group.attrs["times"])
    assert len(times) == 281 and times[-1] == pytest.approx(1.3)
    for k in (0, 5, len(meta) - 1):
        trial, value, session = meta.iloc[k][["trial_type", "value", "session_nr"]]
        if trial == "catch":
            continue
        row = stimuli.loc[value]
        split = "train" if trial == "exp" else "test"
        rep = int(np.flatnonzero(group[f"{split}_session"][row["index"]] == session)[0])
        np.testing.assert_array_equal(group[split][row["index"], rep], data[k])
    shown = (meta.trial_type != "catch").sum()
    assert group["train"].shape[0] + group["test"].shape[0] * N_SESSIONS == shown


def test_epochs_without_metadata_are_refused(tmp_path, tiny_meg):
    info = mne.create_info(["MLC11-1609"], 200.0, "mag")
    epochs = mne.EpochsArray(np.zeros((2, 1, 5)), info, verbose="error")
    path = tmp_path / "preprocessed_P1-epo.fif"
    epochs.save(path, verbose="error")
    with pytest.raises(DataError, match="expected per-epoch metadata with a 'trial_type'"):
        prepare_subject_from_epochs(path, tiny_meg, 1, tmp_path / "p" / "sub-01.zarr", meg_params())
    assert not (tmp_path / "p").exists() or not list((tmp_path / "p").iterdir())
