"""Snakemake entry point of rule summary_page: the page over every section."""

from bergforge.logs import setup_logging
from bergforge.report.page import write_page

setup_logging(snakemake.log[0])
write_page(list(snakemake.input.sections), snakemake.output.page, snakemake.params.config_name)
