"""A bold5000 dataset in the config: its format's registry entry, its simulation and window
settings, and the kinds it may build; every bad entry is one line naming the key, checked in the
order the Snakefile checks (schema, datasets, decoding datasets, models) before any job."""

from __future__ import annotations

import copy

import pytest

from bergforge.config import validate_config
from bergforge.datasets.formats import FORMATS, check_datasets, datasets_of
from bergforge.errors import ConfigError
from bergforge.preprocess.bold_window_settings import window_settings
from bergforge.workflow.bold5000 import check_decoding_datasets, subject_runs
from bergforge.workflow.models import check_models, encoding_entries, model_entries
from conftest import TINY_EEG

BOLD = {
    "format": "bold5000",
    "source": "simulated",
    "subjects": [1, 2],
    "simulation": {
        "seed": 5,
        "n_sessions": 1,
        "runs_per_session": 3,
        "trials_per_run": 6,
        "n_test_images": 2,
        "test_presentations": 2,
        "image_size": 16,
    },
    "models": {"ridge_decoder": {}},
}
GOOD = {
    "datasets": {"bold": BOLD, "eeg": copy.deepcopy(TINY_EEG)},
    "backbones": {"alexnet_untrained": {}},
}


def check(config: dict) -> dict:
    """The Snakefile's checks (workflow/rules/common.smk), in its order."""
    validate_config(config)
    check_datasets(config)
    check_decoding_datasets(config)
    check_models(config)
    return config


def bad(mutate) -> dict:
    config = copy.deepcopy(GOOD)
    mutate(config)
    return config


def test_the_format_is_registered_as_trial_indexed_fmri():
    f = FORMATS["bold5000"]
    assert (f.modality, f.target_dims, f.layout, f.images) == (
        "fmri",
        ("vertex", "tr"),
        "trials",
        "folder",
    )
    assert f.sources == ("simulated", "download") and f.real_subjects == (1, 2, 3, 4)
    assert f.default_kinds == ("ridge_decoder",) and f.pooled_stimuli
    assert f.raw_subject(3) == "CSI3" and FORMATS["nsd_bold"].raw_subject(3) == "03"
    assert all(
        FORMATS[n].layout == "images" for n in FORMATS if n not in ("bold5000", "avs_fixations")
    )
    assert FORMATS["avs_fixations"].layout == "fixations"  # read by the free-viewing stage only


def test_a_good_config_passes_and_only_encoders_reach_the_encoding_stages():
    config = check(copy.deepcopy(GOOD))
    assert datasets_of(config, modality="fmri", layout="images") == []
    assert datasets_of(config, layout="trials") == ["bold"]
    assert [e.kind for e in model_entries(config)] == ["ridge_decoder", "linear"]
    assert [e.kind for e in encoding_entries(config)] == ["linear"]
    assert subject_runs(config, "bold") == {
        1: [[1, 1], [1, 2], [1, 3]],
        2: [[1, 1], [1, 2], [1, 3]],
    }
    download = dict(BOLD, source="download", subjects=[4])
    download.pop("simulation")
    assert len(subject_runs({"datasets": {"b": download}}, "b")[4]) == 84  # CSI4's runs


