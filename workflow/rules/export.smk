# Stage 6: the BERG tree. Encoding models + evaluation → BERG weight and metadata files (names and
# keys as BERG publishes them), accuracy plots per subject and a model card per model.

from bergforge.export.plots import MEG_SPLIT_KEYS
from bergforge.workflow.export import card_inputs, card_subjects, export_inputs

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
    resources:
        mem_mb=8000,
        runtime=60,
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
