"""bergforge's own model layout, version 1: the one writer and the one reader.

Kinds that BERG's layouts cannot hold (``berg_layout = False``) are exported here. A model folder
sits where a BERG model would (``encoding_models/modality-{m}/train_dataset-{d}/model-{name}/``,
so ``BERG.list_models`` lists it) and holds only JSON, safetensors and the card::

    bergforge_model.json                         layout + version, kind, targets, backbone, provenance
    weights/sub-{XX}_split-{split}.safetensors   one per subject × split (dataset-scope kinds:
                                                 weights/split-{split}.safetensors, shared)
    model_card.yaml, model_card.md
    SHA256SUMS                                   sha256sum format, sorted, every other file

The reader verifies ``SHA256SUMS`` before it parses anything (every listed file present and
matching, no unlisted file, no link) and reads only JSON and safetensors, so no file can run code.
``docs/interfaces.md`` specifies the layout.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bergforge import __version__
from bergforge.atomic import atomic_folder
from bergforge.errors import ConfigError, DataError, ModelLoadError
from bergforge.export import layout
from bergforge.export.manifest import MANIFEST_NAME, read_manifest, sha256_of
from bergforge.models.folder_checksums import verify_model_folder
from bergforge.models.records import read_marker

LAYOUT_NAME = "bergforge-model"
LAYOUT_VERSION = 1
MODEL_JSON = "bergforge_model.json"
WEIGHTS_DIR = "weights"
#: prepared-store attributes copied as each subject's target coordinates (when present)
COORDINATE_ATTRS = (
    "channels",
    "times",
    "vertices",
    "sensor_prefixes",
    "sensor_regions",
    "sensor_hemispheres",
)
#: prepared-store attributes copied as each subject's recording description (when present)
RECORDING_ATTRS = ("ch_type", "sfreq", "baseline_mode", "preprocessing")
#: array dtypes safetensors stores (bool, signed/unsigned ints, floats)
TENSOR_KINDS = "biuf"
REQUIRED_KEYS = ("layout", "model_id", "kind", "scope", "modality", "subjects", "splits", "targets")


def is_own_model(folder: Path | str) -> bool:
    """Whether ``folder`` is in bergforge's own layout (it has the JSON or a per-model manifest)."""
    folder = Path(folder)
    return (folder / MODEL_JSON).exists() or (folder / MANIFEST_NAME).exists()


def subject_key(subject: int) -> str:
    """How the JSON keys a subject: ``sub-01``."""
    return f"sub-{int(subject):02d}"


def weights_relpath(subject: int | None, split: str) -> str:
    """``weights/sub-01_split-all.safetensors``; ``weights/split-all.safetensors`` when shared."""
    stem = f"split-{split}" if subject is None else f"{subject_key(subject)}_split-{split}"
    return f"{WEIGHTS_DIR}/{stem}.safetensors"


