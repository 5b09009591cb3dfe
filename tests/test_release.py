"""Releases: manifest, provenance, deterministic archive, and verify-release catching a flipped byte."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bergforge.cli import main
from bergforge.errors import ModelLoadError
from bergforge.export.manifest import write_manifest
from bergforge.release import ReleaseError, build_release, collect_seeds, verify_release

REPO = Path(__file__).resolve().parents[1]


def export_tree(root: Path) -> Path:
    tree = root / "berg" / "encoding_models" / "modality-eeg" / "train_dataset-x" / "model-y"
    for sub, name, data in (
        ("encoding_models_weights", "weights_subject-01.npy", b"\x93NUMPY weights"),
        ("metadata", "metadata_subject-01.npy", b"\x93NUMPY metadata"),
        ("encoding_models_accuracy", "encoding_accuracy.png", b"\x89PNG plot"),
    ):
        (tree / sub).mkdir(parents=True, exist_ok=True)
        (tree / sub / name).write_bytes(data)
    return root / "berg"


def make(root: Path):
    berg = export_tree(root)
    files = sorted(p for p in berg.rglob("*") if p.is_file())
    return build_release(
        berg, files, root / "release", "9.9.9", {"datasets": {}}, {"pca": {"x": 1}}, REPO
    )


def test_two_builds_in_different_folders_are_identical(tmp_path):
    folder_a, archive_a = make(tmp_path / "a")
    folder_b, archive_b = make(tmp_path / "b")
    assert (folder_a / "SHA256SUMS").read_bytes() == (folder_b / "SHA256SUMS").read_bytes()
    assert archive_a.read_bytes() == archive_b.read_bytes()
    listed = (folder_a / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in listed] == sorted(
        line.split("  ")[1] for line in listed
    )
    assert any(line.endswith("  provenance.json") for line in listed)
    prov = json.loads((folder_a / "provenance.json").read_text())
    assert set(prov) >= {"config", "packages", "source_commit", "seeds", "platform"}
    assert prov["packages"]["numpy"] != "not installed"
    assert str(tmp_path) not in (folder_a / "provenance.json").read_text()


def test_verify_release_names_a_flipped_byte(tmp_path, capsys):
    folder, archive = make(tmp_path)
    assert verify_release(folder).ok and verify_release(archive).ok
    assert main(["verify-release", str(folder)]) == 0
    target = next(folder.rglob("weights_subject-01.npy"))
    data = bytearray(target.read_bytes())
    data[3] ^= 0x01
    target.write_bytes(bytes(data))
    report = verify_release(folder)
    rel = target.relative_to(folder).as_posix()
    assert report.mismatched == [rel] and not report.missing
    assert main(["verify-release", str(folder)]) == 1
    assert f"DIFFERS  {rel}" in capsys.readouterr().out


def test_verify_release_on_a_tampered_archive(tmp_path):
    folder, archive = make(tmp_path)
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member) if member.isfile() else None
            if data is not None and member.name.endswith("metadata_subject-01.npy"):
                payload = data.read().replace(b"metadata", b"METADATA")
                import io

                member.size = len(payload)
                dst.addfile(member, io.BytesIO(payload))
            else:
                dst.addfile(member, data)
    report = verify_release(tampered)
    assert [Path(n).name for n in report.mismatched] == ["metadata_subject-01.npy"]


def test_console_script_is_installed_and_reports_errors(tmp_path):
    exe = Path(sys.executable).parent / "bergforge"
    proc = subprocess.run(
        [str(exe), "verify-release", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "no SHA256SUMS (expected a release folder)" in proc.stderr


def test_only_the_listed_files_are_released(tmp_path):
    berg = export_tree(tmp_path)
    listed = sorted(p for p in berg.rglob("*") if p.is_file())
    stale = berg / "encoding_models" / "modality-eeg" / "train_dataset-old" / "model-z" / "card.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("a model of an old config")
    (berg / ".snakemake_timestamp").touch()
    folder, archive = build_release(berg, listed, tmp_path / "release", "1", {}, {}, REPO)
    released = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    expected = [p.relative_to(berg).as_posix() for p in listed] + ["SHA256SUMS", "provenance.json"]
    assert released == sorted(expected)
    assert verify_release(folder).ok and verify_release(archive).ok
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
    assert not [m.name for m in members if "train_dataset-old" in m.name]
    assert [m.name.split("/", 1)[1] for m in members if m.isfile()] == sorted(expected)


def test_a_listed_file_outside_the_tree_or_missing_is_refused(tmp_path):
    berg = export_tree(tmp_path)
    outside = tmp_path / "elsewhere.npy"
    outside.write_bytes(b"x")
    with pytest.raises(ReleaseError, match="not under the export tree"):
        build_release(berg, [outside], tmp_path / "release", "1", {}, {}, REPO)
    with pytest.raises(ReleaseError, match="listed for the release but not a file"):
        build_release(berg, [berg / "missing.npy"], tmp_path / "release", "1", {}, {}, REPO)


def write_json(path: Path, record: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_seeds_come_from_exactly_the_given_files(tmp_path):
    models = tmp_path / "results" / "models"
    linear = write_json(
        models / "eeg" / "alexnet" / "sub-01" / "split-all" / "model.json",
        {"seeds": {"pca": 5, "split_permutation": 20200220}},
    )
    cnn8 = write_json(models / "nsd" / "CNN8_multihead" / "training.json", {"config": {"seed": 3}})
    write_json(
        models / "eeg" / "stale_backbone" / "sub-01" / "split-all" / "model.json",
        {"seeds": {"pca": 99}},
    )
    assert collect_seeds([cnn8, linear], models) == {
        "eeg/alexnet/sub-01/split-all": {"pca": 5, "split_permutation": 20200220},
        "nsd/CNN8_multihead": {"training": 3},
    }
    # a kind without random draws records an empty seed set; that is a record, not a gap
    exact = write_json(
        models / "eeg" / "toy" / "sub-01" / "split-all" / "model.json", {"seeds": {}}
    )
    assert collect_seeds([exact], models) == {"eeg/toy/sub-01/split-all": {}}
    no_seeds = write_json(models / "eeg" / "x" / "model.json", {"kind": "ridge"})
    with pytest.raises(ReleaseError, match="no seeds recorded"):
        collect_seeds([no_seeds], models)
    with pytest.raises(ReleaseError, match="seeds are read only from files under"):
        collect_seeds([write_json(tmp_path / "model.json", {"seeds": {"pca": 1}})], models)


def test_a_model_folders_own_manifest_is_released_and_verified(tmp_path):
    """bergforge's own model layout keeps a SHA256SUMS per model folder: the release lists it like
    any other file, and both the folder and the archive verify."""
    berg = export_tree(tmp_path)
    own = berg / "encoding_models" / "modality-eeg" / "train_dataset-x" / "model-toy_y"
    (own / "weights").mkdir(parents=True)
    (own / "weights" / "sub-01_split-all.safetensors").write_bytes(b"weights")
    (own / "SHA256SUMS").write_text("0" * 64 + "  weights/sub-01_split-all.safetensors\n")
    files = sorted(p for p in berg.rglob("*") if p.is_file())
    folder, archive = build_release(berg, files, tmp_path / "release", "9.9.9", {}, {}, REPO)
    listed = (folder / "SHA256SUMS").read_text()
    assert "  encoding_models/modality-eeg/train_dataset-x/model-toy_y/SHA256SUMS\n" in listed
    assert verify_release(folder).ok and verify_release(archive).ok
    (own_copy := folder / own.relative_to(berg) / "SHA256SUMS").write_text("changed\n")
    assert verify_release(folder).mismatched == [own_copy.relative_to(folder).as_posix()]


def own_model_folder(berg: Path) -> Path:
    """A model folder in bergforge's own layout: JSON, weights and card, all in its SHA256SUMS."""
    own = berg / "encoding_models" / "modality-eeg" / "train_dataset-x" / "model-toy_y"
    for name, data in (
        ("bergforge_model.json", b"{}"),
        ("weights/sub-01_split-all.safetensors", b"weights"),
        ("model_card.md", b"# card"),
    ):
        (own / name).parent.mkdir(parents=True, exist_ok=True)
        (own / name).write_bytes(data)
    write_manifest(own)
    return own


