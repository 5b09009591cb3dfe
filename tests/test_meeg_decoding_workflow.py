"""MEG/EEG decoding through real Snakemake: a tiny simulated THINGS-EEG2 study (2 subjects) with
``preprocess: {variant: neuralbench}`` → trial-indexed stores (rule meeg_decoding_windows) →
target features → ``simple_conv`` (SimpleConvTimeAgg) → retrieval (evaluate_decoder) → export
(export_decoder) → the API and the leaderboard. The THINGS-MEG1 study of the same config is
planned through the same rules (a dry run); its windows are built and checked against MNE by
tests/test_meeg_decoding_windows.py, and simple_conv on MEG-sized input by
tests/test_simple_conv_decoder.py. The windows
are recomputed here from the simulator's raw session dicts (MNE + scikit-learn + numpy), the
split from the trial table, the ranks from the saved embeddings and the feature store; bad
configs are one clear error each before any job runs, and a window past the end of a recording
fails its job leaving no store."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil

import mne
import numpy as np
import pandas as pd
import pytest
import yaml
from retrieval_reference import candidate_rows, rank_of, trial_ranks
from sklearn.preprocessing import RobustScaler

from bergforge.api.berg import BERG
from bergforge.config import validate_config
from bergforge.datasets.formats import check_datasets, dataset_layout
from bergforge.datasets.sensors import EEG_TARGET_CODE
from bergforge.errors import ConfigError, InvalidParameterError
from bergforge.features.store import FeatureStore
from bergforge.models.registry import get_kind
from bergforge.preprocess.stimuli import read_stimuli
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.workflow.meeg_decoding import check_meeg_decoding_datasets
from bergforge.workflow.models import check_models, model_entries
from conftest import REPO, TINY_EEG, TINY_MEG, make_workdir, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow

#: a network small enough for seconds of training (the task's is 4.96 M parameters)
NETWORK = {
    "seeds": [1],
    "n_virtual": 8,
    "initial_linear": 8,
    "hidden": 8,
    "depth": 2,
    "backbone_out": 8,
    "n_freqs": 3,
    "max_epochs": 3,
    "batch_size": 8,
    "patience": 2,
    "lr": 0.001,
}
EEG_SIM = {**TINY_EEG["simulation"], "n_sessions": 2, "n_test_images": 6, "image_size": 32}
MEG_SIM = {**TINY_MEG["simulation"], "n_test_images": 6, "image_size": 32}
CONFIG = {
    "datasets": {
        "eegdec": {
            "format": "things_eeg2",
            "source": "simulated",
            "subjects": [1, 2],
            "preprocess": {"variant": "neuralbench"},  # neuralbench's EEG image task
            "simulation": EEG_SIM,
            "models": {"simple_conv": NETWORK},
        },
        "megdec": {
            "format": "things_meg1",
            "source": "simulated",
            "subjects": [1],
            # shorter filters (1 Hz high-pass, 60 Hz notches) keep the MEG job quick
            "preprocess": {"variant": "neuralbench", "l_freq": 1.0, "notch": [60]},
            "simulation": MEG_SIM,
            # ≈ 20 training trials: batches of 4 give OneCycleLR its > 10 steps in 3 epochs
            "models": {"simple_conv": {**NETWORK, "batch_size": 4}},
        },
    },
    # one layer (1,000 dimensions) as the targets: every layer would be 205,672
    "backbones": {"alexnet_untrained": {"layers": ["classifier.6"]}},
    "features": {"shard_size": 64, "batch_size": 8},  # one shard per dataset
}
EEG_RAW = "resources/raw/eegdec"
MODEL = "simple_conv-alexnet_untrained_seed1"
#: what the build runs: the EEG study (the MEG one is planned only, below)
BUILT = {
    **copy.deepcopy(CONFIG),
    "datasets": {"eegdec": copy.deepcopy(CONFIG["datasets"]["eegdec"])},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("meeg_decoding_flow"), copy.deepcopy(BUILT))
    run_snakemake(workdir, "--cores", "2")
    return workdir


def checked(config: dict) -> dict:
    """The Snakefile's config checks, in its order (schema + semantics, formats, variants, kinds)."""
    config = validate_config(
        copy.deepcopy(config), schema_path=REPO / "workflow/schemas/config.schema.yaml"
    )
    check_datasets(config)
    check_meeg_decoding_datasets(config)
    check_models(config)
    return config


# --- config -------------------------------------------------------------------------------------


