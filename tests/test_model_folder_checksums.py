"""Model folders carry checksums.json (written after the kind's fit); every reader checks it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bergforge.atomic import save_npz
from bergforge.errors import DataError
from bergforge.models.folder_checksums import seal_model_folder, verify_model_folder
from bergforge.models.linear.predict import read_model_arrays
from bergforge.store_checksums import sha256_file


def model_folder(root: Path, seed: int) -> Path:
    folder = root / f"split-{seed}"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    save_npz(folder / "regression.npz", coef_=rng.standard_normal((4, 3)).astype(np.float32))
    (folder / "model.json").write_text(json.dumps({"kind": "ols"}))
    seal_model_folder(folder)
    return folder


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    return model_folder(tmp_path, 1), model_folder(tmp_path, 2)


def test_the_manifest_lists_every_file_with_its_size_and_sha256(folders):
    folder = folders[0]
    listed = json.loads((folder / "checksums.json").read_text())["files"]
    assert sorted(listed) == ["model.json", "regression.npz"]
    for name, entry in listed.items():
        assert entry == {
            "bytes": (folder / name).stat().st_size,
            "sha256": sha256_file(folder / name),
        }
    assert verify_model_folder(folder) == folder
    assert read_model_arrays(folder / "regression.npz", ["coef_"])["coef_"].shape == (4, 3)


def _swap(a: Path, b: Path) -> None:
    shutil.copyfile(b / "regression.npz", a / "regression.npz")


def _flip(a: Path, b: Path) -> None:
    raw = bytearray((a / "regression.npz").read_bytes())
    raw[-40] ^= 0xFF
    (a / "regression.npz").write_bytes(bytes(raw))


def _delete(a: Path, b: Path) -> None:
    (a / "regression.npz").unlink()


def _extra(a: Path, b: Path) -> None:
    shutil.copyfile(b / "regression.npz", a / "regression_old.npz")


FAULTS = {
    "swapped": (_swap, "file regression.npz does not match its SHA-256"),
    "flipped": (_flip, "file regression.npz does not match its SHA-256"),
    "deleted": (_delete, "file regression.npz is missing"),
    "unlisted": (_extra, "file regression_old.npz is not listed"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_or_swapped_model_file_is_one_error_naming_folder_and_file(folders, fault):
    a, b = folders
    verify_model_folder(a)  # verified (and cached) before the damage
    damage, message = FAULTS[fault]
    damage(a, b)
    with pytest.raises(DataError, match=f"model folder {a}: {message}.*rerun the fit"):
        verify_model_folder(a)
    if fault != "deleted":
        with pytest.raises(DataError, match=f"model folder {a}: {message}"):
            read_model_arrays(a / "regression.npz", ["coef_"])


def test_a_folder_without_its_manifest_is_an_unfinished_fit(folders):
    a, _ = folders
    (a / "checksums.json").unlink()
    with pytest.raises(DataError, match="no checksums.json, so its fit did not finish"):
        verify_model_folder(a)
    (a / "checksums.json").write_text("{not json")
    with pytest.raises(DataError, match="checksums.json is unreadable"):
        verify_model_folder(a)
