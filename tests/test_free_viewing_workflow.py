"""Free viewing through real Snakemake: a tiny AVS-like simulated study (2 training subjects and
held-out subject 60) → fixation-onset epochs (rule fixation_epochs) → fixation features by gaze
sampling (fixation_features) → ridge_cv and shared models on the dual stream
(fit_fixation_model) → leave-one-subject-out scores (evaluate_fixations), the challenge's files
of subject 60 (challenge_outputs) and the leaderboard's free-viewing rows. The crop route is
planned here (a dry run: adding it schedules only its own jobs); its features are computed and
checked by tests/test_fixation_loso.py and tests/test_fixation_crops.py.

Independent references: the epochs are cut again with ``mne.Epochs`` from the simulator's FIF,
the ridge model is refitted with scikit-learn's ``RidgeCV`` on the stored features and epochs and
must give the challenge files' predictions, and the score is recomputed from those predictions
and the held-out subject's epochs with ``np.corrcoef``. A local copy (published ``-epo.fif`` +
a table under other column names, in ms and degrees) gives the same store as the continuous
route; bad configs are one clear error each before any job runs.
"""

from __future__ import annotations

import copy
import json

import mne
import numpy as np
import pandas as pd
import pytest

from bergforge.config import validate_config
from bergforge.datasets.avs_fixations import REQUIRED, FixationTableSpec, read_fixation_table
from bergforge.datasets.formats import check_datasets
from bergforge.errors import ConfigError, DataError
from bergforge.export.challenge import read_challenge_outputs
from bergforge.features.fixation_store import FixationFeatures
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.workflow.free_viewing import check_free_viewing
from bergforge.workflow.free_viewing_jobs import epochs_job
from conftest import REPO, make_workdir, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow

TIMES = [0.08, 0.11, 0.14]
# two seeds: two models, one leaderboard row (their mean ± sd)
SHARED = {"hidden": 16, "max_epochs": 4, "patience": 2, "batch_size": 32, "seeds": [0, 1]}
CONFIG = {
    "datasets": {
        "avs": {
            "format": "avs_fixations",
            "source": "simulated",
            "subjects": [1, 2, 60],
            "simulation": {"seed": 5, "n_scenes": 5, "image_size": 64, "train_subjects": [1, 2]},
            "free_viewing": {
                "backbones": {"alexnet_untrained": "features.12"},
                "epochs": {"tmin": -0.1, "tmax": 0.2},
                "times": TIMES,
                # the build: gaze sampling, dual stream (foveal-only is the first columns: the
                # feature store test); the crop route is planned below and its features are
                # tests/test_fixation_loso.py's
                "routes": ["gaze"],
                "streams": ["dual"],
                "kinds": {"ridge_cv": {}, "shared": SHARED},
            },
        }
    },
    "backbones": {"alexnet_untrained": {}},
    "features": {"threads": 1},  # two feature jobs side by side on 2 cores
}
RAW = "resources/raw/avs"
FV = "results/free_viewing/avs"
MODELS = [("gaze", "dual", kind) for kind in ("ridge_cv", "shared_seed0", "shared_seed1")]
TRAIN = [1, 2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("free_viewing_flow"), copy.deepcopy(CONFIG))
    run_snakemake(workdir, "--cores", "2")
    return workdir


def _spec(workdir) -> FixationTableSpec:
    study = json.loads((workdir / RAW / "study.json").read_text())
    return FixationTableSpec.from_config(study["fixation_table"])


def _table(workdir, subject: int) -> pd.DataFrame:
    path = workdir / RAW / f"sub-{subject:02d}" / f"sub-{subject:02d}_fixations.tsv"
    return read_fixation_table(path, _spec(workdir))


def _store(workdir, subject: int) -> PreparedTrials:
    return PreparedTrials(workdir / f"results/prepared/avs/sub-{subject:02d}.zarr")


def _at(store: PreparedTrials, times) -> np.ndarray:
    grid = np.asarray(store.coords["time"])
    return np.array([int(np.argmin(np.abs(grid - t))) for t in times])


# --- the build ----------------------------------------------------------------------------------


