"""Snakemake entry point of rule evaluate_subject."""

from bergforge.evaluation.job import evaluate_job
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
evaluate_job(
    snakemake.input.prepared,
    snakemake.input.stimuli,
    snakemake.input.features,
    list(snakemake.input.models),
    snakemake.params.encoding,
    snakemake.output.evaluation,
    threads=snakemake.threads,
)