def test_the_variant_makes_a_decoding_dataset_with_simple_conv_by_default():
    config = copy.deepcopy(CONFIG)
    del config["datasets"]["eegdec"]["models"]
    config["datasets"]["plain"] = {**copy.deepcopy(TINY_EEG)}
    config = checked(config)
    assert dataset_layout(config, "eegdec") == dataset_layout(config, "megdec") == "trials"
    assert dataset_layout(config, "plain") == "images"
    kinds = {(e.dataset, e.kind) for e in model_entries(config)}
    assert ("eegdec", "simple_conv") in kinds and ("plain", "linear") in kinds


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # an encoding kind on the decoding variant
        (
            lambda c: c["datasets"]["eegdec"].update(models={"linear": {}}),
            r"datasets\.eegdec\.models\.linear: kind 'linear' is an encoding kind .* things_eeg2 "
            r"with preprocess variant 'neuralbench' writes trial-indexed",
        ),
        # the decoder on the image-indexed (encoding) form of the same format
        (
            lambda c: c["datasets"]["eegdec"].pop("preprocess"),
            r"datasets\.eegdec\.models\.simple_conv: kind 'simple_conv' decodes trial-indexed .*"
            r"variant: neuralbench",
        ),
        # a window setting the schema cannot judge
        (
            lambda c: c["datasets"]["eegdec"]["preprocess"].update(baseline=[0.5, 0.2]),
            r"^config: datasets\.eegdec\.preprocess\.neuralbench: baseline = \(0\.5, 0\.2\)",
        ),
        # the published THINGS-MEG1 epochs cannot give the variant's windows
        (
            lambda c: c.update(preprocess={"meg_published_epochs": ["megdec"]}),
            r"meg_published_epochs names 'megdec', a dataset with `preprocess: \{variant: "
            r"neuralbench\}`",
        ),
        # an fMRI decoder on MEG windows
        (
            lambda c: c["datasets"]["megdec"].update(models={"fmri_mlp": {}}),
            r"kind 'fmri_mlp' models fmri data; dataset 'megdec' is meg",
        ),
    ],
)
def test_bad_configs_are_one_clear_error_each(change, message):
    config = copy.deepcopy(CONFIG)
    change(config)
    with pytest.raises(ConfigError, match=message):
        checked(config)


def test_an_unknown_variant_is_refused_by_the_schema_and_the_format_check():
    config = copy.deepcopy(CONFIG)
    config["datasets"]["eegdec"]["preprocess"] = {"variant": "mne_bids"}
    with pytest.raises(ConfigError, match=r"variant"):
        checked(config)
    raw = copy.deepcopy(config)  # past the schema: the format's own check names the variants
    with pytest.raises(ConfigError, match=r"preprocess\.variant = 'mne_bids'.*'neuralbench'"):
        check_datasets(raw)


def test_the_real_data_config_is_neuralbenchs_eeg_image_setting():
    """config/things_eeg_decoding.yaml (not run here): THINGS-EEG2's 10 subjects downloaded, the
    variant at the task's defaults, SimpleConvTimeAgg at the task's size on DINOv2-giant targets
    over 3 seeds, trained on cuda (a runtime key: not in the fit's settings)."""
    from bergforge.preprocess.meeg_windows import neuralbench_params
    from bergforge.workflow.meeg_decoding import window_section
    from bergforge.workflow.models import entry_settings

    config = checked(yaml.safe_load((REPO / "config/things_eeg_decoding.yaml").read_text()))
    (name,) = config["datasets"]
    ds = config["datasets"][name]
    assert (ds["format"], ds["source"], ds["subjects"]) == (
        "things_eeg2",
        "download",
        list(range(1, 11)),
    )
    assert dataset_layout(config, name) == "trials"
    params = neuralbench_params(window_section(config, name))
    assert (params.sfreq, params.l_freq, params.h_freq, params.notch) == (
        120.0,
        0.1,
        75.0,
        (50.0, 60.0),
    )
    assert (params.start, params.duration, params.baseline, params.clamp) == (
        -0.2,
        1.0,
        (0.0, 0.2),
        20.0,
    )
    entries = model_entries(config)
    assert [e.model for e in entries] == [f"simple_conv-dinov2_giant_seed{s}" for s in (33, 34, 35)]
    assert all(entry_settings(config, e) == {"seed": e.seed} for e in entries)  # the task's sizes


# --- the prepared stores ------------------------------------------------------------------------


