"""The BOLD5000 download route against a miniature ds001499 served on 127.0.0.1: a subject's job
fetches exactly what the decoding route reads (not the unselected subject, not the derivatives it
does not read), resumes, refuses a corrupted file, and what arrives reads back through
:mod:`bergforge.datasets.bold5000`; the stimulus zip unpacks to the tree the readers expect."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel.freesurfer as fs
import numpy as np
import pandas as pd
import pytest
from httpserver import Faults, LoopbackServer
from mini_bold5000 import SIM, write_ds001499, write_stimuli_zip

from bergforge.datasets import bold5000 as b5
from bergforge.datasets.download import ChecksumError, DownloadError
from bergforge.datasets.fetch import fetch_file, fetch_in_place, unpack_bold5000_stimuli
from bergforge.datasets.formats import FORMATS
from bergforge.datasets.sources import (
    base_urls,
    bold5000_stimuli_zip,
    bold5000_subject_files,
    single_files,
)
from bergforge.errors import DataError
from bergforge.preprocess.surface_runs import read_func_gii, write_func_gii
from bergforge.simulate.bold5000_design import repeated_images, write_events
from conftest import make_workdir, run_snakemake

KW = {"retries": 1, "backoff": 0.01, "progress": False}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def route_paths(subject: int) -> list[str]:
    """What the route reads of a subject of the miniature, written out from ds001499's names."""
    paths = [
        f"derivatives/freesurfer/sub-CSI{subject}/surf/lh.sphere.reg",
        f"derivatives/freesurfer/sub-CSI{subject}/surf/rh.sphere.reg",
    ]
    for session, run in SIM.runs():
        stem = f"sub-CSI{subject}_ses-{session:02d}_task-5000scenes_run-{run:02d}"
        paths.append(f"sub-CSI{subject}/ses-{session:02d}/func/{stem}_events.tsv")
        func = f"derivatives/fmriprep/sub-CSI{subject}/ses-{session:02d}/func"
        paths += [f"{func}/{stem}_bold_space-fsnative.{h}.func.gii" for h in ("L", "R")]
    return paths


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """ds001499 with subjects CSI1 and CSI2 under ``openneuro/``, the zip under ``stimuli/``."""
    root = tmp_path_factory.mktemp("served")
    table = write_ds001499(root / "openneuro", root / "images", [1, 2])
    write_stimuli_zip(root / "images", root / "stimuli" / "BOLD5000_Stimuli.zip?dl=1")
    with LoopbackServer(root) as server:
        urls = {
            "openneuro_ds001499": f"{server.url}/openneuro",
            "bold5000_stimuli": f"{server.url}/stimuli",
        }
        yield server, root, table, urls


@pytest.fixture()
def server(served):
    """The served miniature with fresh faults and request log."""
    srv = served[0]
    srv.faults = Faults()
    return srv


def fetch_subject(urls, dest: Path, subject: int = 1) -> Path:
    files = bold5000_subject_files(subject, runs=SIM.runs())
    manifest = dest / "downloads" / f"sub-CSI{subject}.tsv"
    return fetch_in_place(files, urls, dest, manifest, checksum_dir=dest, **KW)


def fetched(server) -> list[str]:
    return [path for path, _ in server.faults.requests]


def test_catalogue_names_every_run_of_the_design():
    files = bold5000_subject_files(1)
    assert len(files) == 2 + 142 * 3  # CSI1: 142 runs × (events, L, R) + 2 sphere.reg
    assert len(bold5000_subject_files(4)) == 2 + 84 * 3
    gii = sum(
        f.local.endswith(".func.gii") for s in (1, 2, 3, 4) for f in bold5000_subject_files(s)
    )
    assert gii == 1020  # ds001499's 1,080 fsnative func.gii less the 30 localizer runs' 60
    locals_ = {f.local for f in files}
    assert len(locals_) == len(files) and all(f.remote == f.local for f in files)
    assert {f.source for f in files} == {"openneuro_ds001499"}
    # paths as they are in ds001499 (OpenNeuroDatasets/ds001499's tree)
    for real in (
        "sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-10_events.tsv",
        "derivatives/fmriprep/sub-CSI1/ses-03/func/"
        "sub-CSI1_ses-03_task-5000scenes_run-10_bold_space-fsnative.L.func.gii",
        "derivatives/fmriprep/sub-CSI1/ses-03/func/"
        "sub-CSI1_ses-03_task-5000scenes_run-02_bold_space-fsnative.R.func.gii",
        "derivatives/freesurfer/sub-CSI1/surf/lh.sphere.reg",
    ):
        assert real in locals_
    assert "derivatives/freesurfer/sub-CSI2/surf/rh.sphere.reg" in {
        f.local for f in bold5000_subject_files(2)
    }
    # once per dataset: the stimulus zip, fetched by rule download_file
    entry = {"format": "bold5000", "source": "download", "subjects": [1, 2]}
    assert single_files(entry) == [bold5000_stimuli_zip()]
    urls = base_urls({"download": {"base_urls": {"bold5000_stimuli": "http://127.0.0.1:9"}}})
    assert bold5000_stimuli_zip().url(urls) == "http://127.0.0.1:9/BOLD5000_Stimuli.zip?dl=1"
    assert urls["openneuro_ds001499"] == "https://s3.amazonaws.com/openneuro.org/ds001499"
    with pytest.raises(DataError, match=r"CSI4 has no run\(s\) \[\(10, 1\)\]"):
        bold5000_subject_files(4, runs=[(1, 1), (10, 1)])


