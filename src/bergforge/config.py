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
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
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


def gpu_request(config: dict[str, Any], dpath: str) -> int:
    """GPUs a rule asks the scheduler for: 1 when the config entry at ``dpath`` says ``cuda``."""
    node: Any = config
    for key in dpath.split("/"):
        node = node.get(key) if isinstance(node, dict) else None
    return 1 if node == "cuda" else 0


def load_config(path: Path | str) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
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
