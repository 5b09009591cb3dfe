"""``results/berg/SHA256SUMS``: the export stage lists every exported file, like a release, and the
loader verifies each pickled file against it (on the session's tiny build, ``tiny_built``)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bergforge import BERG
from bergforge.errors import ModelLoadError
from bergforge.export.manifest import write_manifest
from bergforge.workflow.targets import all_targets, export_targets
from conftest import TINY_CHAIN, planned_jobs

pytestmark = pytest.mark.workflow

ROOT = "results/berg"
EEG_ID = "eeg-tiny_eeg_berg-alexnet_untrained"
EEG_WEIGHTS = (
    "encoding_models/modality-eeg/train_dataset-tiny_eeg_berg/model-alexnet_untrained/"
    "encoding_models_weights/weights_subject-01.npy"
)


def test_the_tree_lists_exactly_the_exported_files(tiny_built):
    listed = (tiny_built / ROOT / "SHA256SUMS").read_text()
    names = sorted(p.removeprefix(f"{ROOT}/") for p in export_targets(TINY_CHAIN))
    expected = "".join(
        f"{hashlib.sha256((tiny_built / ROOT / n).read_bytes()).hexdigest()}  {n}\n" for n in names
    )
    assert listed == expected
    assert EEG_WEIGHTS in names and f"{ROOT}/SHA256SUMS" in all_targets(TINY_CHAIN)
    assert BERG(tiny_built / ROOT).guard.digests is not None  # what the loader checks against


def test_a_changed_export_file_reruns_the_manifest_only(tiny_built):
    weights = tiny_built / ROOT / EEG_WEIGHTS
    before = weights.stat()
    newer = (tiny_built / ROOT / "SHA256SUMS").stat().st_mtime_ns + 10**9
    os.utime(weights, ns=(before.st_atime_ns, newer))
    try:
        rules = sorted(rule for rule, _ in planned_jobs(tiny_built))
    finally:
        os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert rules == ["all", "berg_manifest"]


@pytest.fixture
def tree(tiny_built, tmp_path) -> Path:
    """A copy of the tiny build's export tree, manifest included."""
    shutil.copytree(tiny_built / ROOT, tmp_path / "berg")
    return tmp_path / "berg"


def test_a_tampered_or_stray_file_is_refused(tree):
    weights = tree / EEG_WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-20] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=f"refusing to load {EEG_WEIGHTS}: its SHA-256"):
        BERG(tree).get_encoding_model(EEG_ID, 1, device="cpu")
    meta = tree / EEG_WEIGHTS.replace(
        "encoding_models_weights/weights_subject-01", "metadata/metadata_subject-02"
    )
    shutil.copyfile(meta.with_name("metadata_subject-01.npy"), meta)
    with pytest.raises(ModelLoadError, match="metadata_subject-02.npy: it is not listed in"):
        BERG(tree).get_model_metadata(EEG_ID, 2)


class Touch:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_listed_weights_file_that_runs_code_is_refused(tree, tmp_path):
    """A manifest vouches for bytes, not for what they run: rewritten to match a malicious
    weights file, it still gets the file refused by the restricted unpickler."""
    marker = tmp_path / "marker"
    weights = tree / EEG_WEIGHTS
    good = np.load(weights, allow_pickle=True).item()
    good["pca_param"]["rep-1"] = Touch(marker)
    np.save(weights, np.asarray(good, dtype=object), allow_pickle=True)
    write_manifest(tree, [tree / n.removeprefix(f"{ROOT}/") for n in export_targets(TINY_CHAIN)])
    with pytest.raises(
        ModelLoadError, match=rf"^{weights}: refuses to load global 'posix\.system'"
    ):
        BERG(tree).get_encoding_model(EEG_ID, 1, device="cpu")
    assert not marker.exists()
