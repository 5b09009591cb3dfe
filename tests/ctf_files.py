"""Write a minimal CTF ``.ds`` run folder (``.res4`` + ``.meg4``) for the tests.

No CTF recording can be downloaded in the tests, so this writes the two files MNE's
``read_raw_ctf`` needs, in the CTF MEG4 layout (big-endian): a ``.res4`` resource file (fixed
header, channel names, one sensor record per channel, compensation coefficients) and a
``.meg4`` data file (8-byte ``MEG41CP`` header, then trial after trial, each holding every
channel's samples as int32 one channel after another). Channels are written like THINGS-MEG1's:
the CTF sensors as MEG channels, reference magnetometers and gradiometers, ``UPPT001`` as the
trigger and ``UADC…`` as ADC (misc) channels, with third-order gradient compensation (G3BR) of
the sensors by the references.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bergforge.datasets.sensors import meg_sensor_positions

#: CTF sensor type indices (ctf_types.h)
REF_MAG, REF_GRAD, MEG, STIM, ADC = 0, 1, 5, 11, 18
#: the coefficient type of third-order gradient compensation ("G3BR")
G3BR = 0x47334252
MAX_COILS, MAX_BALANCING, LABEL = 8, 50, 31
#: ``.res4`` offset of the run description length / of the filter block (read_res4.c)
RDLEN_POS, FUNNY_POS = 1836, 1844

COIL = np.dtype(
    [
        ("pos", ">f8", 3),  # cm
        ("pad0", ">f8"),
        ("norm", ">f8", 3),
        ("pad1", ">f8"),
        ("turns", ">i2"),
        ("pad2", ">i4"),
        ("pad3", ">i2"),
        ("area", ">f8"),  # cm²
    ]
)
SENSOR = np.dtype(
    [
        ("sensor_type_index", ">i2"),
        ("original_run_no", ">i2"),
        ("coil_type", ">i4"),
        ("proper_gain", ">f8"),
        ("qgain", ">f8"),
        ("io_gain", ">f8"),
        ("io_offset", ">f8"),
        ("num_coils", ">i2"),
        ("grad_order_no", ">i2"),
        ("pad", ">i4"),
        ("coil", COIL, MAX_COILS),
        ("head_coil", COIL, MAX_COILS),
    ]
)
COMPENSATION = np.dtype(
    [
        ("sensor_name", "S32"),
        ("coeff_type", ">i4"),
        ("pad", ">i4"),
        ("ncoeff", ">i2"),
        ("sensors", f"S{LABEL}", MAX_BALANCING),
        ("coeffs", ">f8", MAX_BALANCING),
    ]
)


def _text(value: str, size: int) -> bytes:
    return value.encode()[:size].ljust(size, b"\0")


def _header(n_samples: int, n_channels: int, sfreq: float, run_name: str) -> bytes:
    """The fixed part of ``.res4`` up to the filter block (offsets as read_res4.c reads them)."""
    out = bytearray(FUNNY_POS)
    out[0:8] = _text("MEG41RS", 8)
    out[8:264] = _text("bergforge tests", 256)
    out[776:778] = np.array(1, ">i2").tobytes()  # nave
    out[778:1033] = _text("12:00:00", 255)
    out[1033:1288] = _text("01/01/2020", 255)
    out[1288:1292] = np.array(n_samples, ">i4").tobytes()
    out[1292:1294] = np.array(n_channels, ">i2").tobytes()
    out[1296:1304] = np.array(sfreq, ">f8").tobytes()
    out[1304:1312] = np.array(n_samples / sfreq, ">f8").tobytes()  # epoch time
    out[1312:1314] = np.array(1, ">i2").tobytes()  # trials
    out[1360:1392] = _text(run_name, 32)
    out[RDLEN_POS : RDLEN_POS + 4] = np.array(0, ">i4").tobytes()
    return bytes(out)


def _sensor_positions(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Helmet-like positions (cm) and outward normals of CTF sensors from the 2-D layout."""
    flat = meg_sensor_positions(names)
    flat = (flat - flat.mean(axis=0)) / np.abs(flat - flat.mean(axis=0)).max() * 8.0
    z = np.sqrt(np.clip(11.0**2 - (flat**2).sum(axis=1), 1.0, None))
    pos = np.column_stack([flat, z])
    return pos, pos / np.linalg.norm(pos, axis=1, keepdims=True)


