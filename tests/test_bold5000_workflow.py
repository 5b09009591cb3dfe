"""Decoding through real Snakemake on a tiny simulated BOLD5000-like study (2 subjects × 3 runs):
the simulated raw tree in ds001499's layout, trials.tsv with the task's split, stimuli.tsv, each
subject's trial-indexed store, the target features of one backbone, then both decoders fitted,
evaluated by retrieval and put on the leaderboard. The windows are recomputed here from the
simulator's GIFTI runs; the features from the image files; the ranks from the decoded embeddings
and the feature store; a new subject reruns the study's tables and every store."""

from __future__ import annotations

import copy
import json
import math
import re
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from retrieval_reference import candidate_rows, trial_ranks
from scipy.signal import detrend

from bergforge.api.berg import BERG
from bergforge.datasets import bold5000 as b5
from bergforge.features.backbones import extract_in_memory
from bergforge.features.store import FeatureStore
from bergforge.models.registry import get_kind
from bergforge.preprocess.sphere_projection import fsaverage_projection
from bergforge.preprocess.stimuli import read_stimuli
from bergforge.preprocess.trial_responses import PreparedTrials
from conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

SIMULATION = {
    "seed": 5,
    "n_sessions": 1,
    "runs_per_session": 3,
    "trials_per_run": 6,
    "n_test_images": 2,
    "test_presentations": 2,
    "image_size": 32,
    "n_latents": 3,
}
CONFIG = {
    "datasets": {
        "bold": {
            "format": "bold5000",
            "source": "simulated",
            "subjects": [1, 2],
            "simulation": SIMULATION,
            # decoding kinds read features: the dataset gets the features stage
            "models": {
                "ridge_decoder": {"n_components": 6, "folds": 3},
                "fmri_mlp": {
                    "seeds": [1],
                    "hidden": 16,
                    "n_blocks": 1,
                    "max_epochs": 4,
                    "batch_size": 4,  # > 10 one-cycle steps from ≈ 24 train trials
                    "patience": 2,
                },
                "fmri_linear": {"seeds": [1], "hidden": 16, "max_epochs": 4, "batch_size": 4},
            },
        }
    },
    # one layer (1,000 dimensions) as the targets: every layer would be 205,672
    "backbones": {"alexnet_untrained": {"layers": ["classifier.6"]}},
    "features": {"shard_size": 16, "batch_size": 8},
}
RAW = "resources/raw/bold"
DECODERS = (
    "ridge_decoder-alexnet_untrained",
    "fmri_mlp-alexnet_untrained_seed1",
    "fmri_linear-alexnet_untrained_seed1",
)
PREPARED = "results/prepared/bold"
FEATURES = "results/features/bold/alexnet_untrained/features.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("bold5000_flow"), copy.deepcopy(CONFIG))
    targets = [f"{PREPARED}/trials.tsv", f"{PREPARED}/sub-01.zarr", f"{PREPARED}/sub-02.zarr"]
    run_snakemake(workdir, "--cores", "2", *targets, FEATURES)
    return workdir


def test_the_simulated_raw_tree_is_in_ds001499s_layout(built):
    raw = built / RAW
    for subject in (1, 2):
        for session, run in [(1, 1), (1, 2), (1, 3)]:
            events = b5.read_events(b5.events_path(raw, subject, session, run))
            assert len(events) == SIMULATION["trials_per_run"]
            for hemi in ("L", "R"):
                assert b5.surface_run_path(raw, subject, session, run, hemi).is_file()
        surf = b5.freesurfer_surf(raw, subject)
        assert (surf / "lh.sphere.reg").is_file() and (surf / "rh.sphere.reg").is_file()
        assert (raw / f"ground_truth/sub-CSI{subject}_truth.npz").is_file()
    assert len(b5.read_repeated(raw)) == SIMULATION["n_test_images"]


