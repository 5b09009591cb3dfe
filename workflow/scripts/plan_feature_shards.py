"""Snakemake entry point of checkpoint plan_feature_shards."""

from pathlib import Path

from bergforge.features.plan import write_shard_plan
from bergforge.logs import setup_logging

setup_logging(snakemake.log[0])
write_shard_plan(
    Path(snakemake.input.stimuli), int(snakemake.params.shard_size), Path(snakemake.output[0])
)
