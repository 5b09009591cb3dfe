"""Snakemake entry point of rule preprocess_meg_subject."""

from pathlib import Path

from bergforge.logs import setup_logging
from bergforge.preprocess.design import meg_design
from bergforge.preprocess.meg import prepare_subject
from bergforge.preprocess.params import meg_params

setup_logging(snakemake.log[0])
n_sessions, runs_per_session = meg_design(snakemake.params.dataset)
prepare_subject(
    Path(snakemake.input.images).parent,
    int(snakemake.wildcards.subject),
    Path(snakemake.output[0]),
    meg_params(snakemake.params.preprocess),
    n_sessions=n_sessions,
    runs_per_session=runs_per_session,
    dataset=snakemake.wildcards.dataset,
)
