# Stage 5: test predictions of every model of a subject (each split of a subject-scope kind, or the
# subject's head of a dataset-scope kind), Pearson r, the NSD noise ceiling and percent of noise
# ceiling. The kind is reached through the registry; the metrics are the same code for all kinds.

from bergforge.workflow.models import evaluation_constraints, evaluation_gpu, evaluation_inputs
from bergforge.workflow.resources import sized_mem_mb, sized_runtime


rule evaluate_subject:
    input:
        unpack(evaluation_inputs(config)),
    output:
        evaluation=paths.EVALUATION,
        summary=paths.EVALUATION_SUMMARY,
    wildcard_constraints:
        **evaluation_constraints(config),
    threads: 2
    resources:  # from the test responses and the models (bergforge.workflow.resources)
        mem_mb=sized_mem_mb(config, "evaluate_subject"),
        runtime=sized_runtime(config, "evaluate_subject"),
        gpu=evaluation_gpu(config),
    conda:
        BERGFORGE_ENV
    log:
        "logs/evaluate/{dataset}/{model}/sub-{subject}.log",
    script:
        "../scripts/evaluate_subject.py"
