"""Challenge outputs of a held-out free-viewing subject: order, latency slice, checks, integrity."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.errors import DataError, InvalidParameterError, WriteError
from bergforge.export import challenge
from bergforge.export.challenge import read_challenge_outputs, write_challenge_outputs
from bergforge.simulate.avs import AvsSimulation, subject_fixations

SIM = AvsSimulation(seed=7, n_scenes=4)
SUBJECT = 60
SFREQ = 500.0
MODEL = {
    "dataset": "avs_sim",
    "backbone": "alexnet",
    "route": "gaze",
    "stream": "dual",
    "kind": "shared",
    "trained_subjects": [1, 2, 3, 4],
    "adapter": "mean",
}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    table = subject_fixations(SIM, SUBJECT)
    # the table is not in scene order, so a writer that sorted its rows would be caught
    assert not table["scene"].is_monotonic_increasing
    return table


def _times(n: int = 160) -> np.ndarray:
    return -0.1 + np.arange(n) / SFREQ


def _predictions(n_rows: int, n_times: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_rows, 204, n_times)) * 1e-12


def _write(folder: Path, table: pd.DataFrame, **overrides) -> dict[str, Path]:
    times = overrides.pop("times", _times())
    args = {
        "table": table,
        "predictions": _predictions(len(table), len(times)),
        "channels": triux_gradiometer_names(),
        "times": times,
        "latency": 0.11,
        "model": MODEL,
        "subject": SUBJECT,
    }
    args.update(overrides)
    return write_challenge_outputs(folder, **args)


def test_files_follow_the_table_rows_and_order(tmp_path, table):
    times = _times()
    predictions = _predictions(len(table), len(times))
    paths = write_challenge_outputs(
        tmp_path, table, predictions, triux_gradiometer_names(), times, 0.11, MODEL, SUBJECT
    )
    assert {k: p.name for k, p in paths.items()} == {
        "latency": "sub-60_latency-110ms.npy",
        "times": "sub-60_times.npy",
        "sidecar": "sub-60_challenge.json",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())

    over_time = np.load(paths["times"], allow_pickle=False)
    at_latency = np.load(paths["latency"], allow_pickle=False)
    assert over_time.dtype == at_latency.dtype == np.float32
    assert over_time.shape == (len(table), 204, len(times))
    assert at_latency.shape == (len(table), 204)
    for k in range(len(table)):  # row k is the prediction of the table's fixation k
        np.testing.assert_array_equal(over_time[k], predictions[k].astype(np.float32))

    sidecar = json.loads(paths["sidecar"].read_text())
    for column in ("scene", "trial", "fixation"):
        assert sidecar["fixations"][column] == table[column].tolist()
    assert sidecar["channels"] == triux_gradiometer_names()
    assert sidecar["times"] == times.tolist()
    assert sidecar["model"] == MODEL
    assert sidecar["subject"] == SUBJECT and sidecar["n_fixations"] == len(table)
    assert sidecar["files"]["latency"]["shape"] == [len(table), 204]
    assert sidecar["files"]["times"]["shape"] == [len(table), 204, len(times)]

    out = read_challenge_outputs(tmp_path, table=table)
    pd.testing.assert_frame_equal(out.ids, table[["scene", "trial", "fixation"]])
    np.testing.assert_array_equal(out.over_time, over_time)
    assert out.subject == SUBJECT and out.model == MODEL


@pytest.mark.parametrize(("latency", "label"), [(0.11, "110"), (0.1107, "110.7"), (-0.1, "-100")])
def test_latency_slice_is_the_nearest_time_point(tmp_path, table, latency, label):
    times = _times()
    predictions = _predictions(len(table), len(times), seed=1)
    paths = _write(tmp_path, table, predictions=predictions, latency=latency)
    index = int(np.argmin(np.abs(times - latency)))
    assert abs(times[index] - latency) <= 0.5 / SFREQ
    assert paths["latency"].name == f"sub-60_latency-{label}ms.npy"
    at_latency = np.load(paths["latency"], allow_pickle=False)
    np.testing.assert_array_equal(at_latency, predictions[:, :, index].astype(np.float32))
    out = read_challenge_outputs(tmp_path, SUBJECT)
    assert out.latency == latency and out.time_used == times[index]
    assert out.sidecar["latency"] == {"chosen": latency, "used": times[index], "index": index}


def _shuffled_channels() -> list[str]:
    names = triux_gradiometer_names()
    names[3], names[4] = names[4], names[3]
    return names


def _unordered_times() -> np.ndarray:
    times = _times()
    times[[5, 6]] = times[[6, 5]]
    return times


def _with(values: np.ndarray, where: tuple[int, int, int], value: float) -> np.ndarray:
    values = values.copy()
    values[where] = value
    return values


#: name → (the arguments that differ from a good call, given the table; part of the message)
BAD_INPUTS = {
    "missing row": (lambda tb: {"predictions": _good(tb)[:-1]}, "as many as the fixation table"),
    "extra row": (lambda tb: {"predictions": _good(tb, 1)}, "the fixation table's rows"),
    "2-D": (lambda tb: {"predictions": _good(tb)[:, :, 0]}, "expected 3-D"),
    "integer values": (lambda tb: {"predictions": _good(tb).astype(int)}, "floating point"),
    "channels reordered": (lambda tb: {"channels": _shuffled_channels()}, "in another order"),
    "channels missing": (
        lambda tb: {"channels": triux_gradiometer_names()[:-1]},
        "expected the 204",
    ),
    "times unordered": (lambda tb: {"times": _unordered_times()}, "strictly increasing"),
    "times too short": (
        lambda tb: {"times": _times()[:-1], "predictions": _good(tb)},
        "as many as the times",
    ),
    "times NaN": (
        lambda tb: {"times": np.where(np.arange(len(_times())) == 3, np.nan, _times())},
        "NaN or inf",
    ),
    "NaN value": (
        lambda tb: {"predictions": _with(_good(tb), (4, 7, 2), np.nan)},
        "fixation row 4, channel 7, time 2",
    ),
    "inf value": (lambda tb: {"predictions": _with(_good(tb), (0, 0, 0), -np.inf)}, "finite"),
    "beyond float32": (
        lambda tb: {"predictions": _with(_good(tb), (1, 2, 3), 1e300)},
        "beyond float32",
    ),
    "repeated id": (
        lambda tb: {
            "table": pd.concat([tb, tb.iloc[[2]]], ignore_index=True),
            "predictions": _good(tb, 1),
        },
        "repeats the fixation",
    ),
    "no id column": (lambda tb: {"table": tb.drop(columns="fixation")}, "lacks the id columns"),
    "latency outside": (lambda tb: {"latency": 0.5}, "within half a sample period"),
    "latency past the end": (
        lambda tb: {"latency": _times()[-1] + 0.6 / SFREQ},
        "within half a sample period",
    ),
    "model not JSON": (lambda tb: {"model": {**MODEL, "alpha": float("nan")}}, "strict JSON"),
    "model empty": (lambda tb: {"model": {}}, "non-empty mapping"),
}


def _good(table: pd.DataFrame, extra_rows: int = 0) -> np.ndarray:
    return _predictions(len(table) + extra_rows, len(_times()))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_each_bad_input_is_one_error_and_writes_nothing(tmp_path, table, case):
    make, message = BAD_INPUTS[case]
    args, folder = make(table), tmp_path / "out"
    with pytest.raises(DataError, match="expected") as err:
        _write(folder, args.pop("table", table), **args)
    assert message in str(err.value)
    assert not folder.exists()


def test_a_bad_input_leaves_an_earlier_complete_set_intact(tmp_path, table):
    _write(tmp_path, table)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(DataError):
        _write(tmp_path, table, channels=_shuffled_channels(), latency=0.2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    read_challenge_outputs(tmp_path, SUBJECT)


def test_bad_subject(tmp_path, table):
    with pytest.raises(InvalidParameterError, match="non-negative integer"):
        _write(tmp_path, table, subject=-1)


@pytest.mark.parametrize("name", ["sub-60_times.npy", "sub-60_latency-110ms.npy"])
def test_a_tampered_npy_is_refused(tmp_path, table, name):
    _write(tmp_path, table)
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # one bit of one value: still a valid .npy of the same shape
    path.write_bytes(bytes(data))
    assert np.load(path, allow_pickle=False).shape
    with pytest.raises(DataError, match="SHA-256 .* differs from the sidecar"):
        read_challenge_outputs(tmp_path, SUBJECT)


def test_npy_files_without_a_sidecar_are_refused(tmp_path, table):
    paths = _write(tmp_path, table)
    paths["sidecar"].unlink()
    with pytest.raises(DataError, match="outputs are incomplete"):
        read_challenge_outputs(tmp_path, SUBJECT)
    with pytest.raises(DataError, match="outputs are incomplete"):
        read_challenge_outputs(tmp_path)


def _fail_on(monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    """Make the write of the times array (``times``) or of the sidecar (``sidecar``) fail."""
    if stage == "times":
        save = np.save

        def failing_save(fh, array, **kwargs):
            if np.ndim(array) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return save(fh, array, **kwargs)

        monkeypatch.setattr(challenge.np, "save", failing_save)
    else:

        def failing_dump(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(challenge.json, "dump", failing_dump)


@pytest.mark.parametrize("stage", ["times", "sidecar"])
@pytest.mark.parametrize("earlier", [False, True])
def test_a_failed_write_leaves_nothing_that_reads_as_complete(
    tmp_path, table, monkeypatch, stage, earlier
):
    if earlier:  # a complete set of an earlier run is there: after the failure it is not valid
        _write(tmp_path, table, predictions=_predictions(len(table), len(_times()), seed=5))
    with monkeypatch.context() as m:
        _fail_on(m, stage)
        with pytest.raises(WriteError, match="No space left"):
            _write(tmp_path, table)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries
    assert not (tmp_path / "sub-60_challenge.json").exists()
    with pytest.raises(DataError, match="outputs are incomplete"):
        read_challenge_outputs(tmp_path, SUBJECT)


def test_rewrite_with_another_latency_replaces_the_set(tmp_path, table):
    _write(tmp_path, table, latency=0.11)
    _write(tmp_path, table, latency=0.2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["sub-60_challenge.json", "sub-60_latency-200ms.npy", "sub-60_times.npy"]
    assert read_challenge_outputs(tmp_path, SUBJECT).time_used == pytest.approx(0.2)


def test_reader_checks_the_table_it_is_given(tmp_path, table):
    _write(tmp_path, table)
    swapped = table.iloc[[1, 0, *range(2, len(table))]].reset_index(drop=True)
    with pytest.raises(DataError, match=r"row 0 is \(scene, trial, fixation\)"):
        read_challenge_outputs(tmp_path, SUBJECT, table=swapped)
    with pytest.raises(DataError, match="fixations for a table of"):
        read_challenge_outputs(tmp_path, SUBJECT, table=table.iloc[:-1])


def test_reader_refuses_a_sidecar_of_another_format(tmp_path, table):
    paths = _write(tmp_path, table)
    sidecar = json.loads(paths["sidecar"].read_text())
    sidecar["format"]["version"] = 2
    paths["sidecar"].write_text(json.dumps(sidecar))
    with pytest.raises(DataError, match="this reader knows up to 1"):
        read_challenge_outputs(tmp_path, SUBJECT)


def test_numpy_values_in_the_model_are_written_as_json(tmp_path, table):
    model = {**MODEL, "trained_subjects": np.array([1, 2, 3, 4]), "alpha": np.float64(10.0)}
    _write(tmp_path, table, model=model)
    out = read_challenge_outputs(tmp_path, SUBJECT)
    assert out.model["trained_subjects"] == [1, 2, 3, 4] and out.model["alpha"] == 10.0
