"""The workflow side of the decoders, on a config dict (no Snakemake run; the Snakemake run is
tests/test_bold5000_workflow.py): a ``bold5000`` dataset builds ``ridge_decoder`` and seeded
``fmri_mlp`` models next to an encoding dataset.
Decoders are fitted by the generic fit rule and evaluated by ``evaluate_decoder`` only (never by
``evaluate_subject``, the export, the summary sections or the unseen-subject rule); the
leaderboard gets their rows beside chance, the encoding rows unchanged."""

from __future__ import annotations

import copy
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from decoding_data import make_study

from bergforge import paths
from bergforge.errors import ConfigError
from bergforge.models.registry import get_kind
from bergforge.report.leaderboard import build_leaderboard, read_leaderboard, write_leaderboard
from bergforge.report.leaderboard_decoding import (
    DECODING_HEADER,
    DecodingRun,
    format_decoding_tsv,
)
from bergforge.workflow import decoding as wdec
from bergforge.workflow import models as wm
from bergforge.workflow.leaderboard import decoding_runs, leaderboard_inputs, leaderboard_outputs
from bergforge.workflow.resources import COEFFICIENTS, declared_mem_mb, sized_mem_mb
from bergforge.workflow.targets import all_targets, oracle_targets

RIDGE = "ridge_decoder-dinov2_giant"
MLPS = ["fmri_mlp-dinov2_giant_seed33", "fmri_mlp-dinov2_giant_seed34"]


def config() -> dict:
    return {
        "backbones": {"dinov2_giant": {}, "alexnet_untrained": {}},
        "datasets": {
            "b5k": {
                "format": "bold5000",
                "source": "simulated",
                "subjects": [1, 2],
                "models": {
                    "ridge_decoder": {"backbones": ["dinov2_giant"]},
                    "fmri_mlp": {"backbones": ["dinov2_giant"], "seeds": [33, 34]},
                },
            },
            "meg": {
                "format": "things_meg1",
                "source": "simulated",
                "subjects": [1],
                "models": {"linear": {"backbones": ["alexnet_untrained"]}},
            },
        },
    }


def test_decoders_are_fitted_and_evaluated_by_retrieval_only():
    cfg = config()
    wm.check_models(cfg)
    assert [e.model for e in wm.decoding_entries(cfg)] == [RIDGE, *MLPS]
    assert [e.seed for e in wm.decoding_entries(cfg)] == [None, 33, 34]
    assert [e.model for e in wm.encoding_entries(cfg)] == ["alexnet_untrained"]
    settings = wm.entry_settings(cfg, wm.decoding_entries(cfg)[2])
    assert settings == {"seed": 34}  # `backbones` and `seeds` choose models, not settings
    # fitted by the generic fit rule: one folder per model, every subject's store as input
    markers = wm.fit_targets(cfg)
    for model in (RIDGE, *MLPS):
        assert f"results/models/b5k/{model}/model.json" in markers
    fit_in = wm.fit_inputs(cfg)(SimpleNamespace(dataset="b5k", model=MLPS[0]))
    assert fit_in["prepared"] == [
        "results/prepared/b5k/sub-01.zarr",
        "results/prepared/b5k/sub-02.zarr",
    ]
    assert fit_in["features"] == "results/features/b5k/dinov2_giant/features.json"
    # never evaluated per subject, exported or summarised
    assert all("/b5k/" not in t for t in wm.evaluation_targets(cfg))
    assert RIDGE not in wm.evaluation_constraints(cfg)["model"]
    assert all("b5k" not in f for f in wm.exported_model_files(cfg))
    from bergforge.workflow.export import own_layout_models
    from bergforge.workflow.summary import summary_sections

    assert all(e.dataset != "b5k" for e, _ in summary_sections(cfg))
    assert all(e.dataset != "b5k" for e, _ in own_layout_models(cfg))
    assert wm.unseen_entries(cfg) == []
    # evaluated by retrieval
    retrieval = [f"results/evaluation/b5k/{m}/retrieval.json" for m in (RIDGE, *MLPS)]
    assert wdec.retrieval_targets(cfg) == retrieval
    inputs = wdec.decoder_inputs(cfg)(SimpleNamespace(dataset="b5k", model=MLPS[1]))
    assert inputs == {
        "model": f"results/models/b5k/{MLPS[1]}/model.json",
        "prepared": ["results/prepared/b5k/sub-01.zarr", "results/prepared/b5k/sub-02.zarr"],
        "stimuli": "results/prepared/b5k/stimuli.tsv",
        "features": "results/features/b5k/dinov2_giant/features.json",
    }
    constraints = wdec.decoder_constraints(cfg)
    assert constraints["dataset"] == "b5k"
    assert sorted(constraints["model"].split("|")) == sorted([RIDGE, *MLPS])
    assert wdec.decoder_labels(cfg, "b5k", MLPS[0])["seed"] == 33
    targets = all_targets(cfg)
    assert set(retrieval) <= set(targets)
    # and exported (rule export_decoder), each with its retrieval.json
    from bergforge.workflow.decoder_export import decoder_export_inputs, decoder_export_targets

    exported = [
        f"results/berg/decoding_models/modality-fmri/train_dataset-b5k/model-{m}/{name}"
        for m in (RIDGE, *MLPS)
        for name in ("bergforge_decoder.json", "SHA256SUMS")
    ]
    assert decoder_export_targets(cfg) == exported and set(exported) <= set(targets)
    assert decoder_export_inputs(cfg)(SimpleNamespace(dataset="b5k", model=RIDGE)) == {
        "model": f"results/models/b5k/{RIDGE}/model.json",
        "retrieval": f"results/evaluation/b5k/{RIDGE}/retrieval.json",
        "features": "results/features/b5k/dinov2_giant/features.json",
    }
    assert paths.LEADERBOARD_DECODING_TSV in targets and paths.LEADERBOARD_JSON in targets


