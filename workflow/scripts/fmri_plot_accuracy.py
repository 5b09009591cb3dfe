"""Snakemake entry point of rule fmri_plot_accuracy."""

from pathlib import Path

from bergforge.export.fmri_names import MODEL_NAME
from bergforge.export.fmri_plots import plot_subject
from bergforge.export.layout import ModelId
from bergforge.logs import start_job

start_job(snakemake)
plot_subject(
    Path(snakemake.input.metadata),
    Path(snakemake.output.groups).parent,
    int(snakemake.wildcards.subject),
    str(ModelId("fmri", snakemake.wildcards.berg_dataset, MODEL_NAME)),
)
