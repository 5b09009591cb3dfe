# Stage 0 for `source: download` datasets: fetch the real files into resources/raw/{dataset}/
# in the layout the preprocessing rules read. Verified, resumable downloads and safe unpacking
# live in bergforge.datasets (download, fetch, sources); these rules only name the files.

from bergforge.workflow.download import (
    BOLD5000_STIMULI,
    BOLD5000_SUBJECT_MANIFEST,
    bold5000_disk_mb,
    bold5000_runtime,
    catalogue_entry,
    download_datasets,
    download_options,
    meg_download_datasets,
    meg_epoch_part_outputs,
    single_file_pattern,
    things_image_inputs,
)

DOWNLOAD = alternation(download_datasets(config))
DOWNLOAD_MEG = alternation(download_datasets(config, "things_meg1"))
DOWNLOAD_MEG_EPOCHS = alternation(meg_download_datasets(config, published_epochs=True))
DOWNLOAD_MEG_RAW = alternation(meg_download_datasets(config, published_epochs=False))
DOWNLOAD_EEG = alternation(download_datasets(config, "things_eeg2"))
DOWNLOAD_BOLD5000 = alternation(download_datasets(config, "bold5000"))


rule download_file:
    output:
        "resources/raw/{dataset}/{path}",
    wildcard_constraints:
        dataset=DOWNLOAD,
        path=single_file_pattern(config),
    params:
        entry=catalogue_entry(config),
        options=download_options(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/{path}.log",
    script:
        "../scripts/download_file.py"


rule download_meg_epochs:
    output:
        **meg_epoch_part_outputs(),
    wildcard_constraints:
        dataset=DOWNLOAD_MEG_EPOCHS,
        n=r"\d+",
    params:
        options=download_options(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/epochs-P{n}.log",
    script:
        "../scripts/download_meg_epochs.py"


rule download_meg_raw_subject:
    output:
        directory("resources/raw/{dataset}/sub-BIGMEG{n}"),
    wildcard_constraints:
        dataset=DOWNLOAD_MEG_RAW,
        n=r"\d+",
    params:
        options=download_options(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/sub-BIGMEG{n}.log",
    script:
        "../scripts/download_meg_raw_subject.py"


rule unpack_things_meg_images:
    input:
        unpack(things_image_inputs(config)),
    output:
        directory("resources/raw/{dataset}/images"),
    wildcard_constraints:
        dataset=DOWNLOAD_MEG,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/images.log",
    script:
        "../scripts/unpack_things_meg_images.py"


rule unpack_eeg_subject:
    input:
        "resources/raw/{dataset}/downloads/sub-{subject}.zip",
    output:
        directory("resources/raw/{dataset}/raw_data/sub-{subject}"),
    wildcard_constraints:
        dataset=DOWNLOAD_EEG,
        subject=r"\d\d",
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/unpack-sub-{subject}.log",
    script:
        "../scripts/unpack_eeg.py"


use rule unpack_eeg_subject as unpack_eeg_image_set with:
    input:
        "resources/raw/{dataset}/downloads/image_set.zip",
    output:
        directory("resources/raw/{dataset}/image_set"),
    wildcard_constraints:
        dataset=DOWNLOAD_EEG,
    log:
        "logs/download/{dataset}/unpack-image_set.log",


# BOLD5000 (OpenNeuro ds001499): per subject, only what the decoding route reads (events.tsv and
# fsnative func.gii of every task-5000scenes run, lh/rh.sphere.reg) into ds001499's layout; the
# manifest is written when all of them are in place
rule download_bold5000_subject:
    output:
        BOLD5000_SUBJECT_MANIFEST,
    wildcard_constraints:
        dataset=DOWNLOAD_BOLD5000,
        subject=r"\d+",
    params:
        options=download_options(config),
    threads: 1
    resources:
        mem_mb=500,
        disk_mb=bold5000_disk_mb,
        runtime=bold5000_runtime,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/sub-CSI{subject}.log",
    script:
        "../scripts/download_bold5000_subject.py"


# the stimulus zip (rule download_file) → BOLD5000_Stimuli/ (presented images, repeated list)
rule unpack_bold5000_stimuli:
    input:
        "resources/raw/{dataset}/downloads/BOLD5000_Stimuli.zip",
    output:
        directory(BOLD5000_STIMULI),
    wildcard_constraints:
        dataset=DOWNLOAD_BOLD5000,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/download/{dataset}/unpack-BOLD5000_Stimuli.log",
    script:
        "../scripts/unpack_bold5000_stimuli.py"
