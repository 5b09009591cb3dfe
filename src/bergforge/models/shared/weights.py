"""``weights.safetensors`` of a ``shared`` model folder and each subject's predictor.

Tensors (float32 unless said):

- ``trunk.hidden.{i}.weight`` (H, n_in), ``trunk.hidden.{i}.bias``: the trunk;
- ``adapter.sub-{XX}.weight`` (T_XX, H), ``adapter.sub-{XX}.bias``: subject XX's adapter, one
  output per target of that subject (flattened channel-major, as every kind's);
- ``input.mean``, ``input.scale`` (n_in,): the trunk sees ``(x − mean) / scale``;
- ``target.sub-{XX}.mean``, ``target.sub-{XX}.scale`` (T_XX,): subject XX's responses are
  ``adapter output · scale + mean``;
- with ``input = pca``, the scaler and PCA of the union of training images under the ``linear``
  kind's names (as the ``mlp`` kind's: ``scaler.mean_`` … ``pca.noise_variance_``).

One subject's view of these tensors (:func:`subject_tensors`) is an ``mlp`` model's tensors
(trunk → ``mlp.hidden``, its adapter → ``mlp.out``, its target statistics → ``target``), so its
responses come from :class:`bergforge.models.mlp.weights.MlpPredictor`: one forward pass, one
reader, for both kinds. The file is written and read by the ``mlp`` kind's writer and reader
(atomic; every file of the folder checked by ``verify_model_folder`` first).
"""

from __future__ import annotations

import re

import numpy as np

from bergforge.errors import DataError
from bergforge.models.mlp.weights import MlpPredictor, gelu

ADAPTER = re.compile(r"^adapter\.sub-(\d+)\.weight$")


def adapter_key(subject: int) -> str:
    """``adapter.sub-01``."""
    return f"adapter.sub-{int(subject):02d}"


def target_key(subject: int) -> str:
    """``target.sub-01``."""
    return f"target.sub-{int(subject):02d}"


def subjects_of(tensors: dict[str, np.ndarray]) -> list[int]:
    """The subjects with an adapter, sorted."""
    return sorted(int(m.group(1)) for k in tensors if (m := ADAPTER.match(k)))


def trunk_depth(tensors: dict[str, np.ndarray]) -> int:
    depth = 0
    while f"trunk.hidden.{depth}.weight" in tensors:
        depth += 1
    return depth


def subject_tensors(tensors: dict[str, np.ndarray], subject: int) -> dict[str, np.ndarray]:
    """The ``mlp``-kind tensors of one subject's model (module docstring)."""
    subjects = subjects_of(tensors)
    if int(subject) not in subjects:
        raise DataError(
            f"the shared model has no adapter of subject {int(subject)}; it was fitted on "
            f"subjects {subjects} (a subject it never saw: the unseen-subject evaluation)"
        )
    view = {
        k.replace("trunk.hidden.", "mlp.hidden.", 1): v
        for k, v in tensors.items()
        if k.startswith("trunk.hidden.")
    }
    adapter, target = adapter_key(subject), target_key(subject)
    view["mlp.out.weight"] = tensors[f"{adapter}.weight"]
    view["mlp.out.bias"] = tensors[f"{adapter}.bias"]
    view["target.mean"] = tensors[f"{target}.mean"]
    view["target.scale"] = tensors[f"{target}.scale"]
    skip = ("trunk.", "adapter.", "target.")
    view |= {k: v for k, v in tensors.items() if not k.startswith(skip)}
    return view


def subject_predictor(tensors: dict[str, np.ndarray], subject: int) -> MlpPredictor:
    """Responses of one subject's model (features → [PCA] → trunk → its adapter)."""
    return MlpPredictor(subject_tensors(tensors, subject))


def trunk_activations(tensors: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The trunk's last hidden layer (n, H) float64 for network inputs ``x`` (PC scores or raw
    columns, before the input standardisation)."""
    h = (np.asarray(x, dtype=np.float64) - tensors["input.mean"]) / tensors["input.scale"]
    for i in range(trunk_depth(tensors)):
        w, b = tensors[f"trunk.hidden.{i}.weight"], tensors[f"trunk.hidden.{i}.bias"]
        h = gelu(h @ w.T.astype(np.float64) + b)
    return h


def network_config(tensors: dict[str, np.ndarray]) -> dict[str, object]:
    """Input, sizes and subjects of the network, read from the tensors."""
    subjects = subjects_of(tensors)
    if not subjects or trunk_depth(tensors) == 0:
        raise DataError("shared weights lack the trunk or every adapter")
    first = subject_predictor(tensors, subjects[0]).shape
    return {
        "input": "pca" if "pca.components_" in tensors else "features",
        "activation": "gelu",
        "n_inputs": first["n_inputs"],
        "hidden": first["hidden"],
        "depth": first["depth"],
        "subjects": subjects,
        "n_targets": {
            f"sub-{s:02d}": int(tensors[f"{adapter_key(s)}.weight"].shape[0]) for s in subjects
        },
    }
