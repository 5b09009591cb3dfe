# fMRI (NSD through MOSAIC): simulated study → GLMsingle betas per subject (source: simulated), or
# MOSAIC's published betas (source: download) → prepared stores → multi-head CNN8.
# Datasets live in config `fmri.datasets` (wildcard `{fmri_dataset}`).

from bergforge.workflow.fmri import fmri_datasets, fmri_subject_paths

FMRI_SIMULATED = alternation(fmri_datasets(config, source="simulated"))
FMRI_MOSAIC = alternation(fmri_datasets(config, source="download"))
FMRI_DATASETS = alternation(fmri_datasets(config))


rule fmri_simulate_study:
    output:
        stimuli="resources/raw/{fmri_dataset}/nsd_stimuli.hdf5",
        done="resources/raw/{fmri_dataset}/ground_truth/study.json",
    wildcard_constraints:
        fmri_dataset=FMRI_SIMULATED,
    params:
        simulation=lookup(dpath="fmri/datasets/{fmri_dataset}/simulation", within=config, default={}),
        subjects=lookup(dpath="fmri/datasets/{fmri_dataset}/subjects", within=config),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/simulate.log",
    script:
        "../scripts/fmri_simulate_study.py"


rule fmri_glmsingle:
    input:
        stimuli="resources/raw/{fmri_dataset}/nsd_stimuli.hdf5",
        done="resources/raw/{fmri_dataset}/ground_truth/study.json",
    output:
        glmsingle=directory("results/fmri/{fmri_dataset}/glmsingle/sub-{subject}"),
        betas="results/fmri/{fmri_dataset}/betas/sub-{subject}.npz",
    wildcard_constraints:
        fmri_dataset=FMRI_SIMULATED,
        subject=r"\d\d",
    params:
        glmsingle=lookup(dpath="fmri/glmsingle", within=config, default={}),
    resources:
        mem_mb=4000,
        runtime=480,
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/glmsingle-sub-{subject}.log",
    script:
        "../scripts/fmri_glmsingle.py"


# real data (source: download): MOSAIC's GLMsingle betas of NSD, streamed into the same file
rule fmri_mosaic_betas:
    input:
        betas="resources/raw/{fmri_dataset}/betas/sub-{subject}_NSD.hdf5",
        stiminfo="resources/raw/{fmri_dataset}/nsd_stiminfo.tsv",
    output:
        betas="results/fmri/{fmri_dataset}/betas/sub-{subject}.npz",
    wildcard_constraints:
        fmri_dataset=FMRI_MOSAIC,
        subject=r"\d\d",
    params:
        mosaic=lookup(dpath="fmri/datasets/{fmri_dataset}/mosaic", within=config, default={}),
    threads: 1
    resources:
        mem_mb=12000,  # betas of 57,051 vertices × 30,000 trials: 6.8 GB float32
        runtime=120,
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/mosaic-betas-sub-{subject}.log",
    script:
        "../scripts/fmri_mosaic_betas.py"


rule fmri_stimuli:
    input:
        betas=fmri_subject_paths(config, "results/fmri/{fmri_dataset}/betas/sub-{subject}.npz"),
    output:
        stimuli="results/prepared/{fmri_dataset}/stimuli.tsv",
    wildcard_constraints:
        fmri_dataset=FMRI_DATASETS,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/stimuli.log",
    script:
        "../scripts/fmri_prepare.py"


rule fmri_prepare_subject:
    input:
        betas="results/fmri/{fmri_dataset}/betas/sub-{subject}.npz",
        stimuli="results/prepared/{fmri_dataset}/stimuli.tsv",
    output:
        store=directory("results/prepared/{fmri_dataset}/sub-{subject}.zarr"),
    wildcard_constraints:
        fmri_dataset=FMRI_DATASETS,
        subject=r"\d\d",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/prepare-sub-{subject}.log",
    script:
        "../scripts/fmri_prepare.py"


rule fmri_train_cnn8:
    input:
        stimuli_tsv="results/prepared/{fmri_dataset}/stimuli.tsv",
        stimuli_file="resources/raw/{fmri_dataset}/nsd_stimuli.hdf5",
        stores=fmri_subject_paths(config, "results/prepared/{fmri_dataset}/sub-{subject}.zarr"),
    output:
        model="results/models/{fmri_dataset}/CNN8_multihead/model.pt",
        summary="results/models/{fmri_dataset}/CNN8_multihead/training.json",
    wildcard_constraints:
        fmri_dataset=FMRI_DATASETS,
    params:
        subjects=lookup(dpath="fmri/datasets/{fmri_dataset}/subjects", within=config),
        cnn8=lookup(dpath="fmri/cnn8", within=config, default={}),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=1440,
        gpu=gpu_request(config, "fmri/cnn8/device"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/train_cnn8.log",
    script:
        "../scripts/fmri_train_cnn8.py"
