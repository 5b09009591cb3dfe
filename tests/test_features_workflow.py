"""Real Snakemake: simulated images → stimuli.tsv → planned shards → manifest, on a tiny study."""

from __future__ import annotations

import copy
import shutil

import pytest
import yaml

from bergforge.features.store import FeatureStore
from conftest import TINY_EEG, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

TINY_IMAGES = copy.deepcopy(TINY_EEG)
TINY_IMAGES["simulation"].update(n_train_concepts=4, images_per_concept=2, n_test_images=4)
FEATURES = {"shard_size": 5, "batch_size": 5, "device": "cpu", "threads": 1}
MANIFEST = "results/features/tiny/alexnet_untrained/features.json"


def test_shards_are_planned_from_stimuli_and_only_new_work_reruns(tmp_path):
    config = {
        "datasets": {"tiny": TINY_IMAGES},
        "backbones": {"alexnet_untrained": {}},
        "features": FEATURES,
    }
    workdir = make_workdir(tmp_path, config)
    run_snakemake(workdir, "--cores", "2", MANIFEST)
    folder = workdir / "results/features/tiny/alexnet_untrained"
    shards = sorted(p.name for p in folder.glob("shard-*.zarr"))
    assert shards == ["shard-1-of-3.zarr", "shard-2-of-3.zarr", "shard-3-of-3.zarr"]
    assert not list(folder.glob(".*partial"))
    store = FeatureStore.open(workdir / MANIFEST)
    assert store.shape == (12, 205_672)
    assert store.image_ids[:1] and len(set(store.image_ids)) == 12
    assert (workdir / "logs/features/tiny/alexnet_untrained/shard-2-of-3.log").is_file()

    again = run_snakemake(workdir, "--cores", "2", MANIFEST)
    assert "Nothing to be done" in again.stdout + again.stderr

    # a run interrupted in shard 2 (no shard 2, no manifest): the rerun redoes only shard 2
    kept = (folder / "shard-1-of-3.zarr/zarr.json").stat().st_mtime_ns
    shutil.rmtree(folder / "shard-2-of-3.zarr")
    (workdir / MANIFEST).unlink()
    redo = run_snakemake(workdir, "--cores", "2", MANIFEST, "--quiet", "rules")
    table = redo.stdout + redo.stderr
    assert "extract_feature_shard        1" in table and "feature_manifest             1" in table
    assert (folder / "shard-1-of-3.zarr/zarr.json").stat().st_mtime_ns == kept
    assert FeatureStore.open(workdir / MANIFEST).shape == (12, 205_672)

    # adding a backbone plans only its own jobs
    config["backbones"]["vit_b_32"] = {"weights": "none"}
    with open(workdir / "config/config.yaml", "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    vit = "results/features/tiny/vit_b_32/features.json"
    plan = run_snakemake(workdir, "-n", MANIFEST, vit, "--quiet", "rules")
    table = plan.stdout + plan.stderr
    assert "extract_feature_shard        3" in table
    assert "feature_manifest             1" in table
    assert "plan_feature_shards" not in table and "prepare_eeg_stimuli" not in table
