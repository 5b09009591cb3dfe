# Stage 5b: subjects a model never saw. For a kind that predicts them (`unseen_subjects = True` in
# its declaration, e.g. `shared`), one job per held-out subject trains the kind on the dataset's
# other subjects, predicts the held-out subject's test images (mean adapter, few-shot) and scores
# them with the evaluation's metrics, beside the subject's own linear model where there is one
# (bergforge.evaluation.unseen; files in docs/interfaces.md, "unseen-subject evaluation").

from bergforge.workflow.models import unseen_constraints, unseen_gpu, unseen_inputs, unseen_params
from bergforge.workflow.resources import sized_mem_mb, sized_runtime


rule evaluate_unseen:
    input:
        unpack(unseen_inputs(config)),
    output:
        evaluation=paths.UNSEEN_EVALUATION,
        summary=paths.UNSEEN_SUMMARY,
    wildcard_constraints:
        **unseen_constraints(config),
    params:
        **unseen_params(config),
    threads: 2
    resources:  # from the training targets and the network (bergforge.workflow.resources)
        mem_mb=sized_mem_mb(config, "evaluate_unseen"),
        runtime=sized_runtime(config, "evaluate_unseen"),
        gpu=unseen_gpu(config),
    conda:
        BERGFORGE_ENV
    log:
        "logs/evaluate/{dataset}/{model}/unseen_sub-{subject}.log",
    script:
        "../scripts/evaluate_unseen.py"