def test_a_release_holds_the_exported_decoders_and_their_seeds():
    """Rule build_release's inputs: the encoding export tree plus every decoder's exported JSON
    and SHA256SUMS (the release copies the weights that manifest lists); the provenance's seeds
    come from every decoder's model.json too."""
    from bergforge.workflow.decoder_export import decoder_export_targets
    from bergforge.workflow.export import export_targets
    from bergforge.workflow.targets import release_export_files, release_seed_files

    cfg = config()
    files = release_export_files(cfg)
    assert files == export_targets(cfg) + decoder_export_targets(cfg)
    assert len(decoder_export_targets(cfg)) == 2 * 3 and export_targets(cfg)  # meg's linear tree
    seeds = release_seed_files(cfg)
    assert seeds[-3:] == [f"results/models/b5k/{m}/model.json" for m in (RIDGE, *MLPS)]
    assert seeds[:-3] == wm.exported_model_files(cfg) and seeds[:-3]
    del cfg["datasets"]["meg"]  # decoders only: the release is the decoders
    assert release_export_files(cfg) == decoder_export_targets(cfg)


def test_a_decoders_only_config_still_gets_its_leaderboard():
    cfg = config()
    del cfg["datasets"]["meg"]
    targets = all_targets(cfg)
    assert paths.SUMMARY_PAGE not in targets  # no encoding model: no sections, no page
    assert {paths.LEADERBOARD_JSON, paths.LEADERBOARD_DECODING_TSV} <= set(targets)
    inputs = leaderboard_inputs(cfg)
    # the simulated study's oracle (rule decoding_oracle) beside its decoders
    oracle = "results/evaluation/b5k/oracle-dinov2_giant/oracle.json"
    assert inputs["evaluations"] == [*wdec.retrieval_targets(cfg), oracle]
    assert oracle in targets
    assert f"results/models/b5k/{RIDGE}/checksums.json" in inputs["fits"]
    assert leaderboard_outputs(cfg)["decoding_tsv"] == paths.LEADERBOARD_DECODING_TSV
    del cfg["datasets"]["b5k"]["models"]
    cfg["backbones"] = {"dinov2_giant": {}}
    assert [e.model for e in wm.model_entries(cfg)] == [RIDGE]  # the format's default kind


def test_an_encoding_config_keeps_its_leaderboard_outputs():
    cfg = config()
    del cfg["datasets"]["b5k"]
    assert "decoding_tsv" not in leaderboard_outputs(cfg)
    assert paths.LEADERBOARD_DECODING_TSV not in all_targets(cfg)


