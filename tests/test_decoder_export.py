"""Exported decoders (``bergforge.export.decoder_layout``) loaded through ``BERG``: a tiny
``ridge_decoder`` and ``fmri_mlp`` fitted here on real trial stores, exported with their real
retrieval.json, then decoded through the API (equal to the kind's own ``decode`` on its model
folder), retrieval ranks checked against NumPy, bad inputs and a tampered file refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from decoding_data import DIMS, TRS, VERTICES, make_study

from bergforge.api.berg import BERG
from bergforge.errors import InvalidParameterError, ModelLoadError, ModelNotFoundError
from bergforge.evaluation.decoding import evaluate_decoder
from bergforge.export.decoder_layout import (
    DECODER_JSON,
    WEIGHTS,
    decoder_folder,
    export_decoder,
)
from bergforge.features.image_rows import open_embeddings
from bergforge.models.folder_checksums import seal_model_folder
from bergforge.models.registry import get_kind
from bergforge.preprocess.trial_responses import PreparedTrials

RIDGE = {"n_components": 10, "alphas": [0.1, 10.0], "folds": 3}
MLP = {
    "hidden": 16, "n_blocks": 1, "dropout_in": 0.0, "dropout_blocks": 0.0, "lr": 1e-2,
    "batch_size": 32, "max_epochs": 5, "patience": 5, "device": "cpu", "seed": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(study, root, {name: (kind, model folder, retrieval payload)}) of both kinds, exported."""
    base = tmp_path_factory.mktemp("decexport")
    study = make_study(base / "study")
    root = base / "berg"  # decoders only: no encoding_models folder
    stimuli, features = open_embeddings(study.stimuli, study.features)
    stores = [PreparedTrials(p) for p in study.stores]
    models = {}
    for name, kind_name, settings in (
        ("ridge_decoder", "ridge_decoder", RIDGE),
        ("fmri_mlp", "fmri_mlp", MLP),
        ("fmri_mlp_subjects", "fmri_mlp", MLP | {"subject_layers": True}),
    ):
        kind = get_kind(kind_name)
        folder = base / "models" / name
        folder.mkdir(parents=True)
        kind.fit(study.request(settings), folder)
        seal_model_folder(folder)
        rj, rn = base / f"{name}.json", base / f"{name}.npz"
        labels = {"dataset": "tiny", "model": f"{name}-emb", "kind": kind_name}
        payload = evaluate_decoder(kind, folder, stores, stimuli, features, rj, rn, labels)
        out = decoder_folder(root, "fmri", "tiny", f"{name}-emb")
        export_decoder(folder, rj, out, f"{name}-emb", study.features)
        models[name] = (kind, folder, payload)
    return study, root, models


def test_the_exported_folder_holds_json_safetensors_and_sums(exported):
    _, root, models = exported
    folder = decoder_folder(root, "fmri", "tiny", "ridge_decoder-emb")
    assert sorted(p.name for p in folder.iterdir()) == sorted([DECODER_JSON, WEIGHTS, "SHA256SUMS"])
    meta = json.loads((folder / DECODER_JSON).read_text())
    assert meta["kind"] == "ridge_decoder" and meta["response_shape"] == [VERTICES, TRS]
    assert meta["n_dims"] == DIMS and meta["backbone"] == {"name": "toy"}  # features.json's spec
    assert meta["retrieval"] == json.loads(json.dumps(models["ridge_decoder"][2]))
    assert BERG(root).list_decoding_models() == [
        "fmri/tiny/fmri_mlp-emb",
        "fmri/tiny/fmri_mlp_subjects-emb",
        "fmri/tiny/ridge_decoder-emb",
    ]


@pytest.mark.parametrize("name", ["ridge_decoder", "fmri_mlp"])
def test_decode_and_retrieve_match_the_kind_and_numpy(exported, name):
    study, root, models = exported
    kind, folder, _ = models[name]
    x = PreparedTrials(study.stores[0]).read_split("test")[1][:6]
    model = BERG(root).get_decoding_model("tiny", f"{name}-emb", device="cpu")
    out = model.decode(x)
    assert out.shape == (6, DIMS)
    np.testing.assert_array_equal(out, np.asarray(kind.decode(folder, x), dtype=np.float32))
    cands = study.embeddings[:9]
    ranking = model.retrieve(x, candidate_embeddings=cands)
    unit = cands / np.linalg.norm(cands, axis=1, keepdims=True)
    cos = out @ unit.T
    expected = np.argsort(-cos, axis=1, kind="stable")
    assert ranking.shape == (6, 9)
    # same order wherever the scores are not tied within float error
    np.testing.assert_array_equal(
        np.take_along_axis(cos, ranking, 1), np.take_along_axis(cos, expected, 1)
    )
    assert (ranking == expected).mean() > 0.95


