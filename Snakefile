# bergforge: build image-computable brain encoding models in BERG's layout.
# Entry point: validates the config, includes one rule file per stage and defines `rule all`.

from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# the demo config, unless config files are given with --configfile (then they alone are the config)
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/decode_prepare.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/unseen.smk"
include: "workflow/rules/free_viewing.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/release.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        all_targets(config),