def test_fmri_mlp_on_a_meg_dataset_is_refused():
    cfg = config()
    cfg["datasets"]["meg"]["models"]["fmri_mlp"] = {"backbones": ["alexnet_untrained"]}
    # the layout check comes first (MEG stores are image-indexed); `modalities` backs it up
    with pytest.raises(ConfigError, match="kind 'fmri_mlp' decodes trial-indexed prepared stores"):
        wm.check_models(cfg)


def test_a_decoding_kind_without_decode_is_refused(monkeypatch):
    module = types.ModuleType("broken_decoder_kind")

    class Broken:
        name = "broken_decoder"
        task = "decode"
        scope = "dataset"
        inputs = "features"
        berg_layout = False
        fit_outputs = ("model.json",)

        def model_name(self, backbone):
            return f"broken-{backbone}"

        def splits(self, modality):
            return ("all",)

        def fit(self, request, folder):
            raise AssertionError

    module.KIND = Broken()
    monkeypatch.setitem(sys.modules, "broken_decoder_kind", module)
    cfg = {"model_kinds": {"broken_decoder": "broken_decoder_kind"}}
    with pytest.raises(ConfigError, match=r"must have \['decode'\]"):
        get_kind("broken_decoder", cfg)


def test_decoder_jobs_are_sized_from_their_inputs(tmp_path):
    study = make_study(tmp_path / "s")
    cfg = config()
    w = SimpleNamespace(dataset="b5k", model=MLPS[0])
    inputs = SimpleNamespace(
        prepared=[str(p) for p in study.stores],
        features=str(study.features),
        model=str(tmp_path / "m" / "model.json"),
    )
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_bytes(b"\0" * 2_000_000)
    row = COEFFICIENTS["evaluate_decoder/cpu"]
    n_test = sum(3 * 8 for _ in study.stores)  # 8 test images × 3 repetitions per subject
    test_mb = n_test * 60 * 4 * 4 / 1e6
    expected = declared_mem_mb(row.mem_base_mb + row.mem_mb_per_unit * test_mb + 2.0)
    assert sized_mem_mb(cfg, "evaluate_decoder")(w, inputs) == expected
    # while planning (no inputs yet) a job is sized as the real BOLD5000 job
    missing = SimpleNamespace(prepared=[str(tmp_path / "none.zarr")], features="x", model="y")
    assert sized_mem_mb(cfg, "evaluate_decoder")(w, missing) == declared_mem_mb(
        row.peak_mb(row.real)
    )
    fit = COEFFICIENTS["fit_fmri_mlp/cpu"]
    from bergforge.workflow.resources import fmri_mlp_work, job_size

    size = job_size(cfg, "fit_fmri_mlp", w, inputs)
    n_trials = 2 * (8 * 3 + 32 * 2)
    assert size.units == pytest.approx(n_trials * 60 * 4 * 4 / 1e6)
    work, params = fmri_mlp_work(n_trials, 60, 16, {})
    assert size.work == pytest.approx(work) and fit.source.startswith("measured")
    assert fmri_mlp_work(1, 20_484, 1536, {})[1] == 5_214_853  # the task's network
    # with subject layers: the parameters of the network itself, and CSI1–4's at full size
    from bergforge.models.decoding.network import build
    from bergforge.models.decoding.settings import DecoderConfig

    on = {"subject_layers": True}
    network = build(60, 16, DecoderConfig.from_settings(on), n_subjects=3)
    assert fmri_mlp_work(1, 60, 16, on, 3)[1] == sum(p.numel() for p in network.parameters())
    assert fmri_mlp_work(1, 20_484, 1536, on, 4)[1] == 13_097_605
    # on a GPU the host holds one read block of windows (the device tensor is filled in blocks)
    import bergforge.models.decoding.data as pooled

    on_gpu = copy.deepcopy(cfg)
    on_gpu.setdefault("models", {}).setdefault("fmri_mlp", {})["device"] = "cuda"
    block = 10
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pooled, "READ_BLOCK", block)
        gpu_size = job_size(on_gpu, "fit_fmri_mlp", w, inputs)
    assert gpu_size.units == pytest.approx(block * 60 * 4 * 4 / 1e6)
    assert (gpu_size.work, gpu_size.fixed_mb) == (size.work, size.fixed_mb)


