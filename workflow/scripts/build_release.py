"""Snakemake entry point of rule build_release: reads only its declared inputs."""

from pathlib import Path

from bergforge.config import REPO_ROOT
from bergforge.logs import start_job
from bergforge.paths import EXPORT_ROOT, MODELS_ROOT
from bergforge.release import build_release, collect_seeds

start_job(snakemake)
build_release(
    export_dir=Path(EXPORT_ROOT),
    files=list(snakemake.input.export),
    out_dir=Path(snakemake.output.archive).parent,
    version=snakemake.wildcards.version,
    config=snakemake.params.config,
    seeds=collect_seeds(list(snakemake.input.seeds), MODELS_ROOT),
    repo=REPO_ROOT,  # the source tree of the installed bergforge package
)
