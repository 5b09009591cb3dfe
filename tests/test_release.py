"""Releases: manifest, provenance, deterministic archive, and verify-release catching a flipped byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bergforge.cli import main
from bergforge.release import build_release, verify_release

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
    return build_release(
        export_tree(root), root / "release", "9.9.9", {"datasets": {}}, {"pca": {"x": 1}}, REPO
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
    import tarfile

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
