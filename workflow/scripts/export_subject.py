"""Snakemake entry point of rules export_{meg,eeg}_subject."""

from pathlib import Path

from bergforge.export.berg import export_subject
from bergforge.logs import start_job

start_job(snakemake)
split_dirs = {}
for f in snakemake.input.models:
    folder = Path(f).parent
    split_dirs[folder.name.removeprefix("split-")] = folder
export_subject(
    Path(snakemake.output.metadata).parent.parent,
    snakemake.params.modality,
    int(snakemake.wildcards.subject),
    Path(snakemake.input.prepared),
    Path(snakemake.input.stimuli),
    split_dirs,
    Path(snakemake.input.evaluation),
    Path(snakemake.input.features),
)
