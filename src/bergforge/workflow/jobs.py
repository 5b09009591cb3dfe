"""The fit and evaluate jobs of the workflow: find the model's kind in the registry, then call it.

Scripts stay thin: they hand over their rule's paths; this module turns the wildcards into the
configured model entry and its kind, and the kind does the work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from bergforge.datasets.formats import dataset_format
from bergforge.logs import log_runtime
from bergforge.models.fit_record import measured, write_fit_record
from bergforge.models.folder_checksums import seal_model_folder, verify_model_folder
from bergforge.models.kind import FitRequest
from bergforge.models.registry import get_kind
from bergforge.workflow.models import kind_of_model, kind_runtime

log = logging.getLogger(__name__)


def fit_job(
    config: dict[str, Any],
    wildcards: dict[str, str],
    prepared: list[Path],
    stimuli: Path,
    features: str | None,
    images: str | None,
    settings: dict[str, Any],
    marker: Path,
    runtime: dict[str, Any] | None = None,
) -> None:
    """Fit the model folder whose marker file is ``marker``; ``runtime`` holds the job's threads,
    memory and the kind's runtime keys (device, Dask scheduler). After the kind's files the folder
    gets ``fit_job.json`` (time and peak memory of the fit, :mod:`bergforge.models.fit_record`),
    then ``checksums.json``."""
    runtime = dict(runtime or {})
    threads = int(runtime.pop("threads", 1))
    entry = kind_of_model(config, wildcards["dataset"], wildcards["model"])
    kind = get_kind(entry.kind, config)
    ds = config["datasets"][entry.dataset]
    subjects = (int(wildcards["subject"]),) if kind.scope == "subject" else tuple(ds["subjects"])
    request = FitRequest(
        dataset=entry.dataset,
        modality=dataset_format(config, entry.dataset).modality,
        subjects=subjects,
        split=wildcards.get("split", "all"),
        prepared=tuple(prepared),
        stimuli=stimuli,
        features=Path(features) if features else None,
        images=Path(images) if images else None,
        settings=dict(settings),
        threads=max(1, threads),
        runtime=runtime,
    )
    log.info(
        "fitting %s model %s of %s (subjects %s, split %s) with %d threads",
        kind.name,
        entry.model,
        entry.dataset,
        list(subjects),
        request.split,
        request.threads,
    )
    folder = Path(marker).parent
    record = {"kind": kind.name, "threads": request.threads, "device": runtime.get("device")}
    with measured(record):
        kind.fit(request, folder)
    write_fit_record(folder, record)  # what the fit cost (fit_job.json), listed by the seal
    log.info(
        "fit took %.1f s (%.1f s CPU), peak memory %.0f MB",
        record["wall_seconds"],
        record["cpu_seconds"],
        record["peak_rss_mb"],
    )
    seal_model_folder(folder)  # last: the folder's checksums.json


def evaluate_job(
    config: dict[str, Any],
    wildcards: dict[str, str],
    models: list[Path],
    prepared: Path,
    stimuli: Path,
    features: str | None,
    images: str | None,
    evaluation: Path,
    summary: Path,
    runtime: dict[str, Any] | None = None,
) -> None:
    """Evaluate every model folder of one subject; predictions come from the model's kind."""
    entry = kind_of_model(config, wildcards["dataset"], wildcards["model"])
    kind = get_kind(entry.kind, config)
    runtime = dict(runtime or {}) | kind_runtime(config, entry.dataset, entry.kind)
    threads = max(1, int(runtime.get("threads", 1)))
    subject = int(wildcards["subject"])
    for marker in models:  # every model file as its fit wrote it, before anything is read
        verify_model_folder(Path(marker).parent)
    if kind.inputs == "features":
        from bergforge.evaluation.evaluate import evaluate_subject
        from bergforge.features.store import FeatureStore
        from bergforge.preprocess.responses import PreparedResponses
        from bergforge.preprocess.stimuli import read_stimuli

        log_runtime(runtime, log)
        if kind.scope == "dataset":  # one folder for every subject: its split(s) by name
            modality = dataset_format(config, entry.dataset).modality
            dirs = {split: Path(models[0]).parent for split in kind.splits(modality)}
        else:
            dirs = {Path(m).parent.name.removeprefix("split-"): Path(m).parent for m in models}
        with threadpool_limits(limits=max(1, threads), user_api="blas"):
            evaluate_subject(
                PreparedResponses(prepared),
                read_stimuli(stimuli),
                FeatureStore.open(features),
                dirs,
                Path(evaluation).parent,
                kind,
            )
    else:
        import torch

        from bergforge.evaluation.cnn8 import evaluate_cnn8_job

        torch.set_num_threads(max(1, threads))
        device = runtime.setdefault("device", "cpu")
        log_runtime(runtime, log)
        evaluate_cnn8_job(
            Path(models[0]),
            prepared,
            stimuli,
            Path(images),
            subject,
            evaluation,
            summary,
            device,
            kind=entry.kind,
        )