def test_epochs_equal_mnes_cut_of_the_recording(built):
    table = _table(built, 2)
    fif = built / RAW / "sub-02" / "meg" / "sub-02_task-avs_meg.fif"
    raw = mne.io.read_raw_fif(fif, preload=True, verbose="error")
    onsets = np.round(table["onset"].to_numpy() * raw.info["sfreq"]).astype(int)
    events = np.column_stack([onsets + raw.first_samp, np.zeros_like(onsets), np.ones_like(onsets)])
    epochs = mne.Epochs(
        raw, events, tmin=-0.1, tmax=0.2, baseline=None, preload=True, verbose="error"
    )
    store = _store(built, 2)
    assert len(epochs) == store.n_trials == len(table)
    assert store.coords["channel"] == raw.ch_names
    np.testing.assert_allclose(store.read(), epochs.get_data(), rtol=1e-5, atol=1e-16)
    np.testing.assert_allclose(store.coords["time"], epochs.times)
    trials = store.trials
    assert (trials["split"] == "train").all() and (
        _store(built, 60).trials["split"] == "test"
    ).all()
    np.testing.assert_array_equal(trials["trial"], table["trial"])  # never reordered
    np.testing.assert_array_equal(trials["fixation"], table["fixation"])


def test_feature_stores_hold_every_fixation_and_the_routes_cost(built):
    for subject in (1, 60):
        n = len(_table(built, subject))
        for route in ("gaze",):
            store = FixationFeatures(
                built / FV / f"features/alexnet_untrained/{route}/sub-{subject:02d}.zarr"
            )
            np.testing.assert_array_equal(store.rows, np.arange(n))  # the mask rule keeps all
            assert store.read("dual").shape == (n, 2 * 256 + 1)
            assert store.read("foveal").shape == (n, 256)
            np.testing.assert_array_equal(
                store.read("dual")[:, -1], _table(built, subject)["has_next"].astype(float)
            )
            cost = store.cost
            assert cost["seconds"] > 0 and cost["peak_rss_mb"] > 100
            scenes = _table(built, subject)["scene"].nunique()
            assert cost["forwards"] == (
                scenes if route == "gaze" else n + _table(built, subject)["has_next"].sum()
            )


def test_ridge_challenge_outputs_equal_sklearns_fit_in_table_order(built):
    """The challenge files of subject 60 (rows = its fixation table, in order) equal a RidgeCV
    refitted here on the stored features and epochs of subjects 1-4."""
    from sklearn.linear_model import RidgeCV

    from bergforge.models.fixations.settings import DEFAULT_ALPHAS

    route, stream = "gaze", "dual"
    xs, ys = [], []
    for s in TRAIN:
        feats = FixationFeatures(
            built / FV / f"features/alexnet_untrained/{route}/sub-{s:02d}.zarr"
        )
        store = _store(built, s)
        xs.append(feats.read(stream))
        ys.append(store.read()[:, :, _at(store, TIMES)].reshape(store.n_trials, -1))
    x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    ridge = RidgeCV(alphas=DEFAULT_ALPHAS, alpha_per_target=True).fit((x - mean) / sd, y)
    held = FixationFeatures(built / FV / f"features/alexnet_untrained/{route}/sub-60.zarr")
    expected = ridge.predict((held.read(stream) - mean) / sd).reshape(-1, 204, len(TIMES))

    table = _table(built, 60)
    folder = built / FV / f"challenge/alexnet_untrained/{route}-{stream}/ridge_cv/sub-60"
    out = read_challenge_outputs(folder, 60, table=table)  # ids checked against the table
    assert out.over_time.shape == (len(table), 204, len(TIMES))
    assert out.at_latency.shape == (len(table), 204)
    np.testing.assert_array_equal(out.ids["trial"], table["trial"])
    np.testing.assert_array_equal(out.ids["fixation"], table["fixation"])
    np.testing.assert_array_equal(out.ids["scene"], table["scene"])
    scale = np.abs(expected).max()
    np.testing.assert_allclose(out.over_time, expected, atol=1e-4 * scale)
    np.testing.assert_array_equal(out.at_latency, out.over_time[:, :, 1])  # 110 ms
    assert out.model["trained_on"] == TRAIN and out.model["kind"] == "ridge_cv"


