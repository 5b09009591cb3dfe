"""Scale-harness cases of the feature and linear-model stages of things_meg.yaml and things_eeg.yaml.

Sized at ViT-B/32 (460,800 features per image, float32 as the configs write them), the largest
backbone the real configurations build:

- ``extract_feature_shard``: one shard (1,000 images at full size) of 500 px JPEGs through the real
  ViT-B/32 (random weights: the same work as ImageNet's, which need a local file) on the CPU;
- ``fit_linear``: split ``all`` of one subject (MEG: 22,248 training images; EEG: 16,540 × 4
  repetitions), at every fraction with the randomized PCA solver that ``auto`` picks at full size;
- ``evaluate_subject``, ``export_*_subject``, ``summary_section``: a subject's 5 split models at
  full width (fitted once per dataset on 1,024 training images) and its test images scaled by the
  fraction (full size: 200 images × 12 repetitions for MEG, × 80 for EEG).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scale_cases import QUICK_FRACTIONS, Case, real_config, workflow_size
from scale_inputs import write_features, write_stimuli, write_things_store

from bergforge.workflow.resources import Size

N_FEATURES, K = 460_800, 250
FEATURE_MB = N_FEATURES * 4 / 1e6  # one image's features, float32
SPLITS = ("all", "single-1", "single-2", "single-3", "single-4")
BASE_TRAIN = 1_024  # training images of the models the evaluation cases load (quarters ≥ K)
DESIGN = {  # training images, repetitions, test images, repetitions, channels, times
    "meg": (22_248, 1, 200, 12, 271, 281),
    "eeg": (16_540, 4, 200, 80, 63, 140),
}
DATASET = {"meg": "things_meg", "eeg": "things_eeg"}
RANDOMIZED = {"pca": {"solver": "randomized"}}  # what `auto` picks for > 2,048 training images
GB = 1e9


def _targets(modality: str) -> int:
    return DESIGN[modality][4] * DESIGN[modality][5]


def write_dataset(
    root: Path, modality: str, n_train: int, n_test: int, subjects: tuple[int, ...] = (1,)
) -> dict:
    """Prepared stores (one per subject, each its own random responses), stimuli.tsv and feature
    shards, in the workflow's layout; ``store`` is the first subject's, ``stores`` every one's."""
    _, train_reps, _, test_reps, channels, times = DESIGN[modality]
    dataset = DATASET[modality]
    table = write_stimuli(root / "prepared" / dataset / "stimuli.tsv", n_train, n_test)
    stores = [
        write_things_store(
            root / "prepared" / dataset / f"sub-{s:02d}.zarr",
            modality,
            n_train,
            train_reps,
            n_test,
            test_reps,
            channels,
            times,
            seed=s - 1,
            subject=s,
        )
        for s in subjects
    ]
    manifest = write_features(root / "features" / dataset / "vit_b_32", list(table.image_id))
    return {
        "store": str(stores[0]),
        "stores": [str(s) for s in stores],
        "stimuli": str(root / "prepared" / dataset / "stimuli.tsv"),
        "features": str(manifest),
    }


def fit_linear(modality: str, data: dict, out: Path, settings: dict) -> None:
    """The job of rule fit_linear on ``data`` (split ``all`` unless ``out`` names another)."""
    from bergforge.workflow.jobs import fit_job

    dataset = DATASET[modality]
    out.mkdir(parents=True, exist_ok=True)
    fit_job(
        real_config(dataset),
        {"dataset": dataset, "model": "vit_b_32", "subject": "01", "split": out.name[6:]},
        prepared=[Path(data["store"])],
        stimuli=Path(data["stimuli"]),
        features=data["features"],
        images=None,
        settings=settings,
        marker=out / "model.json",
        runtime={"threads": 2},
    )


def linear_settings(modality: str, extra: dict | None = None) -> dict:
    from bergforge.workflow.models import kind_settings

    settings = kind_settings(real_config(DATASET[modality]), DATASET[modality], "linear")
    return {**settings, **(extra or {})}


# ------------------------------------------------------------------------- extraction


def _shard_images(fraction: float) -> int:
    return max(8, round(1000 * fraction))


