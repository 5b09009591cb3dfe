"""``model.json`` of a decoder's model folder: what every decoding kind records, and its checks.

The decoding kinds (``ridge_decoder``, ``fmri_mlp``, ``fmri_linear``, ``simple_conv``) write
``model.json`` last into their folder (the marker of a complete fit) with the keys of
:func:`base_record` and their own; reading a decoder first verifies the folder against its
``checksums.json``, then this record, then the shape of the responses it is asked to decode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bergforge import __version__
from bergforge.errors import DataError
from bergforge.features.store import read_feature_manifest
from bergforge.models.decoding.data import SPLIT, PooledTrials
from bergforge.models.folder_checksums import verify_model_folder
from bergforge.models.kind import FitRequest

MARKER = "model.json"
#: a trained decoder's weights (fmri_mlp, fmri_linear, simple_conv)
WEIGHTS = "weights.safetensors"


def base_record(kind: str, request: FitRequest, data: PooledTrials) -> dict[str, Any]:
    """The keys every decoder's ``model.json`` has (the kind adds its own)."""
    manifest = read_feature_manifest(request.features) if request.features else {}
    return {
        "kind": kind,
        "task": "decode",
        "split": SPLIT,
        "dataset": request.dataset,
        "modality": request.modality,
        "subjects": [int(s) for s in request.subjects],
        "target_dims": list(data.dims[1:]),
        "target_shape": list(data.target_shape),
        "coords_sha256": data.coords_sha256(),
        "backbone": manifest.get("backbone"),
        "n_dims": data.n_dims,
        "trials": data.counts(),
        "provenance": {
            "bergforge_version": __version__,
            "features": str(request.features),
            "prepared": [str(p) for p in request.prepared],
            "stimuli": str(request.stimuli),
        },
    }


def read_record(folder: Path | str, kind: str) -> dict[str, Any]:
    """The ``model.json`` of a verified decoder folder of ``kind``; one error otherwise."""
    folder = verify_model_folder(Path(folder))
    path = folder / MARKER
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable model.json ({err})") from err
    if not isinstance(record, dict) or record.get("kind") != kind:
        found = record.get("kind") if isinstance(record, dict) else None
        raise DataError(f"{path}: a model of kind {found!r}; expected a {kind} model")
    for key in ("target_shape", "n_dims"):
        if key not in record:
            raise DataError(f"{path} lacks {key!r}; expected a {kind} model.json")
    return record


def load_network_folder(
    folder: Path | str, kind: str, build: Callable[[dict[str, Any], dict[str, np.ndarray]], Any]
) -> tuple[Any, dict[str, Any]]:
    """(network, record) of a trained decoder's folder: verified and its ``model.json`` read
    (:func:`read_record`), its ``weights.safetensors`` given to ``build(record, tensors)``; a
    damaged file or one that does not hold the network the record describes is one error."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    folder = Path(folder)
    record = read_record(folder, kind)  # verifies the folder first
    path = folder / WEIGHTS
    try:
        tensors = load(path.read_bytes())
    except (SafetensorError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a safetensors file ({err})") from err
    try:
        network = build(record, tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise DataError(
            f"{path} does not hold the network model.json describes ({err}); delete the "
            "folder and rerun its fit"
        ) from err
    return network, record


def check_responses(responses: Any, record: dict[str, Any], folder: Path | str) -> np.ndarray:
    """``responses`` as float32 ``[trial, *target_shape]`` of the model; one clear error if the
    shape differs from the trials it was fitted on (another TR count, vertex set, …) or a value
    is not finite."""
    x = np.asarray(responses)
    shape = tuple(int(s) for s in record["target_shape"])
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        dims = ", ".join(["trial", *record.get("target_dims", [])])
        raise DataError(
            f"responses of shape {tuple(x.shape)}; the decoder in {folder} expects "
            f"[{dims}] = (n, {', '.join(map(str, shape))}), the shape of the trials it was "
            "fitted on"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"responses of dtype {x.dtype}; expected real numbers")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise DataError("responses hold NaN or infinite values; expected finite numbers")
    return x
