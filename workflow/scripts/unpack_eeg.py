"""Snakemake entry point of rules unpack_eeg_subject and unpack_eeg_image_set."""

from pathlib import Path

from bergforge.datasets.fetch import unpack_eeg_image_set, unpack_eeg_subject
from bergforge.logs import start_job

start_job(snakemake)
archive, out = Path(snakemake.input[0]), Path(snakemake.output[0])
if snakemake.rule == "unpack_eeg_subject":
    unpack_eeg_subject(archive, int(snakemake.wildcards.subject), out)
else:
    unpack_eeg_image_set(archive, out)