def test_every_model_writes_its_challenge_files_and_its_score_recomputes(built):
    """For every route × stream × kind: the score of subject 60 is the median over channels of
    np.corrcoef between the challenge file's predictions and its epochs at 110 ms."""
    table = _table(built, 60)
    store = _store(built, 60)
    observed = store.read()[:, :, _at(store, TIMES)]
    truth = json.loads((built / RAW / "ground_truth/sub-60_truth.json").read_text())
    for route, stream, kind in MODELS:
        tag = f"alexnet_untrained/{route}-{stream}/{kind}"
        out = read_challenge_outputs(built / FV / f"challenge/{tag}/sub-60", 60, table=table)
        found = json.loads((built / FV / f"evaluation/{tag}/sub-60.json").read_text())
        r = [np.corrcoef(out.at_latency[:, c], observed[:, c, 1])[0, 1] for c in range(204)]
        assert found["median_r_at_latency"] == pytest.approx(np.median(r), abs=1e-5)
        assert found["latency"] == pytest.approx(0.11) and found["trained_on"] == TRAIN
        assert found["ceiling_r_median"] == pytest.approx(truth["ceiling_r_median"])
        assert found["n_features"] == 513
        assert found["median_r_at_latency"] < truth["ceiling_r_median"] + 0.1


def test_the_leaderboard_has_a_row_per_model_and_one_for_a_kinds_seeds(built):
    from bergforge.cli import main

    def score(kind: str) -> float:
        found = json.loads(
            (built / FV / f"evaluation/alexnet_untrained/gaze-dual/{kind}/sub-60.json").read_text()
        )
        return found["median_r_at_latency"]

    tsv = pd.read_csv(built / "results/summary/leaderboard_free_viewing.tsv", sep="\t")
    assert list(zip(tsv["kind"], tsv["seeds"].astype(str), strict=True)) == [
        ("ridge_cv", "–"),
        ("shared", "0,1"),
    ]
    board = json.loads((built / "results/summary/leaderboard.json").read_text())
    ridge, shared = board["free_viewing"]
    assert ridge["median_r"] == pytest.approx(score("ridge_cv")) and ridge["median_r_sd"] is None
    seeds = [score("shared_seed0"), score("shared_seed1")]
    assert seeds[0] != seeds[1]  # the seeds' models differ
    assert shared["median_r"] == pytest.approx(np.mean(seeds))
    assert shared["median_r_sd"] == pytest.approx(np.std(seeds, ddof=1))
    assert shared["delta_r"] == pytest.approx(np.mean(seeds) - score("ridge_cv"))
    scenes = _table(built, 60)["scene"].nunique()  # gaze sampling: one forward per scene
    assert all(r["feature_forwards"] == scenes for r in board["free_viewing"])
    code = main(
        [
            "leaderboard",
            "--configfile",
            str(built / "config/config.yaml"),
            "--directory",
            str(built),
        ]
    )
    assert code == 0


def test_runtime_settings_and_the_crop_size_rerun_nothing_and_a_route_only_its_own(built):
    config = copy.deepcopy(CONFIG)
    config["features"] = {"device": "cpu", "threads": 2, "batch_size": 4}
    config["datasets"]["avs"]["free_viewing"]["kinds"]["shared"]["device"] = "cpu"
    config["datasets"]["avs"]["free_viewing"]["crop_deg"] = 3.0  # not a setting of gaze sampling
    (built / "config/runtime.yaml").write_text(json.dumps(config))
    assert planned_jobs(built, "--configfile", "config/runtime.yaml") == []
    config["datasets"]["avs"]["free_viewing"]["routes"] = ["crops", "gaze"]
    (built / "config/crops.yaml").write_text(json.dumps(config))
    jobs = planned_jobs(built, "--configfile", "config/crops.yaml")
    features = [w for rule, w in jobs if rule == "fixation_features"]
    assert sorted(int(w["subject"]) for w in features) == [1, 2, 60]
    assert all(w["route"] == "crops" for rule, w in jobs if "route" in w)
    assert {rule for rule, _ in jobs} >= {"fit_fixation_model", "challenge_outputs"}
    assert not any(rule in ("fixation_epochs", "simulate_avs_study") for rule, _ in jobs)


