"""Stages own their contracts: one reader and one writer each, and nobody else opens the files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bergforge
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation, read_evaluation_summary, write_evaluation
from bergforge.preprocess.stimuli import COLUMNS, read_stimuli, write_stimuli_table

SRC = Path(bergforge.__file__).parent

#: module (relative to src/bergforge) → what it may do that no other module does
OWNERS = {
    # opening Zarr groups: the prepared store's writer/reader, the feature shards' writer/reader,
    # and the verified opener both readers go through (checksums of every file)
    r"zarr\.open(_group|_array)?\(": {
        "preprocess/store.py",
        "preprocess/responses.py",
        "features/writer.py",
        "features/store.py",
        "store_manifest.py",
    },
    # unpickling: only the restricted unpickler (a pickle names code that loading it runs)
    r"np\.load\((?:[^()]|\([^()]*\))*allow_pickle\s*=\s*True|pickle\.loads?\(|Unpickler\(": {
        "safe_pickle.py"
    },
    # renaming files into place: the atomic-write helper, and resumable downloads
    r"os\.replace\(|\.rename\(|shutil\.move\(": {
        "atomic.py",
        "datasets/download.py",
        "datasets/fetch.py",
    },
}


@pytest.mark.parametrize("pattern", sorted(OWNERS))
def test_only_the_owners_open_or_rename(pattern):
    found = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if re.search(pattern, path.read_text())
    }
    assert found <= OWNERS[pattern], f"{sorted(found - OWNERS[pattern])} bypass the owner"


def test_stimuli_round_trip_keeps_every_cell_as_written(tmp_path):
    table = pd.DataFrame(
        {
            "image_id": ["007", "NA", "b"],
            "split": ["train", "train", "test"],
            "index": [0, 1, 0],
            "concept": ["null", "", "nan"],
            "file": ["a.png", "b.png", ""],
            "image_73k_id": [3, 1, 2],
        }
    )
    path = tmp_path / "stimuli.tsv"
    write_stimuli_table(table, path)
    assert path.read_text().splitlines()[0] == "\t".join([*COLUMNS, "image_73k_id"])
    back = read_stimuli(path)
    pd.testing.assert_frame_equal(back, table)
    with pytest.raises(DataError, match="expected .*image_id.* first"):
        write_stimuli_table(table[["split", *COLUMNS[2:], "image_id"]], tmp_path / "x.tsv")
    assert not (tmp_path / "x.tsv").exists()
    path.write_text("image_id\tsplit\n")
    with pytest.raises(DataError, match="lacks column"):
        read_stimuli(path)


def test_evaluation_layouts_keep_their_bytes(tmp_path):
    arrays = {"splits": np.asarray(["all"]), "correlation": np.ones((1, 2), np.float32)}
    summary = {"b": 1.0, "a": None}
    feats, images = tmp_path / "features", tmp_path / "images"
    write_evaluation(feats / "evaluation.npz", feats / "summary.json", arrays, summary)
    write_evaluation(
        images / "evaluation.npz", images / "summary.json", arrays, summary, layout="images"
    )
    assert (feats / "summary.json").read_text() == json.dumps(
        summary, indent=2, sort_keys=True
    ) + "\n"
    assert (images / "summary.json").read_text() == json.dumps(summary, indent=2)
    assert list(read_evaluation_summary(images / "summary.json")) == ["b", "a"]
    for folder in (feats, images):
        got = read_evaluation(folder / "evaluation.npz", required=("splits", "correlation"))
        assert list(got) == list(arrays)
        np.testing.assert_array_equal(got["correlation"], arrays["correlation"])
        assert sorted(p.name for p in folder.iterdir()) == ["evaluation.npz", "summary.json"]
    with pytest.raises(DataError, match="lacks \\['ncsnr'\\]"):
        read_evaluation(feats / "evaluation.npz", required=("ncsnr",))
    with pytest.raises(DataError, match="missing evaluation file"):
        read_evaluation(tmp_path / "none.npz")
