"""Which evaluations and fit records the leaderboard reads, from the config (rule and CLI).

Every configured model × subject is one :class:`~bergforge.report.leaderboard.Run`: its
``evaluation.npz`` and the model folders whose fit made the scored model (split ``all`` of a
per-subject kind, the dataset's folder of a multi-subject kind). A linear model's row is named by
its regression (``ridge_cv``, ``ols``); a seeded kind's ``seeds`` are the runs of one row.

Multi-subject kinds evaluated on held-out subjects add unseen-subject rows: for a kind that
declares ``unseen_subjects = True`` (the ``shared`` kind), each subject's leave-one-subject-out
evaluation ``results/evaluation/{dataset}/{model}/unseen/sub-{subject}/unseen.npz`` gives one row
per prediction method it holds (``mean_adapter``, ``few_shot``; not ``own_linear``, the subject's
linear model, already a row). The CLI leaves out those not (yet) there, and says which.

Decoding models (kinds with ``task = "decode"``) are decoding runs instead
(:class:`bergforge.report.leaderboard_decoding.DecodingRun`), one per model folder (seed): its
``retrieval.json`` and its fit folder; a simulated decoding study adds its oracle per target
backbone (``oracle.json`` of rule ``decoding_oracle``, kind ``oracle``, no fit folder).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bergforge import paths
from bergforge.datasets.formats import dataset_format
from bergforge.models.folder_checksums import MANIFEST
from bergforge.models.registry import get_kind
from bergforge.report.leaderboard import (
    SCORED_SPLIT,
    Leaderboard,
    Run,
    build_leaderboard,
    unseen_methods,
    write_leaderboard,
)
from bergforge.report.leaderboard_decoding import ORACLE_KIND, DecodingRun
from bergforge.report.leaderboard_free_viewing import FreeViewingRun
from bergforge.workflow.decoding_oracle import oracle_entries, oracle_path
from bergforge.workflow.models import (
    ModelEntry,
    decoding_entries,
    encoding_entries,
    entry_settings,
)

log = logging.getLogger(__name__)


def model_label(config: dict[str, Any], entry: ModelEntry) -> str:
    """The row's model: a linear model's regression (``ridge_cv``, ``ols``), else the kind."""
    if entry.kind != "linear":
        return entry.kind
    from bergforge.models.linear.fit import EncodingOptions

    return str(entry_settings(config, entry).get("regression", EncodingOptions.regression))


def fit_folders(config: dict[str, Any], entry: ModelEntry, subject: int) -> tuple[str, ...]:
    """The model folders whose fit jobs made the model scored for ``subject``."""
    kind = get_kind(entry.kind, config)
    if kind.scope == "dataset":
        return (paths.fill(paths.DATASET_MODEL_DIR, dataset=entry.dataset, model=entry.model),)
    splits = kind.splits(dataset_format(config, entry.dataset).modality)
    split = SCORED_SPLIT if SCORED_SPLIT in splits else splits[0]
    return (
        paths.fill(
            paths.SUBJECT_MODEL_DIR,
            dataset=entry.dataset,
            model=entry.model,
            subject=subject,
            split=split,
        ),
    )


def held_out_subjects(config: dict[str, Any], entry: ModelEntry) -> list[int]:
    """Subjects whose unseen-subject evaluation the leaderboard reads: every subject of the
    dataset for a kind with ``unseen_subjects = True``, none otherwise."""
    if not getattr(get_kind(entry.kind, config), "unseen_subjects", False):
        return []
    return [int(s) for s in config["datasets"][entry.dataset]["subjects"]]


def _unseen_file(root: Path, entry: ModelEntry, subject: int) -> Path:
    return root / paths.fill(
        paths.UNSEEN_EVALUATION, dataset=entry.dataset, model=entry.model, subject=subject
    )


def _runs(config: dict[str, Any], root: Path) -> tuple[list[Run], list[Path]]:
    """The runs of every configured model × subject, and the unseen-subject files not there."""
    runs, missing = [], []
    for entry in encoding_entries(config):
        common = dict(
            dataset=entry.dataset,
            modality=dataset_format(config, entry.dataset).modality,
            backbone=entry.backbone,
            kind=entry.kind,
            label=model_label(config, entry),
            seed=entry.seed,
        )
        held_out = held_out_subjects(config, entry)
        for subject in config["datasets"][entry.dataset]["subjects"]:
            folders = tuple(root / f for f in fit_folders(config, entry, subject))
            evaluation = root / paths.fill(
                paths.EVALUATION, dataset=entry.dataset, model=entry.model, subject=subject
            )
            runs.append(
                Run(subject=int(subject), evaluation=evaluation, fit_folders=folders, **common)
            )
            if int(subject) not in held_out:
                continue
            unseen = _unseen_file(root, entry, subject)
            if not unseen.is_file():
                missing.append(unseen)
                continue
            for method in unseen_methods(unseen):  # trained in the unseen job: no fit folder
                runs.append(Run(subject=int(subject), evaluation=unseen, unseen=method, **common))
    return runs, missing


def leaderboard_runs(
    config: dict[str, Any], root: Path | str = "."
) -> tuple[list[Run], list[Path]]:
    """(runs to score, unseen-subject evaluation files that do not exist) under ``root``."""
    return _runs(config, Path(root))


def decoding_runs(config: dict[str, Any], root: Path | str = ".") -> list[DecodingRun]:
    """One run per configured decoding model (each seed's folder) under ``root``, then the oracle
    of every simulated decoding dataset × target backbone."""
    root = Path(root)
    models = [
        DecodingRun(
            dataset=entry.dataset,
            modality=dataset_format(config, entry.dataset).modality,
            backbone=entry.backbone,
            kind=entry.kind,
            retrieval=root / paths.fill(paths.RETRIEVAL, dataset=entry.dataset, model=entry.model),
            fit_folders=(root / _decoder_folder(entry),),
            seed=entry.seed,
        )
        for entry in decoding_entries(config)
    ]
    oracles = [
        DecodingRun(
            dataset=dataset,
            modality=dataset_format(config, dataset).modality,
            backbone=backbone,
            kind=ORACLE_KIND,
            retrieval=root / oracle_path(dataset, backbone),
        )
        for dataset, backbone in oracle_entries(config)
    ]
    return models + oracles


def free_viewing_runs(config: dict[str, Any], root: Path | str = ".") -> list[FreeViewingRun]:
    """One run per free-viewing model (each seed of a seeded kind) × scored subject
    (``free_viewing.evaluate``) under ``root``."""
    from bergforge.workflow.free_viewing import (
        fixation_model,
        free_viewing_datasets,
        models_of,
        settings,
    )

    runs = []
    for dataset in free_viewing_datasets(config):
        fv = settings(config, dataset)
        for model in models_of(fv):
            fixation = fixation_model(fv, model["kind"])  # its kind and seed
            for subject in fv.evaluate:
                path = paths.fill(
                    paths.FIXATION_EVALUATION, dataset=dataset, subject=subject, **model
                )
                runs.append(
                    FreeViewingRun(
                        dataset=dataset,
                        subject=int(subject),
                        evaluation=Path(root) / path,
                        seed=fixation.seed,
                        **(model | {"kind": fixation.kind}),
                    )
                )
    return runs


def _decoder_folder(entry: ModelEntry) -> str:
    return paths.fill(paths.DATASET_MODEL_DIR, dataset=entry.dataset, model=entry.model)


def leaderboard_inputs(config: dict[str, Any]) -> dict[str, list[str]]:
    """Inputs of rule ``leaderboard``: every evaluation (the unseen-subject ones of kinds that
    have them too) and the ``checksums.json`` of every model folder whose ``fit_job.json`` it
    reads (the folder is sealed after the record)."""
    evaluations, fits = [], []
    for entry in encoding_entries(config):
        held_out = held_out_subjects(config, entry)
        for subject in config["datasets"][entry.dataset]["subjects"]:
            evaluations.append(
                paths.fill(
                    paths.EVALUATION, dataset=entry.dataset, model=entry.model, subject=subject
                )
            )
            if int(subject) in held_out:
                evaluations.append(str(_unseen_file(Path(), entry, subject)))
            fits += [f"{f}/{MANIFEST}" for f in fit_folders(config, entry, subject)]
    for entry in decoding_entries(config):
        evaluations.append(paths.fill(paths.RETRIEVAL, dataset=entry.dataset, model=entry.model))
        fits.append(f"{_decoder_folder(entry)}/{MANIFEST}")
    evaluations += [oracle_path(d, b) for d, b in oracle_entries(config)]
    evaluations += [str(r.evaluation) for r in free_viewing_runs(config)]
    return {"evaluations": list(dict.fromkeys(evaluations)), "fits": list(dict.fromkeys(fits))}


def leaderboard_outputs(config: dict[str, Any]) -> dict[str, str]:
    """Outputs of rule ``leaderboard``: JSON, TSV and figure, and the decoding rows' TSV when
    decoding models are configured."""
    out = {
        "json": paths.LEADERBOARD_JSON,
        "tsv": paths.LEADERBOARD_TSV,
        "plot": paths.LEADERBOARD_PLOT,
    }
    if decoding_entries(config):
        out["decoding_tsv"] = paths.LEADERBOARD_DECODING_TSV
    if free_viewing_runs(config):
        out["free_viewing_tsv"] = paths.LEADERBOARD_FREE_VIEWING_TSV
    return out


def leaderboard_targets(config: dict[str, Any]) -> list[str]:
    """The leaderboard's files (none when nothing is evaluated)."""
    if not (encoding_entries(config) or decoding_entries(config) or free_viewing_runs(config)):
        return []
    return list(leaderboard_outputs(config).values())


def write_leaderboard_files(
    config: dict[str, Any],
    root: Path | str,
    json_path: Path | str,
    tsv_path: Path | str,
    plot_path: Path | str,
    decoding_tsv_path: Path | str | None = None,
    free_viewing_tsv_path: Path | str | None = None,
) -> Leaderboard:
    """Score every configured model under ``root`` and write the leaderboard's files (the
    decoding and free-viewing rows' TSVs too, given their paths)."""
    from bergforge.report.leaderboard_plot import plot_leaderboard

    runs, missing = leaderboard_runs(config, root)
    for path in missing:
        log.info("no unseen-subject evaluation %s yet: its rows are left out", path)
    decoders = decoding_runs(config, root)
    free_viewing = free_viewing_runs(config, root)
    board = build_leaderboard(runs, decoders, free_viewing)
    write_leaderboard(board, json_path, tsv_path, decoding_tsv_path, free_viewing_tsv_path)
    plot_leaderboard(board, plot_path)
    log.info(
        "leaderboard: %d rows over %d runs, %d decoding rows over %d runs, %d free-viewing rows",
        len(board.subjects),
        len(runs),
        len(board.decoding),
        len(decoders),
        len(board.free_viewing),
    )
    return board