# --- a local copy ----------------------------------------------------------------------------------


def test_a_local_copy_of_published_epochs_gives_the_same_store(built, tmp_path):
    """AVS as distributed: -epo.fif with (trial, fixation) metadata and a table under other names,
    times in ms and positions in degrees; the store equals the continuous route's."""
    table = _table(built, 1)
    raw = mne.io.read_raw_fif(
        built / RAW / "sub-01/meg/sub-01_task-avs_meg.fif", preload=True, verbose="error"
    )
    onsets = np.round(table["onset"].to_numpy() * raw.info["sfreq"]).astype(int)
    events = np.column_stack([onsets + raw.first_samp, np.zeros_like(onsets), np.ones_like(onsets)])
    meta = pd.DataFrame({"trial_id": table["trial"], "fix_id": table["fixation"]})
    epochs = mne.Epochs(
        raw,
        events,
        tmin=-0.1,
        tmax=0.2,
        baseline=None,
        metadata=meta,
        preload=True,
        verbose="error",
    )
    copy_dir = tmp_path / "avs_copy"
    (copy_dir / "sub-03").mkdir(parents=True)
    epochs.save(copy_dir / "sub-03" / "epochs-epo.fif", verbose="error")
    ppd, size = 16.0, 64
    own = pd.DataFrame(
        {
            "stim": table["scene"],
            "trial_id": table["trial"],
            "fix_id": table["fixation"],
            "t_on": table["onset"] * 1e3,
            "dur": table["duration"] * 1e3,
            "gx": (table["x"] - size / 2) / ppd,
            "gy": (table["y"] - size / 2) / ppd,
            "nx": (table["next_x"] - size / 2) / ppd,
            "ny": (table["next_y"] - size / 2) / ppd,
            "sess": table["session"],
        }
    )
    own.to_csv(copy_dir / "sub-03" / "fix.csv", index=False)
    spec = {
        "columns": {
            "scene": "stim",
            "trial": "trial_id",
            "fixation": "fix_id",
            "onset": "t_on",
            "duration": "dur",
            "x": "gx",
            "y": "gy",
            "next_x": "nx",
            "next_y": "ny",
            "session": "sess",
        },
        "time_unit": "ms",
        "position_unit": "degrees",
        "scene_size_px": [size, size],
        "screen": {"pixels_per_degree": ppd},
    }
    out = tmp_path / "sub-03.zarr"

    def prepare(store) -> None:  # the copy's table and -epo.fif into the trial store
        epochs_job(
            store,
            dataset="avs",
            subject=3,
            table_file=copy_dir / "sub-03" / "fix.csv",
            spec=spec,
            epochs={},
            split="train",
            epochs_file=copy_dir / "sub-03" / "epochs-epo.fif",
            epoch_ids={"trial": "trial_id", "fixation": "fix_id"},
        )

    prepare(out)
    mine, theirs = PreparedTrials(out), _store(built, 1)
    np.testing.assert_allclose(mine.read(), theirs.read(), rtol=1e-5, atol=1e-16)
    np.testing.assert_allclose(mine.trials["onset"], theirs.trials["onset"], atol=1e-6)
    # a table whose rows are not the epochs' (its last trial missing) is refused, nothing written
    own[own["trial_id"] != own["trial_id"].max()].to_csv(
        copy_dir / "sub-03" / "fix.csv", index=False
    )
    bad = tmp_path / "bad.zarr"
    with pytest.raises(DataError, match=r"has \d+ rows for \d+ epochs"):
        prepare(bad)
    assert not bad.exists()