def test_eeg_windows_match_an_independent_recomputation(built):
    """Subject 2, session 2's test partition: MNE notch + band-pass + resample, scikit-learn's
    RobustScaler, numpy windows with the baseline of the 200 ms before onset and the clamp."""
    path = built / EEG_RAW / "raw_data/sub-02/ses-02/raw_eeg_test.npy"
    raw_dict = np.load(path, allow_pickle=True).item()
    sfreq = float(raw_dict["sfreq"])
    data = np.asarray(raw_dict["raw_eeg_data"], dtype=np.float64)
    eeg = [i for i, t in enumerate(raw_dict["ch_types"]) if t == "eeg"]
    raw = mne.io.RawArray(
        data[eeg],
        mne.create_info([raw_dict["ch_names"][i] for i in eeg], sfreq, "eeg"),
        verbose="error",
    )
    notches = sorted(
        {f * k for f in (50, 60) for k in range(1, 7) if f * k < sfreq / 2 and f * k <= 300}
    )
    raw.notch_filter(notches, verbose="error").filter(0.1, 75.0, verbose="error")
    raw.resample(120.0, verbose="error")
    scaled = RobustScaler().fit_transform(raw.get_data().T).T
    onsets = np.flatnonzero(data[-1] > 0) / sfreq  # the stim row; the tiny study's targets too
    targets = np.flatnonzero(data[-1] == EEG_TARGET_CODE) / sfreq
    onsets = onsets[~np.isin(onsets, targets)]
    store = PreparedTrials(built / "results/prepared/eegdec/sub-02.zarr")
    table = store.trials
    rows = np.flatnonzero((table.session == 2).to_numpy() & (table.run == 2).to_numpy())
    np.testing.assert_allclose(table.onset.to_numpy()[rows], onsets)
    stored = store.read(rows)
    for k, onset in enumerate(onsets):
        first = int(np.rint((onset - 0.2) * 120))
        window = scaled[:, first : first + 120]
        expected = np.clip(window - window[:, :24].mean(axis=1, keepdims=True), -20, 20)
        np.testing.assert_allclose(stored[k], expected, rtol=0, atol=2e-5)
    assert store.target_shape == (63, 120) and store.modality == "eeg"
    assert store.preprocessing["variant"] == "neuralbench"


def test_the_split_follows_the_task(built):
    """test = every trial of a test image; validation = every training trial of
    ceil(0.2 × n) training timelines (session partitions / runs) of each subject's; train the rest."""
    stimuli = read_stimuli(built / "results/prepared/eegdec/stimuli.tsv")
    test_images = set(stimuli.image_id[stimuli.split == "test"])
    dataset = "eegdec"
    for s in (1, 2):
        table = PreparedTrials(built / f"results/prepared/{dataset}/sub-{s:02d}.zarr").trials
        assert set(table.image[table.split == "test"]) == test_images
        is_test = (table.split == "test").to_numpy()
        test_set = set(table.image[is_test])
        assert not (set(table.image[~is_test]) & test_set)
        timelines = table[~is_test][["session", "run"]].drop_duplicates()
        held = table[table.split == "validation"][["session", "run"]].drop_duplicates()
        assert len(held) == math.ceil(0.2 * len(timelines))
        chosen = table.merge(held, on=["session", "run"])
        assert set(chosen.split) <= {"validation", "test"}
        assert set(table.split) == {"train", "validation", "test"}


def test_the_meg_study_is_planned_through_the_same_rules(tmp_path):
    """THINGS-MEG1 with the variant: its runs → meeg_decoding_windows → simple_conv → retrieval
    and export, and none of the encoding stages (a dry run of the whole config)."""
    workdir = make_workdir(tmp_path, copy.deepcopy(CONFIG))
    jobs = planned_jobs(workdir)
    meg = {rule for rule, wildcards in jobs if wildcards.get("dataset") == "megdec"}
    assert {
        "simulate_meg_subject",
        "meeg_decoding_windows",
        "fit_simple_conv",
        "evaluate_decoder",
        "export_decoder",
    } <= meg
    assert not meg & {"preprocess_meg_subject", "fit_linear", "evaluate_subject"}
    windows = [w for rule, w in jobs if rule == "meeg_decoding_windows"]
    assert {(w["dataset"], w["subject"]) for w in windows} == {
        ("eegdec", "01"),
        ("eegdec", "02"),
        ("megdec", "01"),
    }


# --- models, retrieval, export, API, leaderboard ------------------------------------------------


