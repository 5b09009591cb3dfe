"""Snakemake entry point of rule model_card."""

from pathlib import Path

from bergforge.export.cards import write_card
from bergforge.export.layout import ModelId
from bergforge.logs import start_job

start_job(snakemake)
w = snakemake.wildcards
model_id = ModelId(w.modality, w.berg_dataset, w.backbone)
write_card(Path(snakemake.output.card).parent, str(model_id), list(snakemake.params.subjects))
