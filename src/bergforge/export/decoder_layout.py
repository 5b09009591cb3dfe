"""Exported decoders (``task = "decode"`` kinds) in bergforge's own layout: writer and reader.

A decoder folder ``decoding_models/modality-{m}/train_dataset-{d}/model-{name}/`` holds only
JSON and safetensors::

    bergforge_decoder.json   layout + version, kind, backbone, response dims/shape, n_dims,
                             subjects, the retrieval metrics, and which tensors make which file
    weights.safetensors      every array of the kind's model folder, named ``{file stem}/{key}``
                             (``.npz`` files) or ``weights/{key}`` (``weights.safetensors``)
    SHA256SUMS               sha256sum format, sorted, every other file

Loading verifies ``SHA256SUMS`` first, then rebuilds the kind's model folder (``model.json`` and
its ``.npz``/safetensors files, re-sealed) in a private temporary folder, so the kind's own
``decode`` runs on exactly the arrays it was fitted with; no file can run code.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import DataError, ModelLoadError
from bergforge.export.own_layout import (
    _verified_bytes,
    json_bytes,
    recorded_backbone,
    tensor_bytes,
    verify_folder,
    write_own_folder,
)
from bergforge.models.folder_checksums import verify_model_folder

LAYOUT_NAME = "bergforge-decoder"
LAYOUT_VERSION = 1
DECODER_JSON = "bergforge_decoder.json"
WEIGHTS = "weights.safetensors"
DECODING_DIR = "decoding_models"
#: the decoding kinds' record in their model folder (written last)
MARKER = "model.json"


def decoder_folder(root: Path | str, modality: str, dataset: str, model: str) -> Path:
    """``{root}/decoding_models/modality-{m}/train_dataset-{d}/model-{model}``."""
    return (
        Path(root)
        / DECODING_DIR
        / f"modality-{modality}"
        / f"train_dataset-{dataset}"
        / (f"model-{model}")
    )


def _kind_tensors(folder: Path, kind: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every array of a decoder model folder (``{stem}/{key}``) and file name → stem."""
    from safetensors.numpy import load

    tensors: dict[str, np.ndarray] = {}
    files: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        elif path.suffix == ".safetensors":
            arrays = load(path.read_bytes())
        else:
            continue
        stem = path.stem
        files[path.name] = stem
        for key, value in arrays.items():
            tensors[f"{stem}/{key}"] = np.asarray(value)
    if not tensors:
        raise DataError(f"{folder}: no .npz or .safetensors weights in this {kind} model folder")
    return tensors, files


