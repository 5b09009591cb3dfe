"""Snakemake entry point of rule fmri_train_cnn8."""

from pathlib import Path

import torch

from bergforge.logs import setup_logging
from bergforge.models.cnn8.job import train_cnn8_job

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
train_cnn8_job(
    Path(snakemake.input.stimuli_tsv),
    Path(snakemake.input.stimuli_file),
    dict(zip(snakemake.params.subjects, map(Path, snakemake.input.stores), strict=True)),
    snakemake.params.cnn8,
    Path(snakemake.output.model),
    Path(snakemake.output.summary),
)
