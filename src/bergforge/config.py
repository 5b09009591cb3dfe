"""Loading and validating the workflow configuration against its JSON schema.

The schema lives in ``workflow/schemas/config.schema.yaml``. Validation reports the first problem
as one line that names the key path and what was expected, before Snakemake plans any job.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bergforge.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line naming the key and what was expected."""
    where = _key_path(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"config: unknown key(s) {extra} under {where}; expected one of {allowed}"
    if error.validator == "required":
        return f"config: {where} is missing a required key: {error.message.split(' ')[0]}"
    if error.validator == "enum":
        return f"config: {where} = {error.instance!r}; expected one of {error.validator_value}"
    if error.validator == "type":
        return (
            f"config: {where} = {error.instance!r} has the wrong type; "
            f"expected {error.validator_value}"
        )
    return f"config: {where}: {error.message}"


def _relevance(error: jsonschema.ValidationError):
    # the deepest error names the most specific key
    return (-len(error.absolute_path), error.validator != "additionalProperties")


#: Keys of earlier config layouts, and where their content lives now (refused with that message).
MOVED_KEYS = {
    "fmri": (
        "`fmri` was split up: each entry of fmri.datasets is now a dataset under `datasets` with "
        "`format: nsd_bold` (source simulated) or `format: nsd_mosaic` (source download) and "
        "`models: {cnn8: {}, linear: {backbones: [...]}}` in place of linear_backbones; "
        "fmri.cnn8 moved to models.cnn8 and fmri.glmsingle to preprocess.glmsingle"
    ),
    "encoding": "`encoding` moved to models.linear (the settings of the linear model kind)",
}


def validate_config(config: dict[str, Any], schema_path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """Raise :class:`ConfigError` with one clear line if ``config`` does not match the schema."""
    for key, where in MOVED_KEYS.items():
        if key in config:
            raise ConfigError(f"config: {where} (see README, 'Configuration')")
    with open(schema_path) as fh:  # libyaml's loader where PyYAML has it: 10× faster
        schema = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=_relevance)
    if errors:
        raise ConfigError(_describe(errors[0]))
    _check_semantics(config)
    return config


def _check_semantics(config: dict[str, Any]) -> None:
    """Cross-field rules a JSON schema cannot state clearly."""
    if not config["datasets"]:
        raise ConfigError("config: no datasets; expected at least one under `datasets`")
    for name, ds in config["datasets"].items():
        if ds["source"] == "simulated" and "simulation" not in ds:
            raise ConfigError(
                f"config: datasets.{name} has source 'simulated' but no 'simulation' section "
                "(expected at least simulation.seed)"
            )
        if ds["source"] != "simulated" and "simulation" in ds:
            raise ConfigError(
                f"config: datasets.{name}.simulation is only allowed with source 'simulated'"
            )
        if ds["source"] != "download" and "download" in ds:
            raise ConfigError(
                f"config: datasets.{name}.download is only allowed with source 'download'"
            )


def canonical(obj: Any) -> Any:
    """A copy of ``obj`` with every mapping's keys sorted, recursively.

    Rules receive config sections as params; Snakemake compares params by their text, so sorting
    makes a reordered (but otherwise equal) config trigger no rerun.
    """
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


#: Config keys that say how a job runs (parallelism, device, batching, memory, cluster, retries),
#: never what it computes, by config path (``*`` = any name). They are kept out of rule params, so
#: changing one schedules no rerun; jobs read them when they run (:func:`job_runtime`) and log the
#: values they used. Everything else in a section is a result parameter.
RUNTIME_KEYS: dict[str, frozenset[str]] = {
    "features": frozenset({"threads", "mem_mb", "device", "batch_size", "workers"}),
    "preprocess": frozenset({"mem_mb"}),
    "models/linear": frozenset({"dask_scheduler"}),
    "models/cnn8": frozenset({"device"}),
    "models/mlp": frozenset({"device"}),
    "models/shared": frozenset({"device"}),
    "models/fmri_mlp": frozenset({"device"}),
    "models/fmri_linear": frozenset({"device"}),
    "models/simple_conv": frozenset({"device"}),
    "datasets/*/models/linear": frozenset({"dask_scheduler"}),
    "datasets/*/models/cnn8": frozenset({"device"}),
    "datasets/*/models/mlp": frozenset({"device"}),
    "datasets/*/models/shared": frozenset({"device"}),
    "datasets/*/models/fmri_mlp": frozenset({"device"}),
    "datasets/*/models/fmri_linear": frozenset({"device"}),
    "datasets/*/models/simple_conv": frozenset({"device"}),
    "datasets/*/download": frozenset({"retries", "backoff"}),
    "datasets/*/free_viewing/kinds/shared": frozenset({"device"}),
}


def _runtime_keys_at(path: tuple[str, ...]) -> frozenset[str]:
    keys: frozenset[str] = frozenset()
    for pattern, names in RUNTIME_KEYS.items():
        parts = tuple(pattern.split("/"))
        if len(parts) == len(path) and all(p in ("*", k) for p, k in zip(parts, path, strict=True)):
            keys |= names
    return keys


def _without_runtime(node: Any, path: tuple[str, ...]) -> Any:
    """``node`` without runtime keys; a section that held only runtime keys goes too."""
    if not isinstance(node, dict):
        return node
    drop = _runtime_keys_at(path)
    kept = {}
    for key, value in node.items():
        if key in drop:
            continue
        value_kept = _without_runtime(value, (*path, key))
        if isinstance(value, dict) and value and not value_kept:
            continue  # e.g. `preprocess: {mem_mb: 8000}` is the same as no `preprocess`
        kept[key] = value_kept
    return kept


def _section(config: dict[str, Any], dpath: str) -> Any:
    node: Any = config
    for key in dpath.split("/"):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def strip_runtime(section: Any, dpath: str) -> Any:
    """The config section found at ``dpath`` without its runtime keys."""
    return _without_runtime(section, tuple(dpath.split("/")))


def result_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without any runtime key (:data:`RUNTIME_KEYS`): the settings that change results."""
    return _without_runtime(config, ())


def result_params(config: dict[str, Any], dpath: str, default: Any = None) -> Any:
    """The config section at ``dpath`` without its runtime keys, as a rule's ``params`` value.

    Like Snakemake's ``lookup(dpath=...)``: a ``dpath`` with ``{wildcards}`` gives a params
    function of the job's wildcards; a missing section gives ``default``.
    """

    def section(path: str) -> Any:
        node = _section(config, path)
        return default if node is None else _without_runtime(node, tuple(path.split("/")))

    if "{" in dpath:
        return lambda wildcards: section(dpath.format(**dict(wildcards.items())))
    return section(dpath)


def runtime_settings(config: dict[str, Any], dpath: str) -> dict[str, Any]:
    """The runtime keys (:data:`RUNTIME_KEYS`) set in the config section at ``dpath``."""
    node = _section(config, dpath)
    keys = _runtime_keys_at(tuple(dpath.split("/")))
    return {k: v for k, v in node.items() if k in keys} if isinstance(node, dict) else {}


def job_runtime(snakemake: Any, dpath: str | None = None) -> dict[str, Any]:
    """Runtime settings of a running Snakemake job, read now (so never a rerun trigger).

    The config's runtime keys at ``dpath`` (``snakemake.config``), with ``threads`` and ``mem_mb``
    replaced by what Snakemake actually gave the job (``--set-threads``, ``--cores`` and
    ``--set-resources`` may differ from the config).
    """
    values = runtime_settings(snakemake.config, dpath) if dpath else {}
    values["threads"] = int(snakemake.threads)
    mem_mb = snakemake.resources.get("mem_mb")
    if mem_mb is not None:
        values["mem_mb"] = int(mem_mb)
    return values


def gpu_request(config: dict[str, Any], dpath: str) -> int:
    """GPUs a rule asks the scheduler for: 1 when the config entry at ``dpath`` says ``cuda``."""
    return 1 if _section(config, dpath) == "cuda" else 0


def load_config(path: Path | str) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    with open(path) as fh:
        try:
            config = yaml.safe_load(fh) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(err, "problem", None) or type(err).__name__
            raise ConfigError(f"config file {path} is not valid YAML: {problem}{where}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(config).__name__}")
    return validate_config(config)


def datasets_where(config: dict[str, Any], **criteria: str) -> list[str]:
    """Names of the datasets whose entries match every ``key=value`` of ``criteria``."""
    return [
        name
        for name, ds in config["datasets"].items()
        if all(ds.get(k) == v for k, v in criteria.items())
    ]


def dataclass_from_section(cls: type, values: dict[str, Any] | None, where: str) -> Any:
    """``cls`` built from a config section (lists become tuples); unknown keys are a ConfigError."""
    values = dict(values or {})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(allowed)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
