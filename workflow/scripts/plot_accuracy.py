"""Snakemake entry point of rules plot_{meg,eeg}_accuracy."""

from pathlib import Path

from bergforge.export.layout import ModelId
from bergforge.export.plots import plot_subject
from bergforge.logs import start_job

start_job(snakemake)
modality = snakemake.params.modality
model_id = ModelId(modality, snakemake.wildcards.berg_dataset, snakemake.wildcards.backbone)
plot_subject(
    Path(snakemake.input[0]).parent.parent,
    modality,
    int(snakemake.wildcards.subject),
    str(model_id),
)
