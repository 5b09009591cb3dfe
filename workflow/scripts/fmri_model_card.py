"""Snakemake entry point of rule fmri_model_card."""

from pathlib import Path

from bergforge.export.fmri_card import write_card
from bergforge.export.fmri_names import MODEL_NAME
from bergforge.export.layout import ModelId
from bergforge.logs import start_job

start_job(snakemake)
model_id = ModelId("fmri", snakemake.wildcards.berg_dataset, MODEL_NAME)
write_card(Path(snakemake.output.card).parent, str(model_id), list(snakemake.params.subjects))
