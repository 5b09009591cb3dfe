"""Snakemake entry point of rules fmri_export_weights and fmri_export_metadata."""

from pathlib import Path

from bergforge.logs import start_job

start_job(snakemake)
if snakemake.rule == "fmri_export_weights":
    from bergforge.export.fmri import export_weights

    export_weights(Path(snakemake.input.model), Path(snakemake.output.weights))
else:
    from bergforge.export.fmri import export_subject_metadata
    from bergforge.workflow.fmri import fmri_dataset_for

    export_subject_metadata(
        Path(snakemake.input.evaluation),
        Path(snakemake.input.store),
        Path(snakemake.input.stimuli),
        Path(snakemake.input.training),
        int(snakemake.wildcards.subject),
        fmri_dataset_for(snakemake.config, snakemake.wildcards.berg_dataset),
        Path(snakemake.output.metadata),
    )