def test_the_split_follows_the_task(built):
    trials = pd.read_csv(built / PREPARED / "trials.tsv", sep="\t")
    repeated = set((built / RAW / b5.REPEATED_LIST).read_text().split())
    test = trials.image.isin(repeated)
    assert list(trials.split[test].unique()) == ["test"]
    assert test.sum() == 2 * SIMULATION["n_test_images"] * SIMULATION["test_presentations"]
    runs = trials[["subject", "session", "run"]].drop_duplicates()
    validation = trials[trials.split == "validation"][["subject", "session", "run"]]
    # whole runs (every training trial of a chosen run), ceil(0.2 × 6 runs) = 2 of them
    assert len(validation.drop_duplicates()) == math.ceil(0.2 * len(runs)) == 2
    chosen = trials.merge(validation.drop_duplicates(), on=["subject", "session", "run"])
    assert set(chosen.split) <= {"validation", "test"}
    assert set(trials.split) == {"train", "validation", "test"}


def test_stimuli_list_every_simulated_image_once(built):
    stimuli = read_stimuli(built / PREPARED / "stimuli.tsv")
    truth = pd.read_csv(built / RAW / "ground_truth/images.tsv", sep="\t")
    assert sorted(stimuli.image_id) == sorted(truth.image_id)
    assert (stimuli.split == "test").sum() == SIMULATION["n_test_images"]
    assert all((built / f).is_file() for f in stimuli.file)


def test_each_store_holds_the_windows_of_its_gifti_runs(built):
    raw = built / RAW
    trials = pd.read_csv(built / PREPARED / "trials.tsv", sep="\t")
    for subject in (1, 2):
        store = PreparedTrials(built / PREPARED / f"sub-0{subject}.zarr")
        own = trials[trials.subject == subject].reset_index(drop=True)
        assert list(store.trials.image) == list(own.image)
        assert list(store.trials.split) == list(own.split)
        assert store.target_shape == (20_484, 4) and store.sampling_period == 2.0
    # subject 1's last run, recomputed: projection by its sphere.reg, detrend, z-score, windows
    store = PreparedTrials(built / PREPARED / "sub-01.zarr")
    own = trials[trials.subject == 1].reset_index(drop=True)
    surf = b5.freesurfer_surf(raw, 1)
    halves = []
    for hemi, name, label in (("lh", "left", "L"), ("rh", "right", "R")):
        image = nib.load(b5.surface_run_path(raw, 1, 1, 3, label))
        bold = np.stack([d.data for d in image.darrays], axis=1).astype(np.float64)
        halves.append(fsaverage_projection(surf / f"{hemi}.sphere.reg", name).matrix @ bold)
    x = detrend(np.concatenate(halves), axis=1)
    x /= x.std(axis=1, ddof=1, keepdims=True)
    rows = np.flatnonzero(own.run == 3)
    data = store.read(rows)
    for k, onset in enumerate(own.onset[rows]):
        first = round((onset + 2.0) / 2.0)
        np.testing.assert_allclose(data[k], x[:, first : first + 4], atol=2e-4)


def test_the_features_stage_reads_the_bold5000_images(built):
    stimuli = read_stimuli(built / PREPARED / "stimuli.tsv")
    store = FeatureStore.open(built / FEATURES)
    assert store.image_ids == list(stimuli.image_id)
    rows = [0, len(stimuli) - 1]  # a training image and a test image
    expected = extract_in_memory("alexnet_untrained", [built / stimuli.file[r] for r in rows])
    assert store.layers == ["classifier.6"]  # the last of alexnet's layers, 1,000 columns
    got = store.read_rows(np.array(rows))
    np.testing.assert_allclose(got, expected[:, -1000:], rtol=1e-4, atol=1e-5)


def test_a_new_subject_reruns_the_study_tables_and_every_store(built, tmp_path):
    """The validation runs are drawn among every subject's runs: a new subject rewrites
    trials.tsv, so every store follows (and stimuli.tsv, so the features)."""
    import shutil

    import yaml

    from conftest import REPO

    workdir = tmp_path / "copy"
    shutil.copytree(built, workdir, symlinks=True)
    config = copy.deepcopy(CONFIG)
    config["datasets"]["bold"]["subjects"] = [1, 2, 3]
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    assert (workdir / "Snakefile").read_text() == (REPO / "Snakefile").read_text()
    stores = [f"{PREPARED}/sub-0{s}.zarr" for s in (1, 2, 3)]
    out = run_snakemake(workdir, "-n", "--cores", "2", *stores, FEATURES).stdout
    # job blocks: "rule x:", "localrule x:" or "(local)checkpoint x:", then their wildcards
    planned = sorted(
        (m.group(1), (re.search(r"subject=(\w+)", m.group(2)) or [None, ""])[1])
        for m in re.finditer(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:    .*\n)*)", out, re.M)
    )
    # the shards follow once the checkpoint has rerun on the new stimuli.tsv
    assert planned == sorted(
        [
            ("simulate_bold5000_subject", "3"),
            ("bold5000_trials", ""),
            ("bold5000_windows", "01"),
            ("bold5000_windows", "02"),
            ("bold5000_windows", "03"),
            ("plan_feature_shards", ""),
            ("feature_manifest", ""),
        ]
    ), out


