"""Snakemake entry point of rule decoding_oracle: the noise-free retrieval of a simulated study."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.workflow.decoding_oracle import decoding_oracle_job

start_job(snakemake)
decoding_oracle_job(
    snakemake.config,
    dict(snakemake.wildcards),
    truths=[Path(p) for p in snakemake.input.truths],
    stimuli=Path(snakemake.input.stimuli),
    features=Path(snakemake.input.features),
    out=Path(snakemake.output[0]),
)
