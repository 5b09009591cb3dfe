# Stage 2: raw MEG/EEG → prepared response stores (one job per subject, streaming unit by unit)
# and the stimulus table of each dataset. All logic lives in bergforge.preprocess.

from bergforge.preprocess.design import meg_datasets, meg_epochs_file, meg_raw_subject_dir

MEG_DATASETS = alternation(datasets_where(config, format="things_meg1"))
MEG_RAW_DATASETS = alternation(meg_datasets(config, published_epochs=False))
MEG_EPOCHS_DATASETS = alternation(meg_datasets(config, published_epochs=True))
EEG_DATASETS = alternation(datasets_where(config, format="things_eeg2"))


rule prepare_meg_stimuli:
    input:
        images="resources/raw/{dataset}/images",
    output:
        "results/prepared/{dataset}/stimuli.tsv",
    wildcard_constraints:
        dataset=MEG_DATASETS,
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/stimuli.log",
    script:
        "../scripts/preprocess_stimuli.py"


use rule prepare_meg_stimuli as prepare_eeg_stimuli with:
    input:
        images="resources/raw/{dataset}/image_set",
    wildcard_constraints:
        dataset=EEG_DATASETS,


rule preprocess_meg_subject:
    input:
        raw=meg_raw_subject_dir,
        images="resources/raw/{dataset}/images",
    output:
        directory("results/prepared/{dataset}/sub-{subject}.zarr"),
    wildcard_constraints:
        dataset=MEG_RAW_DATASETS,
        subject=r"\d\d",
    params:
        dataset=lookup(dpath="datasets/{dataset}", within=config),
        preprocess=lookup(dpath="preprocess/meg", within=config, default={}),
    threads: 1
    resources:
        mem_mb=lookup(dpath="preprocess/mem_mb", within=config, default=4000),
        runtime=240,
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}.log",
    script:
        "../scripts/preprocess_meg_subject.py"


rule preprocess_meg_subject_from_epochs:
    input:
        epochs=meg_epochs_file,
        images="resources/raw/{dataset}/images",
    output:
        directory("results/prepared/{dataset}/sub-{subject}.zarr"),
    wildcard_constraints:
        dataset=MEG_EPOCHS_DATASETS,
        subject=r"\d\d",
    params:
        preprocess=lookup(dpath="preprocess/meg", within=config, default={}),
    threads: 1
    resources:
        mem_mb=lookup(dpath="preprocess/mem_mb", within=config, default=4000),
        runtime=240,
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}.log",
    script:
        "../scripts/preprocess_meg_epochs.py"


rule preprocess_eeg_subject:
    input:
        raw="resources/raw/{dataset}/raw_data/sub-{subject}",
        images="resources/raw/{dataset}/image_set",
    output:
        directory("results/prepared/{dataset}/sub-{subject}.zarr"),
    wildcard_constraints:
        dataset=EEG_DATASETS,
        subject=r"\d\d",
    params:
        dataset=lookup(dpath="datasets/{dataset}", within=config),
        preprocess=lookup(dpath="preprocess/eeg", within=config, default={}),
    threads: 1
    resources:
        mem_mb=lookup(dpath="preprocess/mem_mb", within=config, default=4000),
        runtime=240,
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}.log",
    script:
        "../scripts/preprocess_eeg_subject.py"
