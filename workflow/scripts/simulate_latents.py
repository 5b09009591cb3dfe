"""Snakemake entry point of rule simulate_latents."""

from pathlib import Path

import torch

from bergforge.logs import setup_logging
from bergforge.simulate.study import simulate_latents

setup_logging(snakemake.log[0])
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
