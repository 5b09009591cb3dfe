# Stage 6: the BERG tree. Linear MEG/EEG models + evaluation → BERG weight and metadata files (names
# and keys as BERG publishes them), accuracy plots per subject and a model card per model; cnn8
# models in MOSAIC's checkpoint layout with their metadata, plots and card.

from bergforge.export.plot_files import MEG_SPLIT_KEYS
from bergforge.workflow.resources import sized_mem_mb, sized_runtime
from bergforge.workflow.export import (
    card_inputs,
    card_subjects,
    export_inputs,
    own_layout_inputs,
    own_layout_params,
)
from bergforge.workflow.decoder_export import decoder_export_inputs
from bergforge.workflow.decoding import decoder_constraints
from bergforge.workflow.fmri import (
    fmri_berg_names,
    fmri_card_subjects,
    fmri_export_inputs,
    fmri_model_folder,
)

MEG_WEIGHT_SUFFIXES = ["all_training_splits", "full"] + [
    f"single_training_split_{k}" for k in range(1, 5)
]
BERG_WILDCARDS = {"berg_dataset": r"[a-z0-9_]+", "backbone": r"[A-Za-z0-9_.]+"}


rule export_meg_subject:
    input:
        unpack(export_inputs(config, "meg")),
    output:
        weights=expand(
            "results/berg/encoding_models/modality-meg/train_dataset-{berg_dataset}/model-{backbone}/encoding_models_weights/weights_P{subject}_{suffix}.npy",
            suffix=MEG_WEIGHT_SUFFIXES,
            allow_missing=True,
        ),
        metadata="results/berg/encoding_models/modality-meg/train_dataset-{berg_dataset}/model-{backbone}/metadata/metadata_P{subject}.npy",
    wildcard_constraints:
        subject=r"[1-9]\d*",
        **BERG_WILDCARDS,
    params:
        modality="meg",
    resources:  # from the test responses and the models (bergforge.workflow.resources)
        mem_mb=sized_mem_mb(config, "export_meg_subject"),
        runtime=sized_runtime(config, "export_meg_subject"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/meg-{berg_dataset}-{backbone}/P{subject}.log",
    script:
        "../scripts/export_subject.py"


use rule export_meg_subject as export_eeg_subject with:
    input:
        unpack(export_inputs(config, "eeg")),
    output:
        weights="results/berg/encoding_models/modality-eeg/train_dataset-{berg_dataset}/model-{backbone}/encoding_models_weights/weights_subject-{subject}.npy",
        metadata="results/berg/encoding_models/modality-eeg/train_dataset-{berg_dataset}/model-{backbone}/metadata/metadata_subject-{subject}.npy",
    wildcard_constraints:
        subject=r"\d\d",
        **BERG_WILDCARDS,
    params:
        modality="eeg",
    resources:
        mem_mb=sized_mem_mb(config, "export_eeg_subject"),
        runtime=sized_runtime(config, "export_eeg_subject"),
    log:
        "logs/export/eeg-{berg_dataset}-{backbone}/subject-{subject}.log",


rule plot_meg_accuracy:
    input:
        "results/berg/encoding_models/modality-meg/train_dataset-{berg_dataset}/model-{backbone}/metadata/metadata_P{subject}.npy",
    output:
        [
            report(
                "results/berg/encoding_models/modality-meg/train_dataset-{berg_dataset}/model-{backbone}/encoding_models_accuracy/encoding_accuracy_P{subject}_"
                + key
                + ".png",
                caption="../report/meg_accuracy.rst",
                category="Accuracy",
                subcategory="MEG {berg_dataset}",
                labels={"model": "{backbone}", "subject": "P{subject}", "split": key},
            )
            for key in MEG_SPLIT_KEYS
        ],
    wildcard_constraints:
        subject=r"[1-9]\d*",
        **BERG_WILDCARDS,
    params:
        modality="meg",
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/meg-{berg_dataset}-{backbone}/plots-P{subject}.log",
    script:
        "../scripts/plot_accuracy.py"


use rule plot_meg_accuracy as plot_eeg_accuracy with:
    input:
        "results/berg/encoding_models/modality-eeg/train_dataset-{berg_dataset}/model-{backbone}/metadata/metadata_subject-{subject}.npy",
    output:
        report(
            "results/berg/encoding_models/modality-eeg/train_dataset-{berg_dataset}/model-{backbone}/encoding_models_accuracy/encoding_accuracy_subject-{subject}.png",
            caption="../report/eeg_accuracy.rst",
            category="Accuracy",
            subcategory="EEG {berg_dataset}",
            labels={"model": "{backbone}", "subject": "{subject}"},
        ),
    wildcard_constraints:
        subject=r"\d\d",
        **BERG_WILDCARDS,
    params:
        modality="eeg",
    log:
        "logs/export/eeg-{berg_dataset}-{backbone}/plots-subject-{subject}.log",


rule model_card:
    input:
        card_inputs(config),
    output:
        card="results/berg/encoding_models/modality-{modality}/train_dataset-{berg_dataset}/model-{backbone}/model_card.yaml",
        markdown="results/berg/encoding_models/modality-{modality}/train_dataset-{berg_dataset}/model-{backbone}/model_card.md",
    wildcard_constraints:
        modality="meg|eeg",
        **BERG_WILDCARDS,
    params:
        subjects=card_subjects(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/{modality}-{berg_dataset}-{backbone}/card.log",
    script:
        "../scripts/write_model_card.py"

# cnn8 models: MOSAIC's checkpoint layout in BERG's tree
# `modality-fmri/train_dataset-{name_in_berg}/model-CNN8_multihead_subNSD_verticesAll/`.

FMRI_BERG = alternation(fmri_berg_names(config))
FMRI_MODEL = fmri_model_folder("{berg_dataset}")


rule fmri_export_weights:
    input:
        unpack(fmri_export_inputs(config, "weights")),
    output:
        weights=f"{FMRI_MODEL}/encoding_models_weights/model-CNN8_framework-multihead_subjects-NSD_vertices-all.pth",
    wildcard_constraints:
        berg_dataset=FMRI_BERG,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/fmri-{berg_dataset}/weights.log",
    script:
        "../scripts/fmri_export.py"


rule fmri_export_metadata:
    input:
        unpack(fmri_export_inputs(config, "metadata")),
    output:
        metadata=f"{FMRI_MODEL}/metadata/NSD/sub-{{subject}}.npy",
    wildcard_constraints:
        berg_dataset=FMRI_BERG,
        subject=r"\d\d",
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/fmri-{berg_dataset}/metadata-sub-{subject}.log",
    script:
        "../scripts/fmri_export.py"


rule fmri_plot_accuracy:
    input:
        metadata=f"{FMRI_MODEL}/metadata/NSD/sub-{{subject}}.npy",
    output:
        groups=report(
            f"{FMRI_MODEL}/encoding_models_accuracy/encoding_accuracy_sub-{{subject}}_glasser_groups.png",
            caption="../report/fmri_accuracy.rst",
            category="Accuracy",
            subcategory="fMRI {berg_dataset}",
            labels={"plot": "Glasser groups", "subject": "sub-{subject}"},
        ),
        surface=report(
            f"{FMRI_MODEL}/encoding_models_accuracy/encoding_accuracy_sub-{{subject}}_surface.png",
            caption="../report/fmri_accuracy.rst",
            category="Accuracy",
            subcategory="fMRI {berg_dataset}",
            labels={"plot": "cortical surface", "subject": "sub-{subject}"},
        ),
    wildcard_constraints:
        berg_dataset=FMRI_BERG,
        subject=r"\d\d",
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/fmri-{berg_dataset}/plots-sub-{subject}.log",
    script:
        "../scripts/fmri_plot_accuracy.py"


rule fmri_model_card:
    input:
        fmri_export_inputs(config, "card"),
        weights=f"{FMRI_MODEL}/encoding_models_weights/model-CNN8_framework-multihead_subjects-NSD_vertices-all.pth",
    output:
        card=f"{FMRI_MODEL}/model_card.yaml",
        markdown=f"{FMRI_MODEL}/model_card.md",
    wildcard_constraints:
        berg_dataset=FMRI_BERG,
    params:
        subjects=fmri_card_subjects(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/fmri-{berg_dataset}/card.log",
    script:
        "../scripts/fmri_model_card.py"


# kinds BERG's layouts cannot hold: bergforge's own layout (safetensors + JSON + card + SHA256SUMS,
# docs/interfaces.md), in BERG's tree so that the same API lists and loads them
rule export_own_model:
    input:
        unpack(own_layout_inputs(config)),
    output:
        metadata="results/berg/encoding_models/modality-{modality}/train_dataset-{berg_dataset}/model-{model}/bergforge_model.json",
        manifest="results/berg/encoding_models/modality-{modality}/train_dataset-{berg_dataset}/model-{model}/SHA256SUMS",
    wildcard_constraints:
        modality="meg|eeg|fmri",
        berg_dataset=r"[a-z0-9_]+",
        model=r"[A-Za-z0-9_.]+",
    params:
        **own_layout_params(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/{modality}-{berg_dataset}-{model}/own_layout.log",
    script:
        "../scripts/export_own_model.py"


# the tree's SHA256SUMS, like a release's: every exported file (a model folder in bergforge's own
# layout through its own SHA256SUMS); the loader verifies each pickled file against it first
rule berg_manifest:
    input:
        export_targets(config),
    output:
        manifest=paths.EXPORT_MANIFEST,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/berg_manifest.log",
    script:
        "../scripts/write_berg_manifest.py"


# decoding models (task "decode"), each with its retrieval.json, in bergforge's decoder layout
# (bergforge.export.decoder_layout): not part of the tree's SHA256SUMS, each folder has its own
rule export_decoder:
    input:
        unpack(decoder_export_inputs(config)),
    output:
        metadata="results/berg/decoding_models/modality-{modality}/train_dataset-{dataset}/model-{model}/bergforge_decoder.json",
        manifest="results/berg/decoding_models/modality-{modality}/train_dataset-{dataset}/model-{model}/SHA256SUMS",
    wildcard_constraints:
        modality="meg|eeg|fmri",
        **decoder_constraints(config),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/export/decoder-{modality}-{dataset}-{model}.log",
    script:
        "../scripts/export_decoder.py"