def export_decoder(
    model_folder: Path | str,
    retrieval_json: Path | str | None,
    out_folder: Path | str,
    model_id: str,
    features: Path | str | None = None,
) -> dict[str, Any]:
    """Export the verified decoder in ``model_folder`` to ``out_folder``; returns its JSON.

    ``features``: the targets' ``features.json``, whose backbone spec (layers included) is
    recorded so the API can embed candidate images; without it only the backbone's name."""
    from bergforge.evaluation.decoding import read_retrieval

    model_folder, out_folder = Path(model_folder), Path(out_folder)
    verify_model_folder(model_folder)  # every file against its checksums.json
    try:
        record = json.loads((model_folder / MARKER).read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{model_folder / MARKER}: not a readable model.json ({err})") from err
    record = record if isinstance(record, dict) else {}
    kind = record.get("kind")
    if record.get("task") != "decode" or not isinstance(kind, str):
        raise DataError(
            f"{model_folder / MARKER}: not a decoder's model.json (task {record.get('task')!r}); "
            "expected a fitted decoding kind's folder"
        )
    for key in ("target_shape", "n_dims"):
        if key not in record:
            raise DataError(f"{model_folder / MARKER} lacks {key!r}; expected a {kind} model.json")
    tensors, files = _kind_tensors(model_folder, kind)
    metrics = read_retrieval(retrieval_json) if retrieval_json is not None else None
    meta = {
        "layout": {"name": LAYOUT_NAME, "version": LAYOUT_VERSION},
        "model_id": model_id,
        "kind": kind,
        "task": "decode",
        "dataset": record.get("dataset"),
        "modality": record.get("modality"),
        "subjects": record.get("subjects"),
        "backbone": _backbone(record.get("backbone"), features),
        "response_dims": list(record.get("target_dims", [])),
        "response_shape": [int(s) for s in record["target_shape"]],
        "n_dims": int(record["n_dims"]),
        "retrieval": metrics,
        "files": files,
        # safetensors stores 0-d arrays as 1-d: every tensor's shape, restored on rebuild
        "tensor_shapes": {k: list(v.shape) for k, v in sorted(tensors.items())},
        "model_json": record,
    }
    write_own_folder(
        out_folder,
        {DECODER_JSON: json_bytes(meta), WEIGHTS: tensor_bytes(tensors, str(model_folder))},
    )
    return meta


def _backbone(name: object, features: Path | str | None) -> dict[str, Any] | None:
    """The backbone spec of ``features.json``, else ``{"name": name}`` (None without a name)."""
    if features is not None:
        spec = recorded_backbone(features)
        if "name" not in spec and isinstance(name, str):
            spec["name"] = name
        if isinstance(name, str) and spec.get("name") != name:
            raise DataError(
                f"{features}: features of backbone {spec.get('name')!r}; the decoder's targets "
                f"are {name!r}"
            )
        return spec
    return {"name": name} if isinstance(name, str) and name else None


def is_decoder(folder: Path | str) -> bool:
    """Whether ``folder`` holds an exported decoder."""
    return (Path(folder) / DECODER_JSON).is_file()


class DecoderFolder:
    """A verified exported decoder: its JSON, and the kind's model folder rebuilt on demand."""

    def __init__(self, folder: Path, digests: dict[str, str], meta: dict[str, Any]):
        self.folder, self.digests, self.meta = folder, digests, meta

    @classmethod
    def open(cls, folder: Path | str) -> DecoderFolder:
        """Verify ``folder`` against ``SHA256SUMS``, then read and check its JSON."""
        folder = Path(folder)
        digests = verify_folder(folder)
        data = _verified_bytes(folder, DECODER_JSON, digests)
        try:
            meta = json.loads(data)
        except ValueError as err:
            raise ModelLoadError(f"{folder / DECODER_JSON}: not valid JSON ({err})") from err
        info = meta.get("layout") if isinstance(meta, dict) else None
        if not isinstance(info, dict) or info.get("name") != LAYOUT_NAME:
            raise ModelLoadError(f"{folder / DECODER_JSON}: not a bergforge decoder file")
        if info.get("version") != LAYOUT_VERSION:
            raise ModelLoadError(
                f"{folder / DECODER_JSON}: decoder layout version {info.get('version')!r}; this "
                f"bergforge reads version {LAYOUT_VERSION} only"
            )
        missing = [
            k for k in ("kind", "response_shape", "n_dims", "files", "model_json") if k not in meta
        ]
        if missing:
            raise ModelLoadError(f"{folder / DECODER_JSON}: lacks {missing}")
        return cls(folder, digests, meta)

    def rebuild(self, into: Path) -> Path:
        """Write the kind's model folder (model.json, its npz/safetensors, sealed) into ``into``."""
        from safetensors import SafetensorError
        from safetensors.numpy import load, save

        from bergforge.models.folder_checksums import seal_model_folder

        try:
            tensors = load(_verified_bytes(self.folder, WEIGHTS, self.digests))
        except (SafetensorError, ValueError) as err:
            raise ModelLoadError(
                f"{self.folder}: {WEIGHTS} is not a safetensors file ({err})"
            ) from err
        into.mkdir(parents=True, exist_ok=True)
        for name, stem in self.meta["files"].items():
            if (
                "/" in name
                or "\\" in name
                or name.startswith(".")
                or Path(name).suffix not in (".npz", ".safetensors")
            ):
                raise ModelLoadError(
                    f"{self.folder / DECODER_JSON}: names file {name!r}; expected a plain "
                    ".npz or .safetensors name"
                )
            shapes = self.meta.get("tensor_shapes", {})
            arrays = {
                k.split("/", 1)[1]: v.reshape(shapes.get(k, v.shape))
                for k, v in tensors.items()
                if k.split("/", 1)[0] == stem
            }
            if name.endswith(".npz"):
                buf = io.BytesIO()
                np.savez(buf, **arrays)
                (into / name).write_bytes(buf.getvalue())
            else:
                (into / name).write_bytes(save(arrays))
        (into / MARKER).write_text(json.dumps(self.meta["model_json"]))
        seal_model_folder(into)
        return into


def temporary_model_folder(decoder: DecoderFolder) -> tuple[tempfile.TemporaryDirectory, Path]:
    """A private temporary copy of the kind's model folder (kept alive with the returned dir)."""
    tmp = tempfile.TemporaryDirectory(prefix="bergforge-decoder-")
    return tmp, decoder.rebuild(Path(tmp.name) / "model")