def _extract_prepare(point: Path, fraction: float, cache: Path) -> dict:
    from bergforge.preprocess.stimuli import write_stimuli_table
    from bergforge.simulate.images import draw_image, make_concepts, save_jpeg

    n = _shard_images(fraction)
    table = write_stimuli(point / "stimuli.tsv", n, 0)
    concepts = make_concepts(8, seed=1)
    for k, rel in enumerate(table.file):
        save_jpeg(draw_image(concepts[k % 8], 1, k, 500), point / rel)
    table["file"] = [str(point / f) for f in table.file]
    write_stimuli_table(table, point / "stimuli.tsv")
    job = {"stimuli": str(point / "stimuli.tsv"), "out": str(point / "shard-1-of-1.zarr")}
    return job | {"report": _extract_gpu(job)}


def _extract_run(job: dict) -> None:
    from bergforge.features.job import extract_shard
    from bergforge.features.registry import NO_WEIGHTS

    features = {"shard_size": 1000, "dtype": "float32"}
    from scale_cases import harness_device

    runtime = {"device": harness_device(), "batch_size": 64, "threads": 2}
    extract_shard(
        job["stimuli"],
        "vit_b_32",
        {"weights": NO_WEIGHTS},
        features,
        1,
        1,
        job["out"],
        threads=2,
        runtime=runtime,
    )


def _extract_gpu(job: dict) -> dict:
    """Per-image GPU seconds (estimate): the forward FLOPs at GPU_FLOPS, or the JPEG decoding of
    4 worker threads (measured here), whichever is slower: they overlap on a GPU."""
    import time

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bergforge.features.images import load_rgb
    from bergforge.features.models import build_backbone
    from bergforge.features.registry import NO_WEIGHTS, get_spec
    from bergforge.preprocess.stimuli import read_stimuli
    from bergforge.workflow.resources import GPU_FLOPS

    backbone = build_backbone(get_spec("vit_b_32", {"weights": NO_WEIGHTS}), "cpu")
    files = list(read_stimuli(job["stimuli"]).file)[:16]
    began = time.perf_counter()
    batch = torch.stack([backbone.transform(load_rgb(f)) for f in files])
    decode = (time.perf_counter() - began) / len(files)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        backbone.module(batch[:1])
    flops = counter.get_total_flops()
    return {
        "gpu_seconds_per_work": max(flops / GPU_FLOPS, decode / 4),
        "forward_gflop": flops / 1e9,
    }


# ------------------------------------------------------------------------------ fit


