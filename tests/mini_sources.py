"""Miniature copies of the real remote sources, in their real layouts, for a loopback server.

Built from the tiny simulated studies of ``conftest`` (their images and EEG session dicts):

- ``openneuro/`` (ds004212): ``derivatives/preprocessed/preprocessed_P{n}-epo.fif`` written by
  MNE with a ``split_size`` that gives the main file + 3 parts (as the real data has), with
  271 CTF-275 sensors at 200 Hz, events = THINGS image numbers (999999 for catch) and the
  per-epoch metadata; ``sourcedata/sample_attributes_P{n}.csv``.
- ``things/`` (OSF jum2f, files by storage id): five password-protected image zips
  ``object_images_X/{concept}/{file}.jpg`` and the password file.
- ``eeg_raw/sub-XX.zip`` (OSF crxs4; session 1 only) and ``eeg_images/?zip=`` (OSF y63gw: training_images.zip,
  test_images.zip, image_metadata.npy).
- ``nsd/`` (NSD bucket): ``nsd_stimuli.hdf5`` with a small ``imgBrick`` (row = 73k id − 1);
  ``mosaic/`` (MOSAIC bucket): ``stimulus_info/nsd_stiminfo.tsv`` and per subject
  ``…/NaturalScenesDataset/sub-XX_NSD.hdf5``: group ``betas`` with one (91282,) float32 dataset
  per trial named as MOSAIC names them, signal on V1, noise elsewhere, NaN at MOSAIC's NaN
  grayordinates; artificial (NSDsynthetic) trials included, as the real files have them.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import h5py
import mne
import numpy as np
import pandas as pd

from bergforge.datasets.grayordinates import N_GRAYORDINATES, grayordinate_space
from bergforge.datasets.sensors import BAD_MEG_SENSOR, meg_sensor_names
from bergforge.datasets.sources import (
    MEG_EPOCH_PARTS,
    MOSAIC_BETAS,
    THINGS_IMAGE_ZIPS,
    THINGS_PASSWORD_ID,
)

PASSWORD = "things4all"
N_SESSIONS = 3
N_TIMES = 101  # −0.1 … 0.4 s at 200 Hz (the real files have 281 samples)
SHOWN = {"train": 24, "test": 10, "catch": 2}  # images in the recordings


def _zip_dir(archive: Path, cwd: Path, names: list[str], password: str | None = None) -> None:
    """Zip ``names`` (relative to ``cwd``) recursively with Info-ZIP (which can encrypt)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.zip")  # zip adds .zip to names without one
    cmd = ["zip", "-q", "-1", "-r"] + (["-P", password] if password else []) + [str(tmp), *names]
    subprocess.run(cmd, cwd=cwd, check=True)
    tmp.rename(archive)


def meg_attributes(images: pd.DataFrame, subject: int, seed: int) -> pd.DataFrame:
    """One row per epoch as ``sample_attributes_P{n}.csv``: exp once, test once per session."""
    rng = np.random.default_rng(seed + subject)
    train = images[images.split == "train"]
    test = images[images.split == "test"]
    catch = images[images.split == "catch"]
    rows = []
    for session in range(1, N_SESSIONS + 1):
        trials = (
            [("exp", r) for _, r in train.iloc[session - 1 :: N_SESSIONS].iterrows()]
            + [("test", r) for _, r in test.iterrows()]
            + [("catch", r) for _, r in catch.iterrows()]
        )
        for k in rng.permutation(len(trials)):
            kind, row = trials[k]
            rows.append(
                {
                    "trial_type": kind,
                    "session_nr": session,
                    "run_nr": 1,
                    "things_image_nr": int(row.image_nr),
                    "image_path": row.path,
                }
            )
    return pd.DataFrame(rows)


def _save_in_four_parts(epochs: mne.EpochsArray, path: Path) -> None:
    """Save with a split size that makes MNE write the main file + MEG_EPOCH_PARTS parts."""
    epochs.save(path, overwrite=True, verbose="error")
    total = path.stat().st_size
    for fraction in np.arange(0.3, 0.7, 0.025):  # MNE reserves room per part: search
        for old in path.parent.glob(path.name.replace("-epo.fif", "-epo*.fif")):
            old.unlink()
        epochs.save(path, split_size=int(total * fraction), overwrite=True, verbose="error")
        parts = list(path.parent.glob(path.name.replace("-epo.fif", "-epo*.fif")))
        if len(parts) == MEG_EPOCH_PARTS + 1:
            return
    raise RuntimeError("could not make MNE write exactly four epoch files")


