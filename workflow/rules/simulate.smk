# Stage 1 for the embedded demo: the simulator writes raw files in the real formats (THINGS-MEG1
# FIF runs, THINGS-EEG2 session dicts, NSD-like BOLD runs with nsd_stimuli.hdf5), plus the ground
# truth the tests compare against. Real datasets get their raw files from download.smk. The
# BOLD5000-like decoding study's rules are in decode_prepare.smk (its latents come from here).


rule simulate_meg_images:
    output:
        images=directory("resources/raw/{dataset}/images"),
        table="resources/raw/{dataset}/ground_truth/images.tsv",
    wildcard_constraints:
        dataset=SIMULATED_MEG,
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


use rule simulate_meg_images as simulate_eeg_images with:
    output:
        images=directory("resources/raw/{dataset}/image_set"),
        table="resources/raw/{dataset}/ground_truth/images.tsv",
    wildcard_constraints:
        dataset=SIMULATED_EEG,


rule simulate_latents:
    input:
        table="resources/raw/{dataset}/ground_truth/images.tsv",
    output:
        "resources/raw/{dataset}/ground_truth/latents.npz",
    wildcard_constraints:
        dataset=SIMULATED_LATENTS,
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
        # the simulation, with the config's entry of its truth backbone where the config defines
        # or overrides that backbone (`truth_backbone_spec`)
        simulation=truth_backbone_entry(config),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/latents.log",
    script:
        "../scripts/simulate_latents.py"


rule simulate_meg_subject:
    input:
        table="resources/raw/{dataset}/ground_truth/images.tsv",
        latents="resources/raw/{dataset}/ground_truth/latents.npz",
    output:
        raw=directory("resources/raw/{dataset}/sub-BIGMEG{subject}"),
        truth="resources/raw/{dataset}/ground_truth/sub-BIGMEG{subject}_truth.npz",
    wildcard_constraints:
        dataset=SIMULATED_MEG,
        subject=r"\d+",
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
        simulation=lookup(dpath="datasets/{dataset}/simulation", within=config),
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/sub-{subject}.log",
    script:
        "../scripts/simulate_subject.py"


use rule simulate_meg_subject as simulate_eeg_subject with:
    output:
        raw=directory("resources/raw/{dataset}/raw_data/sub-{subject}"),
        truth="resources/raw/{dataset}/ground_truth/sub-{subject}_truth.npz",
    wildcard_constraints:
        dataset=SIMULATED_EEG,
        subject=r"\d\d",


# the truth of the prepared data: trials of the test images from the subject's truth, pushed
# through the dataset's own preprocessing (bergforge.simulate.prepared_truth); demo-accuracy reads it
rule simulate_prepared_truth:
    input:
        truth=truth_file(config),
        table="resources/raw/{dataset}/ground_truth/images.tsv",
        latents="resources/raw/{dataset}/ground_truth/latents.npz",
    output:
        paths.PREPARED_TRUTH,
    wildcard_constraints:
        dataset=SIMULATED,
        subject=r"\d\d",
    params:
        format=lookup(dpath="datasets/{dataset}/format", within=config),
        simulation=lookup(dpath="datasets/{dataset}/simulation", within=config),
        preprocess=preprocess_section(config),
        n_trials=PREPARED_TRUTH_TRIALS,
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/sub-{subject}_prepared_truth.log",
    script:
        "../scripts/simulate_prepared_truth.py"


# the NSD-like study (format nsd_bold): every subject's BOLD runs and onsets in one job
rule fmri_simulate_study:
    output:
        stimuli="resources/raw/{dataset}/nsd_stimuli.hdf5",
        done="resources/raw/{dataset}/ground_truth/study.json",
    wildcard_constraints:
        dataset=SIMULATED_NSD,
    params:
        simulation=lookup(dpath="datasets/{dataset}/simulation", within=config),
        subjects=lookup(dpath="datasets/{dataset}/subjects", within=config),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        BERGFORGE_ENV
    log:
        "logs/simulate/{dataset}/study.log",
    script:
        "../scripts/fmri_simulate_study.py"
