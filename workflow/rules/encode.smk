# Stage 4: one encoding model per dataset × backbone × subject × split (StandardScaler → PCA →
# regression over every target), fitted out of core from the prepared store and the feature shards.

from bergforge.models.linear.splits import SPLITS


rule encode_model:
    input:
        prepared="results/prepared/{dataset}/sub-{subject}.zarr",
        stimuli="results/prepared/{dataset}/stimuli.tsv",
        features="results/features/{dataset}/{backbone}/features.json",
    output:
        scaler="results/models/{dataset}/{backbone}/sub-{subject}/split-{split}/scaler.npz",
        pca="results/models/{dataset}/{backbone}/sub-{subject}/split-{split}/pca.npz",
        regression="results/models/{dataset}/{backbone}/sub-{subject}/split-{split}/regression.npz",
        model="results/models/{dataset}/{backbone}/sub-{subject}/split-{split}/model.json",
    wildcard_constraints:
        subject=r"\d\d",
        split="|".join(SPLITS),
    params:
        encoding=lookup(dpath="encoding", within=config, default={}),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        BERGFORGE_ENV
    log:
        "logs/encode/{dataset}/{backbone}/sub-{subject}_split-{split}.log",
    script:
        "../scripts/encode_model.py"
