"""Which evaluations and fit records the leaderboard reads, from the config (rule and CLI).

Every configured model × subject is one :class:`~bergforge.report.leaderboard.Run`: its
``evaluation.npz`` and the model folders whose fit made the scored model (split ``all`` of a
per-subject kind, the dataset's folder of a multi-subject kind). A linear model's row is named by
its regression (``ridge_cv``, ``ols``); a seeded kind's ``seeds`` are the runs of one row.

Multi-subject kinds evaluated on held-out subjects add unseen-subject rows: a kind that declares
``unseen_variants`` (names such as ``mean_adapter``, ``few_shot``) gets, per subject and variant,
``results/evaluation/{dataset}/{model}/sub-{subject}/unseen-{variant}/evaluation.npz`` (the
evaluation contract's arrays). Such files that do not exist are skipped (the CLI says which), so
the leaderboard works before and without them.
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
    write_leaderboard,
)
from bergforge.workflow.models import ModelEntry, entry_settings, model_entries

log = logging.getLogger(__name__)

#: the leave-one-subject-out evaluation of a multi-subject kind's ``{variant}`` for ``{subject}``
UNSEEN_EVALUATION = paths.EVALUATION_DIR + "/unseen-{variant}/evaluation.npz"


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


def _runs(config: dict[str, Any], root: Path, unseen: bool) -> list[Run]:
    runs = []
    for entry in model_entries(config):
        modality = dataset_format(config, entry.dataset).modality
        label = model_label(config, entry)
        variants = getattr(get_kind(entry.kind, config), "unseen_variants", ()) if unseen else ()
        for subject in config["datasets"][entry.dataset]["subjects"]:
            common = dict(
                dataset=entry.dataset,
                modality=modality,
                backbone=entry.backbone,
                kind=entry.kind,
                label=label,
                subject=int(subject),
                fit_folders=tuple(root / f for f in fit_folders(config, entry, subject)),
                seed=entry.seed,
            )
            folder = dict(dataset=entry.dataset, model=entry.model, subject=subject)
            runs.append(Run(evaluation=root / paths.fill(paths.EVALUATION, **folder), **common))
            for variant in variants:
                path = root / paths.fill(UNSEEN_EVALUATION, variant=variant, **folder)
                runs.append(Run(evaluation=path, unseen=variant, **common))
    return runs


def leaderboard_runs(config: dict[str, Any], root: Path | str = ".") -> tuple[list[Run], list[Run]]:
    """(runs to score, unseen-subject runs whose evaluation file does not exist) under ``root``."""
    runs = _runs(config, Path(root), unseen=True)
    missing = [r for r in runs if r.unseen is not None and not r.evaluation.is_file()]
    return [r for r in runs if r not in missing], missing


def leaderboard_inputs(config: dict[str, Any]) -> dict[str, list[str]]:
    """Inputs of rule ``leaderboard``: every evaluation and the ``checksums.json`` of every model
    folder whose ``fit_job.json`` it reads (sealed after the record)."""
    runs = _runs(config, Path(), unseen=False)
    return {
        "evaluations": list(dict.fromkeys(str(r.evaluation) for r in runs)),
        "fits": list(dict.fromkeys(f"{f}/{MANIFEST}" for r in runs for f in r.fit_folders)),
    }


def leaderboard_targets(config: dict[str, Any]) -> list[str]:
    """The leaderboard's files (none when nothing is evaluated)."""
    if not model_entries(config):
        return []
    return [paths.LEADERBOARD_JSON, paths.LEADERBOARD_TSV, paths.LEADERBOARD_PLOT]


def write_leaderboard_files(
    config: dict[str, Any],
    root: Path | str,
    json_path: Path | str,
    tsv_path: Path | str,
    plot_path: Path | str,
) -> Leaderboard:
    """Score every configured model under ``root`` and write the leaderboard's three files."""
    from bergforge.report.leaderboard_plot import plot_leaderboard

    runs, missing = leaderboard_runs(config, root)
    for run in missing:
        log.info("no unseen-subject evaluation %s yet: its row is left out", run.evaluation)
    board = build_leaderboard(runs)
    write_leaderboard(board, json_path, tsv_path)
    plot_leaderboard(board, plot_path)
    log.info("leaderboard: %d rows over %d runs", len(board.subjects), len(runs))
    return board
