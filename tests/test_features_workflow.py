"""Real Snakemake: simulated images → stimuli.tsv → planned shards → manifest, on a tiny study.

Works on a private copy of the session's tiny chain (`tiny_built`), whose dataset `tiny` has 20
images and `features.shard_size` 16: two shards. That every requested file is up to date after the
build is checked on the whole chain (test_workflow_incremental, identical rerun).
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from bergforge.features.store import FeatureStore
from conftest import run_snakemake

pytestmark = pytest.mark.workflow

MANIFEST = "results/features/tiny/alexnet_untrained/features.json"


def test_shards_are_planned_from_stimuli_and_only_new_work_reruns(tiny_built, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(tiny_built, workdir, symlinks=True)  # mtimes and .snakemake metadata kept
    folder = workdir / "results/features/tiny/alexnet_untrained"
    shards = sorted(p.name for p in folder.glob("shard-*.zarr"))
    assert shards == ["shard-1-of-2.zarr", "shard-2-of-2.zarr"]
    assert not list(folder.glob(".*partial"))
    stimuli = pd.read_csv(workdir / "results/prepared/tiny/stimuli.tsv", sep="\t")
    store = FeatureStore.open(workdir / MANIFEST)
    assert len(stimuli) == 20 and store.shape == (20, 205_672)
    assert store.image_ids == stimuli["image_id"].tolist() and len(set(store.image_ids)) == 20
    assert (workdir / "logs/features/tiny/alexnet_untrained/shard-2-of-2.log").is_file()

    # a run interrupted in shard 1 (no shard 1, no manifest): the rerun redoes only shard 1
    kept = (folder / "shard-2-of-2.zarr/zarr.json").stat().st_mtime_ns
    shutil.rmtree(folder / "shard-1-of-2.zarr")
    (workdir / MANIFEST).unlink()
    redo = run_snakemake(workdir, "--cores", "2", MANIFEST, "--quiet", "rules")
    table = redo.stdout + redo.stderr
    assert "extract_feature_shard        1" in table and "feature_manifest             1" in table
    assert "total                        2" in table, table
    assert (folder / "shard-2-of-2.zarr/zarr.json").stat().st_mtime_ns == kept
    assert FeatureStore.open(workdir / MANIFEST).shape == (20, 205_672)

    # adding a backbone plans only its own jobs
    path = workdir / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["backbones"]["vit_b_32"] = {"weights": "none"}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    vit = "results/features/tiny/vit_b_32/features.json"
    plan = run_snakemake(workdir, "-n", MANIFEST, vit, "--quiet", "rules")
    table = plan.stdout + plan.stderr
    assert "extract_feature_shard        2" in table
    assert "feature_manifest             1" in table
    assert "plan_feature_shards" not in table and "prepare_eeg_stimuli" not in table
