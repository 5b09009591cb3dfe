"""Snakemake entry point of rule export_decoder (bergforge.export.decoder_layout.export_decoder).

input: ``model`` (the decoder folder's marker), ``retrieval`` (its retrieval.json),
``features`` (the targets' features.json: the backbone spec); output:
``metadata`` (``…/model-{model}/bergforge_decoder.json``) and ``manifest`` (its SHA256SUMS).
"""

from pathlib import Path

from bergforge.export.decoder_layout import export_decoder
from bergforge.logs import start_job

start_job(snakemake)
export_decoder(
    Path(snakemake.input.model).parent,
    Path(snakemake.input.retrieval),
    Path(snakemake.output.metadata).parent,
    snakemake.wildcards.model,
    Path(snakemake.input.features),
)
