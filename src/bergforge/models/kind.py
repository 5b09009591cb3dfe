"""The one interface every model kind implements, and what a fit job hands a kind.

A kind is one module that defines ``KIND`` (an object with the attributes and methods of
:class:`ModelKind`) and is listed in the registry (:mod:`bergforge.models.registry`). The workflow,
evaluation, export and the API only ever reach a kind through the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

#: One model per subject (and split), or one model fitted on every subject of a dataset.
Scope = Literal["subject", "dataset"]
#: What a kind reads besides the prepared responses: feature shards, or the stimulus images.
Inputs = Literal["features", "images"]


@dataclass(frozen=True)
class FitRequest:
    """Everything a fit job gives a kind: paths of the stage contracts and the kind's settings."""

    dataset: str
    modality: str
    subjects: tuple[int, ...]
    split: str
    prepared: tuple[Path, ...]  # one prepared store per subject, in the order of ``subjects``
    stimuli: Path
    features: Path | None = None  # features.json of the backbone (kinds reading features)
    images: Path | None = None  # nsd_stimuli.hdf5 (kinds reading images of fMRI datasets)
    settings: dict[str, Any] = field(default_factory=dict)  # result-changing (rule params)
    threads: int = 1  # runtime: never changes which jobs run
    #: runtime settings the job was given (device, Dask scheduler, mem_mb; config RUNTIME_KEYS)
    runtime: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ModelKind(Protocol):
    """What the workflow, evaluation, export and API need from a kind."""

    name: str
    scope: Scope
    inputs: Inputs
    #: exported in one of BERG's own layouts by :mod:`bergforge.export` (linear, cnn8), or else in
    #: bergforge's own layout (safetensors + JSON, ``docs/interfaces.md``)
    berg_layout: bool
    #: with ``berg_layout``: which of BERG's layouts (``berg_linear``, ``mosaic``); the API finds
    #: the loader of an exported folder through it
    #: files one fit writes into its model folder; the first is written last and marks it complete
    fit_outputs: tuple[str, ...]
    #: (optional, default False) the kind's settings take ``seed``, so a ``seeds`` list in its
    #: settings builds one model folder per seed (bergforge.workflow.models.model_entries)
    #: threads, mem_mb and runtime (minutes) of one fit job at the real datasets' size (optional;
    #: bergforge.workflow.models.DEFAULT_FIT_RESOURCES otherwise). A kind measured by the scale
    #: harness gets mem_mb and runtime from its input sizes instead (bergforge.workflow.resources)
    resources: dict[str, int]

    def model_name(self, backbone: str | None) -> str:
        """The folder name under ``results/models/{dataset}/`` (and the model id's last part)."""
        ...

    def splits(self, modality: str) -> tuple[str, ...]:
        """Training splits fitted per subject (subject scope) or ``("all",)``."""
        ...

    def fit(self, request: FitRequest, folder: Path) -> None:
        """Fit and write the model files into ``folder`` (the marker file last)."""
        ...

    def predict_features(
        self, folders: list[Path], features: Any, rows: np.ndarray
    ) -> list[np.ndarray]:
        """Responses ``[len(rows), n_targets]`` of each model folder to feature-matrix rows
        (a dataset-scope kind is also given ``subject=``: whose responses)."""
        ...

    def tensors(self, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The weights (name → array) and JSON config of a fitted model, for bergforge's layout."""
        ...

    def from_tensors(self, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> Any:
        """A predictor (``.predict(features) -> responses``) rebuilt from :meth:`tensors`."""
        ...


REQUIRED_ATTRIBUTES = ("name", "scope", "inputs", "berg_layout", "fit_outputs")
REQUIRED_METHODS = ("model_name", "splits", "fit")