def write_meg_epochs(images: pd.DataFrame, subject: int, folder: Path, seed: int = 0):
    """Published-epochs files + sample attributes of one participant; returns (data, meta)."""
    meta = meg_attributes(images, subject, seed)
    names = [n for n in meg_sensor_names() if n != BAD_MEG_SENSOR]
    info = mne.create_info(names, 200.0, "mag")
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(meta), len(names), N_TIMES)).astype(np.float32)
    codes = np.where(meta.trial_type == "catch", 999999, meta.things_image_nr)
    events = np.column_stack([np.arange(len(meta)) * 400 + 1000, np.zeros(len(meta)), codes])
    epochs = mne.EpochsArray(
        data, info, events=events.astype(int), tmin=-0.1, event_id=None, verbose="error"
    )
    epochs.metadata = meta
    derivatives = folder / "derivatives" / "preprocessed"
    derivatives.mkdir(parents=True, exist_ok=True)
    _save_in_four_parts(epochs, derivatives / f"preprocessed_P{subject}-epo.fif")
    (folder / "sourcedata").mkdir(parents=True, exist_ok=True)
    meta.to_csv(folder / "sourcedata" / f"sample_attributes_P{subject}.csv", index=False)
    return data, meta


def write_things_images(images: pd.DataFrame, image_root: Path, out: Path) -> None:
    """The five password zips (``object_images_X/{concept}/{file}``) and the password file."""
    shown = images[images.split.isin(["train", "test"])]
    concepts = list(pd.unique(shown.concept))
    staging = out.parent / f".{out.name}-staging"
    shutil.rmtree(staging, ignore_errors=True)
    for k, (osf_id, name) in enumerate(THINGS_IMAGE_ZIPS.items()):
        top = name.removesuffix(".zip")
        mine = shown[[concepts.index(c) % len(THINGS_IMAGE_ZIPS) == k for c in shown.concept]]
        for row in mine.itertuples():
            dest = staging / top / top / row.concept / Path(row.path).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(image_root / row.path, dest)
        _zip_dir(out / osf_id, staging / top, [top], PASSWORD)
    shutil.rmtree(staging)
    (out / THINGS_PASSWORD_ID).write_text(f"The password for the THINGS images is: {PASSWORD}\n")


def write_eeg_sources(tiny_eeg: Path, root: Path, subjects: list[int]) -> None:
    """``eeg_raw/sub-XX.zip`` and the image-set component zip ``eeg_images/?zip=``."""
    for s in subjects:  # session 1 only: enough for the layout, and keeps the archive small
        archive = root / "eeg_raw" / f"sub-{s:02d}.zip"
        _zip_dir(archive, tiny_eeg / "raw_data", [f"sub-{s:02d}/ses-01"])
    inner = root / ".eeg_images"
    for part in ("training_images", "test_images"):
        _zip_dir(inner / f"{part}.zip", tiny_eeg / "image_set", [part])
    shutil.copy2(tiny_eeg / "image_set" / "image_metadata.npy", inner)
    _zip_dir(root / "eeg_images" / "?zip=", inner, ["."])
    shutil.rmtree(inner)


def add_parent_entry(archive: Path) -> None:
    """Append an entry ``../escape.txt`` to a zip (as a malicious archive would have)."""
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("../escape.txt", b"outside")


def write_sources(root: Path, tiny_meg: Path, tiny_eeg: Path, subjects: list[int]) -> dict:
    """Every miniature source under ``root``; returns what the tests compare against."""
    images = pd.read_csv(tiny_meg / "images" / "image_paths.tsv", sep="\t")
    # the recordings show a subset (the zips hold every image, as THINGS holds more than shown)
    shown = pd.concat([images[images.split == s].head(n) for s, n in SHOWN.items()])
    epochs = {s: write_meg_epochs(shown, s, root / "openneuro") for s in subjects}
    write_things_images(images, tiny_meg / "images", root / "things")
    evil = root / "things_evil"
    shutil.copytree(root / "things", evil)
    add_parent_entry(evil / next(iter(THINGS_IMAGE_ZIPS)))
    write_eeg_sources(tiny_eeg, root, subjects)
    return {"images": shown, "epochs": epochs}


def base_urls(url: str, things: str = "things") -> dict[str, str]:
    """``download.base_urls`` pointing every source at the loopback server."""
    return {
        "nsd": f"{url}/nsd",
        "mosaic": f"{url}/mosaic",
        "openneuro_ds004212": f"{url}/openneuro",
        "things_images": f"{url}/{things}",
        "things_eeg2_raw": f"{url}/eeg_raw",
        "things_eeg2_images": f"{url}/eeg_images",
    }


# --------------------------------------------------------------------------------- NSD / MOSAIC

