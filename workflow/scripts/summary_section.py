"""Snakemake entry point of rule summary_section: one model × subject section of the summary page."""

from bergforge.logs import setup_logging
from bergforge.report.section import summary_section

setup_logging(snakemake.log[0])
summary_section(
    snakemake.input.evaluation,
    snakemake.input.prepared,
    dict(snakemake.params.labels),
    list(snakemake.input.plots),
    list(snakemake.input.more_plots),
    snakemake.output.section,
    snakemake.output.predictions,
    snakemake.output.noise_ceiling,
)
