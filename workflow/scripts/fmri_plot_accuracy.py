"""Snakemake entry point of rule fmri_plot_accuracy."""

from pathlib import Path

from bergforge.berg.layout import ModelId
from bergforge.fmri.export import MODEL_NAME
from bergforge.fmri.plots import plot_subject
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
plot_subject(
    Path(snakemake.input.metadata),
    Path(snakemake.output.groups).parent,
    int(snakemake.wildcards.subject),
    str(ModelId("fmri", snakemake.wildcards.berg_dataset, MODEL_NAME)),
)
