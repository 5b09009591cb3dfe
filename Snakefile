# bergforge: build image-computable brain encoding models in BERG's layout.
# Entry point: validates the config, includes one rule file per stage and defines `rule all`.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"


rule all:
    default_target: True
    input:
        all_targets(config),