# ------------------------------------------------------------------------------- leaderboard


def retrieval_payload(top: dict[str, float], subjects=(1, 2), n=113) -> dict:
    """A retrieval.json with the given top-5 per aggregation (other metrics derived)."""

    def block(top5):
        return {
            "n_queries": 10,
            "top1": top5 / 4,
            "top5": top5,
            "top10": min(1.0, 2 * top5),
            "median_rank": 10.0,
            "mean_rank": 12.0,
            "std_rank": 3.0,
            "normalised_rank": 0.9,
            "chance": {},
        }

    return {
        "n_candidates": n,
        "subjects": list(subjects),
        "aggregations": {a: block(v) for a, v in top.items()},
        "per_subject": {
            f"sub-{s:02d}": {"trial": block(top["trial"] - 0.01 * s), "subject-agg": block(0.5)}
            for s in subjects
        },
        "chance": {"top1": 1 / n, "top5": 5 / n, "top10": 10 / n},
    }


def test_the_leaderboard_gets_decoding_rows_over_seeds(tmp_path):
    aggs = ("trial", "subject-agg", "instance-agg", "subject-ind")
    files = []
    for k, base in enumerate((0.20, 0.30)):  # fmri_mlp seeds 33, 34
        path = tmp_path / f"mlp{k}.json"
        path.write_text(
            json.dumps(retrieval_payload({a: base + 0.1 * i for i, a in enumerate(aggs)}))
        )
        files.append(path)
    ridge = tmp_path / "ridge.json"
    ridge.write_text(json.dumps(retrieval_payload({a: 0.1 for a in aggs})))
    runs = [
        DecodingRun("b5k", "fmri", "dinov2_giant", "fmri_mlp", files[0], seed=33),
        DecodingRun("b5k", "fmri", "dinov2_giant", "fmri_mlp", files[1], seed=34),
        DecodingRun("b5k", "fmri", "dinov2_giant", "ridge_decoder", ridge),
    ]
    board = build_leaderboard([], runs)
    pooled = [r for r in board.decoding if r.subject is None]
    assert [r.kind for r in pooled] == ["ridge_decoder", "fmri_mlp"]  # the baseline first
    mlp = pooled[1]
    assert mlp.n_seeds == 2 and mlp.seeds == [33, 34] and mlp.n_candidates == 113
    for i, a in enumerate(aggs):
        values = [0.20 + 0.1 * i, 0.30 + 0.1 * i]
        assert mlp.metrics[a]["top5"] == pytest.approx(np.mean(values))
        assert mlp.metrics_sd[a]["top5"] == pytest.approx(np.std(values, ddof=1))
    assert pooled[0].metrics_sd["trial"]["top5"] is None  # one seed: no sd
    sub2 = [r for r in board.decoding if r.subject == 2 and r.kind == "fmri_mlp"][0]
    assert set(sub2.metrics) == {"trial", "subject-agg"}
    assert sub2.metrics["trial"]["top5"] == pytest.approx(np.mean([0.18, 0.28]))
    tsv = format_decoding_tsv(board.decoding).splitlines()
    assert tsv[0].split("\t") == list(DECODING_HEADER)
    cells = dict(zip(DECODING_HEADER, tsv[2].split("\t"), strict=True))
    assert cells["model"] == "fmri_mlp" and cells["subject"] == "all"
    assert cells["top-5 subject-agg"] == "35.0 ± 7.1" and cells["chance top-5"] == "4.4"
    sub_cells = dict(zip(DECODING_HEADER, tsv[-1].split("\t"), strict=True))
    assert sub_cells["top-5 instance-agg"] == "–"
    out = tmp_path / "board"
    out.mkdir()
    write_leaderboard(board, out / "l.json", out / "l.tsv", out / "d.tsv")
    again = read_leaderboard(out / "l.json")
    assert again.decoding == board.decoding and again.subjects == []
    assert (out / "d.tsv").read_text() == format_decoding_tsv(board.decoding)
    from bergforge.report.leaderboard_plot import plot_leaderboard
    from bergforge.report.page import render_page

    plot_leaderboard(board, out / "l.png")
    assert (out / "l.png").stat().st_size > 1000
    html = render_page([], out, "cfg", (board, str(out / "l.png")))
    assert 'id="leaderboard-decoding"' in html and "35.0 ± 7.1" in html


