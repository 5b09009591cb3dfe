"""Downloads against a real HTTP server on 127.0.0.1: clean, resumed, corrupted, failing, unsafe."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import zipfile

import pytest
from httpserver import LoopbackServer

from bergforge.datasets.download import (
    ChecksumError,
    ChecksumLock,
    DownloadError,
    download,
    extract_tar,
    extract_zip,
)
from bergforge.errors import DataError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "served"
    (root / "data").mkdir(parents=True)
    (root / "data" / "file.bin").write_bytes(PAYLOAD)
    with LoopbackServer(root) as srv:
        yield srv


def fetch(server, tmp_path, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("backoff", 0.01)
    return download(f"{server.url}/data/file.bin", tmp_path / "out" / "file.bin", **kw)


def test_clean_download_records_the_checksum(server, tmp_path):
    lock = ChecksumLock(tmp_path / "checksums.json")
    dest = fetch(server, tmp_path, lock=lock)
    assert dest.read_bytes() == PAYLOAD
    assert lock.get(f"{server.url}/data/file.bin") == hashlib.sha256(PAYLOAD).hexdigest()
    assert not dest.with_name("file.bin.part").exists()


def test_cut_transfer_resumes_with_a_range_request(server, tmp_path):
    server.faults.cut["/data/file.bin"] = 1
    dest = fetch(server, tmp_path, sha256=hashlib.sha256(PAYLOAD).hexdigest())
    assert dest.read_bytes() == PAYLOAD
    ranges = [r for p, r in server.faults.requests]
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) // 2}-"


def test_part_file_left_by_a_killed_run_is_resumed(server, tmp_path):
    part = tmp_path / "out" / "file.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    dest = fetch(server, tmp_path)
    assert dest.read_bytes() == PAYLOAD
    assert server.faults.requests[0][1] == "bytes=1000-"


def test_corrupted_file_fails_verification_is_discarded_and_fetched_again(server, tmp_path):
    lock = ChecksumLock(tmp_path / "checksums.json")
    fetch(server, tmp_path, lock=lock)  # first download records the digest
    (tmp_path / "out" / "file.bin").unlink()
    server.faults.corrupt["/data/file.bin"] = 1
    dest = fetch(server, tmp_path, lock=lock)
    assert dest.read_bytes() == PAYLOAD
    assert len(server.faults.requests) == 3

    server.faults.corrupt["/data/file.bin"] = 10  # corrupt every time: give up, keep nothing
    dest.unlink()
    with pytest.raises(ChecksumError, match="does not match the expected"):
        fetch(server, tmp_path, lock=lock, retries=2)
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_stop_with_a_message_naming_the_url(server, tmp_path, status):
    server.faults.status["/data/file.bin"] = status
    with pytest.raises(DownloadError) as err:
        fetch(server, tmp_path, retries=2)
    assert f"{server.url}/data/file.bin: HTTP {status}" in str(err.value)
    assert not list((tmp_path / "out").iterdir())
    expected_requests = 1 if status == 404 else 3  # 500 is retried, 404 is not
    assert len(server.faults.requests) == expected_requests


@pytest.mark.skipif(
    shutil.which("zip") is None, reason="needs Info-ZIP's zip to make an encrypted zip"
)
def test_password_protected_zip_unpacks_with_its_password(tmp_path):
    src = tmp_path / "src" / "images" / "a"
    src.mkdir(parents=True)
    (src / "a_01b.jpg").write_bytes(b"jpeg bytes")
    archive = tmp_path / "things.zip"
    subprocess.run(
        ["zip", "-q", "-r", "-P", "things4all", str(archive), "images"],
        cwd=tmp_path / "src",
        check=True,
    )
    with pytest.raises(DataError, match="cannot unpack"):
        extract_zip(archive, tmp_path / "nopass")
    assert not (tmp_path / "nopass").exists()
    files = extract_zip(archive, tmp_path / "target", password="things4all")
    assert files == [tmp_path / "target" / "images" / "a" / "a_01b.jpg"]
    assert files[0].read_bytes() == b"jpeg bytes"


def test_zip_parent_entries_are_refused(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("images/a/a_01b.jpg", b"jpeg bytes")
    files = extract_zip(good, tmp_path / "target")
    assert [f.relative_to(tmp_path / "target").as_posix() for f in files] == ["images/a/a_01b.jpg"]

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        zf.writestr("../escape.txt", b"nope")
    with pytest.raises(DataError, match=r"'../escape.txt' points outside the target folder"):
        extract_zip(evil, tmp_path / "target2")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "target2").exists(), "nothing is unpacked from a refused archive"


def test_tar_with_parent_entry_is_refused(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"nope"))
    with pytest.raises(DataError, match="points outside the target folder"):
        extract_tar(evil, tmp_path / "target")
    assert not (tmp_path / "escape.txt").exists()