def test_subject_download_fetches_exactly_what_the_route_reads(served, server, tmp_path, caplog):
    _, root, _, urls = served
    with caplog.at_level("INFO", logger="bergforge.datasets.fetch"):
        manifest = fetch_subject(urls, tmp_path)
    n = len(route_paths(1))
    assert f"[{n}/{n}] fetched {route_paths(1)[-1]}" in caplog.text, "progress, file by file"
    want = route_paths(1)
    assert sorted(fetched(server)) == sorted(f"/openneuro/{p}" for p in want)
    got = sorted(
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and p.parts[len(tmp_path.parts)] not in ("downloads", "resources")
    )
    assert got == sorted(want), "nothing of CSI2 or of the unread derivatives"
    for rel in want:
        assert (tmp_path / rel).read_bytes() == (root / "openneuro" / rel).read_bytes()
    table = pd.read_csv(manifest, sep="\t")
    assert list(table.columns) == ["path", "bytes", "sha256"]
    assert sorted(table.path) == sorted(want)
    for row in table.itertuples():
        served_file = root / "openneuro" / row.path
        assert (row.bytes, row.sha256) == (served_file.stat().st_size, sha(served_file))
    lock = json.loads((tmp_path / "resources/checksums/openneuro_ds001499.json").read_text())
    assert lock == dict(zip(table.path, table.sha256, strict=True))
    assert not list(tmp_path.rglob("*.partial")) and not list(tmp_path.rglob("*.part"))


def test_downloaded_tree_reads_back_through_the_bold5000_readers(served, server, tmp_path):
    _, root, images, urls = served
    fetch_subject(urls, tmp_path)
    zip_path = fetch_file(
        bold5000_stimuli_zip(),
        urls,
        tmp_path / "downloads/BOLD5000_Stimuli.zip",
        checksum_dir=tmp_path,
        **KW,
    )
    assert "/stimuli/BOLD5000_Stimuli.zip?dl=1" in fetched(server)
    unpack_bold5000_stimuli(zip_path, tmp_path / "BOLD5000_Stimuli")

    repeated = b5.read_repeated(tmp_path)
    assert repeated == set(images.loc[images.split == "test", "image_id"])
    trials = b5.trial_table(tmp_path, 1, repeated, tmp_path, runs=SIM.runs())
    assert len(trials) == SIM.n_trials
    assert (trials.split == "test").sum() == SIM.n_test_images * SIM.test_presentations
    assert all(Path(f).is_file() for f in trials.file)
    assert sorted(set(trials.image)) == sorted(images.image_id)
    surf = b5.freesurfer_surf(tmp_path, 1)
    for hemi, fs_hemi in b5.HEMISPHERES.items():
        coords, _ = fs.read_geometry(str(surf / f"{fs_hemi}.sphere.reg"))
        for session, run in SIM.runs():
            data = read_func_gii(b5.surface_run_path(tmp_path, 1, session, run, hemi))
            served_run = b5.surface_run_path(root / "openneuro", 1, session, run, hemi)
            np.testing.assert_array_equal(data, read_func_gii(served_run))
            assert data.shape == (len(coords), SIM.n_volumes)


