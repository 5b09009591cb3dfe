"""GIFTI surface runs: written and read back exactly, and a damaged or inconsistent file is one
clear error naming it."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from nibabel.gifti import GiftiDataArray, GiftiImage

from bergforge.errors import DataError
from bergforge.preprocess.surface_runs import read_func_gii, write_func_gii


def test_a_run_round_trips(tmp_path):
    data = np.random.default_rng(0).standard_normal((50, 7)).astype(np.float32)
    path = tmp_path / "sub-CSI1_ses-01_task-5000scenes_run-01_bold_space-fsnative.L.func.gii"
    write_func_gii(path, data, 2.0)
    np.testing.assert_array_equal(read_func_gii(path, n_volumes=7), data)
    image = nib.load(str(path))  # read independently: one array per volume, the TR in ms
    assert len(image.darrays) == 7 and image.darrays[0].meta["TimeStep"] == "2000"
    np.testing.assert_array_equal(image.darrays[3].data, data[:, 3])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_bad_runs_are_one_clear_error(tmp_path):
    path = tmp_path / "run.func.gii"
    write_func_gii(path, np.zeros((10, 3), np.float32), 2.0)
    with pytest.raises(DataError, match=r"run.func.gii: 3 volumes; expected 194"):
        read_func_gii(path, n_volumes=194)
    bad = np.zeros((10, 3), np.float32)
    bad[4, 1] = np.nan
    write_func_gii(path, bad, 2.0)
    with pytest.raises(DataError, match="vertex 4 has non-finite values"):
        read_func_gii(path)
    uneven = GiftiImage(darrays=[GiftiDataArray(np.zeros(n, np.float32)) for n in (10, 9)])
    path.write_bytes(uneven.to_bytes())
    with pytest.raises(DataError, match="expected one 1-D array of the same vertices per volume"):
        read_func_gii(path)
    path.write_bytes(b"<?xml version='1.0'?><GIFTI")
    with pytest.raises(DataError, match="cannot read the GIFTI time series"):
        read_func_gii(path)