NSD_SHARED, NSD_OWN, NSD_REPS, NSD_SIDE = 6, 12, 3, 40  # test images, own images per subject


def nsd_design(subjects: list[int], seed: int = 0) -> pd.DataFrame:
    """The stimulus table (nsd_stiminfo.tsv columns): shared test images, each subject's own
    training images (the last one shown twice, as sessions missing in NSD leave), 2 artificial."""
    rng = np.random.default_rng(seed)
    n_coco = NSD_SHARED + NSD_OWN * len(subjects)
    ids = np.sort(rng.choice(np.arange(1, n_coco + 20), n_coco, replace=False))  # 73k ids
    rows = []
    for k, nsd_id in enumerate(ids):
        owner = None if k < NSD_SHARED else subjects[(k - NSD_SHARED) // NSD_OWN]
        reps = {s: NSD_REPS if owner in (None, s) else 0 for s in range(1, 9)}
        if owner is not None and (k - NSD_SHARED) % NSD_OWN == NSD_OWN - 1:
            reps[owner] = 2
        rows.append(
            {
                "filename": f"{int(rng.integers(1, 600000)) * 1000 + k:012d}.jpg",
                "alias": int(nsd_id) - 1,
                "source": "COCO",
                "test_train": "test" if owner is None else "train",
                **{f"sub-{s:02d}_reps": r for s, r in reps.items()},
            }
        )
    for k in (1, 2):
        reps = {f"sub-{s:02d}_reps": 1 if s in subjects else 0 for s in range(1, 9)}
        rows.append(
            {"filename": f"{k:03d}.jpg", "alias": k, "source": "NSDsynthetic", "test_train": "test"}
            | reps
        )
    return pd.DataFrame(rows)


def write_nsd_stimuli(path: Path, n_rows: int, seed: int = 0) -> np.ndarray:
    """A small ``imgBrick`` (n_rows, side, side, 3) uint8 of smooth random images."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n_rows, 5, 5, 3)).astype(np.float32)
    brick = np.repeat(np.repeat(coarse, NSD_SIDE // 5, axis=1), NSD_SIDE // 5, axis=2)
    brick = brick.astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("imgBrick", data=brick, chunks=(1, NSD_SIDE, NSD_SIDE, 3))
    return brick


def write_mosaic_betas(
    path: Path, table: pd.DataFrame, brick: np.ndarray, subject: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """One subject's MOSAIC file; returns the trial arrays written (name → (91282,))."""
    rng = np.random.default_rng(seed + subject)
    space = grayordinate_space()
    v1 = space.model_space((1,))
    nan = np.flatnonzero(space.nan_mask())
    weights = rng.normal(size=(3, v1.size)).astype(np.float32)
    written = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["subjectID"] = f"sub-{subject:02d}"
        f.attrs["dataset_name"] = "NaturalScenesDataset"
        group = f.create_group("betas", track_order=True)
        reps = f"sub-{subject:02d}_reps"
        for row in table[table[reps] > 0].to_dict("records"):
            stem = Path(row["filename"]).stem
            natural = row["source"] == "COCO"
            phase = row["test_train"] if natural else "artificial"
            color = brick[row["alias"]].mean(axis=(0, 1)) / 255 - 0.5 if natural else np.zeros(3)
            for rep in range(row[reps]):
                values = 0.3 * rng.standard_normal(N_GRAYORDINATES).astype(np.float32)
                values[v1] += color @ weights
                values[nan] = np.nan
                name = f"sub-{subject:02d}_NSD_stimulus-{stem}_phase-{phase}_rep-{rep}"
                dset = group.create_dataset(name, data=values)
                dset.attrs["phase"] = phase
                dset.attrs["repetition"] = str(rep)
                dset.attrs["presented_stimulus_filename"] = row["filename"]
                dset.attrs["nan_indices"] = nan
                written[name] = values
    return written


def write_nsd_mosaic_sources(root: Path, subjects: list[int], seed: int = 0) -> dict:
    """``nsd/`` and ``mosaic/`` under ``root``; returns the table, brick and betas written."""
    table = nsd_design(subjects, seed)
    coco = table[table.source == "COCO"]
    brick = write_nsd_stimuli(
        root / "nsd/nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5", int(coco.alias.max()) + 5, seed
    )
    info = root / "mosaic/stimulus_info/nsd_stiminfo.tsv"
    info.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(info, sep="\t", index=False)
    betas = {
        s: write_mosaic_betas(
            root / "mosaic" / MOSAIC_BETAS / f"sub-{s:02d}_NSD.hdf5", table, brick, s, seed
        )
        for s in subjects
    }
    return {"table": table, "brick": brick, "betas": betas}
