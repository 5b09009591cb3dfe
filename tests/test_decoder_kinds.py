"""The decoding kinds ``ridge_decoder``, ``fmri_mlp`` and ``fmri_linear`` on a tiny two-subject study of real
trial stores (``decoding_data``): fitted through the registry as the fit job fits them, then
decoded from their sealed folders. ``ridge_decoder``'s embeddings equal scikit-learn's pipeline
written out here; ``fmri_mlp``'s equal a NumPy forward pass of its saved tensors and retrieve far
above chance; the retrieval evaluation's numbers equal a direct computation; damaged folders and
bad responses are one clear error each."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from decoding_data import DIMS, N_TEST, TRS, VERTICES, make_study
from scipy.special import erf
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from bergforge.atomic import load_npz
from bergforge.errors import ConfigError, DataError
from bergforge.evaluation.decoding import evaluate_decoder
from bergforge.features.image_rows import open_embeddings
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.kind import kind_task
from bergforge.models.registry import get_kind
from bergforge.preprocess.trial_responses import PreparedTrials

RIDGE = {"n_components": 20, "alphas": [0.1, 10.0, 1000.0], "folds": 4}
MLP = {
    "hidden": 32,
    "n_blocks": 1,
    "dropout_in": 0.1,
    "dropout_blocks": 0.0,
    "lr": 1e-2,
    "batch_size": 32,
    "max_epochs": 25,
    "patience": 25,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("decoding"))


def fit(study, kind_name, settings, folder):
    kind = get_kind(kind_name)
    folder.mkdir(parents=True)
    kind.fit(study.request(settings), folder)
    seal_model_folder(folder)  # as the fit job does after the kind's files
    return kind, folder


@pytest.fixture(scope="module")
def ridge(study, tmp_path_factory):
    return fit(study, "ridge_decoder", RIDGE, tmp_path_factory.mktemp("m") / "ridge")


@pytest.fixture(scope="module")
def mlp(study, tmp_path_factory):
    return fit(study, "fmri_mlp", MLP | {"seed": 3}, tmp_path_factory.mktemp("m") / "mlp")


def split_data(study, split):
    """(table, data) of ``split`` for every subject, stores in order."""
    return [PreparedTrials(p).read_split(split) for p in study.stores]


def test_the_kinds_are_registered_decoders():
    for name, model in (("ridge_decoder", "ridge_decoder-dinov2_giant"), ("fmri_mlp", None)):
        kind = get_kind(name)
        assert kind_task(kind) == "decode" and kind.scope == "dataset"
        assert kind.inputs == "features" and kind.splits("fmri") == ("all",)
        if model:
            assert kind.model_name("dinov2_giant") == model
    assert get_kind("fmri_mlp").model_name("dinov2_giant") == "fmri_mlp-dinov2_giant"
    assert get_kind("fmri_mlp").seeded and not getattr(get_kind("ridge_decoder"), "seeded", False)
    assert kind_task(get_kind("mlp")) == "encode"  # kinds without `task` stay encoders


def test_ridge_decoder_decodes_as_sklearn_with_the_chosen_alphas(study, ridge):
    kind, folder = ridge
    train = split_data(study, "train")
    x_train = np.concatenate([d for _, d in train]).reshape(-1, VERTICES * TRS).astype(np.float64)
    rows = [study.image_ids.index(i) for t, _ in train for i in t["image"]]
    y_train = study.embeddings[rows].astype(np.float64)
    alphas = load_npz(folder / "readout.npz", ["alpha"])["alpha"]
    assert set(alphas.tolist()) <= set(RIDGE["alphas"])
    scaler = StandardScaler().fit(x_train)
    pca = PCA(RIDGE["n_components"], svd_solver="full").fit(scaler.transform(x_train))
    z_train = pca.transform(scaler.transform(x_train))
    for table, data in split_data(study, "test"):
        z = pca.transform(scaler.transform(data.reshape(len(data), -1).astype(np.float64)))
        expected = np.column_stack(
            [
                Ridge(alpha=float(a)).fit(z_train, y_train[:, d]).predict(z)
                for d, a in enumerate(alphas)
            ]
        )
        got = kind.decode(folder, data)
        assert got.shape == (len(table), DIMS) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    record = json.loads((folder / "model.json").read_text())
    assert record["kind"] == "ridge_decoder" and record["task"] == "decode"
    assert record["target_shape"] == [VERTICES, TRS] and record["n_dims"] == DIMS
    assert record["subjects"] == [1, 2] and record["backbone"] == "toy"
    assert record["trials"]["sub-01"]["test"] == N_TEST * 3


def numpy_forward(tensors: dict, x: np.ndarray, row: int | None = None) -> np.ndarray:
    """FmriMlp in eval mode from its saved tensors, in float64 (the network's docstring); with
    subject layers, every trial through row ``row`` of them first."""
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    if row is not None:
        x = np.einsum("nft,fh->nht", x, t["subject_layers.weight"][row])
        x = x + t["subject_layers.bias"][row][:, None]

    def norm(h, prefix):
        mean = h.mean(-1, keepdims=True)
        var = h.var(-1, keepdims=True)
        return (h - mean) / np.sqrt(var + 1e-5) * t[f"{prefix}.weight"] + t[f"{prefix}.bias"]

    def gelu(h):
        return 0.5 * h * (1 + erf(h / np.sqrt(2)))

    h = np.swapaxes(x.astype(np.float64), 1, 2) @ t["lin0.weight"].T + t["lin0.bias"]
    if "norm0.weight" in t:  # not in a linear network (setting linear)
        h = gelu(norm(h, "norm0"))
    k = 0
    while f"blocks.{k}.linear.weight" in t:
        inner = h @ t[f"blocks.{k}.linear.weight"].T + t[f"blocks.{k}.linear.bias"]
        h = gelu(norm(inner, f"blocks.{k}.norm")) + h
        k += 1
    h = np.swapaxes(h, 1, 2) @ t["out_linear.weight"].T + t["out_linear.bias"]
    h = h[..., 0] @ t["lin1.weight"].T + t["lin1.bias"]
    return h @ t["head.weight"].T + t["head.bias"]


def test_fmri_mlp_reloads_to_the_network_it_saved(study, mlp, tmp_path):
    from safetensors.numpy import load_file

    kind, folder = mlp
    tensors = load_file(folder / "weights.safetensors")
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    for _, data in split_data(study, "test"):
        got = kind.decode(folder, data)
        np.testing.assert_allclose(got, numpy_forward(tensors, data), rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(kind.decode(copy, data), got)  # same bytes, same decodes
    record = json.loads((folder / "model.json").read_text())
    assert record["network"]["n_features"] == VERTICES and record["network"]["n_out"] == DIMS
    assert 1 <= record["best_epoch"] <= record["epochs"] <= MLP["max_epochs"]
    assert record["settings"]["seed"] == 3 and record["device"] == "cpu"
    assert not (folder / "checkpoint.safetensors").exists()


def test_a_linear_fmri_mlp_saves_and_decodes_a_linear_map(study, tmp_path):
    """Setting ``linear``: the clip-trained network without LayerNorm, GELU or blocks; its folder
    reloads to it, and what it decodes is an affine map of the windows."""
    from safetensors.numpy import load_file

    settings = MLP | {"seed": 4, "linear": True, "n_blocks": 0, "max_epochs": 6, "patience": 6}
    kind, folder = fit(study, "fmri_mlp", settings, tmp_path / "linear")
    tensors = load_file(folder / "weights.safetensors")
    assert not [k for k in tensors if k.startswith(("norm0.", "blocks."))]
    record = json.loads((folder / "model.json").read_text())
    assert record["network"]["linear"] is True and record["settings"]["linear"] is True
    _, data = split_data(study, "test")[0]
    got = kind.decode(folder, data)
    np.testing.assert_allclose(got, numpy_forward(tensors, data), rtol=1e-4, atol=1e-4)
    # affine: decode(a·x + b·y) − decode(0) = a·(decode(x) − decode(0)) + b·(decode(y) − decode(0))
    x, y, zero = data[:4].astype(np.float64), data[4:8].astype(np.float64), np.zeros_like(data[:4])
    base = kind.decode(folder, zero).astype(np.float64)
    mixed = kind.decode(folder, (0.5 * x - 2.0 * y).astype(np.float32)).astype(np.float64) - base
    parts = 0.5 * (kind.decode(folder, data[:4]) - base) - 2.0 * (
        kind.decode(folder, data[4:8]) - base
    )
    np.testing.assert_allclose(mixed, parts, rtol=1e-3, atol=1e-3 * np.abs(parts).max())


def test_linear_with_residual_blocks_is_one_clear_error(study, tmp_path):
    with pytest.raises(
        ConfigError, match=r"linear: true has no residual blocks; expected n_blocks: 0, got 1"
    ):
        fit(study, "fmri_mlp", MLP | {"linear": True}, tmp_path / "bad")
    assert not list((tmp_path / "bad").iterdir())  # nothing written


def test_fmri_linear_is_the_linear_fmri_mlp_under_its_own_name(study, tmp_path):
    """Kind ``fmri_linear``: the same network, training and bytes as ``fmri_mlp`` with ``linear:
    true, n_blocks: 0, dropout_in: 0`` and the same seed, in a folder of its own kind."""
    from safetensors.numpy import load_file

    kind = get_kind("fmri_linear")
    assert kind_task(kind) == "decode" and kind.seeded and kind.modalities == ("fmri",)
    assert kind.model_name("dinov2_giant") == "fmri_linear-dinov2_giant"
    common = {k: v for k, v in MLP.items() if k not in ("n_blocks", "dropout_in")}
    common |= {"seed": 5, "max_epochs": 4, "patience": 4}
    kind, folder = fit(study, "fmri_linear", common, tmp_path / "fmri_linear")
    mlp_kind, twin = fit(
        study,
        "fmri_mlp",
        common | {"linear": True, "n_blocks": 0, "dropout_in": 0.0},
        tmp_path / "twin",
    )
    tensors = load_file(folder / "weights.safetensors")
    assert sorted(tensors) == sorted(load_file(twin / "weights.safetensors"))
    assert (folder / "weights.safetensors").read_bytes() == (
        twin / "weights.safetensors"
    ).read_bytes()
    record = json.loads((folder / "model.json").read_text())
    assert record["kind"] == "fmri_linear" and record["seeds"] == {"fmri_linear": 5}
    network = record["network"]
    assert network["linear"] is True and network["n_blocks"] == 0 and network["dropout_in"] == 0.0
    _, data = split_data(study, "test")[0]
    got = kind.decode(folder, data)
    np.testing.assert_allclose(got, numpy_forward(tensors, data), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got, mlp_kind.decode(twin, data))
    with pytest.raises(DataError, match="a model of kind 'fmri_mlp'; expected a fmri_linear model"):
        kind.decode(twin, data)  # each kind reads only its own folders
    with pytest.raises(DataError, match="a model of kind 'fmri_linear'; expected a fmri_mlp model"):
        mlp_kind.decode(folder, data)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"linear": False}, "models.fmri_linear: linear = False; the fmri_linear kind is linear"),
        ({"n_blocks": 2}, "models.fmri_linear: n_blocks = 2; the fmri_linear kind has no residual"),
    ],
)
def test_fmri_linear_refuses_the_nonlinear_network(study, tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        fit(study, "fmri_linear", MLP | {"n_blocks": 0} | settings, tmp_path / "bad")
    assert not list((tmp_path / "bad").iterdir())  # nothing written


@pytest.fixture(scope="module")
def mlp_subjects(study, tmp_path_factory):
    settings = MLP | {"seed": 3, "subject_layers": True, "max_epochs": 8, "patience": 8}
    return fit(study, "fmri_mlp", settings, tmp_path_factory.mktemp("m") / "mlp_subjects")


def test_fmri_mlp_with_subject_layers_decodes_each_subject_through_its_own(
    study, mlp_subjects, tmp_path
):
    """Row k of the subject layer is the fit's k-th subject: decoding subject 2's trials equals the
    NumPy network through row 1; without subjects, or for a subject it was not fitted on, one
    clear error; the retrieval evaluation decodes each store with its own subject."""
    from safetensors.numpy import load_file

    kind, folder = mlp_subjects
    tensors = load_file(folder / "weights.safetensors")
    record = json.loads((folder / "model.json").read_text())
    assert record["network"]["subject_layers"] == [1, 2] and record["settings"]["subject_layers"]
    assert tensors["subject_layers.weight"].shape == (2, VERTICES, MLP["hidden"])
    (_, first), (_, second) = split_data(study, "test")
    got = kind.decode(folder, second, subjects=2)
    np.testing.assert_allclose(got, numpy_forward(tensors, second, row=1), rtol=1e-4, atol=1e-4)
    assert not np.allclose(kind.decode(folder, second, subjects=1), got, atol=1e-3)
    mixed = np.concatenate([first[:3], second[:3]])
    np.testing.assert_array_equal(
        kind.decode(folder, mixed, subjects=np.array([1, 1, 1, 2, 2, 2])),
        np.concatenate([kind.decode(folder, first[:3], 1), got[:3]]),
    )
    with pytest.raises(DataError, match=r"has a layer per subject \(\[1, 2\]\); pass each"):
        kind.decode(folder, second)
    with pytest.raises(DataError, match=r"subject\(s\) \[3\]: .* for \[1, 2\] only"):
        kind.decode(folder, second, subjects=3)
    with pytest.raises(DataError, match="one subject number or 24"):
        kind.decode(folder, second, subjects=np.array([1, 2]))
    stimuli, features = open_embeddings(study.stimuli, study.features)
    stores = [PreparedTrials(p) for p in study.stores]
    out = tmp_path / "r.json", tmp_path / "r.npz"
    evaluate_decoder(kind, folder, stores, stimuli, features, *out, {"model": "m"})
    predictions = load_npz(out[1], ["predictions"])["predictions"]
    expected = np.concatenate([kind.decode(folder, first, 1), got])
    np.testing.assert_array_equal(predictions, expected)


def direct_retrieval(study, kind, folder):
    """Ranks and metrics computed here from the decoded test trials, loop by loop."""
    preds, subjects, images = [], [], []
    for table, data in split_data(study, "test"):
        preds.append(kind.decode(folder, data).astype(np.float64))
        subjects += table["subject"].tolist()
        images += table["image"].tolist()
    preds = np.concatenate(preds)
    ids = sorted(set(images))
    cands = study.embeddings[[study.image_ids.index(i) for i in ids]].astype(np.float64)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)

    def rank(p, true):
        s = cands @ p
        return (np.sum(s > s[true]) + np.sum(s >= s[true]) - 1) / 2

    def metrics(r):
        r = np.asarray(r, dtype=float)
        n = len(ids)
        return {
            "top1": np.mean(r < 1),
            "top5": np.mean(r < 5),
            "top10": np.mean(r < 10),
            "median_rank": np.median(r),
            "normalised_rank": np.mean(1 - r / (n - 1)),
        }

    trial = [rank(p, ids.index(i)) for p, i in zip(preds, images, strict=True)]
    pairs = sorted(set(zip(subjects, images, strict=True)))
    subject_agg = []
    for s, i in pairs:
        mask = [(a, b) == (s, i) for a, b in zip(subjects, images, strict=True)]
        subject_agg.append(rank(preds[mask].mean(0), ids.index(i)))
    instance = [rank(preds[np.array(images) == i].mean(0), ids.index(i)) for i in ids]
    per_subject = [
        metrics([r for r, s in zip(trial, subjects, strict=True) if s == k]) for k in (1, 2)
    ]
    independent = {m: np.mean([p[m] for p in per_subject]) for m in per_subject[0]}
    return {
        "trial": (metrics(trial), trial),
        "subject-agg": (metrics(subject_agg), subject_agg),
        "instance-agg": (metrics(instance), instance),
        "subject-ind": (independent, trial),
    }, len(ids)


@pytest.mark.parametrize("which", ["ridge", "mlp"])
def test_the_retrieval_evaluation_matches_a_direct_computation(study, which, request, tmp_path):
    kind, folder = request.getfixturevalue(which)
    stimuli, features = open_embeddings(study.stimuli, study.features)
    stores = [PreparedTrials(p) for p in study.stores]
    out_json, out_npz = tmp_path / "retrieval.json", tmp_path / "retrieval.npz"
    labels = {"dataset": "b5k", "model": "m", "kind": kind.name}
    payload = evaluate_decoder(kind, folder, stores, stimuli, features, out_json, out_npz, labels)
    assert json.loads(out_json.read_text()) == json.loads(json.dumps(payload))
    expected, n = direct_retrieval(study, kind, folder)
    assert payload["n_candidates"] == n == N_TEST and payload["model"] == "m"
    assert payload["chance"]["top5"] == pytest.approx(5 / N_TEST)
    for aggregation, (values, _) in expected.items():
        block = payload["aggregations"][aggregation]
        for metric, value in values.items():
            assert block[metric] == pytest.approx(value, abs=1e-12), (aggregation, metric)
        assert block["chance"] == payload["chance"]
    arrays = load_npz(out_npz, ["trial_rank", "subject_agg_rank", "instance_agg_rank"])
    np.testing.assert_allclose(arrays["trial_rank"], expected["trial"][1])
    np.testing.assert_allclose(arrays["subject_agg_rank"], expected["subject-agg"][1])
    np.testing.assert_allclose(arrays["instance_agg_rank"], expected["instance-agg"][1])
    own = payload["per_subject"]["sub-02"]["trial"]
    trial_ranks = np.asarray(expected["trial"][1])[arrays["trial_subject"] == 2]
    assert own["top5"] == pytest.approx(np.mean(trial_ranks < 5))
    # both decoders learn the linear map: subject-agg top-1 far above chance (1/8)
    assert payload["aggregations"]["subject-agg"]["top1"] >= 0.6


def test_a_damaged_model_folder_is_an_error(study, ridge, mlp, tmp_path):
    data = split_data(study, "test")[0][1]
    for kind, folder in (ridge, mlp):
        copy = tmp_path / kind.name
        shutil.copytree(folder, copy)
        target = copy / kind.fit_outputs[1]
        raw = bytearray(target.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        target.write_bytes(bytes(raw))
        with pytest.raises(DataError, match="does not match its SHA-256"):
            kind.decode(copy, data)
        (copy / "checksums.json").unlink()
        with pytest.raises(DataError, match="no checksums.json"):
            kind.decode(copy, data)


def test_responses_of_another_shape_are_one_clear_error(study, ridge, mlp):
    data = split_data(study, "test")[0][1]
    for kind, folder in (ridge, mlp):
        with pytest.raises(DataError, match=r"expects \[trial, vertex, tr\] = \(n, 60, 4\)"):
            kind.decode(folder, data[:, :, :3])  # a window of 3 TRs
        bad = data.copy()
        bad[0, 0, 0] = np.nan
        with pytest.raises(DataError, match="NaN or infinite"):
            kind.decode(folder, bad)


def test_bad_fit_inputs_are_one_clear_error_each(study, tmp_path):
    other = make_study(tmp_path / "other", subjects=(3,))
    kind = get_kind("ridge_decoder")
    # a store of another subject than the request names
    request = study.request(RIDGE, prepared=(study.stores[0], other.stores[0]))
    with pytest.raises(DataError, match="is subject 3's; expected 2's"):
        kind.fit(request, tmp_path / "a")
    # windows of 4 TRs for an fmri_mlp that expects 5
    with pytest.raises(DataError, match="n_trs = 5"):
        get_kind("fmri_mlp").fit(study.request(MLP | {"n_trs": 5}), tmp_path / "b")
    # trial images missing from the stimulus table
    table = (study.root / "stimuli.tsv").read_text().splitlines()
    short = tmp_path / "stimuli.tsv"
    short.write_text("\n".join(table[:-1]) + "\n")
    with pytest.raises(DataError, match="not in the stimulus table|do not follow"):
        kind.fit(study.request(RIDGE, stimuli=short), tmp_path / "c")
    # an unknown setting
    with pytest.raises(ConfigError, match="unknown"):
        kind.fit(study.request({"n_components": 5, "bogus": 1}), tmp_path / "d")
    assert not any((tmp_path / n / "model.json").exists() for n in "abcd")


def test_windows_filled_onto_the_device_block_by_block_equal_the_read_and_its_fingerprint(
    study, monkeypatch
):
    """The fit jobs fill the windows tensor in blocks (on a GPU the host never holds them whole):
    the same values as one read, and the same checkpoint fingerprint as of the whole arrays."""
    import torch

    from bergforge.models.decoding import data as pooled
    from bergforge.models.decoding.data import pooled_trials
    from bergforge.models.mlp.train import fingerprint

    monkeypatch.setattr(pooled, "READ_BLOCK", 7)  # several blocks, the last one partial
    data = pooled_trials(study.request())
    rows = data.rows(("train", "validation"))
    x, digest = data.read_onto(rows, torch.device("cpu"))
    expected = data.read(rows)
    assert x.dtype == torch.float32 and tuple(x.shape) == expected.shape
    assert np.array_equal(x.numpy(), expected)
    y = data.targets(rows)
    assert fingerprint(y, start=digest) == fingerprint(expected, y)
