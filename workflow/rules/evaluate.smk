# Stage 5: test predictions of every split model of a subject, Pearson r, the NSD noise ceiling
# and percent of noise ceiling. fMRI datasets have one split (`all`).

from bergforge.workflow.fmri_linear import split_models


rule evaluate_subject:
    input:
        prepared="results/prepared/{dataset}/sub-{subject}.zarr",
        stimuli="results/prepared/{dataset}/stimuli.tsv",
        features="results/features/{dataset}/{backbone}/features.json",
        models=split_models(config),
    output:
        evaluation="results/evaluation/{dataset}/{backbone}/sub-{subject}/evaluation.npz",
        summary="results/evaluation/{dataset}/{backbone}/sub-{subject}/summary.json",
    wildcard_constraints:
        subject=r"\d\d",
    params:
        encoding=lookup(dpath="encoding", within=config, default={}),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        BERGFORGE_ENV
    log:
        "logs/evaluate/{dataset}/{backbone}/sub-{subject}.log",
    script:
        "../scripts/evaluate_subject.py"