def test_decoding_runs_name_each_seeds_folder():
    cfg = config()
    runs = decoding_runs(cfg, "/r")
    assert [r.retrieval for r in runs[:3]] == [
        Path(f"/r/results/evaluation/b5k/{m}/retrieval.json") for m in (RIDGE, *MLPS)
    ]
    assert runs[1].fit_folders == (Path(f"/r/results/models/b5k/{MLPS[0]}"),)
    assert [r.seed for r in runs] == [None, 33, 34, None]
    assert runs[3].kind == "oracle" and runs[3].fit_folders == ()
    assert runs[3].retrieval == Path("/r/results/evaluation/b5k/oracle-dinov2_giant/oracle.json")


def test_a_simulated_study_gets_its_oracle_downloaded_ones_do_not():
    from bergforge.workflow.decoding_oracle import oracle_constraints, oracle_inputs

    cfg = config()
    cfg["datasets"]["b5k"]["models"]["ridge_decoder"]["backbones"] = ["alexnet_untrained"]
    assert oracle_targets(cfg) == [
        "results/evaluation/b5k/oracle-alexnet_untrained/oracle.json",
        "results/evaluation/b5k/oracle-dinov2_giant/oracle.json",
    ]
    assert oracle_inputs(cfg)(SimpleNamespace(dataset="b5k", backbone="dinov2_giant")) == {
        "truths": [f"resources/raw/b5k/ground_truth/sub-CSI{s}_truth.npz" for s in (1, 2)],
        "stimuli": "results/prepared/b5k/stimuli.tsv",
        "features": "results/features/b5k/dinov2_giant/features.json",
    }
    assert oracle_constraints(cfg)["dataset"] == "b5k"
    cfg["datasets"]["b5k"]["source"] = "download"
    assert oracle_targets(cfg) == [] and oracle_constraints(cfg)["dataset"] == "(?!x)x"


def test_the_oracle_is_one_pooled_row_after_the_decoders(tmp_path):
    aggs = ("trial", "subject-agg", "instance-agg", "subject-ind")
    ridge = tmp_path / "ridge.json"
    ridge.write_text(json.dumps(retrieval_payload({a: 0.1 for a in aggs})))
    mlp = tmp_path / "mlp.json"
    mlp.write_text(json.dumps(retrieval_payload({a: 0.3 for a in aggs})))
    oracle = retrieval_payload({a: 0.6 for a in aggs})
    del oracle["per_subject"]  # as write_oracle writes it: no per-subject queries
    (tmp_path / "oracle.json").write_text(json.dumps(oracle))
    runs = [
        DecodingRun("b5k", "fmri", "dinov2_giant", "oracle", tmp_path / "oracle.json"),
        DecodingRun("b5k", "fmri", "dinov2_giant", "fmri_mlp", mlp, seed=33),
        DecodingRun("b5k", "fmri", "dinov2_giant", "ridge_decoder", ridge),
    ]
    board = build_leaderboard([], runs)
    assert [(r.kind, r.subject) for r in board.decoding] == [
        ("ridge_decoder", None),
        ("fmri_mlp", None),
        ("oracle", None),
        ("ridge_decoder", 1),
        ("fmri_mlp", 1),
        ("ridge_decoder", 2),
        ("fmri_mlp", 2),
    ]
    cells = dict(
        zip(
            DECODING_HEADER,
            format_decoding_tsv(board.decoding).splitlines()[3].split("\t"),
            strict=True,
        )
    )
    assert cells["model"] == "oracle" and cells["seeds"] == "–" and cells["fit s"] == "–"
    assert cells["top-5 subject-agg"] == "60.0"
    from bergforge.report.leaderboard_plot import plot_leaderboard

    plot_leaderboard(board, tmp_path / "l.png")  # the oracle: a dotted line, not a bar
    assert (tmp_path / "l.png").stat().st_size > 1000
