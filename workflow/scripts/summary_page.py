"""Snakemake entry point of rule summary_page: the page over every section."""

from bergforge.logs import start_job
from bergforge.report.page import write_page

start_job(snakemake)
write_page(
    list(snakemake.input.sections),
    snakemake.output.page,
    snakemake.params.config_name,
    leaderboard=(snakemake.input.leaderboard, snakemake.input.leaderboard_plot),
)
