# Stage 4: model folders. One fit rule per model kind in use (bergforge.models.registry), made from
# the kind's declaration: its outputs, its scope (one model per subject × split, like `linear`, or
# one per dataset, like `cnn8`) and what it reads (feature shards or the stimulus images). A new
# kind is one module plus one registry entry; this file does not change.

from bergforge.workflow.models import (
    fit_constraints,
    fit_inputs,
    fit_outputs,
    fit_params,
    fit_resources,
    kinds_in_use,
)
from bergforge.workflow.resources import fit_mem_mb, fit_runtime

for _kind in kinds_in_use(config):

    rule:
        name:
            f"fit_{_kind.name}"
        input:
            unpack(fit_inputs(config)),
        output:
            fit_outputs(_kind),
        wildcard_constraints:
            **fit_constraints(config, _kind),
        params:
            **fit_params(config, _kind),
        threads: fit_resources(_kind)["threads"]
        resources:  # from the input sizes where measured (bergforge.workflow.resources)
            mem_mb=fit_mem_mb(config, _kind),
            runtime=fit_runtime(config, _kind),
            gpu=gpu_request(config, f"models/{_kind.name}/device"),
        conda:
            BERGFORGE_ENV
        log:
            (
                "logs/models/{dataset}/{model}/sub-{subject}_split-{split}.log"
                if _kind.scope == "subject"
                else "logs/models/{dataset}/{model}/fit.log"
            ),
        script:
            "../scripts/fit_model.py"
