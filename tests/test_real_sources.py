"""Download rules against miniature copies of the real sources served on 127.0.0.1.

One Snakemake run (``--keep-going``) covers the faults: a cut transfer that resumes, a corrupted
file that fails verification and is fetched again, one corrupted for good, HTTP 500 and 404, an
archive with a ``../`` entry, plus clean THINGS-EEG2 downloads. A second run builds
``config/things_meg.yaml`` (pointed at the server, one subject, its ViT-B/32 "ImageNet" weights
read from a torch hub cache that holds seeded random ones) to the exported BERG model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
import yaml
from httpserver import LoopbackServer
from mini_sources import N_TIMES, base_urls, write_sources

from bergforge.datasets.sources import THINGS_IMAGE_ZIPS, THINGS_PASSWORD_ID
from conftest import REPO, make_workdir, run_snakemake

# CI (BERGFORGE_REQUIRE_ZIP=1, set by .ci/run) installs zip and must not skip
needs_zip = pytest.mark.skipif(
    shutil.which("zip") is None and not os.environ.get("BERGFORGE_REQUIRE_ZIP"),
    reason="needs Info-ZIP's zip",
)
pytestmark = [pytest.mark.workflow, needs_zip]

ZIP_IDS = list(THINGS_IMAGE_ZIPS)
EPOCHS = "derivatives/preprocessed/preprocessed_P1-epo"
ATTRIBUTES = "sourcedata/sample_attributes_P1.csv"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".unpacking")))


@pytest.fixture(scope="module")
def served(tiny_meg, tiny_eeg, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    truth = write_sources(root, tiny_meg, tiny_eeg, [1])
    with LoopbackServer(root) as server:
        yield server, root, truth


def download_entry(fmt: str, urls: dict[str, str]) -> dict:
    return {
        "format": fmt,
        "source": "download",
        "subjects": [1],
        "download": {"base_urls": urls, "retries": 2, "backoff": 0.01},
    }


@pytest.fixture(scope="module")
def fault_run(served, tmp_path_factory):
    server, root, truth = served
    config = {
        "datasets": {
            "meg": download_entry("things_meg1", base_urls(server.url)),
            "meg_evil": download_entry("things_meg1", base_urls(server.url, "things_evil")),
            "eeg": download_entry("things_eeg2", base_urls(server.url)),
        },
        "preprocess": {"meg_published_epochs": ["meg", "meg_evil"]},
        "backbones": {"alexnet_untrained": {}},
    }
    workdir = make_workdir(tmp_path_factory.mktemp("faults"), config)
    # digests recorded by an earlier download of the password file and of one zip (the lock is
    # per source and keyed by remote path, so meg_evil's mirror is checked against it too)
    lock = workdir / "resources" / "checksums" / "things_images.json"
    lock.parent.mkdir(parents=True)
    recorded = {k: sha(root / "things" / k) for k in (THINGS_PASSWORD_ID, ZIP_IDS[3])}
    lock.write_text(json.dumps(recorded))
    faults = server.faults
    faults.cut[f"/openneuro/{ATTRIBUTES}"] = 1
    faults.cut[f"/openneuro/{EPOCHS}-2.fif"] = 1
    faults.corrupt[f"/things/{THINGS_PASSWORD_ID}"] = 1
    faults.corrupt[f"/things/{ZIP_IDS[3]}"] = 10
    faults.status[f"/things/{ZIP_IDS[1]}"] = 500
    faults.status[f"/things/{ZIP_IDS[2]}"] = 404
    raw = "resources/raw"
    targets = [
        f"{raw}/meg/{ATTRIBUTES}",
        f"{raw}/meg/{EPOCHS}.fif",
        f"{raw}/meg/downloads/things_images/password_images.txt",
        *(f"{raw}/meg/downloads/things_images/{THINGS_IMAGE_ZIPS[k]}" for k in ZIP_IDS[1:]),
        f"{raw}/meg_evil/images",
        f"{raw}/eeg/raw_data/sub-01",
        f"{raw}/eeg/image_set",
    ]
    proc = run_snakemake(workdir, "-c1", "--keep-going", *targets, check=False)
    requests = list(faults.requests)
    faults.cut.clear(), faults.corrupt.clear(), faults.status.clear()
    return workdir, proc.stdout + proc.stderr, proc.returncode, requests


def test_cut_transfers_resume_with_range_requests(served, fault_run):
    server, root, truth = served
    workdir, output, _, requests = fault_run
    got = workdir / "resources/raw/meg"
    assert (got / ATTRIBUTES).read_bytes() == (root / "openneuro" / ATTRIBUTES).read_bytes()
    for suffix in (".fif", "-1.fif", "-2.fif", "-3.fif"):
        assert sha(got / f"{EPOCHS}{suffix}") == sha(root / "openneuro" / f"{EPOCHS}{suffix}")
    for path in (ATTRIBUTES, f"{EPOCHS}-2.fif"):
        ranges = [r for p, r in requests if p == f"/openneuro/{path}"]
        half = (root / "openneuro" / path).stat().st_size // 2
        assert ranges[:2] == [None, f"bytes={half}-"], "cut halfway, then resumed from there"
    data, meta = truth["epochs"][1]
    epochs = mne.read_epochs(got / f"{EPOCHS}.fif", verbose="error")
    np.testing.assert_array_equal(epochs.get_data().astype(np.float32), data)
    assert list(epochs.metadata.trial_type) == list(meta.trial_type)
    lock = json.loads((workdir / "resources/checksums/openneuro_ds004212.json").read_text())
    assert lock[f"{EPOCHS}-2.fif"] == sha(root / "openneuro" / f"{EPOCHS}-2.fif")
    assert lock[ATTRIBUTES] == sha(root / "openneuro" / ATTRIBUTES)


def test_corrupted_file_is_discarded_and_fetched_again(served, fault_run):
    server, root, _ = served
    workdir, output, _, requests = fault_run
    got = workdir / "resources/raw/meg/downloads/things_images/password_images.txt"
    assert got.read_bytes() == (root / "things" / THINGS_PASSWORD_ID).read_bytes()
    assert [p for p, _ in requests].count(f"/things/{THINGS_PASSWORD_ID}") == 2
    assert "does not match the expected" in output
    # corrupted on every try: fails, and neither the file nor its .part is kept
    zip_rs = got.parent / THINGS_IMAGE_ZIPS[ZIP_IDS[3]]
    assert not zip_rs.exists() and not zip_rs.with_name(zip_rs.name + ".part").exists()
    assert [p for p, _ in requests].count(f"/things/{ZIP_IDS[3]}") == 3
    # an uncorrupted zip of the same run arrived whole
    zip_tz = got.parent / THINGS_IMAGE_ZIPS[ZIP_IDS[4]]
    assert sha(zip_tz) == sha(root / "things" / ZIP_IDS[4])


def test_http_errors_stop_with_the_url(served, fault_run):
    server, _, _ = served
    workdir, output, returncode, requests = fault_run
    assert returncode != 0
    assert f"{server.url}/things/{ZIP_IDS[1]}: HTTP 500" in output
    assert f"{server.url}/things/{ZIP_IDS[2]}: HTTP 404" in output
    folder = workdir / "resources/raw/meg/downloads/things_images"
    for osf_id in ZIP_IDS[1:3]:
        assert not (folder / THINGS_IMAGE_ZIPS[osf_id]).exists()
    fetched = [p for p, _ in requests]
    assert fetched.count(f"/things/{ZIP_IDS[1]}") == 3, "500 is transient: 2 retries"
    assert fetched.count(f"/things/{ZIP_IDS[2]}") == 1, "404 is not retried"


def test_archive_with_parent_entry_is_refused(fault_run):
    workdir, output, _, _ = fault_run
    assert "'../escape.txt' points outside the target folder" in output
    assert not (workdir / "resources/raw/meg_evil/images").exists()
    assert not list(workdir.rglob("escape.txt"))


def test_eeg_session_dicts_and_image_set_arrive_in_the_reader_layout(tiny_eeg, fault_run):
    workdir, _, _, _ = fault_run
    got = workdir / "resources/raw/eeg"
    for rel in ("raw_data/sub-01/ses-01", "image_set"):
        want = sorted(p.relative_to(tiny_eeg / rel) for p in (tiny_eeg / rel).rglob("*.*"))
        have = sorted(
            p.relative_to(got / rel)
            for p in (got / rel).rglob("*.*")
            if p.name != ".snakemake_timestamp"  # Snakemake's mark in directory outputs
        )
        assert have == want and len(want) >= 2
    for rel in ("raw_data/sub-01/ses-01/raw_eeg_test.npy", "image_set/image_metadata.npy"):
        assert sha(got / rel) == sha(tiny_eeg / rel)


def test_nothing_half_written_under_a_final_name(fault_run):
    workdir, _, _, _ = fault_run
    assert leftovers(workdir / "resources/raw") == []


@pytest.fixture(scope="module")
def seeded_torch_hub(tmp_path_factory):
    """A torch hub cache whose ViT-B/32 "ImageNet" checkpoint holds seeded random weights."""
    import torch
    from torchvision.models import ViT_B_32_Weights, vit_b_32

    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    name = Path(ViT_B_32_Weights.IMAGENET1K_V1.url).name
    torch.save(vit_b_32().state_dict(), checkpoints / name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def things_meg_run(served, seeded_torch_hub, tmp_path_factory):
    """``--configfile config/things_meg.yaml`` + an override: loopback URLs, 1 subject, small."""
    server, _, _ = served
    workdir = make_workdir(tmp_path_factory.mktemp("things_meg"), {"datasets": {}})
    shutil.copy2(REPO / "config" / "things_meg.yaml", workdir / "config" / "things_meg.yaml")
    override = {
        "datasets": {
            "things_meg": {"subjects": [1], "download": {"base_urls": base_urls(server.url)}}
        },
        "features": {"device": "cpu", "batch_size": 16, "threads": 1, "mem_mb": 2000},
        "preprocess": {"mem_mb": 2000},
        "models": {"linear": {"n_components": 4}},
    }
    (workdir / "config" / "test_override.yaml").write_text(yaml.safe_dump(override))
    run_snakemake(
        workdir, "-c2", "--configfile", "config/things_meg.yaml", "config/test_override.yaml"
    )
    return workdir


def test_things_meg_config_builds_the_exported_model(things_meg_run, tiny_meg):
    from bergforge.api.berg import BERG

    berg = BERG(things_meg_run / "results" / "berg")
    assert "meg-things_meg_1-vit_b_32" in berg.list_models()
    model = berg.get_encoding_model("meg-things_meg_1-vit_b_32", subject=1)
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    responses = berg.encode(model, images)
    assert responses.shape[0] == 2 and responses.shape[-2:] == (271, N_TIMES)
    assert np.isfinite(responses).all() and responses.std() > 0
    # the image table was built from the sample attributes and the unpacked THINGS zips
    raw = things_meg_run / "resources/raw/things_meg"
    table = pd.read_csv(raw / "images/image_paths.tsv", sep="\t")
    assert sorted(table.split.value_counts().items()) == [("test", 10), ("train", 24)]
    assert all((raw / "images" / p).is_file() for p in table.path)
    stimuli = pd.read_csv(things_meg_run / "results/prepared/things_meg/stimuli.tsv", sep="\t")
    assert len(stimuli) == len(table)
    lock = json.loads((things_meg_run / "resources/checksums/openneuro_ds004212.json").read_text())
    assert lock[f"{EPOCHS}.fif"] == sha(raw / f"{EPOCHS}.fif")
    assert not list(things_meg_run.rglob("*.part")) and not list(raw.glob("*.partial"))


def test_raw_meg_runs_are_assembled_aside_and_moved_in_when_complete(tmp_path):
    """The raw-runs route: a failed run keeps its finished files aside; optional files may 404."""
    from bergforge.datasets.download import DownloadError
    from bergforge.datasets.fetch import fetch_tree
    from bergforge.datasets.sources import CTF_OPTIONAL, CTF_REQUIRED, meg_raw_files

    files = meg_raw_files(1)
    assert len(files) == 12 * 10 * (1 + len(CTF_REQUIRED) + len(CTF_OPTIONAL))
    run = [f for f in files if "_ses-01_task-main_run-01_" in f.local]
    root = tmp_path / "served"
    for f in run:
        if not f.optional or f.local.endswith(".infods"):  # the other optional files are absent
            (root / f.remote).parent.mkdir(parents=True, exist_ok=True)
            (root / f.remote).write_bytes(f.local.encode() * 100)
    final = tmp_path / "raw" / "sub-BIGMEG1"
    meg4 = next(f for f in run if f.local.endswith(".meg4"))
    with LoopbackServer(root) as server:
        urls = {"openneuro_ds004212": server.url}
        server.faults.status[f"/{meg4.remote}"] = 503
        with pytest.raises(DownloadError, match=rf"{server.url}/{meg4.remote}: HTTP 503"):
            fetch_tree(
                run, urls, final, retries=1, backoff=0.01, progress=False, checksum_dir=tmp_path
            )
        assert not final.exists(), "no half-assembled folder under the final name"
        server.faults.status.clear()
        fetch_tree(run, urls, final, retries=1, backoff=0.01, progress=False, checksum_dir=tmp_path)
        fetched = [p for p, _ in server.faults.requests]
    events = next(f for f in run if f.local.endswith("_events.tsv"))
    assert fetched.count(f"/{events.remote}") == 1, "finished files are not fetched again"
    got = sorted(p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file())
    want = sorted(f.local for f in run if (root / f.remote).exists())
    assert got == want and len(want) == 4
    assert (final / meg4.local).read_bytes() == (root / meg4.remote).read_bytes()
    assert (tmp_path / "resources/checksums/openneuro_ds004212.json").is_file()


def test_reference_configs_validate_and_download_keys_are_checked():
    from bergforge.config import load_config, validate_config
    from bergforge.datasets.sources import base_urls
    from bergforge.errors import ConfigError

    for name in ("things_meg", "things_eeg"):
        config = load_config(REPO / "config" / f"{name}.yaml")
        assert [d["source"] for d in config["datasets"].values()] == ["download"]
    simulated = {"format": "things_meg1", "source": "simulated", "subjects": [1]}
    simulated |= {"simulation": {"seed": 1}, "download": {"retries": 1}}
    with pytest.raises(ConfigError, match="download is only allowed with source 'download'"):
        validate_config({"datasets": {"x": simulated}})
    with pytest.raises(ConfigError, match=r"unknown source\(s\) \['osf'\]"):
        base_urls({"download": {"base_urls": {"osf": "https://example.org"}}})
