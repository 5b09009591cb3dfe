"""``bergforge check-berg-files``: the exported tiny models pass; each break of what BERG's own
loaders read is reported on one line naming the file and the key, and the command exits 1."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bergforge.cli import main
from bergforge.export.berg_check import check_berg_tree
from bergforge.export.manifest import MANIFEST_NAME, sha256_of

pytestmark = pytest.mark.workflow

EEG = "encoding_models/modality-eeg/train_dataset-tiny_eeg_berg/model-alexnet_untrained"
MEG = "encoding_models/modality-meg/train_dataset-things_meg_1/model-alexnet_untrained"
EEG_WEIGHTS = f"{EEG}/encoding_models_weights/weights_subject-01.npy"
EEG_META = f"{EEG}/metadata/metadata_subject-01.npy"
MEG_META = f"{MEG}/metadata/metadata_P2.npy"
N_COMPONENTS = 4  # models.linear.n_components of the tiny chain


def _load(path: Path) -> dict:
    return np.load(path, allow_pickle=True).item()


def _save(path: Path, value: dict) -> None:
    np.save(path, np.asarray(value, dtype=object), allow_pickle=True)


def _copy(tiny_built: Path, root: Path, *folders: str) -> Path:
    """A BERG tree under ``root`` holding copies of the tiny chain's model ``folders``."""
    for folder in folders:
        shutil.copytree(tiny_built / "results/berg" / folder, root / folder)
    return root


def test_the_exported_tiny_models_pass(tiny_built, capsys):
    report = check_berg_tree(tiny_built / "results/berg", N_COMPONENTS)
    assert report.ok and report.problems == []
    assert report.models == [
        "eeg-tiny_eeg_berg-alexnet_untrained",
        "meg-things_meg_1-alexnet_untrained",
    ]  # the toy model's own-layout folder is not BERG's
    assert report.n_subjects == 2
    release = tiny_built / "results/release/bergforge-models-0.0.0-test"
    assert main(["check-berg-files", str(release), "--n-components", str(N_COMPONENTS)]) == 0
    assert capsys.readouterr().out.startswith("OK: 2 EEG/MEG model folders, 2 subjects")
    # BERG's loader reshapes to 250 components: the tiny models are refused at the default
    assert main(["check-berg-files", str(tiny_built / "results/berg")]) == 1
    out = capsys.readouterr().out
    assert (
        f"{EEG_WEIGHTS}: reg_param['rep-1'].coef_ has shape (8820, 4); BERG's loader reshapes "
        "it to (63, 140, 250), which needs (8820, 250)"
    ) in out.splitlines()


def _rename_rep(w: dict) -> None:
    w["pca_param"]["rep-5"] = w["pca_param"].pop("rep-4")


def _skew_components(w: dict) -> None:
    c = np.array(w["pca_param"]["rep-2"]["components_"])
    c[1] += 0.01 * c[0]
    w["pca_param"]["rep-2"]["components_"] = c


def _increase_variance(w: dict) -> None:
    w["pca_param"]["rep-3"]["explained_variance_"] = w["pca_param"]["rep-3"]["explained_variance_"][
        ::-1
    ].copy()


def _drop_component(w: dict) -> None:
    w["reg_param"]["rep-1"]["coef_"] = w["reg_param"]["rep-1"]["coef_"][:, :3]


def _names_as_array(m: dict) -> None:
    m["eeg"]["ch_names"] = np.asarray(m["eeg"]["ch_names"])


def _regions_as_list(m: dict) -> None:
    m["sensors"]["sensor_regions"] = list(m["sensors"]["sensor_regions"])


BREAKS: list[tuple[str, Callable[[dict], None], str]] = [
    (
        EEG_WEIGHTS,
        _rename_rep,
        "pca_param keys ['rep-1', 'rep-2', 'rep-3', 'rep-5'] are not exactly "
        "['rep-1', 'rep-2', 'rep-3', 'rep-4']",
    ),
    (EEG_WEIGHTS, _skew_components, "pca_param['rep-2'].components_ rows are not orthonormal"),
    (EEG_WEIGHTS, _increase_variance, "pca_param['rep-3'].explained_variance_ increases at"),
    (EEG_WEIGHTS, _drop_component, "reg_param['rep-1'].coef_ has shape (8820, 3)"),
    (EEG_META, _names_as_array, "eeg/ch_names is a ndarray; BERG's loader calls ch_names.index"),
    (MEG_META, _regions_as_list, "sensors/sensor_regions is a list"),
]


@pytest.mark.parametrize(("rel", "mutate", "message"), BREAKS, ids=[b[1].__name__ for b in BREAKS])
def test_each_break_is_one_clear_line(tiny_built, tmp_path, capsys, rel, mutate, message):
    root = _copy(tiny_built, tmp_path, EEG if rel.startswith(EEG) else MEG)
    value = _load(root / rel)
    mutate(value)
    _save(root / rel, value)
    code = main(["check-berg-files", str(root), "--n-components", str(N_COMPONENTS)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"{rel}: {message}"), lines


def test_files_are_verified_against_the_manifest_before_unpickling(tiny_built, tmp_path):
    root = _copy(tiny_built, tmp_path, EEG)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    (root / MANIFEST_NAME).write_text(
        "".join(f"{sha256_of(p)}  {p.relative_to(root).as_posix()}\n" for p in files)
    )
    assert check_berg_tree(root, N_COMPONENTS).ok
    value = _load(root / EEG_WEIGHTS)
    _rename_rep(value)  # a change the manifest does not know about
    _save(root / EEG_WEIGHTS, value)
    [line] = check_berg_tree(root, N_COMPONENTS).problems
    assert line.startswith(f"{EEG_WEIGHTS}: refusing to load") and "does not match" in line
