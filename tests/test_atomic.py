"""The one atomic-write helper (bergforge.atomic): success replaces, failure leaves nothing."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from bergforge.atomic import (
    atomic_file,
    atomic_folder,
    partial_path,
    save_json,
    save_npz,
    save_text,
)


def test_success_replaces_an_existing_file(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    path.parent.mkdir()
    path.write_text("old")
    with atomic_file(path) as tmp:
        assert tmp.parent == path.parent and tmp != path
        tmp.write_text("new")
        assert path.read_text() == "old", "the final file changes only on success"
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"], "no temporary left"


def test_a_failure_inside_leaves_neither_the_file_nor_the_temporary(tmp_path):
    path = tmp_path / "new" / "evaluation.npz"
    with pytest.raises(RuntimeError, match="mid-write"), atomic_file(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("mid-write")
    assert list(path.parent.iterdir()) == []


def test_a_failure_keeps_the_previous_version(tmp_path):
    path = tmp_path / "summary.json"
    save_json(path, {"a": 1})
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt), atomic_file(path) as tmp:
        tmp.write_text("{")
        raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_body_that_writes_nothing_is_an_error(tmp_path):
    path = tmp_path / "x.txt"
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_file(path):
        pass
    assert not path.exists()


def test_the_temporary_name_is_fixed(tmp_path):
    """torch.save names its zip folder after the file it writes: a random name changes bytes."""
    torch = pytest.importorskip("torch")
    from bergforge.models.cnn8.train import save_torch_atomic

    path = tmp_path / "model.pt"
    assert partial_path(path) == tmp_path / ".model.pt.partial"
    save_torch_atomic({"w": torch.zeros(2)}, path)
    names = zipfile.ZipFile(path).namelist()
    assert names and all(n.startswith(".model.pt/") for n in names)


def test_file_formats_are_byte_reproducible(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_npz(a, x=np.arange(3.0), y=np.asarray(["s"]))
    save_npz(b, x=np.arange(3.0), y=np.asarray(["s"]))
    assert a.read_bytes() == b.read_bytes()
    save_json(tmp_path / "s.json", {"b": 1, "a": 2})
    assert (tmp_path / "s.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    save_json(tmp_path / "u.json", {"b": 1, "a": 2}, sort_keys=False)
    assert list(json.loads((tmp_path / "u.json").read_text())) == ["b", "a"]
    save_text(tmp_path / "t.md", "é\n")
    assert (tmp_path / "t.md").read_text() == "é\n"


def test_folder_success_replaces_whole_and_failure_leaves_nothing(tmp_path):
    path = tmp_path / "store.zarr"
    with atomic_folder(path) as building:
        (building / "stale").write_text("1")
    with atomic_folder(path) as building:
        (building / "fresh").write_text("2")
    assert [p.name for p in path.iterdir()] == ["fresh"], "a rewrite drops stale files"
    with pytest.raises(ValueError), atomic_folder(path) as building:
        (building / "half").write_text("3")
        raise ValueError
    assert [p.name for p in path.iterdir()] == ["fresh"]
    assert [p.name for p in tmp_path.iterdir()] == ["store.zarr"]
