"""Snakemake entry point of checkpoint plan_feature_shards."""

from pathlib import Path

from bergforge.features.plan import write_shard_plan
from bergforge.logs import start_job

start_job(snakemake)
write_shard_plan(
    Path(snakemake.input.stimuli), int(snakemake.params.shard_size), Path(snakemake.output[0])
)
