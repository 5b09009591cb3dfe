# Stage 7: a reproducible release of the export tree: `snakemake --cores 2 release`.


rule release:
    input:
        release_targets(config),


rule build_release:
    input:
        export_targets(config),
    output:
        folder=directory("results/release/bergforge-models-{version}"),
        archive="results/release/bergforge-models-{version}.tar.gz",
    params:
        config=config,
        models_dir="results/models",
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/release/{version}.log",
    script:
        "../scripts/build_release.py"