def test_unpacking_keeps_only_what_the_route_reads(served, tmp_path):
    _, root, images, _ = served
    archive = root / "stimuli" / "BOLD5000_Stimuli.zip?dl=1"
    bare = tmp_path / "bare.zip"  # the same content without the top folder
    write_stimuli_zip(root / "images", bare, top=False)
    for name, zipped in (("top", archive), ("bare", bare)):
        final = tmp_path / name / "BOLD5000_Stimuli"
        unpack_bold5000_stimuli(zipped, final)
        got = sorted(p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file())
        want = sorted(
            [Path(f).relative_to("BOLD5000_Stimuli").as_posix() for f in images.file]
            + [
                "Scene_Stimuli/repeated_stimuli_113_list.txt",
                "Image_Labels/imagenet_final_labels.txt",
            ]
        )
        assert got == want, name
        assert [p.name for p in (tmp_path / name).iterdir()] == ["BOLD5000_Stimuli"]


def test_a_listed_image_missing_from_the_zip_is_one_error(served, tmp_path):
    _, root, images, _ = served
    stimuli = tmp_path / "images"
    (stimuli / b5.REPEATED_LIST).parent.mkdir(parents=True)
    first = Path(images.file[0])
    (stimuli / first).parent.mkdir(parents=True)
    (stimuli / first).write_bytes((root / "images" / first).read_bytes())
    (stimuli / b5.REPEATED_LIST).write_text(f"{first.name}\nCOCO_missing.jpg\n")
    write_stimuli_zip(stimuli, tmp_path / "bad.zip")
    final = tmp_path / "raw" / "BOLD5000_Stimuli"
    with pytest.raises(DataError, match=r"bad.zip: .*_113_list.txt names 1 image\(s\) that are"):
        unpack_bold5000_stimuli(tmp_path / "bad.zip", final)
    assert list(final.parent.iterdir()) == [], "nothing left, under any name"


def test_an_interrupted_download_resumes_where_it_stopped(served, server, tmp_path):
    _, root, _, urls = served
    paths = route_paths(1)
    failing = next(p for p in paths if "ses-02" in p and p.endswith(".L.func.gii"))
    server.faults.status[f"/openneuro/{failing}"] = 503
    with pytest.raises(DownloadError, match=rf"{failing}: HTTP 503"):
        fetch_subject(urls, tmp_path)
    manifest = tmp_path / "downloads/sub-CSI1.tsv"
    assert not manifest.exists()
    assert not (tmp_path / "sub-CSI1").exists() and not (tmp_path / "derivatives").exists()
    partial = tmp_path / "downloads/sub-CSI1.partial"
    before = paths[: paths.index(failing)]
    assert all((partial / p).is_file() for p in before)

    # a killed transfer left the first 1000 bytes of the failing file; a later one is cut midway
    part = partial / f"{failing}.part"
    part.write_bytes((root / "openneuro" / failing).read_bytes()[:1000])
    last = paths[-1]
    server.faults = Faults(cut={f"/openneuro/{last}": 1})
    fetch_subject(urls, tmp_path)
    ranges = {}
    for path, rng in server.faults.requests:
        ranges.setdefault(path.removeprefix("/openneuro/"), []).append(rng)
    assert sorted(ranges) == sorted(paths[paths.index(failing) :]), "finished files: not again"
    assert ranges[failing] == ["bytes=1000-"]
    half = (root / "openneuro" / last).stat().st_size // 2
    assert ranges[last] == [None, f"bytes={half}-"]
    assert manifest.is_file() and not partial.exists()
    for rel in paths:
        assert sha(tmp_path / rel) == sha(root / "openneuro" / rel)


def test_a_corrupted_file_is_refused_with_one_error(served, server, tmp_path):
    _, root, _, urls = served
    paths = route_paths(1)
    lock = tmp_path / "resources/checksums/openneuro_ds001499.json"
    lock.parent.mkdir(parents=True)  # digests recorded by an earlier, clean download
    lock.write_text(json.dumps({p: sha(root / "openneuro" / p) for p in paths}))
    bad = next(p for p in paths if p.endswith(".R.func.gii"))
    server.faults.corrupt[f"/openneuro/{bad}"] = 10
    with pytest.raises(ChecksumError) as err:
        fetch_subject(urls, tmp_path)
    assert f"{bad}: SHA-256 " in str(err.value) and "does not match the expected" in str(err.value)
    assert fetched(server).count(f"/openneuro/{bad}") == 2, "tried again once, then refused"
    partial = tmp_path / "downloads/sub-CSI1.partial"
    assert not list(partial.rglob(Path(bad).name + "*")), "neither the file nor its .part kept"
    assert not (tmp_path / "downloads/sub-CSI1.tsv").exists()
    assert not (tmp_path / "sub-CSI1").exists() and not (tmp_path / "derivatives").exists()


