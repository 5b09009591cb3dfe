"""Snakemake entry point of rule summary_section: one model × subject section of the summary page."""

from bergforge.logs import start_job
from bergforge.report.section import summary_section

start_job(snakemake)
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
