# Free viewing (avs_fixations datasets; seed 004, the BrainEncoding26 challenge): fixation-onset MEG
# epochs per subject, fixation features per backbone × route (crops or gaze sampling) × subject,
# one model per backbone × route × stream × kind × training set (named by its subjects), scores of
# the `evaluate` subjects (leave-one-subject-out) and the challenge's prediction files of the
# `heldout` subjects, who are predicted from their fixation table alone. The settings are
# `datasets.<name>.free_viewing` (bergforge.workflow.free_viewing); files in docs/interfaces.md.

from bergforge.workflow import free_viewing as fv

FREE_VIEWING = fv.free_viewing_constraints(config)
SIMULATED_AVS = alternation(datasets_of(config, source="simulated", fmt="avs_fixations"))


rule simulate_avs_study:
    output:
        study=fv.STUDY,
        stimuli="resources/raw/{dataset}/nsd_stimuli.hdf5",
    wildcard_constraints:
        dataset=SIMULATED_AVS,
    params:
        simulation=lookup(dpath="datasets/{dataset}/simulation", within=config),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/avs_study.log",
    script:
        "../scripts/simulate_avs_study.py"


rule fixation_epochs:
    input:
        unpack(fv.epochs_inputs(config)),
    output:
        directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=FREE_VIEWING["dataset"],
        subject=FREE_VIEWING["subject"],
    params:
        job=fv.epochs_params(config),
    threads: 1
    resources:
        mem_mb=sized_mem_mb(config, "fixation_epochs"),
        runtime=sized_runtime(config, "fixation_epochs"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}_fixation_epochs.log",
    script:
        "../scripts/fixation_epochs.py"


rule fixation_features:
    input:
        unpack(fv.feature_inputs(config)),
    output:
        directory(paths.FIXATION_FEATURES),
    wildcard_constraints:
        **FREE_VIEWING,
    params:
        job=fv.feature_params(config),
    threads: lookup(dpath="features/threads", within=config, default=2)
    resources:
        mem_mb=sized_mem_mb(config, "fixation_features"),
        runtime=sized_runtime(config, "fixation_features"),
        gpu=gpu_request(config, "features"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/features/{dataset}/{backbone}/{route}_sub-{subject}.log",
    script:
        "../scripts/fixation_features.py"


rule fit_fixation_model:
    input:
        unpack(fv.fit_inputs(config)),
    output:
        directory(paths.FIXATION_MODEL_DIR),
    wildcard_constraints:
        **FREE_VIEWING,
    params:
        job=fv.fit_params(config),
    threads: 2
    resources:
        mem_mb=sized_mem_mb(config, "fit_fixation_model"),
        runtime=sized_runtime(config, "fit_fixation_model"),
        gpu=fv.fit_gpu(config),
    conda:
        BERGFORGE_ENV
    log:
        "logs/models/{dataset}/{backbone}/{route}-{stream}/{kind}/train-{train}.log",
    script:
        "../scripts/fit_fixation_model.py"


rule evaluate_fixations:
    input:
        unpack(fv.evaluate_inputs(config)),
    output:
        paths.FIXATION_EVALUATION,
    wildcard_constraints:
        **FREE_VIEWING,
    params:
        job=fv.evaluate_params(config),
    threads: 1
    resources:
        mem_mb=sized_mem_mb(config, "evaluate_fixations"),
        runtime=sized_runtime(config, "evaluate_fixations"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/evaluate/{dataset}/{backbone}/{route}-{stream}/{kind}/sub-{subject}.log",
    script:
        "../scripts/evaluate_fixations.py"


rule challenge_outputs:
    input:
        unpack(fv.challenge_inputs(config)),
    output:
        directory(paths.CHALLENGE_DIR),
    wildcard_constraints:
        **FREE_VIEWING,
    params:
        job=fv.challenge_params(config),
    threads: 1
    resources:
        mem_mb=sized_mem_mb(config, "challenge_outputs"),
        runtime=sized_runtime(config, "challenge_outputs"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/{dataset}/{backbone}/{route}-{stream}/{kind}/challenge_sub-{subject}.log",
    script:
        "../scripts/challenge_outputs.py"


# `snakemake free_viewing`: every free-viewing score and challenge output (`bergforge leaderboard`
# prints their rows; `rule all` also writes the leaderboard's files)
rule free_viewing:
    input:
        fv.free_viewing_targets(config),
    localrule: True
