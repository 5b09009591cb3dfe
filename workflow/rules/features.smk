# Stage 3: deep-network features of every stimulus image, sharded into Zarr stores.
# How many shards a dataset has depends on its stimulus table (written by the preprocess stage),
# so a per-dataset checkpoint reads stimuli.tsv and fixes the plan; the manifest rule then asks
# for every planned shard of one backbone. Adding a backbone adds only its shard and manifest jobs.
# Datasets take part when one of their models reads features; fMRI images come from
# nsd_stimuli.hdf5.

from bergforge.features.plan import shard_input_function
from bergforge.features.registry import configured_backbones
from bergforge.workflow.features import feature_inputs
from bergforge.workflow.resources import sized_mem_mb, sized_runtime
from bergforge.workflow.models import feature_datasets

FEATURE_BACKBONES = alternation(list(configured_backbones(config)))
FEATURE_DATASETS = alternation(feature_datasets(config))


checkpoint plan_feature_shards:
    input:
        stimuli=paths.STIMULI,
    output:
        paths.SHARD_PLAN,
    wildcard_constraints:
        dataset=FEATURE_DATASETS,
    params:
        shard_size=lookup(dpath="features/shard_size", within=config, default=1000),
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/features/{dataset}/shard_plan.log",
    script:
        "../scripts/plan_feature_shards.py"


rule extract_feature_shard:
    input:
        unpack(feature_inputs(config)),
    output:
        directory(paths.FEATURE_SHARD),
    wildcard_constraints:
        dataset=FEATURE_DATASETS,
        backbone=FEATURE_BACKBONES,
        shard=r"\d+",
        n_shards=r"\d+",
    params:
        backbone=lookup(dpath="backbones/{backbone}", within=config),
        features=result_params(config, "features", default={}),  # runtime keys: job_runtime
    threads: lookup(dpath="features/threads", within=config, default=2)
    resources:  # from the shard's size (bergforge.workflow.resources); features.mem_mb overrides
        mem_mb=sized_mem_mb(config, "extract_feature_shard", override="features/mem_mb"),
        runtime=sized_runtime(config, "extract_feature_shard"),
        gpu=gpu_request(config, "features/device"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/features/{dataset}/{backbone}/shard-{shard}-of-{n_shards}.log",
    script:
        "../scripts/extract_features.py"


rule feature_manifest:
    input:
        shard_input_function(checkpoints.plan_feature_shards),
    output:
        paths.FEATURES,
    wildcard_constraints:
        dataset=FEATURE_DATASETS,
        backbone=FEATURE_BACKBONES,
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/features/{dataset}/{backbone}/manifest.log",
    script:
        "../scripts/write_feature_manifest.py"
