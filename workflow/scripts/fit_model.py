"""Snakemake entry point of the fit rules (one per model kind): fit one model folder."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.workflow.jobs import fit_job

setup_logging(snakemake.log[0])
fit_job(
    snakemake.config,
    dict(snakemake.wildcards),
    prepared=[Path(p) for p in snakemake.input.prepared],
    stimuli=Path(snakemake.input.stimuli),
    features=snakemake.input.get("features"),
    images=snakemake.input.get("images"),
    settings=snakemake.params.settings,
    marker=Path(snakemake.output[0]),
    threads=snakemake.threads,
)
