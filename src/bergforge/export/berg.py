"""The export rule's logic: encoding-model and evaluation artifacts → BERG weight/metadata files.

Each file is written under a temporary name in its folder and renamed when complete
(:func:`bergforge.atomic.atomic_file`), so an interrupted export leaves nothing that looks finished.
The stage contracts are read through their owners' readers (prepared store, ``stimuli.tsv``,
``features.json``, ``evaluation.npz``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from bergforge.atomic import atomic_file
from bergforge.errors import DataError
from bergforge.evaluation.files import read_evaluation
from bergforge.export import layout
from bergforge.export.metadata import SubjectRecord, eeg_metadata, meg_metadata
from bergforge.features.store import read_feature_manifest
from bergforge.models.records import read_record
from bergforge.models.registry import kind_for_layout
from bergforge.preprocess.responses import PreparedResponses
from bergforge.preprocess.stimuli import read_stimuli

SCALER_KEYS = ("scale_", "mean_", "var_", "n_features_in_", "n_samples_seen_")
PCA_KEYS = (
    "components_",
    "explained_variance_",
    "explained_variance_ratio_",
    "singular_values_",
    "mean_",
    "n_components_",
    "n_samples_",
    "noise_variance_",
    "n_features_in_",
)
SCALAR_KEYS = {
    "n_features_in_",
    "n_samples_seen_",
    "n_components_",
    "n_samples_",
    "noise_variance_",
}


def save_pickled_dict(path: Path, value: dict) -> None:
    """``np.save`` a dict (as BERG stores it) through a temporary file and an atomic rename."""
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(value, dtype=object), allow_pickle=True)


def _npz(path: Path, keys: tuple[str, ...]) -> dict:
    data = kind_for_layout("berg_linear").read_arrays(path, keys)  # the linear kind's files
    return {k: (v.item() if k in SCALAR_KEYS and v.ndim == 0 else v) for k, v in data.items()}


def read_split_model(folder: Path) -> dict:
    """The three BERG parameter dicts of one ``split-{split}/`` model folder."""
    reg = _npz(folder / "regression.npz", ("coef_", "intercept_"))
    reg["n_features_in_"] = int(reg["coef_"].shape[1])
    return {
        "scaler_param": _npz(folder / "scaler.npz", SCALER_KEYS),
        "pca_param": _npz(folder / "pca.npz", PCA_KEYS),
        "reg_param": reg,
    }


def meg_weights(split_dirs: dict[str, Path]) -> dict[str, dict]:
    """MEG weight dicts by file stem suffix: ``all`` and ``single-1`` … ``single-4``."""
    return {split: read_split_model(folder) for split, folder in split_dirs.items()}


def share_equal_arrays(dicts: list[dict]) -> None:
    """Make arrays equal to the first dict's the very same object, in place, so that the pickle of
    the weights holds them once (the exact PCA solver gives every EEG repetition the same
    components: 4 × 206 MB at BERG's size otherwise). Loading gives the same values either way."""
    first = dicts[0]
    for other in dicts[1:]:
        for key, value in other.items():
            ref = first.get(key)
            if (
                isinstance(value, np.ndarray)
                and isinstance(ref, np.ndarray)
                and value.dtype == ref.dtype
                and np.array_equal(value, ref)
            ):
                other[key] = ref


def eeg_weights(split_dirs: dict[str, Path]) -> dict:
    """The EEG weights dict: one scaler, ``rep-k`` PCA (as Bunch) and regression per repetition."""
    reps = {
        k: read_split_model(split_dirs[f"single-{k}"]) for k in range(1, layout.N_SINGLE_SPLITS + 1)
    }
    scaler = reps[1]["scaler_param"]
    for k, rep in reps.items():
        other = rep["scaler_param"]
        if not (
            np.allclose(other["mean_"], scaler["mean_"])
            and np.allclose(other["scale_"], scaler["scale_"])
        ):
            raise DataError(
                f"EEG split single-{k} has a different StandardScaler than single-1; BERG's EEG "
                "format holds one scaler for all repetitions (fit it on the same training images)"
            )
    share_equal_arrays([rep["pca_param"] for rep in reps.values()])
    return {
        "scaler_param": scaler,
        "pca_param": {f"rep-{k}": Bunch(**rep["pca_param"]) for k, rep in reps.items()},
        "reg_param": {f"rep-{k}": rep["reg_param"] for k, rep in reps.items()},
    }


def read_subject_record(
    subject: int, prepared: Path, stimuli: Path, split_dirs: dict[str, Path], evaluation: Path
) -> SubjectRecord:
    """Read what the metadata of one subject is built from."""
    if not prepared.exists():
        raise DataError(f"missing prepared store {prepared}")
    store = PreparedResponses(prepared)
    sessions, runs = {}, {}
    for split in ("train", "test"):
        if (found := store.recorded(split, "session")) is not None:
            sessions[split] = found
        if (found := store.recorded(split, "run")) is not None:
            runs[split] = found
    models = {split: read_record(folder / "model.json") for split, folder in split_dirs.items()}
    return SubjectRecord(
        subject=subject,
        attrs=store.attrs,
        sessions=sessions,
        runs=runs,
        stimuli=read_stimuli(stimuli),
        models=models,
        evaluation=read_evaluation(evaluation),
    )


def export_subject(
    model_dir: Path,
    modality: str,
    subject: int,
    prepared: Path,
    stimuli: Path,
    split_dirs: dict[str, Path],
    evaluation: Path,
    features_manifest: Path | None = None,
) -> list[Path]:
    """Write one subject's weight and metadata files under ``model_dir``; return their paths.

    The backbone spec recorded in ``features_manifest`` (registry entry with the config's
    overrides) goes into the metadata's ``bergforge.backbone``, so the loader rebuilds the same
    backbone the features stage ran.
    """
    weights_dir, written = model_dir / layout.WEIGHTS_DIR, []
    if modality == "meg":
        by_split = meg_weights(split_dirs)
        names = {"all": layout.meg_weights_names(subject, "all")[0]}
        names |= {
            f"single-{k}": n
            for k, n in enumerate(layout.meg_weights_names(subject, "single"), start=1)
        }
        for split, name in names.items():
            save_pickled_dict(weights_dir / name, by_split[split])
            written.append(weights_dir / name)
        legacy = weights_dir / layout.meg_legacy_all_name(subject)
        save_pickled_dict(legacy, by_split["all"])
        written.append(legacy)
        record_splits = split_dirs
    else:
        name = weights_dir / layout.eeg_weights_name(subject)
        save_pickled_dict(name, eeg_weights(split_dirs))
        written.append(name)
        record_splits = {s: d for s, d in split_dirs.items() if s.startswith("single-")}
    rec = read_subject_record(subject, prepared, stimuli, record_splits, evaluation)
    metadata = meg_metadata(rec) if modality == "meg" else eeg_metadata(rec)
    if features_manifest is not None:
        metadata["bergforge"]["backbone"] = read_feature_manifest(features_manifest)["spec"]
    meta_path = model_dir / layout.METADATA_DIR / layout.metadata_name(modality, subject)
    save_pickled_dict(meta_path, metadata)
    written.append(meta_path)
    return written
