"""``verify-release`` refuses unsafe archives and folders before it reads any file.

Each bad archive is a real release archive (``build_release``) with one member added or changed
by ``tarfile``, so everything else about it verifies; the refusal is one line on stderr naming
the member, exit code 2, and no file of the archive was hashed.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

import bergforge.release as release
from bergforge.cli import main
from bergforge.export.manifest import sha256_of
from bergforge.release import ReleaseError, build_release, verify_release

REPO = Path(__file__).resolve().parents[1]
TOP = "bergforge-models-9.9.9"
WEIGHTS = "encoding_models/modality-eeg/train_dataset-x/model-y/weights_subject-01.npy"


@pytest.fixture
def good(tmp_path) -> tuple[Path, Path]:
    """(folder, archive) of a small real release."""
    berg = tmp_path / "berg"
    for rel, data in ((WEIGHTS, b"\x93NUMPY weights"), ("metadata/m.npy", b"\x93NUMPY meta")):
        (berg / rel).parent.mkdir(parents=True, exist_ok=True)
        (berg / rel).write_bytes(data)
    files = sorted(p for p in berg.rglob("*") if p.is_file())
    folder, archive = build_release(berg, files, tmp_path / "release", "9.9.9", {}, {}, REPO)
    assert verify_release(folder).ok and verify_release(archive).ok
    return folder, archive


def rewrite(archive: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A copy of ``archive`` with ``extra`` members appended (gzip, as releases are)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for info, data in extra:
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes | None = None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if data is not None:
        info.size = len(data)
    return info, data


@pytest.fixture
def no_hashing(monkeypatch):
    """Fail the test if verify-release hashes any file (it must refuse before reading)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a file was read before the archive was refused")

    monkeypatch.setattr(release, "sha256_of_stream", refuse)


def run_cli(target: Path, capsys) -> tuple[int, str, str]:
    code = main(["verify-release", str(target)])
    out, err = capsys.readouterr()
    return code, out, err


BAD_MEMBERS = {
    "symlink to /etc/passwd": (
        member(f"{TOP}/passwd", tarfile.SYMTYPE, "/etc/passwd"),
        "a symbolic link to '/etc/passwd'",
    ),
    "hardlink to /etc/passwd": (
        member(f"{TOP}/passwd", tarfile.LNKTYPE, "/etc/passwd"),
        "a hard link to '/etc/passwd'",
    ),
    "symlink up the tree": (
        member(f"{TOP}/up", tarfile.SYMTYPE, "../../.."),
        "a symbolic link to '../../..'",
    ),
    "dot-dot name": (member(f"{TOP}/../../evil", data=b"x"), "climbs out of the archive with '..'"),
    "bare dot-dot name": (member("../../evil", data=b"x"), "climbs out of the archive with '..'"),
    "absolute name": (member("/tmp/evil", data=b"x"), "an absolute path"),
    "device": (member(f"{TOP}/dev", tarfile.CHRTYPE), "not a regular file or folder"),
    "fifo": (member(f"{TOP}/pipe", tarfile.FIFOTYPE), "not a regular file or folder"),
}


@pytest.mark.parametrize("case", list(BAD_MEMBERS))
def test_an_unsafe_member_is_refused_by_name(good, tmp_path, capsys, no_hashing, case):
    (info, data), problem = BAD_MEMBERS[case]
    bad = rewrite(good[1], tmp_path / "bad.tar.gz", [(info, data)])
    with pytest.raises(ReleaseError) as err:
        verify_release(bad)
    assert f"refuses member {info.name!r}: " in str(err.value) and problem in str(err.value)
    code, out, err_text = run_cli(bad, capsys)
    assert code == 2 and out == ""
    assert err_text == f"bergforge: error: {err.value}\n"  # one line
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()


def test_a_member_listed_twice_is_refused(good, tmp_path, no_hashing):
    """A second copy of a listed file would replace the first on extraction."""
    name = f"{TOP}/{WEIGHTS}"
    bad = rewrite(good[1], tmp_path / "twice.tar.gz", [member(name, data=b"other")])
    with pytest.raises(ReleaseError, match=rf"member '{name}' appears twice"):
        verify_release(bad)


@pytest.mark.parametrize("keep", [0.5, 0.9, 30])
def test_a_truncated_archive_is_one_clear_error(good, tmp_path, capsys, keep):
    data = good[1].read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    with pytest.raises(ReleaseError, match=r"cut\.tar\.gz: truncated or corrupt archive \("):
        verify_release(cut)
    code, out, err = run_cli(cut, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"bergforge: error: {cut}: truncated or corrupt archive (")


def test_a_folder_with_a_link_is_refused_and_the_link_never_followed(good, tmp_path, capsys):
    folder = good[0]
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"\x93NUMPY weights")  # same bytes: following the link would pass
    target = folder / WEIGHTS
    target.unlink()
    target.symlink_to(outside)
    assert sha256_of(target) in (folder / "SHA256SUMS").read_text()
    with pytest.raises(ReleaseError, match=rf"refuses '{WEIGHTS}': a symbolic link to "):
        verify_release(folder)
    code, out, err = run_cli(folder, capsys)
    assert code == 2 and out == "" and err.count("\n") == 1


def test_a_folder_with_a_linked_folder_or_a_fifo_is_refused(good, tmp_path):
    folder = good[0]
    (folder / "extra").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ReleaseError, match="refuses 'extra': a symbolic link to "):
        verify_release(folder)
    (folder / "extra").unlink()
    os.mkfifo(folder / "pipe")  # opening it to hash it would block forever
    with pytest.raises(ReleaseError, match="refuses 'pipe': not a regular file or folder"):
        verify_release(folder)
    (folder / "pipe").unlink()
    assert verify_release(folder).ok


def test_a_manifest_that_is_a_link_is_refused(good, tmp_path):
    folder = good[0]
    real = tmp_path / "elsewhere"
    (folder / "SHA256SUMS").rename(real)
    (folder / "SHA256SUMS").symlink_to(real)
    with pytest.raises(ReleaseError, match="refuses 'SHA256SUMS': a symbolic link"):
        verify_release(folder)