def test_the_decoders_fit_retrieve_and_reach_the_leaderboard(built):
    """`all` after the data: the three kinds fitted on every subject's stores, each evaluated by
    retrieval; the ranks and top-k recomputed here from the saved embeddings and the features."""
    run_snakemake(built, "--cores", "2")
    stimuli = read_stimuli(built / PREPARED / "stimuli.tsv")
    features = FeatureStore.open(built / FEATURES)
    trials = pd.read_csv(built / PREPARED / "trials.tsv", sep="\t")
    test = trials[trials.split == "test"]
    for model in DECODERS:
        folder = built / "results/evaluation/bold" / model
        payload = json.loads((folder / "retrieval.json").read_text())
        saved = np.load(folder / "retrieval.npz")
        assert payload["n_test_trials"] == len(test) == saved["trial_rank"].size
        # candidates: each test image's feature row (every trial of an image has the same row)
        images, cand = candidate_rows(saved, stimuli, features)
        assert sorted(images) == sorted(test.image.unique())
        mine = trial_ranks(saved, images, cand)
        np.testing.assert_allclose(saved["trial_rank"], mine)
        trial = payload["aggregations"]["trial"]
        assert trial["top1"] == pytest.approx(np.mean(mine < 1))
        assert trial["chance"]["top1"] == pytest.approx(1 / len(images))
        assert (built / "results/models/bold" / model.split("/")[-1] / "checksums.json").is_file()
    table = pd.read_csv(built / "results/summary/leaderboard_decoding.tsv", sep="\t")
    assert {"ridge_decoder", "fmri_mlp", "fmri_linear"} <= set(table.astype(str).stack())
    # `all` exported both decoders; the API decodes a test window as the kind does on its folder
    berg = BERG(built / "results/berg")
    assert berg.list_decoding_models() == [f"fmri/bold/{m}" for m in sorted(DECODERS)]
    x = PreparedTrials(built / PREPARED / "sub-01.zarr").read_split("test")[1][:2]
    for model in DECODERS:
        kind = get_kind(model.split("-")[0])
        expected = kind.decode(built / "results/models/bold" / model, x)
        out = berg.get_decoding_model("bold", model, device="cpu").decode(x)
        np.testing.assert_array_equal(out, np.asarray(expected, dtype=np.float32))
    # candidate images go through the recorded backbone (BERG's inference image path: close to
    # the features stage's rows, not equal) and rank as their embeddings do
    dec = berg.get_decoding_model("bold", "ridge_decoder-alexnet_untrained", device="cpu")
    rows = [0, 1, len(stimuli) - 1]
    images = np.stack(
        [
            np.asarray(Image.open(built / stimuli.file[r]).convert("RGB")).transpose(2, 0, 1)
            for r in rows
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # images smaller than the backbone's input
        emb = dec.embed_images(images)
        ranking = dec.retrieve(x, candidate_images=images)
    feats = FeatureStore.open(built / FEATURES).read_rows(np.array(rows))
    assert emb.shape == feats.shape == (3, 1000)
    assert all(np.corrcoef(a, b)[0, 1] > 0.9 for a, b in zip(emb, feats, strict=True))
    np.testing.assert_array_equal(ranking, dec.retrieve(x, candidate_embeddings=emb))


def test_a_release_packs_the_exported_decoders(built):
    """`release`: every decoder's exported folder (declared by its JSON and SHA256SUMS) comes whole
    into the release, listed in its SHA256SUMS, the decoders' seeds in provenance.json; the
    release verifies and BERG decodes from it as from the export."""
    from bergforge import __version__, paths
    from bergforge.release import verify_release

    run_snakemake(built, "--cores", "2", "release")
    release = built / paths.fill(paths.RELEASE_DIR, version=__version__)
    listed = (release / "SHA256SUMS").read_text()
    models = DECODERS
    for model in models:
        rel = f"decoding_models/modality-fmri/train_dataset-bold/model-{model}"
        for name in ("bergforge_decoder.json", "weights.safetensors", "SHA256SUMS"):
            assert f"  {rel}/{name}\n" in listed
            assert (release / rel / name).read_bytes() == (
                built / "results/berg" / rel / name
            ).read_bytes()
    assert verify_release(release).ok
    assert verify_release(release.parent / f"{release.name}.tar.gz").ok
    seeds = json.loads((release / "provenance.json").read_text())["seeds"]
    assert seeds["bold/fmri_mlp-alexnet_untrained_seed1"] == {"fmri_mlp": 1}
    assert seeds["bold/fmri_linear-alexnet_untrained_seed1"] == {"fmri_linear": 1}
    assert set(seeds) == {f"bold/{m}" for m in models}
    x = PreparedTrials(built / PREPARED / "sub-02.zarr").read_split("test")[1][:2]
    for model in models:
        out = BERG(release).get_decoding_model("bold", model, device="cpu").decode(x)
        exported = BERG(built / "results/berg").get_decoding_model("bold", model, device="cpu")
        np.testing.assert_array_equal(out, exported.decode(x))


def test_the_oracle_is_the_noise_free_least_squares_decoders_retrieval(built):
    """Rule decoding_oracle on the tiny study, recomputed here: numpy's least squares of the
    features on [1, driving latents] over the non-test images, cosine ranks among the test
    images counted directly; the leaderboard shows it after the decoders."""
    target = "results/evaluation/bold/oracle-alexnet_untrained/oracle.json"
    run_snakemake(built, "--cores", "2", target, "results/summary/leaderboard.json")
    payload = json.loads((built / target).read_text())
    stimuli = read_stimuli(built / PREPARED / "stimuli.tsv")
    features = FeatureStore.open(built / FEATURES)
    truths = [np.load(built / RAW / f"ground_truth/sub-CSI{s}_truth.npz") for s in (1, 2)]
    driving = truths[0]["driving_latents"]
    np.testing.assert_array_equal(driving, truths[1]["driving_latents"])  # the study's
    order = [list(stimuli.image_id).index(i) for i in truths[0]["image_ids"]]
    e = features.read_rows(np.array(order)).astype(np.float64)
    test = stimuli.split.to_numpy()[order] == "test"
    x = np.column_stack([np.ones(len(driving)), driving])
    coef = np.linalg.lstsq(x[~test], e[~test], rcond=None)[0]
    pred = x[test] @ coef
    cand = e[test] / np.linalg.norm(e[test], axis=1, keepdims=True)
    ranks = []
    for i, p in enumerate(pred):
        s = cand @ p
        ranks.append((s > s[i]).sum() + ((s == s[i]).sum() - 1) / 2)
    ranks = np.array(ranks)
    n = int(test.sum())
    assert payload["n_candidates"] == n == SIMULATION["n_test_images"]
    assert payload["candidate_images"] == list(truths[0]["image_ids"][test])
    for aggregation in ("trial", "subject-agg", "instance-agg", "subject-ind"):
        block = payload["aggregations"][aggregation]
        assert block["n_queries"] == n
        assert block["top1"] == pytest.approx(np.mean(ranks < 1))
        assert block["mean_rank"] == pytest.approx(ranks.mean())
        assert block["normalised_rank"] == pytest.approx(np.mean(1 - ranks / (n - 1)))
        assert block["chance"]["top1"] == pytest.approx(1 / n)
    assert payload["kind"] == "oracle" and payload["subjects"] == [1, 2]
    board = json.loads((built / "results/summary/leaderboard.json").read_text())["decoding"]
    oracle = [r for r in board if r["kind"] == "oracle"]
    assert len(oracle) == 1 and oracle[0]["subject"] is None
    assert oracle[0]["metrics"]["subject-agg"]["top1"] == pytest.approx(np.mean(ranks < 1))