def test_a_decoder_with_subject_layers_decodes_with_a_subject_or_refuses(exported):
    """Exported with its subject layers, the model decodes as the kind does for the subject given
    (one for all trials, or one per trial); without a subject, or for one it has no layer for,
    one clear error; a model without subject layers takes a subject and ignores it."""
    study, root, models = exported
    kind, folder, payload = models["fmri_mlp_subjects"]
    x = PreparedTrials(study.stores[1]).read_split("test")[1][:6]
    model = BERG(root).get_decoding_model("tiny", "fmri_mlp_subjects-emb", device="cpu")
    assert model.subject_layers == [1, 2]
    out = model.decode(x, subjects=2)
    np.testing.assert_array_equal(out, kind.decode(folder, x, subjects=2))
    np.testing.assert_array_equal(model.decode(x, subjects=np.array([2] * 6)), out)
    assert not np.allclose(model.decode(x, subjects=1), out, atol=1e-3)
    ranking = model.retrieve(x, candidate_embeddings=study.embeddings[:9], subjects=2)
    cos = out @ (study.embeddings[:9] / np.linalg.norm(study.embeddings[:9], axis=1)[:, None]).T
    np.testing.assert_array_equal(ranking[:, 0], np.argmax(cos, axis=1))
    with pytest.raises(InvalidParameterError, match=r"has a layer per subject \(\[1, 2\]\)"):
        model.decode(x)
    with pytest.raises(InvalidParameterError, match=r"subject\(s\) \[5\]: .*for \[1, 2\] only"):
        model.decode(x, subjects=5)
    for bad in (np.array([1, 2]), 1.0, True, [1] * 6):
        with pytest.raises(InvalidParameterError, match="subjects must be one subject number"):
            model.decode(x, subjects=bad)
    pooled = BERG(root).get_decoding_model("tiny", "fmri_mlp-emb", device="cpu")
    assert pooled.subject_layers is None
    np.testing.assert_array_equal(pooled.decode(x, subjects=7), pooled.decode(x))
    assert payload["aggregations"]["subject-agg"]["n_queries"] == 2 * 8


def test_bad_inputs_get_one_clear_error(exported):
    study, root, _ = exported
    berg = BERG(root)
    model = berg.get_decoding_model("tiny", "ridge_decoder-emb", device="cpu")
    good = np.zeros((2, VERTICES, TRS), dtype=np.float32)
    for bad, words in (
        (good[:, :-1], "shape"),
        (good.astype(bool), "bool"),
        (good.tolist(), "list"),
        (np.full_like(good, np.nan), "non-finite"),
    ):
        with pytest.raises(
            InvalidParameterError,
            match=f"\\[trial, vertex, tr\\] = \\(n, {VERTICES}, {TRS}\\).*got .*{words}",
        ):
            model.decode(bad)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        model.retrieve(good)
    with pytest.raises(InvalidParameterError, match=f"\\[candidate, {DIMS}\\]"):
        model.retrieve(good, candidate_embeddings=np.zeros((3, DIMS + 1)))
    with pytest.raises(ModelNotFoundError, match="ridge_decoder-emb"):
        berg.get_decoding_model("tiny", "nope")
    with pytest.raises(InvalidParameterError, match="plain names"):
        berg.get_decoding_model("../x", "ridge_decoder-emb")


def test_a_release_packs_the_decoders_verified_and_they_decode_from_it(exported, tmp_path):
    """The workflow declares each decoder folder by its JSON and SHA256SUMS (rule export_decoder's
    outputs): the release copies the weights that manifest lists, lists every file in its own
    SHA256SUMS, verifies as folder and archive, records the decoders' seeds, and BERG decodes
    from the released folder exactly as from the export; a decoder whose weights no longer match
    its SHA256SUMS stops the release with nothing half-built."""
    import shutil

    from bergforge.release import build_release, collect_seeds, verify_release

    study, root, models = exported
    declared = sorted(p for p in root.rglob("*") if p.name in (DECODER_JSON, "SHA256SUMS"))
    assert len(declared) == 2 * len(models)
    seeds = collect_seeds([f / "model.json" for _, f, _ in models.values()], root.parent / "models")
    assert seeds["fmri_mlp"] == {"fmri_mlp": 1} and "pca" in seeds["ridge_decoder"]
    repo = Path(__file__).resolve().parents[1]
    folder, archive = build_release(root, declared, tmp_path / "rel", "0.0.1", {}, seeds, repo)
    listed = (folder / "SHA256SUMS").read_text()
    for name in models:
        rel = decoder_folder(folder, "fmri", "tiny", f"{name}-emb").relative_to(folder)
        for file in (DECODER_JSON, WEIGHTS, "SHA256SUMS"):
            assert f"  {rel.as_posix()}/{file}\n" in listed
            assert (folder / rel / file).read_bytes() == (root / rel / file).read_bytes()
    assert verify_release(folder).ok and verify_release(archive).ok
    assert json.loads((folder / "provenance.json").read_text())["seeds"] == seeds
    x = PreparedTrials(study.stores[0]).read_split("test")[1][:4]
    for name, subjects in (("ridge_decoder", None), ("fmri_mlp_subjects", 1)):
        a = BERG(root).get_decoding_model("tiny", f"{name}-emb", device="cpu")
        b = BERG(folder).get_decoding_model("tiny", f"{name}-emb", device="cpu")
        np.testing.assert_array_equal(b.decode(x, subjects), a.decode(x, subjects))
    copy = tmp_path / "berg"
    shutil.copytree(root, copy)
    weights = decoder_folder(copy, "fmri", "tiny", "fmri_mlp-emb") / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    again = [copy / p.relative_to(root) for p in declared]
    with pytest.raises(ModelLoadError, match=f"{WEIGHTS} does not match SHA256SUMS"):
        build_release(copy, again, tmp_path / "again", "0.0.1", {}, seeds, repo)
    assert list((tmp_path / "again").iterdir()) == []


def test_a_tampered_file_is_refused(exported, tmp_path):
    import shutil

    _, root, _ = exported
    copy = tmp_path / "berg"
    shutil.copytree(root, copy)
    weights = decoder_folder(copy, "fmri", "tiny", "ridge_decoder-emb") / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=f"{WEIGHTS} does not match SHA256SUMS"):
        BERG(copy).get_decoding_model("tiny", "ridge_decoder-emb", device="cpu")
