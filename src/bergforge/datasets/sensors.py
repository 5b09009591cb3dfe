"""Sensor and channel facts of THINGS-MEG1 (CTF-275), THINGS-EEG2 (63-channel actiCAP) and AVS (TRIUX)."""

from __future__ import annotations

from functools import cache

import numpy as np

#: Suffix of the CTF channel names in THINGS-MEG1 (``MLC11-1609``).
CTF_SUFFIX = "-1609"
#: The sensor the THINGS-MEG1 experimenters marked as malfunctioning; preprocessing drops it.
BAD_MEG_SENSOR = "MRO11-1609"
#: Trigger channel of THINGS-MEG1 and the value it holds at each image onset.
MEG_TRIGGER_CHANNEL = "UPPT001"
MEG_TRIGGER_VALUE = 64
#: Number of working CTF sensors in THINGS-MEG1 (the CTF-275 helmet minus 3 dead sensors).
N_MEG_SENSORS_RAW = 272

#: The 63 THINGS-EEG2 channel names, in the order of the raw data and of BERG's cards.
EEG_CHANNELS: tuple[str, ...] = tuple(
    [
        "Fp1",
        "F3",
        "F7",
        "FT9",
        "FC5",
        "FC1",
        "C3",
        "T7",
        "TP9",
        "CP5",
        "CP1",
        "Pz",
        "P3",
        "P7",
        "O1",
        "Oz",
        "O2",
        "P4",
        "P8",
        "TP10",
        "CP6",
        "CP2",
        "Cz",
        "C4",
        "T8",
        "FT10",
        "FC6",
        "FC2",
        "F4",
        "F8",
        "Fp2",
        "AF7",
        "AF3",
        "AFz",
        "F1",
        "F5",
        "FT7",
        "FC3",
        "FCz",
        "C1",
        "C5",
        "TP7",
        "CP3",
        "P1",
        "P5",
        "PO7",
        "PO3",
        "POz",
        "PO4",
        "PO8",
        "P6",
        "P2",
        "CPz",
        "CP4",
        "TP8",
        "C6",
        "C2",
        "FC4",
        "FT8",
        "F6",
        "F2",
        "AF4",
        "AF8",
    ]
)
#: EEG event code of target (catch) trials in THINGS-EEG2.
EEG_TARGET_CODE = 99999
#: Montage with positions for all 63 THINGS-EEG2 channels (ships with MNE, no download).
EEG_MONTAGE = "easycap-M1"

HEMISPHERES = {"L": "Left", "R": "Right", "Z": "Midline"}
REGIONS = {"F": "Frontal", "C": "Central", "P": "Parietal", "T": "Temporal", "O": "Occipital"}
#: The 14 CTF sensor prefixes BERG accepts as a ``sensors`` selection.
MEG_PREFIXES: tuple[str, ...] = tuple(
    f"M{h}{r}" for h in "LRZ" for r in "CFOPT" if not (h == "Z" and r == "T")
)


@cache
def ctf275_layout() -> tuple[tuple[str, ...], np.ndarray]:
    """Names (without suffix) and 2-D positions of MNE's built-in CTF-275 layout (on disk)."""
    from mne.channels import read_layout

    layout = read_layout("CTF275")
    return tuple(layout.names), np.asarray(layout.pos[:, :2], dtype=float)


def meg_sensor_names() -> list[str]:
    """The 272 THINGS-MEG1 sensor names (``MLC11-1609`` …), including :data:`BAD_MEG_SENSOR`."""
    names = [n + CTF_SUFFIX for n in ctf275_layout()[0]][:N_MEG_SENSORS_RAW]
    if BAD_MEG_SENSOR not in names:  # pragma: no cover - guards a change in MNE's layout file
        raise RuntimeError(f"MNE's CTF275 layout no longer contains {BAD_MEG_SENSOR}")
    return names


def meg_sensor_positions(names: list[str]) -> np.ndarray:
    """2-D layout positions (n, 2) of CTF sensor names, with or without the ``-1609`` suffix."""
    layout_names, pos = ctf275_layout()
    index = {n: i for i, n in enumerate(layout_names)}
    return np.stack([pos[index[n.split("-")[0]]] for n in names])


def sensor_metadata(names: list[str]) -> dict[str, np.ndarray]:
    """Prefixes, hemispheres and regions of CTF sensor names, derived as BERG derives them."""
    prefixes = [n.split("-")[0][:3] for n in names]
    for name, prefix in zip(names, prefixes, strict=True):
        if len(prefix) != 3 or prefix[1] not in HEMISPHERES or prefix[2] not in REGIONS:
            raise ValueError(f"not a CTF sensor name: {name!r} (expected like 'MLC11-1609')")
    return {
        "sensor_names": np.asarray(names),
        "sensor_prefixes": np.asarray(prefixes),
        "sensor_hemispheres": np.asarray([HEMISPHERES[p[1]] for p in prefixes]),
        "sensor_regions": np.asarray([REGIONS[p[2]] for p in prefixes]),
    }


def eeg_positions(names: tuple[str, ...] | list[str] = EEG_CHANNELS) -> np.ndarray:
    """3-D positions (n, 3) in metres of EEG channels from the ``easycap-M1`` montage."""
    from mne.channels import make_standard_montage

    montage = make_standard_montage(EEG_MONTAGE)
    pos = montage.get_positions()["ch_pos"]
    missing = [n for n in names if n not in pos]
    if missing:
        raise ValueError(f"channels without {EEG_MONTAGE} positions: {missing}")
    return np.stack([pos[n] for n in names])


#: Planar gradiometers of an Elekta Neuromag / MEGIN TRIUX (the 204 channels AVS and the
#: BrainEncoding26 challenge use): two per sensor triplet, named as the TRIUX writes them
#: (``MEG0112``, ``MEG0113``; the magnetometer ``MEG0111`` is not one of them)
N_TRIUX_GRADIOMETERS = 204


@cache
def _triux_gradiometer_layout() -> tuple[tuple[str, ...], np.ndarray]:
    """Names (``MEG0112`` …, sorted by number) and 2-D positions of MNE's built-in
    ``Vectorview-grad`` layout (on disk; its names carry a space, ``MEG 0112``, which TRIUX
    files do not)."""
    from mne.channels import read_layout

    layout = read_layout("Vectorview-grad")
    names = [n.replace(" ", "") for n in layout.names]
    order = np.argsort(names, kind="stable")
    pos = np.asarray(layout.pos[:, :2], dtype=float)[order]
    return tuple(names[i] for i in order), pos


def triux_gradiometer_names() -> list[str]:
    """The 204 TRIUX planar gradiometer names, ``MEG0112``, ``MEG0113``, ``MEG0122`` … ``MEG2643``."""
    names = list(_triux_gradiometer_layout()[0])
    if len(names) != N_TRIUX_GRADIOMETERS:  # pragma: no cover - guards a change in MNE's layout
        raise RuntimeError(f"MNE's Vectorview-grad layout has {len(names)} gradiometers, not 204")
    return names


def triux_gradiometer_positions() -> np.ndarray:
    """2-D layout positions (204, 2) in the order of :func:`triux_gradiometer_names`."""
    return _triux_gradiometer_layout()[1].copy()
