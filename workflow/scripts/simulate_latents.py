"""Snakemake entry point of rule simulate_latents."""

from pathlib import Path

import torch

from bergforge.logs import start_job
from bergforge.simulate.study import simulate_latents
from bergforge.workflow.targets import TRUTH_BACKBONE_SPEC

start_job(snakemake)
torch.set_num_threads(snakemake.threads)
table = Path(snakemake.input.table)
simulation = dict(snakemake.params.simulation)
backbone = simulation.pop(TRUTH_BACKBONE_SPEC, None)
simulate_latents(
    snakemake.params.format,
    simulation,
    snakemake.wildcards.dataset,
    table.parent.parent,
    table,
    Path(snakemake.output[0]),
    backbone,
)