def evaluate_unseen_job(
    config: dict[str, Any],
    wildcards: dict[str, str],
    prepared: list[Path],
    stimuli: Path,
    features: Path,
    own: str | None,
    settings: dict[str, Any],
    evaluation: Path,
    runtime: dict[str, Any] | None = None,
) -> None:
    """Evaluate the held-out ``{subject}`` of a model whose kind predicts unseen subjects:
    trained on the dataset's other subjects (``prepared`` holds every subject's store)."""
    import torch

    from bergforge.evaluation.unseen import evaluate_unseen
    from bergforge.preprocess.stimuli import read_stimuli

    entry = kind_of_model(config, wildcards["dataset"], wildcards["model"])
    kind = get_kind(entry.kind, config)
    runtime = dict(runtime or {}) | kind_runtime(config, entry.dataset, entry.kind)
    threads = max(1, int(runtime.pop("threads", 1)))
    torch.set_num_threads(threads)
    request = FitRequest(
        dataset=entry.dataset,
        modality=dataset_format(config, entry.dataset).modality,
        subjects=tuple(int(s) for s in config["datasets"][entry.dataset]["subjects"]),
        split="all",
        prepared=tuple(prepared),
        stimuli=stimuli,
        features=Path(features),
        settings=dict(settings),
        threads=threads,
        runtime=runtime,
    )
    log.info(
        "%s model %s of %s: subject %s held out (trained on the others of %s)",
        kind.name,
        entry.model,
        entry.dataset,
        wildcards["subject"],
        list(request.subjects),
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        evaluate_unseen(
            kind,
            request,
            int(wildcards["subject"]),
            read_stimuli(stimuli),
            Path(evaluation).parent,
            own,
        )


def evaluate_decoder_job(
    config: dict[str, Any],
    wildcards: dict[str, str],
    model: Path,
    prepared: list[Path],
    stimuli: Path,
    features: Path,
    retrieval: Path,
    ranks: Path,
    runtime: dict[str, Any] | None = None,
) -> None:
    """Evaluate one decoding model by image retrieval over every subject's test trials
    (:func:`bergforge.evaluation.decoding.evaluate_decoder`); ``model`` is its marker file."""
    import torch

    from bergforge.evaluation.decoding import evaluate_decoder
    from bergforge.features.image_rows import open_embeddings
    from bergforge.preprocess.trial_responses import PreparedTrials
    from bergforge.workflow.decoding import decoder_labels

    entry = kind_of_model(config, wildcards["dataset"], wildcards["model"])
    kind = get_kind(entry.kind, config)
    runtime = dict(runtime or {})
    threads = max(1, int(runtime.get("threads", 1)))
    log_runtime(runtime, log)
    torch.set_num_threads(threads)  # fmri_mlp decodes with torch (on the CPU)
    folder = verify_model_folder(Path(model).parent)  # every model file as its fit wrote it
    stores = [PreparedTrials(p) for p in prepared]
    table, embeddings = open_embeddings(stimuli, features)
    log.info(
        "retrieval by %s model %s of %s: subjects %s",
        kind.name,
        entry.model,
        entry.dataset,
        [s.subject for s in stores],
    )
    with threadpool_limits(limits=threads, user_api="blas"):
        evaluate_decoder(
            kind,
            folder,
            stores,
            table,
            embeddings,
            retrieval,
            ranks,
            decoder_labels(config, entry.dataset, entry.model),
        )