CASES = [
    (
        lambda c: c["datasets"]["bold"].update(preprocess={"n_trs": 5}),
        "config: datasets.bold.preprocess: a 7 s window at TR 2 s is round(7 / 2) = 4 TRs, but "
        "n_trs is 5; expected a duration that rounds to 5 TRs (e.g. 10 s) or n_trs = 4",
    ),
    (
        lambda c: c["datasets"]["bold"].update(preprocess={"duration": 3.0}),
        "config: datasets.bold.preprocess: a 3 s window at TR 2 s is round(3 / 2) = 2 TRs",
    ),
    (
        lambda c: c["datasets"]["bold"].update(preprocess={"mesh": "fsaverage6"}),
        "config: datasets.bold.preprocess.mesh = 'fsaverage6'; expected one of ['fsaverage5']",
    ),
    (
        lambda c: c["datasets"]["bold"].update(preprocess={"tr": 1.5}),
        "config: unknown key(s) ['tr'] under datasets.bold.preprocess; expected one of "
        "['duration', 'mesh', 'n_trs', 'start']",
    ),
    (
        lambda c: c["datasets"]["bold"].update(preprocess={"start": 16.0}),
        "config: datasets.bold.preprocess: the last trial's window (onset ≈ 56.05 s + 16 s, 4 "
        "TRs) ends at 80 s, after the end of the simulated runs (39 TRs, 78 s)",
    ),
    (
        lambda c: c["datasets"]["bold"]["simulation"].update(trials_per_run=1),
        "config: datasets.bold.simulation: 3 runs of 1 trials hold 3 trials, fewer than the 2 × 2 "
        "test presentations plus one training image",
    ),
    (
        lambda c: c["datasets"]["bold"]["simulation"].update(snr=2.0),
        "config: unknown key(s) ['snr'] under datasets.bold.simulation; expected one of",
    ),
    (
        lambda c: c["datasets"]["bold"]["simulation"].update(shared_fraction=1.5),
        "config: datasets.bold.simulation.shared_fraction: 1.5 is greater than the maximum of 1",
    ),
    (
        lambda c: c["datasets"]["bold"].update(subjects=[1, 5]),
        "config: datasets.bold.subjects has [5]; BOLD5000's design has subjects 1–4 (CSI1–CSI4)",
    ),
    (
        # BOLD windows on an EEG dataset: its own `preprocess` is the MEG/EEG decoding variant's
        lambda c: c["datasets"]["eeg"].update(preprocess={"n_trs": 4}),
        "config: unknown key(s) ['n_trs'] under datasets.eeg.preprocess; expected one of "
        "['baseline',",
    ),
    (
        lambda c: c["datasets"]["bold"]["models"].update(linear={}),
        "config: datasets.bold.models.linear: kind 'linear' is an encoding kind (it reads "
        "image-indexed prepared stores); format bold5000 writes trial-indexed ones",
    ),
    (
        lambda c: c["datasets"]["bold"]["models"].update(cnn8={}),
        "config: datasets.bold.models.cnn8: kind 'cnn8' reads NSD images; expected an fMRI "
        "dataset (format nsd_bold or nsd_mosaic)",
    ),
    (
        lambda c: c["datasets"]["eeg"].update(models={"ridge_decoder": {}}),
        "config: datasets.eeg.models.ridge_decoder: kind 'ridge_decoder' decodes trial-indexed "
        "prepared stores; format things_eeg2 writes image-indexed ones",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), CASES)
def test_a_bad_entry_is_one_line_naming_the_key(mutate, message):
    with pytest.raises(ConfigError) as err:
        check(bad(mutate))
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_the_window_settings_follow_neuralsets_rounding():
    assert window_settings(None, "w").n_trs == 4
    assert window_settings({"duration": 9.0, "n_trs": 4}, "w").duration == 9.0  # round(4.5) = 4
    with pytest.raises(ConfigError, match="round\\(5 / 2\\) = 2 TRs"):  # round(2.5) = 2
        window_settings({"duration": 5.0, "n_trs": 3}, "w")


def test_check_config_runs_the_decoding_checks(tmp_path, capsys):
    import yaml

    from bergforge.cli import main

    path = tmp_path / "bold.yaml"
    config = bad(lambda c: c["datasets"]["bold"].update(preprocess={"n_trs": 5}))
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    assert "datasets.bold.preprocess: a 7 s window at TR 2 s is round(7 / 2) = 4 TRs" in (
        capsys.readouterr().err
    )


