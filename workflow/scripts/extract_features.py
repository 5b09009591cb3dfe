"""Snakemake entry point of rule extract_feature_shard."""

from bergforge.config import job_runtime
from bergforge.features.job import extract_shard
from bergforge.logs import start_job

start_job(snakemake)
runtime = job_runtime(snakemake, "features")  # device, batch size, …: read now, never a rerun
extract_shard(
    snakemake.input.stimuli,
    snakemake.wildcards.backbone,
    snakemake.params.backbone,
    snakemake.params.features,
    int(snakemake.wildcards.shard),
    int(snakemake.wildcards.n_shards),
    snakemake.output[0],
    threads=runtime["threads"],
    image_file=snakemake.input.get("images"),
    runtime=runtime,
)
