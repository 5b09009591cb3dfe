# Stage 5c: decoding models (kinds with `task = "decode"`: ridge_decoder, fmri_mlp, fmri_linear,
# simple_conv). Their fit rules are encode.smk's (one folder per dataset × backbone × seed, fitted on every subject's
# trial-indexed store); here each is evaluated by image retrieval: every subject's test trials
# decoded, the true image ranked among the test images' embeddings in four aggregations
# (bergforge.evaluation.decoding; files in docs/interfaces.md, "decoder evaluation").

from bergforge.workflow.decoding import decoder_constraints, decoder_inputs
from bergforge.workflow.decoding_oracle import oracle_constraints, oracle_inputs
from bergforge.workflow.resources import sized_mem_mb, sized_runtime


rule evaluate_decoder:
    input:
        unpack(decoder_inputs(config)),
    output:
        retrieval=paths.RETRIEVAL,
        ranks=paths.RETRIEVAL_RANKS,
    wildcard_constraints:
        **decoder_constraints(config),
    threads: 2
    resources:  # from the test trials and the model (bergforge.workflow.resources)
        mem_mb=sized_mem_mb(config, "evaluate_decoder"),
        runtime=sized_runtime(config, "evaluate_decoder"),
    conda:
        BERGFORGE_ENV
    log:
        "logs/evaluate/{dataset}/{model}/retrieval.log",
    script:
        "../scripts/evaluate_decoder.py"


# the oracle of a simulated decoding study (bergforge.simulate.decoding_oracle): the retrieval of
# a least-squares decoder of noise-free responses, from the simulator's driving latents and the
# backbone's features; one job per dataset × target backbone, shown beside the decoders
rule decoding_oracle:
    input:
        unpack(oracle_inputs(config)),
    output:
        paths.DECODING_ORACLE,
    wildcard_constraints:
        **oracle_constraints(config),
    threads: 1
    resources:  # the features of the study's images (a few MB at demo size)
        mem_mb=2000,
        runtime=15,
    conda:
        BERGFORGE_ENV
    log:
        "logs/evaluate/{dataset}/oracle-{backbone}.log",
    script:
        "../scripts/decoding_oracle.py"
