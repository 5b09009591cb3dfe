"""Model cards in BERG's card style (YAML, the single source of valid values), rendered to Markdown.

A card is filled from the exported metadata of every subject (which carries the run's provenance
under ``bergforge``) and the backbone registry: data, subjects, image counts, preprocessing,
backbone and layers, PCA and regression settings, seeds, accuracy summary, metadata keys and
shapes, API parameters and an example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from bergforge._version import __version__
from bergforge.atomic import save_text
from bergforge.datasets.sensors import MEG_PREFIXES
from bergforge.errors import BergforgeError
from bergforge.export import layout
from bergforge.export.plot_files import plot_names
from bergforge.export.selection import MEG_REGIONS
from bergforge.safe_pickle import load_npy_item

DATASET_TITLES = {"things_meg_1": "THINGS MEG1", "things_eeg_2": "THINGS EEG2"}
REFERENCES = {
    "meg": {
        "THINGS MEG & fMRI paper (Hebart et al., 2023)": "https://doi.org/10.7554/eLife.82580",
        "THINGS initiative (Hebart et al., 2019)": "https://things-initiative.org/",
    },
    "eeg": {
        "THINGS EEG2 (Gifford et al., 2022)": "https://doi.org/10.1016/j.neuroimage.2022.119754",
        "THINGS initiative (Hebart et al., 2019)": "https://things-initiative.org/",
    },
}


def describe_shapes(value: object) -> object:
    """The metadata dict with each leaf replaced by its shape/type, as cards list them."""
    if isinstance(value, dict):
        return {str(k): describe_shapes(v) for k, v in value.items() if k != "bergforge"}
    if isinstance(value, np.ndarray):
        return f"{tuple(value.shape)} {value.dtype.name}"
    if isinstance(value, list):
        return f"list of {len(value)}"
    return type(value).__name__


def _median(x: np.ndarray) -> float:
    return round(float(np.nanmedian(np.asarray(x, dtype=float))), 4)


def accuracy_summary(modality: str, metadata: dict) -> dict:
    """Median r (and % of noise ceiling) per split of one subject."""
    if modality == "meg":
        enc = metadata["encoding_model"]
        out = {
            key: {
                "median_r": _median(enc[key]["correlation_results"]),
                "median_percent_noise_ceiling": _median(enc[key]["percent_noise_ceiling"]),
            }
            for key in enc
            if key.endswith("training_splits") or key.startswith("single_training_split_")
        }
        out["median_noise_ceiling"] = _median(enc["noise_ceiling"])
        return out
    enc = metadata["encoding_models"]
    return {
        "averaged_repetitions": {"median_r": _median(enc["correlation_averaged_repetitions"])},
        **{
            f"repetition_{k}": {"median_r": _median(r)}
            for k, r in enumerate(enc["correlation_single_repetitions"], start=1)
        },
        "median_noise_ceiling": _median(metadata["eeg"]["noise_ceiling"]),
    }


def _param(kind, required, description, function, valid=None, default=None, example=None) -> dict:
    entry = {"type": kind, "required": required, "description": description, "function": function}
    if valid is not None:
        entry["valid_values"] = valid
    entry["default"] = default
    if example is not None:
        entry["example"] = example
    return entry


def _parameters(model_id: str, modality: str, subjects: list[int], first: dict) -> dict:
    load, meta = "get_encoding_model", "get_model_metadata"
    params = {
        "model_id": _param(
            "str",
            True,
            "Unique identifier of the model.",
            f"{load}, {meta}",
            [model_id],
            None,
            model_id,
        ),
        "subject": _param(
            "int",
            True,
            "Subject whose model to load.",
            f"{load}, {meta}",
            subjects,
            None,
            subjects[0],
        ),
    }
    if modality == "meg":
        n_s, n_t = len(first["sensors"]["sensor_names"]), len(first["meg"]["times"])
        params["train_splits"] = _param(
            "str",
            False,
            "'all': the model trained on all training trials; 'single': the four models trained on "
            "four non-overlapping random quarters (output gains a repetition axis of 4).",
            load,
            ["all", "single"],
            "all",
            "single",
        )
        properties = {
            "region": {
                "type": "list[str]",
                "valid_values": list(MEG_REGIONS),
                "example": ["Occipital"],
            },
            "sensors": {
                "type": "list[str]",
                "valid_values": list(MEG_PREFIXES),
                "example": ["MLO", "MRO"],
            },
            "sensor_index": {"type": "numpy.ndarray", "description": f"binary, length {n_s}"},
            "timepoints": {"type": "numpy.ndarray", "description": f"binary, length {n_t}"},
        }
        note = "region, sensors and sensor_index are unioned (sorted sensor order)."
    else:
        n_t = len(first["eeg"]["times"])
        properties = {
            "channels": {
                "type": "list[str]",
                "valid_values": list(first["eeg"]["ch_names"]),
                "example": ["Oz", "Cz"],
            },
            "timepoints": {"type": "numpy.ndarray", "description": f"binary, length {n_t}"},
        }
        note = "channels are returned in the order given."
    params["selection"] = {
        **_param(
            "dict", False, f"Which outputs to keep (weights are sliced at load). {note}", load
        ),
        "properties": properties,
    }
    params["device"] = _param(
        "str", False, "Where to run the backbone.", load, ["cpu", "cuda", "auto"], "auto", "auto"
    )
    params["stimulus"] = _param(
        "numpy.ndarray",
        True,
        "uint8 images [batch, 3, H, W], values 0-255, square; below 224 px a warning is issued.",
        "encode",
        None,
        None,
        "np.random.randint(0, 256, (10, 3, 224, 224), dtype=np.uint8)",
    )
    params["return_metadata"] = _param(
        "bool", False, "Also return the metadata dict.", "encode", None, False, True
    )
    params["show_progress"] = _param(
        "bool", False, "Show a progress bar.", "encode", None, False, True
    )
    return params


def backbone_section(name: str, recorded: dict | None) -> dict:
    """The card's backbone: the spec the features stage recorded (else the registry entry) and
    the image path of each side (``image_transform``: training, inference)."""
    from bergforge.features.image_path_names import image_transform_record
    from bergforge.features.registry import SPEC_SETTINGS, get_spec

    overrides = {k: v for k, v in (recorded or {}).items() if k in SPEC_SETTINGS}
    try:
        spec = get_spec(name, overrides)
    except (KeyError, BergforgeError):
        return {"name": name}
    return {
        "name": spec.name,
        "library": spec.library,
        "model": spec.model,
        "weights": spec.weights,
        "layers": list(spec.layers),
        "transform": spec.transform,
        "token_aggregation": spec.token_aggregation,
        "seed": spec.seed,
        "image_transform": image_transform_record(spec),
    }


def build_card(model_id: str, metadata_by_subject: dict[int, dict]) -> dict:
    """The YAML card of one model from the metadata of each of its subjects."""
    parsed = layout.parse_model_id(model_id)
    modality, subjects = parsed.modality, sorted(metadata_by_subject)
    first = metadata_by_subject[subjects[0]]
    prov = first.get("bergforge", {})
    split_models = prov.get("models", {})
    any_model = next(iter(split_models.values()), {})
    backbone = backbone_section(parsed.backbone, prov.get("backbone"))
    if modality == "meg":
        n_targets = (len(first["sensors"]["sensor_names"]), len(first["meg"]["times"]))
        times = first["meg"]["times"]
        out_shape = ["batch_size", "n_sensors", "n_timepoints"]
        splits = "all training trials, and four non-overlapping random quarters (seed 20200220)"
    else:
        n_targets = (len(first["eeg"]["ch_names"]), len(first["eeg"]["times"]))
        times = first["eeg"]["times"]
        out_shape = ["batch_size", "n_repetitions", "n_channels", "n_timepoints"]
        splits = "one model per training repetition (4)"
    title = DATASET_TITLES.get(parsed.dataset, parsed.dataset)
    return {
        "model_id": model_id,
        "modality": modality.upper(),
        "training_dataset": title,
        "species": "Human",
        "stimuli": "Images",
        "model_type": f"{parsed.backbone} features -> StandardScaler -> PCA -> linear regression",
        "creator": f"bergforge {__version__}",
        "description": (
            f"Linear encoding models of {title} {modality.upper()} responses ({n_targets[0]} channels x "
            f"{n_targets[1]} time points, {float(times[0]) * 1000:.0f} to {float(times[-1]) * 1000:.0f} ms) "
            f"from {parsed.backbone} image features, reduced by PCA after standardisation and mapped by "
            f"independent regressions per channel and time point. Training splits: {splits}. "
            "Built by bergforge from the raw data."
        ),
        "data": {
            "subjects": subjects,
            "n_train_images": prov.get("n_train_images"),
            "n_test_images": prov.get("n_test_images"),
            "n_test_repetitions": prov.get("n_test_repetitions"),
            "n_channels": n_targets[0],
            "n_timepoints": n_targets[1],
            "preprocessing": prov.get("preprocessing", {}),
        },
        "backbone": backbone,
        "mapping": {
            "splits": sorted(split_models),
            "model": {k: v for k, v in any_model.items() if not isinstance(v, list) or len(v) < 10},
        },
        "accuracy": {
            layout.subject_tag(modality, s): accuracy_summary(modality, m)
            for s, m in sorted(metadata_by_subject.items())
        },
        "input": image_input("Minimum recommended image size: 224x224 pixels."),
        "output": {
            "type": "numpy.ndarray (float32)",
            "shape": out_shape,
            "description": (
                "In silico responses; MEG models with train_splits='single' add a repetitions axis of 4."
                if modality == "meg"
                else "In silico responses, one per training repetition."
            ),
        },
        "parameters": _parameters(model_id, modality, subjects, first),
        "metadata": describe_shapes(first),
        "performance": {
            "accuracy_plots": [
                f"{layout.ACCURACY_DIR}/{n}" for s in subjects for n in plot_names(modality, s)
            ]
        },
        "example": example_code(model_id, modality, subjects[0]),
        "references": REFERENCES.get(modality, {}),
    }


def example_code(model_id: str, modality: str, subject: int) -> str:
    """A runnable usage example for the card."""
    selection = (
        '{"region": ["Occipital"], "sensors": ["MLO"]}'
        if modality == "meg"
        else '{"channels": ["Oz", "Cz"]}'
    )
    splits = ', train_splits="single"' if modality == "meg" else ""
    return (
        "import numpy as np\n"
        "from bergforge import BERG\n\n"
        'berg = BERG("results/berg")\n'
        f'model = berg.get_encoding_model("{model_id}", subject={subject}{splits},\n'
        f"                                selection={selection})\n"
        "images = np.random.randint(0, 256, (10, 3, 224, 224), dtype=np.uint8)\n"
        "responses = berg.encode(model, images, show_progress=True)\n"
        f'metadata = berg.get_model_metadata("{model_id}", subject={subject})\n'
    )


def render_markdown(card: dict) -> str:
    """The card as Markdown: summary table, description, sections, parameters and example."""
    lines = [f"# {card['model_id']}", "", "| field | value |", "|---|---|"]
    for key in ("modality", "training_dataset", "species", "stimuli", "model_type", "creator"):
        lines.append(f"| {key.replace('_', ' ')} | {card[key]} |")
    lines += ["", "## Description", "", card["description"], ""]
    for section in ("data", "backbone", "mapping", "accuracy", "input", "output"):
        lines += [
            f"## {section.capitalize()}",
            "",
            "```yaml",
            yaml.safe_dump(card[section], sort_keys=False).rstrip(),
            "```",
            "",
        ]
    lines += [
        "## Parameters",
        "",
        "| name | type | required | function | valid values | default | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in card["parameters"].items():
        valid = p.get("valid_values", "")
        if isinstance(valid, list) and len(valid) > 16:
            valid = f"{len(valid)} values (see YAML)"
        function = p["function"]
        lines.append(
            _row(
                name, p["type"], p["required"], function, valid, p.get("default"), p["description"]
            )
        )
        for key, prop in p.get("properties", {}).items():
            valid = prop.get("valid_values", "")
            if isinstance(valid, list) and len(valid) > 16:
                valid = f"{len(valid)} values (see YAML)"
            description = prop.get("description", "")
            lines.append(
                _row(f"selection.{key}", prop["type"], False, function, valid, None, description)
            )
    lines += [
        "",
        "## Metadata",
        "",
        "```yaml",
        yaml.safe_dump(card["metadata"], sort_keys=False).rstrip(),
        "```",
        "",
    ]
    lines += ["## Accuracy plots", ""] + [f"- `{p}`" for p in card["performance"]["accuracy_plots"]]
    lines += [
        "",
        "## Example",
        "",
        "```python",
        card["example"].rstrip(),
        "```",
        "",
        "## References",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in card["references"].items()]
    return "\n".join(lines) + "\n"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def image_input(*extra_constraints: str) -> dict:
    """The card's ``input`` section: a uint8 batch of square RGB images (plus any constraints)."""
    return {
        "type": "numpy.ndarray",
        "shape": ["batch_size", 3, "height", "width"],
        "description": "A batch of RGB images.",
        "constraints": [
            "Image values are integers in range [0, 255] (uint8).",
            "Image dimensions (height, width) are equal (square).",
            *extra_constraints,
        ],
    }


def write_card(model_dir: Path, model_id: str, subjects: list[int]) -> tuple[Path, Path]:
    """Build the card from the exported metadata and write ``model_card.yaml`` and ``.md``."""
    modality = layout.parse_model_id(model_id).modality
    metadata = {
        s: load_npy_item(model_dir / layout.METADATA_DIR / layout.metadata_name(modality, s))
        for s in subjects
    }
    card = build_card(model_id, metadata)
    yaml_path, md_path = model_dir / layout.CARD_YAML, model_dir / layout.CARD_MARKDOWN
    save_text(yaml_path, yaml.safe_dump(card, sort_keys=False, allow_unicode=True))
    save_text(md_path, render_markdown(card))
    return yaml_path, md_path
