"""Scale-harness cases of the trained kinds on THINGS-MEG1: ``fit_mlp``, ``fit_shared`` and
``evaluate_unseen`` (CPU).

Sized as their ``COEFFICIENTS`` rows: per subject 22,248 training images (one presentation each)
× 76,151 targets (271 sensors × 281 times), ViT-B/32's 460,800 features, the kinds' default
network (PCA to 250 components, one hidden layer of 512 units) and 200 epochs; ``shared`` over
the 4 participants, ``evaluate_unseen`` holding out P1 (its trunk trained on P2–P4, then the mean
adapter, the few-shot fit on 20 of P1's training images and the test predictions). The inputs are
written by ``scale_linear``'s writers (stimuli.tsv, feature shards, one prepared store per
subject, each its own random responses) with the training (and test) images scaled by the
fraction and every target kept, and the job runs as the workflow's script runs it (``fit_job``,
``evaluate_unseen_job``) with ``config/things_meg.yaml`` plus the kinds' entries: so the measured
peak is the real job's at that many images (all targets held, the network at full width).

Training for real is hours on 2 cores, so the job runs ``max_epochs: 2`` (``patience: 2``: no
early stop) and its epoch loop (``train_loop``) is timed apart from the rest (reading, the PCA,
writing, predictions): ``projected_seconds`` = the job's time with the loop's time per epoch ×
200 in place of its 2 epochs, and the time line is fitted to those against the work the
workflow sizes for 200 epochs (MFLOP of training, every epoch). ``seconds_per_work`` is then the
time per training MFLOP of a real job, the PCA's share included. A GPU variant (``cuda``) is
estimated: the same non-training time per unit of work plus the training MFLOP at half of
``GPU_FLOPS`` (no GPU is measured here).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from scale_cases import Case, harness_device, merged_config, workflow_size
from scale_linear import DESIGN, FEATURE_MB, N_FEATURES, write_dataset

from bergforge.workflow.resources import GPU_FLOPS, Size, mlp_size, shared_size

DATASET, BACKBONE = "things_meg", "vit_b_32"
N_TRAIN, _, N_TEST, TEST_REPS, CHANNELS, TIMES = DESIGN["meg"]
TARGETS = CHANNELS * TIMES
SUBJECTS = (1, 2, 3, 4)  # THINGS-MEG1's participants P1–P4
HELD_OUT = 1
MIN_TRAIN = 300  # more training images than the 250 PCA components at every fraction
REAL_EPOCHS = 200  # the kinds' default max_epochs: the real job's (worst case, no early stop)
RUN_EPOCHS = {"max_epochs": 2, "patience": 2}  # what a point trains: 2 epochs, no early stop
#: the real job's PCA solver at every fraction (auto's choice above 2,048 training images)
SETTINGS = {"pca": {"solver": "randomized"}}
GPU_EFFICIENCY = 0.5  # share of GPU_FLOPS an MLP's training steps reach (estimate, as the rows')
MODELS = {"mlp": f"mlp_{BACKBONE}", "shared": f"shared_{BACKBONE}"}


def overrides(capped: bool) -> dict:
    """What is merged into config/things_meg.yaml: the kinds on the dataset, the CPU, and (for a
    point's run) the epoch cap; without the cap it is the config the job is sized with."""
    device = harness_device() if capped else "cpu"
    settings = {**SETTINGS, "device": device, **(RUN_EPOCHS if capped else {})}
    return {
        "datasets": {DATASET: {"models": {"linear": {}, "mlp": {}, "shared": {}}}},
        "models": {"mlp": settings, "shared": {**settings, "unseen_subjects": [HELD_OUT]}},
    }


def wildcards(kind: str, subject: int | None = None) -> dict:
    w = {"dataset": DATASET, "model": MODELS[kind]}
    return w | ({"subject": f"{subject:02d}"} if subject is not None else {})


@contextmanager
def timed_loops(name: str, *modules) -> Iterator[list[tuple[float, int]]]:
    """(seconds, epochs) of every call of the epoch loop ``name`` run inside: the function of that
    name in each of ``modules`` (one function, imported into each) wrapped for the duration; it
    returns a record with ``epochs``."""
    loops: list[tuple[float, int]] = []
    original = getattr(modules[0], name)

    def timed(*args, **kwargs):
        began = time.perf_counter()
        trained = original(*args, **kwargs)
        loops.append((time.perf_counter() - began, int(trained.epochs)))
        return trained

    for module in modules:
        setattr(module, name, timed)
    try:
        yield loops
    finally:
        for module in modules:
            setattr(module, name, original)


def timed_training():
    """:func:`timed_loops` of ``train_loop`` of ``mlp`` and ``shared``."""
    import bergforge.models.mlp.train as mlp_train
    import bergforge.models.shared.train as shared_train

    return timed_loops("train_loop", mlp_train, shared_train)


def projection(
    job: dict, seconds: float, loops: list[tuple[float, int]], real_epochs: int = REAL_EPOCHS
) -> dict:
    """The point's numbers beyond peak and time: the epoch loop's time, the job's time projected
    to ``real_epochs`` (the real job's, by default the kinds' 200) and the GPU estimate per unit
    of work (module docstring)."""
    if len(loops) != 1 or loops[0][1] < 1:
        raise RuntimeError(f"expected one epoch loop of at least one epoch; got {loops}")
    train, epochs = loops[0]
    other = seconds - train
    return {
        "train_seconds": train,
        "epochs_run": epochs,
        "projected_seconds": other + train / epochs * real_epochs,
        "gpu_seconds_per_work": other / job["work"] + 1e6 / (GPU_EFFICIENCY * GPU_FLOPS),
    }


def images(fraction: float) -> tuple[int, int]:
    """(training, test) images of every subject at ``fraction``."""
    return max(MIN_TRAIN, round(N_TRAIN * fraction)), max(2, round(N_TEST * fraction))


def _prepare(kind: str, rule: str, subjects: tuple[int, ...]):
    def prepare(point: Path, fraction: float, cache: Path) -> dict:
        n_train, n_test = images(fraction)
        job = write_dataset(point, "meg", n_train, n_test, subjects)
        job |= {"out": str(point / "out")}
        return job | {"work": _size(kind, rule)(job).work}

    return prepare


def _inputs(job: dict, kind: str) -> dict:
    prepared = job["stores"] if kind == "shared" else [job["store"]]
    return {"prepared": prepared, "stimuli": job["stimuli"], "features": job["features"]}


def _size(kind: str, rule: str):
    def size(job: dict) -> Size:
        w = wildcards(kind, 1 if rule != "fit_shared" else None)
        w.pop("dataset")
        return workflow_size(rule, DATASET, w, _inputs(job, kind), overrides(capped=False))

    return size


def _fit_run(kind: str):
    def run(job: dict) -> dict:
        from bergforge.models.registry import get_kind
        from bergforge.workflow.jobs import fit_job
        from bergforge.workflow.models import fit_params

        config = merged_config(DATASET, overrides(capped=True))
        w = wildcards(kind, 1 if kind == "mlp" else None) | {"split": "all"}
        settings = fit_params(config, get_kind(kind, config))["settings"](SimpleNamespace(**w))
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        with timed_training() as loops:
            began = time.perf_counter()
            fit_job(
                config,
                w,
                prepared=[Path(p) for p in _inputs(job, kind)["prepared"]],
                stimuli=Path(job["stimuli"]),
                features=job["features"],
                images=None,
                settings=settings,
                marker=out / "model.json",
                runtime={"threads": 2, "device": harness_device()},
            )
            seconds = time.perf_counter() - began
        return projection(job, seconds, loops)

    return run


def _unseen_run(job: dict) -> dict:
    from bergforge.workflow.jobs import evaluate_unseen_job
    from bergforge.workflow.models import unseen_params

    config = merged_config(DATASET, overrides(capped=True))
    w = wildcards("shared", HELD_OUT)
    settings = unseen_params(config)["settings"](SimpleNamespace(**w))
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    with timed_training() as loops:
        began = time.perf_counter()
        evaluate_unseen_job(
            config,
            w,
            prepared=[Path(p) for p in job["stores"]],
            stimuli=Path(job["stimuli"]),
            features=Path(job["features"]),
            own=None,
            settings=settings,
            evaluation=out / "unseen.npz",
            runtime={"threads": 2, "device": harness_device()},
        )
        seconds = time.perf_counter() - began
    return projection(job, seconds, loops)


def _disk(subjects: int, params: float):
    """Temporary disk of a point (GB): feature shards, the stores (twice: staged, then sorted),
    the checkpoint (4 copies of the parameters, twice while it is replaced) and the weights."""

    def disk(f: float) -> float:
        n_train, n_test = images(f)
        features = (n_train + n_test) * FEATURE_MB / 1e3
        stores = 2 * subjects * (n_train + n_test * TEST_REPS) * TARGETS * 4 / 1e9
        return features + stores + 9 * params * 4 / 1e9 + 0.5

    return disk


def real(kind: str, device: str, unseen: bool = False) -> Size:
    """The real job's size, as the workflow sizes it (default network, 200 epochs)."""
    rows = N_TRAIN + N_TEST  # feature-matrix rows of stimuli.tsv
    if kind == "mlp":
        return mlp_size(N_TRAIN, TARGETS, rows, N_FEATURES, 4, SETTINGS, device)
    n = len(SUBJECTS)
    return shared_size([N_TRAIN] * n, [TARGETS] * n, rows, N_FEATURES, 4, SETTINGS, device, unseen)


HIDDEN, K = 512, 250
MLP_PARAMS = K * HIDDEN + HIDDEN + (HIDDEN + 1) * TARGETS
SHARED_PARAMS = K * HIDDEN + HIDDEN + len(SUBJECTS) * (HIDDEN + 1) * TARGETS
LABEL = "THINGS-MEG1 (things_meg.yaml + the kind), vit_b_32"
TIMING = (
    "2 epochs (no early stop) per point; time fitted to the job's time projected to 200 epochs "
    "(its other work + 200 × the epoch loop's time per epoch) against the MFLOP of 200 epochs"
)
#: 4 (3) subjects' epochs per point: two points (≈ 2 and 3 min on 2 idle cores) keep the whole
#: harness under an hour; a third (1/24, ≈ 4 min) or the 1/8 point of the coefficient rows is
#: ``--rule fit_shared --fractions …``
SHARED_FRACTIONS = (1 / 64, 1 / 32)
COMMON = {
    "variant": "cpu",
    "work_unit": "training MFLOP (every epoch)",
    "full_allowed": False,
    "gpu_variant": "cuda",
    "gpu_note": "training MFLOP at half of 50 TFLOP/s plus the CPU's other time",
    "gpu_host_extra_mb": 1000.0,
    "not_configured": ("cpu", "cuda"),  # the harness adds the kinds to things_meg.yaml
}

TRAINED_CASES = [
    Case(
        name="fit_mlp[meg]",
        rule="fit_mlp",
        dataset=f"{LABEL}, P1",
        unit="training targets in memory (MB)",
        real=real("mlp", "cpu"),
        prepare=_prepare("mlp", "fit_mlp", (1,)),
        run=_fit_run("mlp"),
        size=_size("mlp", "fit_mlp"),
        disk_gb=_disk(1, MLP_PARAMS),
        fractions=(1 / 64, 1 / 32, 1 / 16),
        note=f"22,248·fraction training images (≥ {MIN_TRAIN}) × 76,151 targets; the PCA "
        f"(randomized, 250) and the network (512 hidden) at full width; {TIMING}.",
        gpu_real=real("mlp", "cuda"),
        **COMMON,
    ),
    Case(
        name="fit_shared[meg]",
        rule="fit_shared",
        dataset=f"{LABEL}, P1–P4",
        unit="every subject's training targets in memory (MB)",
        real=real("shared", "cpu"),
        prepare=_prepare("shared", "fit_shared", SUBJECTS),
        run=_fit_run("shared"),
        size=_size("shared", "fit_shared"),
        disk_gb=_disk(len(SUBJECTS), SHARED_PARAMS),
        fractions=SHARED_FRACTIONS,
        note=f"4 subjects × 22,248·fraction training images (≥ {MIN_TRAIN}) × 76,151 targets; "
        f"one PCA of the union, trunk and 4 adapters at full width; {TIMING}.",
        gpu_real=real("shared", "cuda"),
        **COMMON,
    ),
    Case(
        name="evaluate_unseen[meg]",
        rule="evaluate_unseen",
        dataset=f"{LABEL}, P1 held out",
        unit="every subject's training targets in memory (MB)",
        real=real("shared", "cpu", unseen=True),
        prepare=_prepare("shared", "evaluate_unseen", SUBJECTS),
        run=_unseen_run,
        size=_size("shared", "evaluate_unseen"),
        disk_gb=_disk(len(SUBJECTS), SHARED_PARAMS),
        fractions=SHARED_FRACTIONS,
        note="the trunk trained on P2–P4 (sized, as the workflow does, as on all 4), P1's mean "
        "adapter, few-shot on 20 of its images and its test images (200·fraction × 12, not 200: "
        f"predicted after training has freed its arrays); no own linear evaluation; {TIMING}.",
        gpu_real=real("shared", "cuda", unseen=True),
        **COMMON,
    ),
]
