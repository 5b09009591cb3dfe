"""Snakemake entry point of rules simulate_{meg,eeg}_subject."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.simulate.study import simulate_subject

start_job(snakemake)
table = Path(snakemake.input.table)
simulate_subject(
    snakemake.params.format,
    snakemake.params.simulation,
    snakemake.wildcards.dataset,
    table.parent.parent,
    table,
    Path(snakemake.input.latents),
    int(snakemake.wildcards.subject),
)
