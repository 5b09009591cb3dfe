# Stage 8: the summary page, bergforge's own static HTML over every evaluated model
# (results/summary/index.html): a table at the top, one section per model × subject with its
# medians, two new figures (predicted vs measured test responses; noise ceiling per target) and
# links to the export's accuracy plots, and the leaderboard (every model × subject beside the
# ridge_cv baseline: table and figure). `rule all` builds it; `make demo` prints its path.

from bergforge.workflow.leaderboard import leaderboard_inputs, leaderboard_outputs
from bergforge.workflow.models import evaluation_constraints
from bergforge.workflow.resources import sized_mem_mb, sized_runtime
from bergforge.workflow.summary import config_label, page_inputs, section_inputs, section_labels


rule summary_section:
    input:
        unpack(section_inputs(config)),
    output:
        section=paths.SUMMARY_SECTION,
        predictions=paths.SUMMARY_PREDICTIONS,
        noise_ceiling=paths.SUMMARY_NOISE_CEILING,
    wildcard_constraints:
        **evaluation_constraints(config),
    params:
        labels=section_labels(config),
    threads: 1
    resources:  # from the size of evaluation.npz
        mem_mb=sized_mem_mb(config, "summary_section"),
        runtime=sized_runtime(config, "summary_section"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/summary/{dataset}/{model}/sub-{subject}.log",
    script:
        "../scripts/summary_section.py"


rule leaderboard:
    input:
        **leaderboard_inputs(config),
    output:
        **leaderboard_outputs(config),  # json, tsv, plot (+ decoding_tsv with decoders)
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/summary/leaderboard.log",
    script:
        "../scripts/leaderboard.py"


rule summary_page:
    input:
        sections=page_inputs(config),
        leaderboard=paths.LEADERBOARD_JSON,
        leaderboard_plot=paths.LEADERBOARD_PLOT,
    output:
        page=paths.SUMMARY_PAGE,
    params:
        config_name=config_label(workflow.configfiles),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/summary/page.log",
    script:
        "../scripts/summary_page.py"
