"""Snakemake entry point of rule fmri_evaluate_cnn8."""

from pathlib import Path

import torch

from bergforge.evaluation.cnn8 import evaluate_cnn8_job
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
evaluate_cnn8_job(
    Path(snakemake.input.model),
    Path(snakemake.input.store),
    Path(snakemake.input.stimuli_tsv),
    Path(snakemake.input.stimuli_file),
    int(snakemake.wildcards.subject),
    Path(snakemake.output.evaluation),
    Path(snakemake.output.summary),
    snakemake.params.device,
)
