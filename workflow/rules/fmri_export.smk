# fMRI stages 5–6 of the multi-head CNN8: per-subject evaluation (r, noise ceilings), then the
# BERG tree `modality-fmri/train_dataset-{name_in_berg}/model-CNN8_multihead_subNSD_verticesAll/`.

from bergforge.workflow.fmri import (
    fmri_berg_names,
    fmri_card_subjects,
    fmri_export_inputs,
    fmri_model_folder,
)

FMRI_BERG = alternation(fmri_berg_names(config))
FMRI_MODEL = fmri_model_folder("{berg_dataset}")


ruleorder: fmri_evaluate_cnn8 > evaluate_subject


rule fmri_evaluate_cnn8:
    input:
        model="results/models/{fmri_dataset}/CNN8_multihead/model.pt",
        store="results/prepared/{fmri_dataset}/sub-{subject}.zarr",
        stimuli_tsv="results/prepared/{fmri_dataset}/stimuli.tsv",
        stimuli_file="resources/raw/{fmri_dataset}/nsd_stimuli.hdf5",
    output:
        evaluation="results/evaluation/{fmri_dataset}/CNN8_multihead/sub-{subject}/evaluation.npz",
        summary="results/evaluation/{fmri_dataset}/CNN8_multihead/sub-{subject}/summary.json",
    wildcard_constraints:
        fmri_dataset=FMRI_DATASETS,
        subject=r"\d\d",
    params:
        device=lookup(dpath="fmri/cnn8/device", within=config, default="cpu"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=gpu_request(config, "fmri/cnn8/device"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/fmri/{fmri_dataset}/evaluate-sub-{subject}.log",
    script:
        "../scripts/fmri_evaluate_cnn8.py"


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
