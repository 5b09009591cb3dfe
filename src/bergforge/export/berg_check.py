"""Check every EEG/MEG model folder of a BERG tree against what BERG's own loaders read.

For each folder in BERG's linear layout (own-layout and MOSAIC folders are not BERG's linear
loaders' business) and each subject with a metadata file, the files BERG opens must exist under
BERG's names, and every ``.npy`` is verified against the tree's ``SHA256SUMS`` (when there is
one) before it is unpickled, as ``bergforge.BERG`` does. The dicts are then checked by
:mod:`bergforge.export.berg_expectations`; the feature count comes from the backbone the export
recorded (``metadata["bergforge"]["backbone"]``), else the registry entry of the model's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bergforge.errors import BergforgeError
from bergforge.export import layout
from bergforge.export.berg_expectations import (
    eeg_metadata_problems,
    eeg_weights_problems,
    meg_metadata_problems,
    meg_weights_problems,
)
from bergforge.export.manifest import ManifestGuard, load_pickled_dict
from bergforge.export.own_layout import is_own_model

#: BERG's hard-coded component count in the EEG ``coef_`` reshape (and its MEG PCAs)
BERG_COMPONENTS = 250
_WEIGHTS = {"eeg": re.compile(r"weights_subject-(\d+)\.npy"), "meg": re.compile(r"weights_P(\d+)_")}


@dataclass
class CheckReport:
    """The model folders and subjects checked, and one line per problem found."""

    models: list[str] = field(default_factory=list)
    n_subjects: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found (and at least one model checked)."""
        return bool(self.models) and not self.problems


class _FeatureCounts:
    """Feature counts per recorded backbone spec, each computed once."""

    def __init__(self) -> None:
        self.known: dict[str, int | str] = {}

    def get(self, name: str, recorded: dict | None) -> int | str:
        """The count, or the reason it could not be found."""
        key = json.dumps([name, recorded], sort_keys=True, default=str)
        if key not in self.known:
            from bergforge.features.backbones import feature_count

            try:
                self.known[key] = feature_count(name, recorded)
            except (BergforgeError, KeyError, OSError) as err:
                self.known[key] = f"cannot tell the feature count of backbone {name!r}: {err}"
        return self.known[key]


def check_berg_tree(berg_dir: Path | str, n_components: int = BERG_COMPONENTS) -> CheckReport:
    """Check every EEG/MEG model folder in BERG's linear layout under ``berg_dir``."""
    berg_dir = Path(berg_dir)
    report = CheckReport()
    if not (berg_dir / "encoding_models").is_dir():
        report.problems.append(f"{berg_dir}: no encoding_models/ folder; expected a BERG tree")
        return report
    guard = ManifestGuard(berg_dir)
    counts = _FeatureCounts()
    for model in layout.find_models(berg_dir):
        folder = model.folder(berg_dir)
        if model.modality not in _WEIGHTS or is_own_model(folder):
            continue
        report.models.append(str(model))
        subjects, problems = _subjects(folder, model.modality)
        report.n_subjects += len(subjects)
        for subject in subjects:
            problems += _check_subject(folder, model, subject, guard, counts, n_components)
        rel = folder.relative_to(berg_dir).as_posix()
        report.problems += [f"{rel}/{line}" for line in problems]
    if not report.models:
        report.problems.append(f"{berg_dir}: no EEG or MEG model folder in BERG's layout")
    return report


def _subjects(folder: Path, modality: str) -> tuple[list[int], list[str]]:
    """Subjects with a metadata file under BERG's name; problems with the names found."""
    subjects, problems = set(), []
    for path in sorted((folder / layout.METADATA_DIR).glob("*.npy")):
        subject = layout.subject_of_metadata(modality, path.name)
        if subject is None:
            continue
        if path.name != layout.metadata_name(modality, subject):
            problems.append(
                f"{layout.METADATA_DIR}/{path.name}: BERG's loader opens "
                f"{layout.metadata_name(modality, subject)}"
            )
        else:
            subjects.add(subject)
    for path in sorted((folder / layout.WEIGHTS_DIR).glob("*.npy")):
        match = _WEIGHTS[modality].match(path.name)
        if match and int(match.group(1)) not in subjects:
            problems.append(
                f"{layout.WEIGHTS_DIR}/{path.name}: no "
                f"{layout.metadata_name(modality, int(match.group(1)))}, which BERG opens first"
            )
    if not subjects:
        problems.append(f"{layout.METADATA_DIR}/: no metadata file under BERG's names")
    return sorted(subjects), problems


def _check_subject(
    folder: Path,
    model: layout.ModelId,
    subject: int,
    guard: ManifestGuard,
    counts: _FeatureCounts,
    n_components: int,
) -> list[str]:
    """Problems of one subject's metadata and weight files (paths relative to ``folder``)."""
    meta_name = f"{layout.METADATA_DIR}/{layout.metadata_name(model.modality, subject)}"
    try:
        meta = load_pickled_dict(folder / meta_name, guard)
    except BergforgeError as err:
        return [f"{meta_name}: {err}"]
    read_meta = eeg_metadata_problems if model.modality == "eeg" else meg_metadata_problems
    found, shape = read_meta(meta)
    problems = [f"{meta_name}: {line}" for line in found]
    recorded = (meta.get("bergforge") or {}).get("backbone")
    n_features = counts.get(model.backbone, recorded)
    if isinstance(n_features, str):
        problems.append(f"{meta_name}: {n_features}")
        n_features = None
    check = eeg_weights_problems if model.modality == "eeg" else meg_weights_problems
    for name in layout.weights_names(model.modality, subject):
        rel = f"{layout.WEIGHTS_DIR}/{name}"
        try:
            weights = load_pickled_dict(folder / rel, guard)
        except BergforgeError as err:
            problems.append(f"{rel}: {err}")
            continue
        problems += [f"{rel}: {line}" for line in check(weights, shape, n_features, n_components)]
    return problems
