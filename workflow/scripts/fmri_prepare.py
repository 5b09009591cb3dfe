"""Snakemake entry point of rules fmri_stimuli and fmri_prepare_subject."""

from pathlib import Path

from bergforge.logs import start_job
from bergforge.preprocess.fmri_jobs import prepare_subject_job, stimuli_job

start_job(snakemake)
if snakemake.rule == "fmri_stimuli":
    stimuli_job([Path(p) for p in snakemake.input.betas], Path(snakemake.output.stimuli))
else:
    prepare_subject_job(
        snakemake.wildcards.dataset,
        int(snakemake.wildcards.subject),
        Path(snakemake.input.betas),
        Path(snakemake.input.stimuli),
        Path(snakemake.output.store),
    )
