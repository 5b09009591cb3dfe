"""Snakemake entry point of rule leaderboard: every evaluated model ranked beside ridge_cv."""

from bergforge.logs import start_job
from bergforge.workflow.leaderboard import write_leaderboard_files

start_job(snakemake)
write_leaderboard_files(
    snakemake.config,
    ".",
    snakemake.output.json,
    snakemake.output.tsv,
    snakemake.output.plot,
    snakemake.output.get("decoding_tsv"),
    snakemake.output.get("free_viewing_tsv"),
)
