"""Snakemake entry point of rule berg_manifest: SHA256SUMS of exactly the exported files."""

from pathlib import Path

from bergforge.export.manifest import write_manifest
from bergforge.logs import start_job
from bergforge.paths import EXPORT_ROOT

start_job(snakemake)
write_manifest(Path(EXPORT_ROOT), list(snakemake.input))
