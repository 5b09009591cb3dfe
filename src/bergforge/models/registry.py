"""The model-kind registry: kind name → the module that defines it.

Built-in kinds are found by name. Others come from a Python entry point in the group
``bergforge.model_kinds`` (``name = "package.module"``) or from the config section
``model_kinds: {name: package.module}``; both are plain imports, so a kind outside the package
runs inside Snakemake's jobs as long as its module is importable there.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib import metadata
from typing import Any

from bergforge.errors import ConfigError
from bergforge.models.kind import (
    DECODE_METHODS,
    REQUIRED_ATTRIBUTES,
    REQUIRED_METHODS,
    TASKS,
    ModelKind,
    kind_task,
)

#: Kinds that ship with bergforge.
BUILTIN_KINDS: dict[str, str] = {
    "linear": "bergforge.models.linear.kind",
    "cnn8": "bergforge.models.cnn8.kind",
    "mlp": "bergforge.models.mlp.kind",
    "shared": "bergforge.models.shared.kind",
    "ridge_decoder": "bergforge.models.ridge_decoder.kind",
    "fmri_mlp": "bergforge.models.decoding.kind",
    "fmri_linear": "bergforge.models.decoding.fmri_linear_kind",
    "simple_conv": "bergforge.models.decoding.simple_conv_kind",
}
ENTRY_POINT_GROUP = "bergforge.model_kinds"


def kind_modules(config: dict[str, Any] | None = None) -> dict[str, str]:
    """Every known kind: built-in, then entry points, then the config's ``model_kinds``."""
    found = dict(BUILTIN_KINDS)
    for name, module in _entry_point_kinds():
        found.setdefault(name, module)
    for name, module in ((config or {}).get("model_kinds") or {}).items():
        if name in BUILTIN_KINDS and module != BUILTIN_KINDS[name]:
            raise ConfigError(
                f"config: model_kinds.{name} would replace the built-in kind {name!r}"
            )
        found[name] = module
    return found


@cache
def _entry_point_kinds() -> tuple[tuple[str, str], ...]:
    """(name, module) of the group's entry points, read once per process.

    ``importlib.metadata.entry_points`` reads the metadata of every installed distribution
    (about 0.05 s here); Snakefile parsing asks for kinds hundreds of times.
    """
    return tuple((ep.name, ep.value) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


def get_kind(name: str, config: dict[str, Any] | None = None) -> ModelKind:
    """The kind called ``name`` (its module's ``KIND``); one clear error if it is unknown or bad."""
    modules = kind_modules(config)
    if name not in modules:
        raise ConfigError(
            f"unknown model kind {name!r}; expected one of {sorted(modules)} "
            "(or register it under config `model_kinds` or the entry point group "
            f"{ENTRY_POINT_GROUP!r})"
        )
    return _load(name, modules[name])


@cache
def _load(name: str, module_path: str) -> ModelKind:
    try:
        module = importlib.import_module(module_path)
    except ImportError as err:
        raise ConfigError(f"model kind {name!r}: cannot import {module_path!r} ({err})") from err
    kind = getattr(module, "KIND", None)
    missing = [a for a in (*REQUIRED_ATTRIBUTES, *REQUIRED_METHODS) if not hasattr(kind, a)]
    if kind is None or missing:
        raise ConfigError(
            f"model kind {name!r}: module {module_path!r} must define KIND with "
            f"{list(REQUIRED_ATTRIBUTES + REQUIRED_METHODS)}; missing {missing or ['KIND']}"
        )
    if kind.name != name:
        raise ConfigError(f"model kind {name!r}: {module_path}.KIND calls itself {kind.name!r}")
    if kind.scope not in ("subject", "dataset") or kind.inputs not in ("features", "images"):
        raise ConfigError(
            f"model kind {name!r}: scope must be 'subject' or 'dataset' and inputs 'features' or "
            f"'images'; got {kind.scope!r}, {kind.inputs!r}"
        )
    task = kind_task(kind)
    if task not in TASKS:
        raise ConfigError(f"model kind {name!r}: task {task!r}; expected one of {list(TASKS)}")
    if task == "decode":
        lacking = [m for m in DECODE_METHODS if not hasattr(kind, m)]
        if lacking or kind.inputs != "features" or kind.scope != "dataset":
            raise ConfigError(
                f"model kind {name!r}: a decoding kind (task 'decode') must have "
                f"{list(DECODE_METHODS)}, inputs 'features' (its targets) and scope 'dataset'; "
                f"missing {lacking}, got inputs {kind.inputs!r}, scope {kind.scope!r}"
            )
    return kind


def kind_for_layout(layout: str) -> ModelKind:
    """The built-in kind exported in ``layout`` (``berg_linear``: linear, ``mosaic``: cnn8)."""
    for name in BUILTIN_KINDS:
        kind = get_kind(name)
        if getattr(kind, "export_layout", None) == layout:
            return kind
    raise ConfigError(f"no built-in model kind is exported in the layout {layout!r}")
