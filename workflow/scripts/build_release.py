"""Snakemake entry point of rule build_release."""

from pathlib import Path

from bergforge.config import REPO_ROOT
from bergforge.logs import setup_logging
from bergforge.release import build_release, collect_seeds

setup_logging(snakemake.log[0])
first = Path(snakemake.input[0])
export_dir = Path(*first.parts[: first.parts.index("encoding_models")])  # the tree's root
build_release(
    export_dir=export_dir,
    out_dir=Path(snakemake.output.folder).parent,
    version=snakemake.wildcards.version,
    config=snakemake.params.config,
    seeds=collect_seeds(Path(snakemake.params.models_dir)),
    repo=REPO_ROOT,  # the source tree of the installed bergforge package
)
