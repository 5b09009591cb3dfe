"""Snakemake entry point of the own-layout export (bergforge.export.own_layout.export_own_model).

input: ``models`` (each model folder's marker file, in the order of ``params.model_keys``),
``prepared`` (stores, in the order of ``params.subjects``), optional ``evaluation`` (summary.json
files, same order) and ``features`` (features.json, for the backbone spec); output:
``metadata`` (``…/model-{name}/bergforge_model.json``); params: ``kind``, ``model_id``,
``subjects``, ``model_keys`` ([[subject, split], …]).
"""

from pathlib import Path

from bergforge.export.own_layout import export_own_model, recorded_backbone
from bergforge.logs import start_job

start_job(snakemake)
subjects = [int(s) for s in snakemake.params.subjects]
keys = [(int(s), str(p)) for s, p in snakemake.params.model_keys]
models = [Path(f).parent for f in snakemake.input.models]
evaluation = list(snakemake.input.get("evaluation", []))
features = snakemake.input.get("features")
export_own_model(
    snakemake.params.kind,
    snakemake.params.model_id,
    Path(snakemake.output.metadata).parent,
    subjects,
    dict(zip(keys, models, strict=True)),
    dict(zip(subjects, map(Path, snakemake.input.prepared), strict=True)),
    recorded_backbone(features) if features else None,
    dict(zip(subjects, map(Path, evaluation), strict=True)) if evaluation else None,
    snakemake.config,
)