def test_the_decoders_fit_retrieve_export_and_reach_the_leaderboard(built):
    dataset, model = "eegdec", MODEL
    stimuli = read_stimuli(built / f"results/prepared/{dataset}/stimuli.tsv")
    features = FeatureStore.open(
        built / f"results/features/{dataset}/alexnet_untrained/features.json"
    )
    folder = built / f"results/evaluation/{dataset}/{model}"
    payload = json.loads((folder / "retrieval.json").read_text())
    saved = np.load(folder / "retrieval.npz")
    record = json.loads((built / f"results/models/{dataset}/{model}/model.json").read_text())
    assert record["kind"] == "simple_conv" and record["network"]["n_times"] == 120
    assert record["seeds"] == {"simple_conv": 1} and record["device"] == "cpu"
    # the ranks, recomputed from the saved embeddings and the candidates' feature rows
    images, cand = candidate_rows(saved, stimuli, features)
    mine = trial_ranks(saved, images, cand)
    np.testing.assert_allclose(saved["trial_rank"], mine)
    assert payload["aggregations"]["trial"]["top1"] == pytest.approx(np.mean(mine < 1))
    assert payload["aggregations"]["trial"]["chance"]["top1"] == pytest.approx(1 / len(images))
    # subject-agg: each subject's predictions averaged per image, then ranked
    sub = saved["trial_subject"]
    agg = []
    for s, image in zip(saved["subject_agg_subject"], saved["subject_agg_image"], strict=True):
        mean = saved["predictions"][(sub == s) & (saved["trial_image"] == image)].mean(axis=0)
        agg.append(rank_of(mean.astype(np.float64) @ cand.T, images.index(image)))
    np.testing.assert_allclose(saved["subject_agg_rank"], agg, atol=1e-9)
    table = pd.read_csv(built / "results/summary/leaderboard_decoding.tsv", sep="\t")
    assert set(table.dataset) == {"eegdec"} and set(table.model) == {"simple_conv"}
    # exported; the API decodes test windows as the kind does on its model folder
    berg = BERG(built / "results/berg")
    assert berg.list_decoding_models() == ["eeg/eegdec/simple_conv-alexnet_untrained_seed1"]
    x = PreparedTrials(built / f"results/prepared/{dataset}/sub-01.zarr").read_split("test")[1][:3]
    expected = get_kind("simple_conv").decode(built / f"results/models/{dataset}/{model}", x)
    dec = berg.get_decoding_model(dataset, model, device="cpu")  # the modality found
    modality = "eeg"
    assert dec.metadata["modality"] == modality
    again = berg.get_decoding_model(dataset, model, modality=modality, device="cpu")
    np.testing.assert_array_equal(again.decode(x), dec.decode(x))
    np.testing.assert_array_equal(dec.decode(x), np.asarray(expected, dtype=np.float32))
    with pytest.raises(InvalidParameterError, match=r"\[trial, channel, time\]"):
        dec.decode(x[:, :, :100])
    # the encoding stages left the decoding datasets alone
    assert not (built / "results/truth").exists()
    assert not (built / "results/berg/encoding_models").exists()


def run_log(proc) -> str:
    """The end of a Snakemake run's output, for a failed assertion's message."""
    return f"snakemake's output:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def test_a_window_past_the_end_of_a_recording_fails_its_job_and_leaves_no_store(built, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(built, workdir, symlinks=True)
    config = copy.deepcopy(BUILT)
    # 5 s after each onset: the last trials' windows run past the recording's end (≈ 2 s after
    # the last onset), and the job stops at the first recording before cutting any window (a
    # 10-min window once made it allocate gigabytes for recordings long enough to hold it)
    config["datasets"]["eegdec"]["preprocess"]["duration"] = 5.0
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    store = "results/prepared/eegdec/sub-01.zarr"
    log = workdir / "logs/preprocess/eegdec/sub-01.log"
    log.unlink()  # the build's log of this job: only the rerun may write one
    # the store as the target (before --forcerun, which takes every path after it): the new
    # duration changes subject 2's job too, and when Snakemake ran that one first (the order is
    # not fixed) it stopped before subject 1's
    proc = run_snakemake(workdir, store, "--cores", "1", "--forcerun", store, check=False)
    assert re.search(r"^meeg_decoding_windows\s+1$", proc.stdout + proc.stderr, re.M), run_log(proc)
    assert proc.returncode != 0, run_log(proc)
    assert log.is_file(), f"the windows job wrote no log; {run_log(proc)}"
    assert "windows (-0.2…4.8 s around the onsets) fall outside the recording" in log.read_text()
    assert not (workdir / store).exists()
    assert not list((workdir / "results/prepared/eegdec").glob("sub-01.zarr*"))