def test_the_rules_depend_on_what_each_route_declares():
    from types import SimpleNamespace

    from bergforge.workflow.bold5000 import trials_inputs, windows_inputs

    download = {k: v for k, v in BOLD.items() if k != "simulation"} | {"source": "download"}
    config = {"datasets": {"sim": BOLD, "real": download}}
    simulated = windows_inputs(config)(SimpleNamespace(dataset="sim", subject="02"))
    assert simulated == {
        "trials": "results/prepared/sim/trials.tsv",
        "events": "resources/raw/sim/sub-CSI2",
        "runs": "resources/raw/sim/derivatives/fmriprep/sub-CSI2",
        "surfaces": "resources/raw/sim/derivatives/freesurfer/sub-CSI2",
    }
    real = trials_inputs(config)(SimpleNamespace(dataset="real"))
    assert real == {
        "raw": [
            "resources/raw/real/downloads/sub-CSI1.tsv",
            "resources/raw/real/downloads/sub-CSI2.tsv",
        ],
        "stimuli_tree": "resources/raw/real/BOLD5000_Stimuli",
    }


def test_all_builds_the_data_the_decoders_and_their_retrieval_but_no_encoding_stage():
    from bergforge.workflow.targets import all_targets

    config = {k: v for k, v in GOOD.items()} | {"datasets": {"bold": BOLD}}
    check(config)
    assert all_targets(config) == [
        "resources/raw/bold/ground_truth/sub-CSI1_truth.npz",
        "resources/raw/bold/ground_truth/sub-CSI2_truth.npz",
        "results/prepared/bold/stimuli.tsv",
        "results/prepared/bold/sub-01.zarr",
        "results/prepared/bold/sub-02.zarr",
        "results/features/bold/alexnet_untrained/features.json",
        "results/models/bold/ridge_decoder-alexnet_untrained/model.json",
        "results/evaluation/bold/ridge_decoder-alexnet_untrained/retrieval.json",
        "results/evaluation/bold/oracle-alexnet_untrained/oracle.json",  # simulated: its oracle
        "results/berg/decoding_models/modality-fmri/train_dataset-bold/"
        "model-ridge_decoder-alexnet_untrained/bergforge_decoder.json",
        "results/berg/decoding_models/modality-fmri/train_dataset-bold/"
        "model-ridge_decoder-alexnet_untrained/SHA256SUMS",
        "results/summary/leaderboard.json",
        "results/summary/leaderboard.tsv",
        "results/summary/leaderboard.png",
        "results/summary/leaderboard_decoding.tsv",
    ]


def test_a_truth_backbone_the_config_defines_reaches_the_latents_job():
    """The decoders' own targets as the truth ("responses driven by the image embeddings"): a
    backbone defined only in the config is passed to simulate_latents; a registry backbone
    taken as it is adds nothing to the params (so earlier results do not rerun)."""
    from types import SimpleNamespace

    from bergforge.workflow.targets import TRUTH_BACKBONE_SPEC, truth_backbone_entry

    config = copy.deepcopy(GOOD)
    fc8 = {
        "library": "torchvision",
        "model": "alexnet",
        "weights": "none",
        "seed": 20200220,
        "layers": ["classifier.6"],
        "transform": "AlexNet_Weights.IMAGENET1K_V1",
        "datasets": ["bold"],
    }
    config["backbones"]["fc8"] = fc8
    config["datasets"]["bold"]["simulation"]["truth_backbone"] = "fc8"
    params = truth_backbone_entry(config)(SimpleNamespace(dataset="bold"))
    spec = {k: v for k, v in fc8.items() if k != "datasets"}
    assert params == {**config["datasets"]["bold"]["simulation"], TRUTH_BACKBONE_SPEC: spec}
    plain = truth_backbone_entry(config)(SimpleNamespace(dataset="eeg"))
    assert plain == config["datasets"]["eeg"]["simulation"]  # alexnet_untrained: {}


def test_extract_in_memory_takes_the_configs_entry(tmp_path):
    """The latents job builds a backbone the config defines (here AlexNet's 1,000 outputs)."""
    import numpy as np
    from PIL import Image

    from bergforge.features.backbones import extract_in_memory

    image = tmp_path / "a.png"
    Image.fromarray(np.full((32, 32, 3), 100, np.uint8)).save(image)
    spec = {
        "library": "torchvision",
        "model": "alexnet",
        "weights": "none",
        "seed": 1,
        "layers": ["classifier.6"],
        "transform": "AlexNet_Weights.IMAGENET1K_V1",
    }
    assert extract_in_memory("fc8", [image], overrides=spec).shape == (1, 1000)