def recorded_backbone(features_manifest: Path | str) -> dict[str, Any]:
    """The backbone spec the features stage recorded in ``features.json`` (``spec``)."""
    from bergforge.features.store import read_feature_manifest

    path = Path(features_manifest)
    try:
        return dict(read_feature_manifest(path)["spec"])
    except (DataError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: no backbone spec ({err}); expected a features.json") from err


# --- writer ------------------------------------------------------------------------------------


def export_own_model(
    kind_name: str,
    model_id: str,
    folder: Path | str,
    subjects: Sequence[int],
    model_dirs: Mapping[tuple[int, str], Path | str],
    prepared: Mapping[int, Path | str],
    backbone_spec: dict[str, Any] | None,
    evaluation_summaries: Mapping[int, Path | str | None] | None,
    config: dict[str, Any] | None,
) -> Path:
    """Write one model in bergforge's own layout into ``folder`` (atomically); return ``folder``.

    ``model_dirs`` maps every (subject, split) of ``kind.splits(modality)`` to its fitted model
    folder under ``results/models`` (dataset-scope kinds map every subject to the same folder);
    ``prepared`` maps each subject to its prepared store (target dims and coordinates);
    ``backbone_spec`` is the recorded spec the loader rebuilds the backbone from (``None`` for
    kinds reading images); ``evaluation_summaries`` maps subjects to their ``summary.json`` for
    the card; ``config`` is the workflow config (it may register kinds under ``model_kinds``).
    """
    from bergforge.models.registry import get_kind, kind_modules

    kind = get_kind(kind_name, config)
    if kind.berg_layout:
        raise ConfigError(
            f"model kind {kind_name!r} is exported in BERG's layout (berg_layout = True), "
            "not in bergforge's own"
        )
    parsed = layout.parse_model_id(model_id)
    folder = Path(folder)
    if folder.parts[-3:] != parsed.folder(".").parts[-3:]:
        raise ConfigError(
            f"export folder {folder} does not belong to model {model_id}; expected it to end in "
            f"{'/'.join(parsed.folder('.').parts[-3:])}"
        )
    subjects = sorted({int(s) for s in subjects})
    model_dirs = {(int(s), str(p)): Path(d) for (s, p), d in model_dirs.items()}
    prepared = {int(s): Path(p) for s, p in prepared.items()}
    summaries = {int(s): p for s, p in (evaluation_summaries or {}).items()}
    if not subjects:
        raise ConfigError(f"export of {model_id}: no subjects given")
    splits = list(kind.splits(parsed.modality))
    _check_keys(model_id, subjects, splits, model_dirs, prepared)

    files: dict[str, bytes] = {}
    written: dict[Path, tuple[str, Any]] = {}  # model folder → weights file, config (shared: once)
    targets: dict[str, Any] = {}
    for subject in subjects:
        entry = _subject_targets(Path(prepared[subject]), parsed.modality, subject)
        entry["splits"] = {}
        for split in splits:
            source = Path(model_dirs[(subject, split)])
            marker = read_marker(source, kind.fit_outputs[0])
            verify_model_folder(source)  # every file as its fit wrote it
            if source.resolve() not in written:
                name = weights_relpath(subject if kind.scope == "subject" else None, split)
                if name in files:
                    raise ConfigError(
                        f"export of {model_id}: two model folders would both be written as {name}"
                    )
                tensors, kind_config = kind.tensors(source)
                files[name] = tensor_bytes(tensors, f"{kind_name} model {source}")
                what = f"{kind_name}.tensors({source}) config"
                written[source.resolve()] = (name, _json_ready(kind_config, what))
            name, kind_config = written[source.resolve()]
            entry["splits"][split] = {
                "weights": name,
                "config": kind_config,
                "source": source.as_posix(),
                "seeds": marker.get("seeds"),
            }
        summary = summaries.get(subject)
        entry["evaluation"] = None if summary is None else _read_summary(Path(summary))
        targets[subject_key(subject)] = entry

    meta = {
        "layout": {"name": LAYOUT_NAME, "version": LAYOUT_VERSION},
        "model_id": str(parsed),
        "kind": kind_name,
        "scope": kind.scope,
        "inputs": kind.inputs,
        "modality": parsed.modality,
        "train_dataset": parsed.dataset,
        "subjects": subjects,
        "splits": splits,
        "backbone": None if backbone_spec is None else _json_ready(dict(backbone_spec), "backbone"),
        "targets": targets,
        "provenance": {
            "bergforge_version": __version__,
            "kind_module": kind_modules(config)[kind_name],
            "image_transform": _image_transform(backbone_spec),
            "prepared": {subject_key(s): Path(prepared[s]).as_posix() for s in subjects},
            "evaluation": {
                subject_key(s): None if summaries.get(s) is None else Path(summaries[s]).as_posix()
                for s in subjects
            },
        },
    }
    card = own_card(meta)
    files[MODEL_JSON] = json_bytes(meta)
    files[layout.CARD_YAML] = yaml.safe_dump(card, sort_keys=False).encode()
    files[layout.CARD_MARKDOWN] = render_own_markdown(card).encode()
    write_own_folder(folder, files)
    return folder


def write_own_folder(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path → bytes) and their ``SHA256SUMS`` as the whole of ``folder``."""
    lines = []
    with atomic_folder(folder) as building:
        for name in sorted(files):
            path = building / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[name])
            lines.append(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n")
        (building / MANIFEST_NAME).write_text("".join(lines))


def tensor_bytes(tensors: Mapping[str, Any], what: str) -> bytes:
    """safetensors bytes of name → numeric array (same arrays → same bytes)."""
    from safetensors.numpy import save

    if not isinstance(tensors, Mapping) or not tensors:
        raise DataError(f"{what}: expected a non-empty dict of name → array; got {tensors!r}")
    arrays = {}
    for name, value in tensors.items():
        array = np.asarray(value)
        if not isinstance(name, str) or array.dtype.kind not in TENSOR_KINDS:
            raise DataError(
                f"{what}: tensor {name!r} of dtype {array.dtype}; safetensors holds numeric or "
                "boolean arrays with string names"
            )
        arrays[name] = np.ascontiguousarray(array)
    return save(arrays)


def json_bytes(payload: dict[str, Any]) -> bytes:
    """Sorted, indented, strict JSON (no NaN) ending in a newline."""
    return (json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _check_keys(
    model_id: str,
    subjects: list[int],
    splits: list[str],
    model_dirs: Mapping[tuple[int, str], Path],
    prepared: Mapping[int, Path],
) -> None:
    expected = {(s, p) for s in subjects for p in splits}
    given = set(model_dirs)
    if given != expected:
        raise ConfigError(
            f"export of {model_id}: model folders given for {sorted(given)}; expected one per "
            f"(subject, split) of {sorted(expected)}"
        )
    missing = [s for s in subjects if s not in prepared]
    if missing:
        raise ConfigError(f"export of {model_id}: no prepared store given for subjects {missing}")


def _subject_targets(store_path: Path, modality: str, subject: int) -> dict[str, Any]:
    """Target dims, shape, coordinates and recording attributes of one prepared store."""
    from bergforge.preprocess.responses import PreparedResponses

    store = PreparedResponses(store_path)
    attrs = store.attrs
    if attrs.get("modality") != modality or int(attrs.get("subject", subject)) != subject:
        raise DataError(
            f"{store_path}: a {attrs.get('modality')} store of subject {attrs.get('subject')}; "
            f"expected {modality} subject {subject}"
        )
    return {
        "target_dims": list(attrs.get("dims", []))[2:],
        "target_shape": list(store.target_shape),
        "coordinates": {k: attrs[k] for k in COORDINATE_ATTRS if k in attrs},
        "recording": {k: attrs[k] for k in RECORDING_ATTRS if k in attrs},
    }


def _read_summary(path: Path) -> Any:
    from bergforge.evaluation.files import read_evaluation_summary

    summary = read_evaluation_summary(path)  # DataError naming the file
    try:
        return _json_ready(summary, str(path))
    except ValueError as err:
        raise DataError(f"evaluation summary {path}: {err}") from err


def _json_ready(value: Any, what: str) -> Any:
    """``value`` with NaN/inf as null and NumPy scalars as Python ones; anything else refused."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v, what) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v, what) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist(), what)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise DataError(f"{what}: {value!r} ({type(value).__name__}) cannot be stored as JSON")


def _image_transform(backbone_spec: dict[str, Any] | None) -> dict[str, str] | None:
    """Each side's image path for the recorded spec (None: the kind reads images itself)."""
    from bergforge.features.image_path_names import recorded_image_transform

    return None if backbone_spec is None else recorded_image_transform(backbone_spec)


# --- model card --------------------------------------------------------------------------------


def own_card(meta: dict[str, Any]) -> dict[str, Any]:
    """The (small) model card of an own-layout model, from its JSON."""
    first = meta["targets"][subject_key(meta["subjects"][0])]
    backbone = meta["backbone"]
    source = f"{backbone['name']} features" if backbone else "images"
    stacked = len(meta["splits"]) > 1 and "all" not in meta["splits"]
    shape = ["batch_size", *(["n_splits"] if stacked else []), *first["target_dims"]]
    from bergforge.export.cards import image_input  # matplotlib: the writer's side only
    from bergforge.models.registry import BUILTIN_KINDS

    kinds = ""
    if meta["kind"] not in BUILTIN_KINDS:  # the user registers it (the file never names code)
        kinds = f", model_kinds={{{meta['kind']!r}: {meta['provenance']['kind_module']!r}}}"
    subject = meta["subjects"][0]
    return {
        "model_id": meta["model_id"],
        "layout": f"{LAYOUT_NAME}, version {meta['layout']['version']}",
        "modality": meta["modality"].upper(),
        "training_dataset": meta["train_dataset"],
        "species": "Human",
        "stimuli": "Images",
        "model_type": f"{source} -> bergforge model kind {meta['kind']!r}",
        "creator": f"bergforge {meta['provenance']['bergforge_version']}",
        "description": (
            f"Encoding models of kind {meta['kind']!r} ({meta['scope']} scope) predicting "
            f"{meta['modality'].upper()} responses {first['target_dims']} of shape "
            f"{first['target_shape']} from {source}; one model per subject and training split "
            f"({', '.join(meta['splits'])}). Weights in safetensors, configuration and provenance "
            f"in {MODEL_JSON}. Built by bergforge."
        ),
        "data": {
            "subjects": meta["subjects"],
            "target_dims": first["target_dims"],
            "target_shape": first["target_shape"],
        },
        "backbone": _card_backbone(backbone, meta["provenance"].get("image_transform")),
        "mapping": {"kind": meta["kind"], "scope": meta["scope"], "splits": meta["splits"]},
        "accuracy": {k: v["evaluation"] for k, v in sorted(meta["targets"].items())},
        "input": image_input("Minimum recommended image size: 224x224 pixels."),
        "output": {"type": "numpy.ndarray (float32)", "shape": shape},
        "example": (
            "import numpy as np\n"
            "from bergforge import BERG\n\n"
            f'berg = BERG("results/berg"{kinds})\n'
            f'model = berg.get_encoding_model("{meta["model_id"]}", subject={subject})\n'
            "images = np.random.randint(0, 256, (10, 3, 224, 224), dtype=np.uint8)\n"
            "responses = berg.encode(model, images)\n"
        ),
    }


def _card_backbone(backbone: dict | None, image_transform: dict | None) -> dict | None:
    """The recorded backbone spec with each side's image path, for the card."""
    return None if backbone is None else {**backbone, "image_transform": image_transform}


def render_own_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown: summary table, description, YAML sections and the example."""
    lines = [f"# {card['model_id']}", "", "| field | value |", "|---|---|"]
    for key in ("layout", "modality", "training_dataset", "species", "stimuli", "model_type"):
        lines.append(f"| {key.replace('_', ' ')} | {card[key]} |")
    lines.append(f"| creator | {card['creator']} |")
    lines += ["", "## Description", "", card["description"], ""]
    for section in ("data", "backbone", "mapping", "accuracy", "input", "output"):
        body = yaml.safe_dump(card[section], sort_keys=False).rstrip()
        lines += [f"## {section.capitalize()}", "", "```yaml", body, "```", ""]
    lines += ["## Example", "", "```python", card["example"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


# --- reader ------------------------------------------------------------------------------------


def verify_folder(folder: Path) -> dict[str, str]:
    """Check ``folder`` against its ``SHA256SUMS``; return relative path → digest.

    Refuses (one :class:`ModelLoadError` naming the file) a missing manifest, a listed file that
    is missing or differs, a file that is not listed, and links.
    """
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise ModelLoadError(
            f"{folder}: no {MANIFEST_NAME}; a bergforge model folder lists every file in it"
        )
    digests = read_manifest(manifest)
    for name in sorted(digests):
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or "\\" in name or name == MANIFEST_NAME:
            raise ModelLoadError(f"{manifest}: lists {name!r}; expected paths inside the folder")
    present: set[str] = set()
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise ModelLoadError(f"{folder}: {rel} is a link or special file; refusing it")
            if path.is_file():
                present.add(rel)
    present.discard(MANIFEST_NAME)
    _refuse(folder, sorted(set(digests) - present), "is listed in SHA256SUMS but missing")
    _refuse(folder, sorted(present - set(digests)), "is not listed in SHA256SUMS")
    for name in sorted(digests):
        actual = sha256_of(folder / name)
        if actual != digests[name]:
            raise ModelLoadError(
                f"{folder}: {name} does not match SHA256SUMS (SHA-256 {actual}, listed "
                f"{digests[name]}); the file is corrupt or was modified"
            )
    return digests


def _refuse(folder: Path, names: list[str], problem: str) -> None:
    if names:
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        raise ModelLoadError(f"{folder}: {names[0]} {problem}{more}; refusing to load the model")


class OwnModel:
    """A verified own-layout model folder: its JSON, and its weights read on demand."""

    def __init__(self, folder: Path, digests: dict[str, str], meta: dict[str, Any]):
        self.folder = folder
        self.digests = digests
        self.meta = meta

    @classmethod
    def open(cls, folder: Path | str) -> OwnModel:
        """Verify ``folder``, then read and check its ``bergforge_model.json``."""
        folder = Path(folder)
        digests = verify_folder(folder)
        meta = _parse_json(folder / MODEL_JSON, _verified_bytes(folder, MODEL_JSON, digests))
        return cls(folder, digests, meta)

    @property
    def subjects(self) -> list[int]:
        return [int(s) for s in self.meta["subjects"]]

    @property
    def splits(self) -> list[str]:
        return [str(s) for s in self.meta["splits"]]

    def targets(self, subject: int) -> dict[str, Any]:
        """The subject's entry: ``target_dims``, ``target_shape``, ``coordinates``, ``splits``…"""
        entry = self.meta["targets"].get(subject_key(subject))
        if not isinstance(entry, dict) or not isinstance(entry.get("splits"), dict):
            raise ModelLoadError(
                f"{self.folder / MODEL_JSON}: no targets of {subject_key(subject)}"
            )
        return entry

    def read_weights(self, subject: int, split: str) -> tuple[dict[str, np.ndarray], dict]:
        """The tensors and kind config of one subject × split (bytes checked again on read)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load

        entry = self.targets(subject)["splits"].get(split)
        name = entry.get("weights") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.startswith(f"{WEIGHTS_DIR}/"):
            raise ModelLoadError(
                f"{self.folder / MODEL_JSON}: {subject_key(subject)} split {split!r} names no "
                f"weights file under {WEIGHTS_DIR}/"
            )
        data = _verified_bytes(self.folder, name, self.digests)
        try:
            tensors = load(data)
        except (SafetensorError, ValueError) as err:
            raise ModelLoadError(
                f"{self.folder}: {name} is not a safetensors file ({err})"
            ) from err
        config = entry.get("config") or {}
        if not isinstance(config, dict):
            raise ModelLoadError(f"{self.folder / MODEL_JSON}: config of {name} is not an object")
        return tensors, config


def _verified_bytes(folder: Path, name: str, digests: dict[str, str]) -> bytes:
    """The bytes of a listed file, checked against its digest (what is parsed is what was hashed)."""
    if name not in digests:
        raise ModelLoadError(f"{folder}: {name} is not listed in {MANIFEST_NAME}")
    try:
        data = (folder / name).read_bytes()
    except OSError as err:
        raise ModelLoadError(f"{folder}: cannot read {name} ({err})") from err
    if hashlib.sha256(data).hexdigest() != digests[name]:
        raise ModelLoadError(f"{folder}: {name} changed since it was verified; refusing it")
    return data


def _parse_json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(data)
    except ValueError as err:
        raise ModelLoadError(f"{path}: not valid JSON ({err})") from err
    info = meta.get("layout") if isinstance(meta, dict) else None
    if not isinstance(info, dict) or info.get("name") != LAYOUT_NAME:
        raise ModelLoadError(
            f"{path}: not a bergforge model file (layout.name is "
            f"{info.get('name') if isinstance(info, dict) else None!r}; expected {LAYOUT_NAME!r})"
        )
    if info.get("version") != LAYOUT_VERSION:
        raise ModelLoadError(
            f"{path}: bergforge model layout version {info.get('version')!r}; bergforge "
            f"{__version__} reads version {LAYOUT_VERSION} only (use the bergforge version that "
            "wrote it, or re-export the model)"
        )
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelLoadError(f"{path}: lacks {missing}; expected {list(REQUIRED_KEYS)}")
    return meta