def _fit_prepare(modality: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        n_train, _, n_test, _, _, _ = DESIGN[modality]
        data = write_dataset(
            point, modality, max(300, round(n_train * fraction)), max(2, round(n_test * fraction))
        )
        return data | {"out": str(point / "models" / "split-all")}

    return prepare


def _fit_run(modality: str):
    def run(job: dict) -> None:
        fit_linear(modality, job, Path(job["out"]), linear_settings(modality, RANDOMIZED))

    return run


def _fit_size(modality: str):
    def size(job: dict) -> Size:
        inputs = {
            "prepared": [job["store"]],
            "stimuli": job["stimuli"],
            "features": job["features"],
        }
        return workflow_size("fit_linear", DATASET[modality], {"model": "vit_b_32"}, inputs)

    return size


def _fit_real(modality: str) -> Size:
    n_train, _, n_test, _, _, _ = DESIGN[modality]
    mb = (n_train + n_test) * FEATURE_MB
    return Size(mb, mb, N_FEATURES * (4 * (2 * K + 20) + 8 * 4) / 1e6)


def _fit_disk(modality: str):
    n_train, train_reps, n_test, test_reps, _, _ = DESIGN[modality]

    def disk(f: float) -> float:
        rows = (n_train + n_test) * f
        store = (n_train * train_reps + n_test * test_reps) * f * _targets(modality) * 4 / GB
        return rows * FEATURE_MB / 1e3 + 2 * store + 0.5

    return disk


# ------------------------------------------------------- evaluation, export and summary


def base_models(modality: str, cache: Path) -> Path:
    """The 5 split models of a subject at full width (cached per dataset): one fitted, copied to
    the other splits' folders (the evaluation reads 5 folders of the real shape; their values
    change neither its memory nor its time)."""
    folder = cache.parent / f"models-{modality}"
    if (folder / f"split-{SPLITS[-1]}" / "model.json").exists():
        return folder
    data = write_dataset(folder / "base", modality, BASE_TRAIN, 2)
    first = folder / f"split-{SPLITS[0]}"
    fit_linear(modality, data, first, linear_settings(modality))
    for split in SPLITS[1:]:
        shutil.copytree(first, folder / f"split-{split}")
    return folder


def _eval_data(modality: str, point: Path, fraction: float, cache: Path) -> dict:
    """The subject's test data at ``fraction``: written once per fraction into the models' cache
    folder and shared by the evaluation, export and summary cases (they read it, never change it)."""
    models = base_models(modality, cache)
    shared = models / f"inputs-{fraction:.6g}"
    done = shared / "data.json"
    if not done.exists():
        n_test = max(2, round(DESIGN[modality][2] * fraction))
        data = write_dataset(shared, modality, BASE_TRAIN, n_test)
        done.write_text(json.dumps(data))
    return json.loads(done.read_text()) | {
        "models": [str(models / f"split-{s}" / "model.json") for s in SPLITS],
        "out": str(point / "out"),
    }


def _evaluation_dir(modality: str, fraction: float, cache: Path) -> Path:
    """Where the evaluation case leaves its ``evaluation.npz`` for the export and summary cases."""
    return cache.parent / f"models-{modality}" / f"evaluation-{fraction:.6g}"


def evaluate(modality: str, job: dict) -> tuple[Path, Path]:
    """The job of rule evaluate_subject (a linear model's subject)."""
    from bergforge.workflow.jobs import evaluate_job

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    evaluate_job(
        real_config(DATASET[modality]),
        {"dataset": DATASET[modality], "model": "vit_b_32", "subject": "01"},
        models=[Path(m) for m in job["models"]],
        prepared=Path(job["store"]),
        stimuli=Path(job["stimuli"]),
        features=job["features"],
        images=None,
        evaluation=out / "evaluation.npz",
        summary=out / "summary.json",
        runtime={"threads": 2},
    )
    return out / "evaluation.npz", out / "summary.json"


def _eval_prepare(modality: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        job = _eval_data(modality, point, fraction, cache)
        return job | {"out": str(_evaluation_dir(modality, fraction, cache))}

    return prepare


def _after_eval_prepare(modality: str):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        job = _eval_data(modality, point, fraction, cache)
        evaluation = _evaluation_dir(modality, fraction, cache) / "evaluation.npz"
        if not evaluation.exists():  # the evaluation case did not run before (e.g. --rule)
            evaluate(modality, job | {"out": str(evaluation.parent)})
        return job | {"evaluation": str(evaluation)}

    return prepare


def _eval_inputs(job: dict) -> dict:
    keys = ("models", "stimuli", "features")
    return {"prepared": job["store"], **{k: job[k] for k in keys}} | (
        {"evaluation": job["evaluation"]} if "evaluation" in job else {}
    )


def _export_run(modality: str):
    def run(job: dict) -> None:
        from bergforge.export.berg import export_subject

        split_dirs = {
            Path(m).parent.name.removeprefix("split-"): Path(m).parent for m in job["models"]
        }
        export_subject(
            Path(job["out"]) / "model-vit_b_32",
            modality,
            1,
            Path(job["store"]),
            Path(job["stimuli"]),
            split_dirs,
            Path(job["evaluation"]),
            Path(job["features"]),
        )

    return run


def _summary_run(modality: str):
    def run(job: dict) -> None:
        from bergforge.report.section import summary_section

        out = Path(job["out"])
        labels = {
            "dataset": DATASET[modality],
            "modality": modality,
            "kind": "linear",
            "backbone": "vit_b_32",
            "model": "vit_b_32",
            "subject": 1,
        }
        summary_section(
            job["evaluation"],
            job["store"],
            labels,
            [],
            [],
            out / "section.json",
            out / "predictions.png",
            out / "noise_ceiling.png",
        )

    return run


def _test_mb(modality: str) -> float:
    _, _, n_test, test_reps, _, _ = DESIGN[modality]
    return n_test * test_reps * _targets(modality) * 4 / 1e6


def _evaluation_mb(modality: str) -> float:
    """evaluation.npz of the real subject: test predictions of 5 splits + ≈13 maps per target."""
    n_test = DESIGN[modality][2]
    return (len(SPLITS) * n_test * 4 + 13 * 8) * _targets(modality) / 1e6


def _eval_disk(modality: str):
    def disk(f: float) -> float:
        base = (BASE_TRAIN + 2) * FEATURE_MB / 1e3 + len(SPLITS) * K * FEATURE_MB / 1e3
        rows = (BASE_TRAIN + DESIGN[modality][2] * f) * FEATURE_MB / 1e3
        return base + rows + 2 * _test_mb(modality) * f / 1e3 + 1.0

    return disk


def _linear_cases(modality: str) -> list[Case]:
    dataset = DATASET[modality]
    label = {
        "meg": "THINGS-MEG1 (things_meg.yaml), P1",
        "eeg": "THINGS-EEG2 (things_eeg.yaml), sub-01",
    }[modality]
    components = len(SPLITS) * K * FEATURE_MB
    test = {"meg": "200 × 12", "eeg": "200 × 80"}[modality]
    common = {
        "variant": modality,
        "unit": "test responses (MB)",
        "work_unit": "test responses (MB)",
        "real": Size(_test_mb(modality), _test_mb(modality), components),
        "disk_gb": _eval_disk(modality),
        "extra": {"cache_group": f"models-{modality}"},
    }

    def size_of(rule: str):
        def size(job: dict) -> Size:
            return workflow_size(
                rule, dataset, {"model": "vit_b_32", "subject": "01"}, _eval_inputs(job)
            )

        return size

    export_rule = f"export_{modality}_subject"
    return [
        Case(
            name=f"fit_linear[{modality}]",
            rule="fit_linear",
            variant=modality,
            dataset=f"{label}, vit_b_32, split all",
            unit="feature matrix (MB)",
            work_unit="feature matrix (MB)",
            real=_fit_real(modality),
            prepare=_fit_prepare(modality),
            run=_fit_run(modality),
            size=_fit_size(modality),
            disk_gb=_fit_disk(modality),
            # 1/32 is below the steady state (its lower peak gave EEG a slope to 3.78 GB, "LOW")
            fractions=QUICK_FRACTIONS,
            note="fixed = the PCA's arrays of the feature width (Bᵀ, components_, scaler); the "
            "randomized solver at every fraction (auto's choice at full size).",
        ),
        Case(
            name=f"evaluate_subject[{modality}]",
            rule="evaluate_subject",
            dataset=f"{label}, vit_b_32, 5 splits",
            prepare=_eval_prepare(modality),
            run=lambda job: evaluate(modality, job) and None,
            size=size_of("evaluate_subject"),
            note=f"fixed = components_ of the 5 split models; test images {test} at full size.",
            **common,
        ),
        Case(
            name=f"{export_rule}[{modality}]",
            rule=export_rule,
            dataset=f"{label}, vit_b_32",
            prepare=_after_eval_prepare(modality),
            run=_export_run(modality),
            size=size_of(export_rule),
            note="fixed = components_ of the 5 split models (the BERG weight files hold them).",
            **common,
        ),
        Case(
            name=f"summary_section[{modality}]",
            rule="summary_section",
            dataset=f"{label}, vit_b_32",
            prepare=_after_eval_prepare(modality),
            run=_summary_run(modality),
            size=lambda job: workflow_size(
                "summary_section",
                dataset,
                {"model": "vit_b_32", "subject": "01"},
                {"evaluation": job["evaluation"]},
            ),
            note="size = evaluation.npz (the test predictions of 5 splits).",
            **(
                common
                | {
                    "unit": "evaluation.npz (MB)",
                    "work_unit": "evaluation.npz (MB)",
                    "real": Size(_evaluation_mb(modality), _evaluation_mb(modality)),
                }
            ),
        ),
    ]


LINEAR_CASES = [
    Case(
        name="extract_feature_shard[vit_b_32]",
        rule="extract_feature_shard",
        variant="cpu",
        dataset="THINGS images (things_meg.yaml, things_eeg.yaml), vit_b_32, one shard",
        unit="images in the shard",
        work_unit="images in the shard",
        real=Size(1000, 1000),
        prepare=_extract_prepare,
        run=_extract_run,
        size=lambda job: workflow_size(
            "extract_feature_shard",
            "things_meg",
            {"backbone": "vit_b_32", "shard": "1", "n_shards": "1"},
            {"stimuli": job["stimuli"]},
        ),
        disk_gb=lambda f: 1000 * f * (FEATURE_MB / 1e3 + 1e-4) + 0.2,
        fractions=(1 / 16, 1 / 8, 1 / 4),
        note="500 px JPEGs, batches of 64, 2 threads, float32 features; random ViT weights "
        "(same work as ImageNet's).",
        gpu_variant="cuda",
        gpu_note="FLOPs at 50 TFLOP/s or decoding on 4 threads",
        gpu_host_extra_mb=1000.0,
    ),
    *_linear_cases("meg"),
    *_linear_cases("eeg"),
]