def test_a_rerun_keeps_the_verified_tree_and_fetches_a_damaged_file_again(served, server, tmp_path):
    _, root, _, urls = served
    manifest = fetch_subject(urls, tmp_path)
    manifest.unlink()  # e.g. Snakemake reruns the job
    damaged = route_paths(1)[3]
    data = bytearray((tmp_path / damaged).read_bytes())
    data[0] ^= 0xFF
    (tmp_path / damaged).write_bytes(bytes(data))
    server.faults = Faults()
    fetch_subject(urls, tmp_path)
    assert fetched(server) == [f"/openneuro/{damaged}"]
    assert sha(tmp_path / damaged) == sha(root / "openneuro" / damaged)
    assert manifest.is_file()


# ------------------------------------------------------------------- the rules, through Snakemake

needs_format = pytest.mark.skipif(
    "bold5000" not in FORMATS, reason="the dataset format bold5000 is not registered"
)


def write_full_design(tree: Path, stimuli: Path, subject: int) -> None:
    """Every run of ``subject``'s design with its real-size events (the published counts, by
    :mod:`bergforge.simulate.bold5000_design`), tiny GIFTI runs and sphere.reg; the stimulus
    tree holds the 113 repeated images as placeholders."""
    write_events(tree, subject)
    template = tree / "template.func.gii"
    write_func_gii(template, np.arange(12, dtype=np.float32).reshape(4, 3), b5.TR)
    for session, run in b5.runs_of(subject):
        for hemi in b5.HEMISPHERES:
            path = b5.surface_run_path(tree, subject, session, run, hemi)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(template.read_bytes())
    surf = b5.freesurfer_surf(tree, subject)
    surf.mkdir(parents=True)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]], np.int32)
    for fs_hemi in b5.HEMISPHERES.values():
        fs.write_geometry(
            str(surf / f"{fs_hemi}.sphere.reg"), np.eye(4, 3, dtype=np.float32), faces
        )
    for kind, name in repeated_images():
        path = b5.stimulus_path(stimuli, kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    (stimuli / b5.REPEATED_LIST).write_text("\n".join(n for _, n in repeated_images()) + "\n")


@pytest.mark.workflow
@needs_format
def test_download_rules_fetch_a_whole_subject_and_the_stimuli(tmp_path_factory):
    served = tmp_path_factory.mktemp("served_design")
    write_full_design(served / "openneuro", served / "images", 4)
    write_events(served / "openneuro", 3)  # CSI3, not selected
    write_stimuli_zip(served / "images", served / "stimuli" / "BOLD5000_Stimuli.zip?dl=1")
    with LoopbackServer(served) as server:
        urls = {
            "openneuro_ds001499": f"{server.url}/openneuro",
            "bold5000_stimuli": f"{server.url}/stimuli",
        }
        download = {"base_urls": urls, "retries": 1, "backoff": 0.01}
        entry = {"format": "bold5000", "source": "download", "subjects": [4], "download": download}
        config = {"datasets": {"b5": entry}, "backbones": {"alexnet_untrained": {}}}
        workdir = make_workdir(tmp_path_factory.mktemp("b5"), config)
        raw = "resources/raw/b5"
        run_snakemake(workdir, "-c2", f"{raw}/downloads/sub-CSI4.tsv", f"{raw}/BOLD5000_Stimuli")
        requested = [p for p, _ in server.faults.requests]
    raw_dir = workdir / raw
    assert len(requested) == len(set(requested)) == 2 + 84 * 3 + 1
    assert not any("CSI3" in p for p in requested)
    manifest = pd.read_csv(raw_dir / "downloads/sub-CSI4.tsv", sep="\t")
    assert sorted(manifest.path) == sorted(f.local for f in bold5000_subject_files(4))
    # the published design's counts (research/decoding.md §1.2) from the downloaded events
    repeated = b5.read_repeated(raw_dir)
    trials = b5.trial_table(raw_dir, 4, repeated, raw_dir)
    assert len(trials) == 3108 and (trials.split == "test").sum() == 262
    assert trials.loc[trials.split == "test", "image"].nunique() == 106
    log = (workdir / "logs/download/b5/sub-CSI4.log").read_text()
    assert "[254/254] fetched" in log
    locks = workdir / "resources/checksums"
    assert len(json.loads((locks / "openneuro_ds001499.json").read_text())) == 254
    assert list(json.loads((locks / "bold5000_stimuli.json").read_text())) == [
        "BOLD5000_Stimuli.zip?dl=1"
    ]
