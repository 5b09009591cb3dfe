# Stage 5c: decoding models (kinds with `task = "decode"`: ridge_decoder, fmri_mlp). Their fit
# rules are encode.smk's (one folder per dataset × backbone × seed, fitted on every subject's
# trial-indexed store); here each is evaluated by image retrieval: every subject's test trials
# decoded, the true image ranked among the test images' embeddings in four aggregations
# (bergforge.evaluation.decoding; files in docs/interfaces.md, "decoder evaluation").

from bergforge.workflow.decoding import decoder_constraints, decoder_inputs
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