def write_ctf_ds(
    folder: Path,
    meg: np.ndarray,
    meg_names: list[str],
    trigger: np.ndarray,
    sfreq: float,
    trial_samples: int,
    n_refs: tuple[int, int] = (3, 4),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write ``folder`` (``…_meg.ds``) holding ``meg`` (sensors × samples, tesla) and ``trigger``.

    The recording is cut into trials of ``trial_samples`` (the length must be a multiple). Returns
    the values each channel will read back as (after int32 quantization), by channel name.
    """
    n_meg, n_samples = meg.shape
    if n_samples % trial_samples:
        raise ValueError(f"{n_samples} samples are not a multiple of {trial_samples}")
    rng = np.random.default_rng(seed)
    refs_mag = [f"BR{i + 1}-1609" for i in range(n_refs[0])]
    refs_grad = [f"G{i + 1}1-1609" for i in range(n_refs[1])]
    refs = refs_mag + refs_grad
    names = [*refs, *meg_names, "UPPT001", "UADC001-2104"]
    types = [REF_MAG] * n_refs[0] + [REF_GRAD] * n_refs[1] + [MEG] * n_meg + [STIM, ADC]
    signals = np.vstack(
        [
            rng.standard_normal((len(refs), n_samples)) * 1e-12,
            meg,
            trigger[None],
            rng.standard_normal((1, n_samples)),
        ]
    )

    sensors = np.zeros(len(names), SENSOR)
    sensors["sensor_type_index"] = types
    sensors["io_gain"] = 1.0
    # int32 counts × 1/(proper_gain·qgain) = the physical value: use the full int32 range
    peak = np.abs(signals).max(axis=1)
    sensors["proper_gain"] = 1.0
    sensors["qgain"] = np.where(peak > 0, 2.0**30 / np.where(peak > 0, peak, 1), 1.0)
    sensors["qgain"][types.index(STIM)] = 1.0
    magnetic = np.isin(types, [REF_MAG, REF_GRAD, MEG])
    sensors["grad_order_no"][np.asarray(types) == MEG] = 3
    pos, norm = _sensor_positions(meg_names)
    ref_pos = np.column_stack(
        [np.linspace(-3, 3, len(refs)), np.zeros(len(refs)), np.full(len(refs), 25.0)]
    )
    coils_pos = np.vstack([ref_pos, pos])
    coils_norm = np.vstack([np.tile([0.0, 0.0, 1.0], (len(refs), 1)), norm])
    for i in np.flatnonzero(magnetic):
        sensors["num_coils"][i] = 2 if types[i] != REF_MAG else 1
        coil = sensors["coil"][i]
        coil["pos"][0] = coils_pos[i]
        coil["norm"][0] = coils_norm[i]
        coil["pos"][1] = coils_pos[i] + 5.0 * coils_norm[i]  # the axial gradiometer's far coil
        coil["norm"][1] = -coils_norm[i]
        coil["turns"][:2] = 1
        coil["area"][:2] = 2.0
        sensors["head_coil"][i] = coil

    counts = np.rint(signals * (sensors["proper_gain"] * sensors["qgain"])[:, None])
    counts = counts.astype(">i4")
    readback = counts.astype(np.float64) / (sensors["proper_gain"] * sensors["qgain"])[:, None]

    compensation = np.zeros(n_meg, COMPENSATION)
    compensation["sensor_name"] = [n.encode() for n in meg_names]
    compensation["coeff_type"] = G3BR
    compensation["ncoeff"] = len(refs)
    for row in compensation:
        row["sensors"][: len(refs)] = [r.encode() for r in refs]
        row["coeffs"][: len(refs)] = rng.uniform(-0.01, 0.01, len(refs))

    folder.mkdir(parents=True, exist_ok=True)
    stem = folder.name.removesuffix(".ds")
    with open(folder / f"{stem}.res4", "wb") as fh:
        fh.write(_header(trial_samples, len(names), sfreq, stem))
        fh.write(np.array(0, ">i2").tobytes())  # no filters
        fh.write(b"".join(_text(n, 32) for n in names))
        fh.write(sensors.tobytes())
        fh.write(np.array(len(compensation), ">i2").tobytes())
        fh.write(compensation.tobytes())
    with open(folder / f"{stem}.meg4", "wb") as fh:
        fh.write(_text("MEG41CP", 8))
        for start in range(0, n_samples, trial_samples):
            fh.write(np.ascontiguousarray(counts[:, start : start + trial_samples]).tobytes())
    return dict(zip(names, readback, strict=True))
