"""BERG's directory layout: model ids, the folder triple and the file names of each modality.

A model id is ``{modality}-{dataset}-{backbone}`` (``eeg-things_eeg_2-alexnet_untrained``); its
folder is ``encoding_models/modality-{m}/train_dataset-{d}/model-{b}/`` with ``encoding_models_weights/``,
``metadata/`` and ``encoding_models_accuracy/``. File names follow the newest published models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bergforge.errors import ConfigError, ModelNotFoundError

WEIGHTS_DIR = "encoding_models_weights"
METADATA_DIR = "metadata"
ACCURACY_DIR = "encoding_models_accuracy"
CARD_YAML = "model_card.yaml"
CARD_MARKDOWN = "model_card.md"
#: Modality of each raw-data format bergforge reads.
MODALITY_OF_FORMAT = {"things_meg1": "meg", "things_eeg2": "eeg"}
#: BERG's ``train_dataset-{d}`` name of each format (a dataset's ``name_in_berg`` overrides it).
BERG_NAME_OF_FORMAT = {"things_meg1": "things_meg_1", "things_eeg2": "things_eeg_2"}
#: Number of single training splits (MEG random quarters, EEG training repetitions).
N_SINGLE_SPLITS = 4
#: bergforge's split names (``results/models/.../split-{split}``).
SPLITS: tuple[str, ...] = ("all",) + tuple(f"single-{k}" for k in range(1, N_SINGLE_SPLITS + 1))


@dataclass(frozen=True)
class ModelId:
    """The three parts of a BERG model id."""

    modality: str
    dataset: str
    backbone: str

    def __str__(self) -> str:
        return f"{self.modality}-{self.dataset}-{self.backbone}"

    def folder(self, berg_dir: Path | str) -> Path:
        """``{berg_dir}/encoding_models/modality-{m}/train_dataset-{d}/model-{b}``."""
        return (
            Path(berg_dir)
            / "encoding_models"
            / f"modality-{self.modality}"
            / f"train_dataset-{self.dataset}"
            / f"model-{self.backbone}"
        )


def parse_model_id(model_id: object) -> ModelId:
    """Split ``{modality}-{dataset}-{backbone}``; anything else is a :class:`ModelNotFoundError`."""
    parts = model_id.split("-", 2) if isinstance(model_id, str) else []
    if len(parts) != 3 or not all(parts):
        raise ModelNotFoundError(
            f"model id {model_id!r} is not of the form '{{modality}}-{{dataset}}-{{backbone}}' "
            "(e.g. 'eeg-things_eeg_2-alexnet_untrained')"
        )
    return ModelId(*parts)


def berg_dataset_name(dataset: dict) -> str:
    """The ``train_dataset-{d}`` name of a config dataset entry (``name_in_berg`` or the format's)."""
    if "name_in_berg" in dataset:
        return dataset["name_in_berg"]
    try:
        return BERG_NAME_OF_FORMAT[dataset["format"]]
    except KeyError:
        raise ConfigError(
            f"no BERG dataset name for format {dataset.get('format')!r}; set 'name_in_berg' "
            f"(known formats: {sorted(BERG_NAME_OF_FORMAT)})"
        ) from None


def model_id_of(dataset: dict, backbone: str) -> ModelId:
    """The BERG model id of a config dataset entry and a backbone."""
    return ModelId(MODALITY_OF_FORMAT[dataset["format"]], berg_dataset_name(dataset), backbone)


def subject_tag(modality: str, subject: int) -> str:
    """How file names spell a subject: ``P1`` (MEG) or ``subject-01`` (EEG)."""
    return f"P{subject}" if modality == "meg" else f"subject-{subject:02d}"


def metadata_name(modality: str, subject: int) -> str:
    """``metadata_P1.npy`` / ``metadata_subject-01.npy``."""
    return f"metadata_{subject_tag(modality, subject)}.npy"


def meg_weights_names(subject: int, train_splits: str) -> list[str]:
    """MEG weight files: one for ``"all"``, four for ``"single"`` (newest published names)."""
    if train_splits == "all":
        return [f"weights_P{subject}_all_training_splits.npy"]
    return [
        f"weights_P{subject}_single_training_split_{k}.npy" for k in range(1, N_SINGLE_SPLITS + 1)
    ]


def meg_legacy_all_name(subject: int) -> str:
    """The older name of the MEG all-data weights (``weights_P1_full.npy``), written too."""
    return f"weights_P{subject}_full.npy"


def eeg_weights_name(subject: int) -> str:
    """``weights_subject-01.npy`` (one file, the four repetitions inside)."""
    return f"weights_subject-{subject:02d}.npy"


def weights_names(modality: str, subject: int) -> list[str]:
    """Every weight file the export writes for one subject."""
    if modality == "meg":
        return (
            meg_weights_names(subject, "all")
            + [meg_legacy_all_name(subject)]
            + meg_weights_names(subject, "single")
        )
    return [eeg_weights_name(subject)]


def subject_of_metadata(modality: str, file_name: str) -> int | None:
    """The subject number a metadata file name encodes, or None if it is not one."""
    stem = file_name.removesuffix(".npy")
    prefix = "metadata_P" if modality == "meg" else "metadata_subject-"
    if file_name.endswith(".npy") and stem.startswith(prefix):
        digits = stem[len(prefix) :]
        if digits.isdigit():
            return int(digits)
    return None


def find_models(berg_dir: Path | str) -> list[ModelId]:
    """Every model folder (``modality-*/train_dataset-*/model-*``) under ``berg_dir``."""
    root = Path(berg_dir) / "encoding_models"
    found = []
    for folder in sorted(root.glob("modality-*/train_dataset-*/model-*")):
        if folder.is_dir():
            modality = folder.parent.parent.name.removeprefix("modality-")
            dataset = folder.parent.name.removeprefix("train_dataset-")
            found.append(ModelId(modality, dataset, folder.name.removeprefix("model-")))
    return found
