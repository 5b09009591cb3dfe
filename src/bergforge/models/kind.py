"""The one interface every model kind implements, and what a fit job hands a kind.

A kind is one module that defines ``KIND`` (an object with the attributes and methods of
:class:`ModelKind`) and is listed in the registry (:mod:`bergforge.models.registry`). The workflow,
evaluation, export and the API only ever reach a kind through the registry.

A kind has a ``task`` (optional attribute, default ``"encode"``):

- ``encode``: image → brain response (``linear``, ``cnn8``, ``mlp``, ``shared``). Evaluated per
  subject by ``evaluate_subject`` through ``predict_features`` (kinds reading features) or
  ``predict_images`` (kinds reading images), exported, shown on the summary page.
- ``decode``: brain response → image embedding (``ridge_decoder``, ``fmri_mlp``, ``fmri_linear``,
  ``simple_conv``). Fitted on the trial-indexed prepared stores (``docs/interfaces.md``), its
  targets the feature rows of each trial's image; it has ``decode(folder, responses) ->
  embeddings`` instead of the encoding methods and is evaluated by image retrieval (rule
  ``evaluate_decoder``, :mod:`bergforge.evaluation.decoding`), never by ``evaluate_subject``, the
  export or the summary sections.
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
#: Which way a kind maps: images → responses (encoding) or responses → image embeddings (decoding).
Task = Literal["encode", "decode"]
#: the task of a kind that declares none
DEFAULT_TASK: Task = "encode"
TASKS: tuple[str, ...] = ("encode", "decode")


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
    """What the workflow, evaluation, export and API need from a kind.

    The methods after :meth:`fit` are an encoding kind's (``task`` ``encode``, the default); a
    decoding kind (``task = "decode"``) has :meth:`decode` instead (see :class:`DecodingKind`)."""

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
    #: (optional, default ``"encode"``) ``task``: ``"decode"`` for a decoder (module docstring;
    #: read with :func:`kind_task`, so kinds written before decoders existed stay encoders)
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


class DecodingKind(Protocol):
    """What a decoding kind (``task = "decode"``) has besides ``name`` … ``fit``: it reads
    features (its targets: the backbone's feature row of each trial's image), is fitted on every
    subject's trial-indexed store (``scope`` ``dataset``) and decodes responses."""

    task: Task
    #: optional: the modalities it can decode (config check); every modality if absent
    modalities: tuple[str, ...]

    def decode(self, folder: Path, responses: np.ndarray) -> np.ndarray:
        """Embeddings ``[trial, dims]`` (float32) of responses ``[trial, *target_shape]`` (the
        shape of a trial in the stores it was fitted on) by the fitted model in ``folder``
        (checked against its ``checksums.json`` first). A kind whose models can have
        per-subject parts (``fmri_mlp`` with ``subject_layers``) takes a third argument,
        ``subjects`` (each trial's subject number, or one for all; None when unknown), and is
        then always given it (:func:`decode_responses`)."""
        ...


def decode_responses(
    kind: Any, folder: Path, responses: np.ndarray, subjects: Any = None
) -> np.ndarray:
    """``kind.decode(folder, responses)``, passing ``subjects`` when the kind's ``decode`` takes
    them (kinds that pool subjects need not)."""
    import inspect

    if "subjects" in inspect.signature(kind.decode).parameters:
        return kind.decode(folder, responses, subjects=subjects)
    return kind.decode(folder, responses)


def kind_task(kind: Any) -> str:
    """A kind's ``task``: ``encode`` unless it declares ``task = "decode"``."""
    return str(getattr(kind, "task", DEFAULT_TASK))


REQUIRED_ATTRIBUTES = ("name", "scope", "inputs", "berg_layout", "fit_outputs")
REQUIRED_METHODS = ("model_name", "splits", "fit")
#: what a decoding kind must have besides the above
DECODE_METHODS = ("decode",)
