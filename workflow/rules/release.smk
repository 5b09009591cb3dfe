# Stage 7: a reproducible release of the export tree: `snakemake --cores 2 release`. The release
# folder is built by the script, not declared as a directory() output (Snakemake would add its
# .snakemake_timestamp marker, a file SHA256SUMS does not list); its SHA256SUMS, written last,
# stands for it. Every file the script reads is an input.

from bergforge.workflow.targets import release_export_files, release_seed_files


rule release:
    input:
        release_targets(config),


rule build_release:
    input:
        export=release_export_files(config),
        seeds=release_seed_files(config),
    output:
        manifest=paths.RELEASE_MANIFEST,
        archive=paths.RELEASE_ARCHIVE,
    wildcard_constraints:
        version=r"[^/]+",
    params:
        config=result_config(config),  # runtime keys are no part of a release
    localrule: True
    conda:
        BERGFORGE_ENV
    log:
        "logs/release/{version}.log",
    script:
        "../scripts/build_release.py"
