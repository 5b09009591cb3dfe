# Shared set-up: config validation (before any job is planned), wildcard sets and the software
# environment of every rule. Helper logic lives in the package (bergforge.config, bergforge.workflow.targets).
# Params carry only settings that change results (`result_params` drops the runtime keys of
# bergforge.config.RUNTIME_KEYS); jobs read threads, memory, device, batch size, Dask scheduler
# and download retries when they run (`job_runtime`), so changing those schedules no rerun.

from pathlib import Path

from bergforge import paths  # the one owner of every path under results/
from bergforge.config import (
    canonical,
    datasets_where,
    gpu_request,
    result_config,
    result_params,
    validate_config,
)
from bergforge.datasets.formats import check_datasets, datasets_of
from bergforge.workflow.bold5000 import check_decoding_datasets
from bergforge.workflow.meeg_decoding import check_meeg_decoding_datasets
from bergforge.workflow.models import check_models
from bergforge.workflow.free_viewing import check_free_viewing
from bergforge.simulate.prepared_trials import DEFAULT_TRIALS as PREPARED_TRUTH_TRIALS
from bergforge.workflow.targets import (
    all_targets,
    alternation,
    export_targets,
    preprocess_section,
    release_targets,
    truth_backbone_entry,
    truth_file,
)

# the schema check the catalog template makes with snakemake.utils.validate, against the same
# schema (which sets no defaults), with one clear error and libyaml's loader: Snakemake's own call
# read the 60 kB schema with pure-Python YAML, 0.7 s of every Snakemake start
validate_config(config, schema_path=Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
check_datasets(config)
check_decoding_datasets(config)
check_meeg_decoding_datasets(config)
check_models(config)
check_free_viewing(config)
# sorted keys everywhere: reordering the YAML must not change any rule's params
_canonical_config = canonical(config)
config.clear()
config.update(_canonical_config)

# the conda environment of every rule (for --software-deployment-method conda), relative to rules/
BERGFORGE_ENV = "../../envs/bergforge.yaml"

SIMULATED_MEG = alternation(datasets_where(config, source="simulated", format="things_meg1"))
SIMULATED_EEG = alternation(datasets_where(config, source="simulated", format="things_eeg2"))
SIMULATED = alternation(
    datasets_where(config, source="simulated", format="things_meg1")
    + datasets_where(config, source="simulated", format="things_eeg2")
)
SIMULATED_NSD = alternation(datasets_of(config, source="simulated", fmt="nsd_bold"))
SIMULATED_BOLD5000 = alternation(datasets_of(config, source="simulated", fmt="bold5000"))
# studies whose ground truth is driven by latents of a backbone's features (rule simulate_latents)
SIMULATED_LATENTS = alternation(
    datasets_where(config, source="simulated", format="things_meg1")
    + datasets_where(config, source="simulated", format="things_eeg2")
    + datasets_where(config, source="simulated", format="bold5000")
)
