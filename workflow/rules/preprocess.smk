# Stage 2: raw recordings → prepared response stores (one job per subject, streaming unit by unit)
# and the stimulus table of each dataset: MNE recipes for MEG/EEG; for fMRI, GLMsingle betas of
# BOLD runs (nsd_bold) or MOSAIC's published betas (nsd_mosaic), then the same store layout.
# All logic lives in bergforge.preprocess.

from bergforge.datasets.formats import datasets_of
from bergforge.preprocess.design import meg_datasets, meg_epochs_file, meg_raw_subject_dir
from bergforge.workflow.design import recording_design
from bergforge.workflow.meeg_decoding import encoding_only
from bergforge.workflow.resources import sized_mem_mb, sized_runtime
from bergforge.workflow.targets import subject_paths

MEG_DATASETS = alternation(datasets_where(config, format="things_meg1"))
# the encoding preprocessing skips datasets with a decoding variant (rule meeg_decoding_windows)
MEG_RAW_DATASETS = alternation(encoding_only(config, meg_datasets(config, published_epochs=False)))
MEG_EPOCHS_DATASETS = alternation(meg_datasets(config, published_epochs=True))
EEG_DATASETS = alternation(datasets_where(config, format="things_eeg2"))
EEG_ENCODING = alternation(encoding_only(config, datasets_where(config, format="things_eeg2")))
NSD_BOLD = alternation(datasets_of(config, fmt="nsd_bold"))
NSD_MOSAIC = alternation(datasets_of(config, fmt="nsd_mosaic"))
# image-indexed fMRI datasets (bold5000, trial-indexed, has its own rules: decode_prepare.smk)
FMRI_DATASETS = alternation(datasets_of(config, modality="fmri", layout="images"))


rule prepare_meg_stimuli:
    input:
        images="resources/raw/{dataset}/images",
    output:
        paths.STIMULI,
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
        directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=MEG_RAW_DATASETS,
        subject=r"\d\d",
    params:
        design=recording_design(config),
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
        directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=MEG_EPOCHS_DATASETS,
        subject=r"\d\d",
    params:
        preprocess=lookup(dpath="preprocess/meg", within=config, default={}),
    threads: 1
    resources:  # from the epochs files' size; preprocess.mem_mb overrides
        mem_mb=sized_mem_mb(
            config, "preprocess_meg_subject_from_epochs", override="preprocess/mem_mb"
        ),
        runtime=sized_runtime(config, "preprocess_meg_subject_from_epochs"),
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
        directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=EEG_ENCODING,
        subject=r"\d\d",
    params:
        design=recording_design(config),
        preprocess=lookup(dpath="preprocess/eeg", within=config, default={}),
    threads: 1
    resources:  # from the largest raw partition; preprocess.mem_mb overrides
        mem_mb=sized_mem_mb(config, "preprocess_eeg_subject", override="preprocess/mem_mb"),
        runtime=sized_runtime(config, "preprocess_eeg_subject"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}.log",
    script:
        "../scripts/preprocess_eeg_subject.py"


rule fmri_glmsingle:
    input:
        stimuli="resources/raw/{dataset}/nsd_stimuli.hdf5",
        done="resources/raw/{dataset}/ground_truth/study.json",
    output:
        glmsingle=directory(paths.GLMSINGLE_DIR),
        betas=paths.BETAS,
    wildcard_constraints:
        dataset=NSD_BOLD,
        subject=r"\d\d",
    params:
        glmsingle=lookup(dpath="preprocess/glmsingle", within=config, default={}),
    resources:
        mem_mb=4000,
        runtime=480,
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/glmsingle-sub-{subject}.log",
    script:
        "../scripts/fmri_glmsingle.py"


# NSD through MOSAIC (nsd_mosaic): MOSAIC's GLMsingle betas of NSD, streamed into the same file
rule fmri_mosaic_betas:
    input:
        betas="resources/raw/{dataset}/betas/sub-{subject}_NSD.hdf5",
        stiminfo="resources/raw/{dataset}/nsd_stiminfo.tsv",
    output:
        betas=paths.BETAS,
    wildcard_constraints:
        dataset=NSD_MOSAIC,
        subject=r"\d\d",
    params:
        mosaic=lookup(dpath="datasets/{dataset}/mosaic", within=config, default={}),
    threads: 1
    resources:  # from the MOSAIC file's size (streamed one trial at a time)
        mem_mb=sized_mem_mb(config, "fmri_mosaic_betas"),
        runtime=sized_runtime(config, "fmri_mosaic_betas"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/mosaic-betas-sub-{subject}.log",
    script:
        "../scripts/fmri_mosaic_betas.py"


rule fmri_stimuli:
    input:
        betas=subject_paths(config, paths.BETAS),
    output:
        stimuli=paths.STIMULI,
    wildcard_constraints:
        dataset=FMRI_DATASETS,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/stimuli.log",
    script:
        "../scripts/fmri_prepare.py"


rule fmri_prepare_subject:
    input:
        betas=paths.BETAS,
        stimuli=paths.STIMULI,
    output:
        store=directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=FMRI_DATASETS,
        subject=r"\d\d",
    threads: 1
    resources:  # from the betas file's size
        mem_mb=sized_mem_mb(config, "fmri_prepare_subject"),
        runtime=sized_runtime(config, "fmri_prepare_subject"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/prepare-sub-{subject}.log",
    script:
        "../scripts/fmri_prepare.py"