def test_an_own_layout_folder_is_released_whole_from_its_declared_files(tmp_path):
    """The workflow declares an own-layout folder by its JSON and SHA256SUMS only; the release
    copies the files that manifest lists too, and refuses a folder that does not match it."""
    berg = export_tree(tmp_path)
    own = own_model_folder(berg)
    declared = [p for p in berg.rglob("*") if p.is_file() and p.parent.name != "weights"]
    declared = [p for p in declared if p.name != "model_card.md"]
    folder, archive = build_release(berg, declared, tmp_path / "release", "1", {}, {}, REPO)
    copy = folder / own.relative_to(berg)
    for name in ("weights/sub-01_split-all.safetensors", "model_card.md"):
        assert (copy / name).read_bytes() == (own / name).read_bytes()
        assert (
            f"  {(copy / name).relative_to(folder).as_posix()}\n"
            in (folder / "SHA256SUMS").read_text()
        )
    assert verify_release(folder).ok and verify_release(archive).ok
    (own / "model_card.md").write_bytes(b"# changed")
    with pytest.raises(ModelLoadError, match="model_card.md does not match SHA256SUMS"):
        build_release(berg, declared, tmp_path / "again", "1", {}, {}, REPO)
    assert list((tmp_path / "again").iterdir()) == []  # nothing half-built left