def test_a_local_copy_is_planned_from_its_path(tmp_path):
    config = copy.deepcopy(CONFIG)
    ds = config["datasets"]["avs"]
    del ds["simulation"]
    ds.update(source="local", path=str(tmp_path / "avs_copy"), subjects=[1, 2, 3, 4, 60])
    ds["free_viewing"].update(
        evaluate=[1],
        table={
            "columns": {k: k for k in REQUIRED},
            "time_unit": "s",
            "position_unit": "pixels",
            "scene_size_px": [64, 64],
            "screen": {"pixels_per_degree": 16},
        },
        heldout=[60],
    )
    for s in ds["subjects"]:
        folder = tmp_path / "avs_copy" / f"sub-{s:02d}"
        (folder / "meg").mkdir(parents=True)
        (folder / f"sub-{s:02d}_fixations.tsv").write_text("x\n")
        (folder / "meg" / f"sub-{s:02d}_task-avs-epo.fif").write_text("")
    import h5py

    with h5py.File(tmp_path / "avs_copy" / "nsd_stimuli.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=np.zeros((2, 64, 64, 3), np.uint8))
    (tmp_path / "work").mkdir()
    workdir = make_workdir(tmp_path / "work", config)
    jobs = planned_jobs(workdir)
    epochs = sorted(int(w["subject"]) for rule, w in jobs if rule == "fixation_epochs")
    assert epochs == [1, 2, 3, 4]  # no MEG of the held-out subject 60 is read
    fits = {w["train"] for rule, w in jobs if rule == "fit_fixation_model"}
    assert fits == {"02-03-04", "01-02-03-04"}  # fold of subject 1, and the challenge's
    assert not any(rule == "simulate_avs_study" for rule, _ in jobs)
    from bergforge.workflow.free_viewing import settings, split_of

    fv = settings(config, "avs")  # subject 1 is scored, yet trained on in the other fold
    assert [split_of(fv, s) for s in (1, 2, 60)] == ["train", "train", "test"]


# --- bad configs ---------------------------------------------------------------------------------


def _checked(config: dict) -> None:
    config = validate_config(config, schema_path=REPO / "workflow/schemas/config.schema.yaml")
    check_datasets(config)
    check_free_viewing(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["free_viewing"].update(heldout=[7]), r"heldout has subjects \[7\]"),
        (
            lambda d: d["free_viewing"].update(backbones={"vit_b_32": "encoder"}),
            r"backbones names \['vit_b_32'\], not under `backbones`",
        ),
        (lambda d: d["free_viewing"].update(times=[0.5]), r"outside the epochs"),
        (lambda d: d.update(models={"linear": {}}), r"models are the free-viewing kinds"),
        (lambda d: d.update(source="local"), r"source 'local' but no `path`"),
        (
            lambda d: d["free_viewing"]["kinds"].update(shared={"dropout": 2.0}),
            r"kinds\.shared: .*dropout",
        ),
        (lambda d: d.update(subjects=[1, 2, 3, 60]), r"the simulated study has subjects"),
        (
            lambda d: d["free_viewing"]["kinds"].update(shared={"seed": 1, "seeds": [0, 1]}),
            r"kinds\.shared: `seed` and `seeds` both given",
        ),
        (
            lambda d: d["free_viewing"]["kinds"].update(shared={"seeds": [1, 1]}),
            r"kinds\.shared\.seeds: \[1, 1\] has non-unique elements",
        ),
        (
            lambda d: d["free_viewing"]["kinds"].update(ridge_cv={"seeds": [0]}),
            r"unknown key\(s\) \['seeds'\] under datasets\.avs\.free_viewing\.kinds\.ridge_cv",
        ),
        (
            lambda d: d["free_viewing"].update(heldout=[2, 60], evaluate=[1]),
            r"predicting subject \d leaves",
        ),
    ],
)
def test_bad_configs_are_one_clear_error_each(change, message):
    config = copy.deepcopy(CONFIG)
    change(config["datasets"]["avs"])
    if config["datasets"]["avs"]["source"] == "local":
        config["datasets"]["avs"].pop("simulation")
    with pytest.raises(ConfigError, match=message):
        _checked(config)


def test_free_viewing_settings_belong_to_avs_datasets_only():
    from conftest import TINY_MEG

    config = copy.deepcopy(CONFIG)
    config["datasets"]["meg"] = {**copy.deepcopy(TINY_MEG), "free_viewing": {}}
    with pytest.raises(ConfigError, match=r"datasets\.meg\.free_viewing is only allowed"):
        _checked(config)
