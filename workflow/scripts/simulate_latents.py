"""Snakemake entry point of rule simulate_latents."""

from pathlib import Path

import torch

from bergforge.logs import start_job
from bergforge.simulate.study import simulate_latents

start_job(snakemake)
torch.set_num_threads(snakemake.threads)
table = Path(snakemake.input.table)
simulate_latents(
    snakemake.params.format,
    snakemake.params.simulation,
    snakemake.wildcards.dataset,
    table.parent.parent,
    table,
    Path(snakemake.output[0]),
)
