# Decoding datasets (format bold5000, trial-indexed): the simulated BOLD5000-like study's raw tree
# (ds001499's layout), the study's trial table with the task's split plus the stimulus table the
# features stage reads, and each subject's trial-indexed store of fsaverage5 windows. A download
# route provides the same raw folders (bergforge.workflow.bold5000: events, fMRIPrep runs,
# FreeSurfer surfaces per subject; the stimulus tree). All logic lives in the package.

from bergforge.workflow.bold5000 import (
    SIMULATE_MEM_MB,
    SIMULATE_RUNTIME_MIN,
    TRIALS_MEM_MB,
    TRIALS_RUNTIME_MIN,
    trials_inputs,
    trials_runs,
    windows_inputs,
)
from bergforge.workflow.resources import sized_mem_mb, sized_runtime

BOLD5000 = alternation(datasets_of(config, fmt="bold5000"))


# the stimulus tree (images and repeated_stimuli_113_list.txt) and the image table of the truth
rule simulate_bold5000_images:
    output:
        images=directory("resources/raw/{dataset}/BOLD5000_Stimuli"),
        table="resources/raw/{dataset}/ground_truth/images.tsv",
    wildcard_constraints:
        dataset=SIMULATED_BOLD5000,
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
        simulation=lookup(dpath="datasets/{dataset}/simulation", within=config),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/images.log",
    script:
        "../scripts/simulate_images.py"


# one job per subject (the images and latents are the study's, written once by the rules above
# and simulate_latents): a subject's runs need nothing of another subject's, so subjects run in
# parallel and adding one adds one job
rule simulate_bold5000_subject:
    input:
        table="resources/raw/{dataset}/ground_truth/images.tsv",
        latents="resources/raw/{dataset}/ground_truth/latents.npz",
    output:
        events=directory("resources/raw/{dataset}/sub-CSI{subject}"),
        runs=directory("resources/raw/{dataset}/derivatives/fmriprep/sub-CSI{subject}"),
        surfaces=directory("resources/raw/{dataset}/derivatives/freesurfer/sub-CSI{subject}"),
        truth="resources/raw/{dataset}/ground_truth/sub-CSI{subject}_truth.npz",
    wildcard_constraints:
        dataset=SIMULATED_BOLD5000,
        subject=r"[1-9]\d*",
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
        simulation=lookup(dpath="datasets/{dataset}/simulation", within=config),
    threads: 1
    resources:  # bergforge.workflow.bold5000: one run's arrays at a time
        mem_mb=SIMULATE_MEM_MB,
        runtime=SIMULATE_RUNTIME_MIN,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/sub-{subject}.log",
    script:
        "../scripts/simulate_subject.py"


# the study's trials with the task's split (validation runs are drawn among every subject's, so
# the table is the dataset's), and stimuli.tsv: one row per image, for the features stage
rule bold5000_trials:
    input:
        unpack(trials_inputs(config)),
    output:
        trials=paths.TRIALS,
        stimuli=paths.STIMULI,
    wildcard_constraints:
        dataset=BOLD5000,
    params:
        runs=trials_runs(config),
    threads: 1
    resources:  # every events.tsv of the study (bergforge.workflow.bold5000)
        mem_mb=TRIALS_MEM_MB,
        runtime=TRIALS_RUNTIME_MIN,
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/trials.log",
    script:
        "../scripts/bold5000_trials.py"


# one subject's runs → fsaverage5 → detrended, z-scored → windows [trial, vertex, tr]
rule bold5000_windows:
    input:
        unpack(windows_inputs(config)),
    output:
        directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=BOLD5000,
        subject=r"\d\d",
    params:
        preprocess=lookup(dpath="datasets/{dataset}/preprocess", within=config, default={}),
    threads: 1
    resources:  # one run at a time: from the run files' sizes (bergforge.workflow.resources)
        mem_mb=sized_mem_mb(config, "bold5000_windows", "preprocess/mem_mb"),
        runtime=sized_runtime(config, "bold5000_windows"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}.log",
    script:
        "../scripts/bold5000_windows.py"


# MEG/EEG decoding (THINGS-MEG1 / THINGS-EEG2 with `preprocess: {variant: neuralbench}`): the
# encoding route's raw files and stimuli.tsv (rules prepare_meg_stimuli / prepare_eeg_stimuli),
# then one subject's recordings → neuralbench-style windows [trial, channel, time] with the
# decoding split (bergforge.preprocess.meeg_decoding). One recording in memory at a time.
from bergforge.workflow.meeg_decoding import (
    meeg_decoding_datasets,
    windows_inputs as meeg_windows_inputs,
    windows_params as meeg_windows_params,
)

MEEG_DECODING = alternation(meeg_decoding_datasets(config))


rule meeg_decoding_windows:
    input:
        unpack(meeg_windows_inputs(config)),
    output:
        directory(paths.PREPARED_STORE),
    wildcard_constraints:
        dataset=MEEG_DECODING,
        subject=r"\d\d",
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
        preprocess=meeg_windows_params(config),
        design=recording_design(config),
    threads: 1
    resources:  # from the largest recording (bergforge.workflow.resources); preprocess.mem_mb overrides
        mem_mb=sized_mem_mb(config, "meeg_decoding_windows", override="preprocess/mem_mb"),
        runtime=sized_runtime(config, "meeg_decoding_windows"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/preprocess/{dataset}/sub-{subject}.log",
    script:
        "../scripts/meeg_decoding_windows.py"
