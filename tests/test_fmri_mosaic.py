"""MOSAIC HDF5 betas and NSD imgBrick readers on files written here with h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bergforge.datasets.grayordinates import N_GRAYORDINATES
from bergforge.datasets.mosaic import MosaicBetas, NsdStimuli, read_stimulus_table
from bergforge.errors import DataError


@pytest.fixture
def betas_file(tmp_path):
    rng = np.random.default_rng(0)
    values = {
        f"stim-{i:03d}": rng.normal(size=N_GRAYORDINATES).astype(np.float32) for i in range(4)
    }
    path = tmp_path / "sub-01_NSD.hdf5"
    with h5py.File(path, "w") as f:
        g = f.create_group("betas")
        for name, v in values.items():
            g.create_dataset(name, data=v)
    return path, values


def test_mosaic_betas_read_subsets(betas_file):
    path, values = betas_file
    vertices = np.array([0, 5, 91_281])
    with MosaicBetas(path) as betas:
        assert betas.names == sorted(values)
        full = betas.read(["stim-002", "stim-000"])
        np.testing.assert_array_equal(full, np.stack([values["stim-002"], values["stim-000"]]))
        part = betas.read(["stim-003"], vertices)
        np.testing.assert_array_equal(part[0], values["stim-003"][vertices])
        with pytest.raises(DataError, match="no stimulus 'nope'"):
            betas.read(["nope"])
        with pytest.raises(DataError, match="1-D index"):
            betas.read(["stim-000"], np.array([91_282]))


def test_mosaic_betas_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        MosaicBetas(tmp_path / "missing.hdf5")
    (tmp_path / "junk.hdf5").write_text("not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5"):
        MosaicBetas(tmp_path / "junk.hdf5")
    with h5py.File(tmp_path / "nogroup.hdf5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(DataError, match="group 'betas'"):
        MosaicBetas(tmp_path / "nogroup.hdf5")
    with h5py.File(tmp_path / "short.hdf5", "w") as f:
        f.create_group("betas").create_dataset("a", data=np.zeros(100))
    with MosaicBetas(tmp_path / "short.hdf5") as betas, pytest.raises(DataError, match="91282"):
        betas.read(["a"])


def test_nsd_stimuli_stream_in_given_order(tmp_path):
    rng = np.random.default_rng(1)
    brick = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "nsd_stimuli.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("imgBrick", data=brick, chunks=(1, 8, 8, 3))
    with NsdStimuli(path) as stim:
        assert len(stim) == 6
        np.testing.assert_array_equal(stim.read([5, 1, 5]), brick[[4, 0, 4]])
        batches = list(stim.iter_batches([1, 2, 3, 4, 6], batch_size=2))
        assert [b.shape[0] for b in batches] == [2, 2, 1]
        np.testing.assert_array_equal(np.concatenate(batches), brick[[0, 1, 2, 3, 5]])
        with pytest.raises(DataError, match="1…6"):
            stim.read([0])
    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(DataError, match="imgBrick"):
        NsdStimuli(tmp_path / "bad.hdf5")


def test_stimulus_table_columns(tmp_path):
    path = tmp_path / "nsd_stiminfo.tsv"
    path.write_text("filename\tsplit\na.png\ttrain\n")
    assert read_stimulus_table(path, ["filename"])["split"].tolist() == ["train"]
    with pytest.raises(DataError, match="missing column"):
        read_stimulus_table(path, ["alias"])
