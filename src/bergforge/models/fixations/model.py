"""A fitted free-viewing model and :func:`fit_fixation_model`, with the checks of its inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.errors import ConfigError, DataError
from bergforge.models.fixations.ridge import TENSORS as RIDGE_TENSORS
from bergforge.models.fixations.ridge import fit_ridge_tensors, predict_ridge
from bergforge.models.fixations.settings import FixationNetConfig, RidgeSettings, check_kind
from bergforge.models.fixations.shared import expected_tensors, fit_shared_tensors, predict_shared


@dataclass
class FixationModel:
    """One fitted model: its kind, training subjects, tensors and record.

    ``record`` holds ``n_features``, ``n_targets``, ``settings`` (the kind's, as fitted) and
    ``training`` (what the fit reports: chosen penalties, or epochs and losses)."""

    kind: str
    subjects: list[int]
    arrays: dict[str, np.ndarray]
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.record["n_features"])

    @property
    def n_targets(self) -> int:
        return int(self.record["n_targets"])

    def predict_unseen(self, x: np.ndarray) -> np.ndarray:
        """Responses ``(n, n_targets)`` float32 of a subject with no responses, from its feature
        rows ``x`` ``(n, n_features)``."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise DataError(
                f"features of shape {x.shape}; expected (n_fixations, {self.n_features}) as the "
                f"{self.kind} model was fitted on"
            )
        if not np.isfinite(x).all():
            raise DataError("the unseen subject's features hold NaN or infinite values")
        if self.kind == "ridge_cv":
            out = predict_ridge(self.arrays, x)
        else:
            out = predict_shared(self.arrays, self.subjects, x)
        return out.astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        """The arrays that define the model (the safetensors file's content)."""
        return dict(self.arrays)

    def config(self) -> dict[str, Any]:
        """Kind, subjects, sizes, settings and the fit's record (the JSON file's content)."""
        return {"kind": self.kind, "subjects": list(self.subjects), **self.record}

    def check(self) -> None:
        """Every tensor the kind needs, of the shape its sizes imply (DataError otherwise)."""
        if self.kind == "ridge_cv":
            p, t = self.n_features, self.n_targets
            shapes = {k: (p,) for k in ("input.mean", "input.scale")}
            shapes |= {"ridge.coef": (p, t)}
            shapes |= {k: (t,) for k in RIDGE_TENSORS if k not in shapes}
        else:
            settings = self.record.get("settings", {})
            shapes = expected_tensors(
                self.subjects,
                self.n_features,
                self.n_targets,
                int(settings.get("hidden", 0)),
                int(settings.get("depth", 0)),
            )
        got = {k: tuple(v.shape) for k, v in self.arrays.items()}
        if got != shapes:
            wrong = sorted(k for k in set(got) | set(shapes) if got.get(k) != shapes.get(k))
            raise DataError(
                f"{self.kind} fixation model: tensors {wrong[:3]} missing, extra or of the wrong "
                f"shape (got {[got.get(k) for k in wrong[:3]]}, expected "
                f"{[shapes.get(k) for k in wrong[:3]]})"
            )


def check_training_data(
    xs: list[np.ndarray], ys: list[np.ndarray], subjects: list[int]
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Float32 copies of the inputs after one clear error for anything that does not fit."""
    subjects = [int(s) for s in subjects]
    if len(subjects) < 2 or len(set(subjects)) != len(subjects):
        raise ConfigError(
            f"a fixation model needs at least 2 distinct training subjects; got {subjects}"
        )
    if len(xs) != len(subjects) or len(ys) != len(subjects):
        raise DataError(
            f"{len(xs)} feature matrices and {len(ys)} response matrices for {len(subjects)} "
            "subjects; expected one of each per subject"
        )
    out_x, out_y = [], []
    for subject, x, y in zip(subjects, xs, ys, strict=True):
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
        label = f"subject {subject}"
        if x.ndim != 2 or y.ndim != 2:
            raise DataError(
                f"{label}: features {x.shape} and responses {y.shape}; expected 2-D "
                "(fixations × features) and (fixations × targets)"
            )
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"{label}: {x.shape[0]} feature rows but {y.shape[0]} response rows; expected "
                "one row of each per fixation"
            )
        if x.shape[0] < 2:
            raise DataError(f"{label}: {x.shape[0]} fixations; expected at least 2")
        first_x, first_y = (out_x[0] if out_x else x).shape[1], (out_y[0] if out_y else y).shape[1]
        if x.shape[1] != first_x:
            raise DataError(
                f"{label}: {x.shape[1]} features; subject {subjects[0]} has {first_x} (expected "
                "the same features for every subject)"
            )
        if y.shape[1] != first_y:
            raise DataError(
                f"{label}: {y.shape[1]} targets; subject {subjects[0]} has {first_y} (expected "
                "the same targets for every subject)"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise DataError(f"{label}: features or responses hold NaN or infinite values")
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y, subjects


def fit_fixation_model(
    kind: str,
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    subjects: list[int],
    settings: dict[str, Any] | None = None,
    device: str = "auto",
    workdir: Path | None = None,
) -> FixationModel:
    """Fit a ``kind`` model on the training subjects' fixations: ``xs[i]`` (n_i, n_features) and
    ``ys[i]`` (n_i, n_targets) of ``subjects[i]``. ``device`` (auto, cpu, cuda) is where the
    ``shared`` kind trains; ``workdir`` keeps its resumable checkpoint while it does."""
    check_kind(kind)
    if kind == "ridge_cv":
        ridge = RidgeSettings.from_settings(settings)
        net = None
    else:
        net = FixationNetConfig.of(settings, device)
    xs, ys, subjects = check_training_data(xs, ys, subjects)
    record: dict[str, Any] = {
        "n_features": int(xs[0].shape[1]),
        "n_targets": int(ys[0].shape[1]),
        "n_fixations": {f"sub-{s:02d}": int(len(x)) for s, x in zip(subjects, xs, strict=True)},
    }
    if net is None:
        tensors, training = fit_ridge_tensors(np.concatenate(xs), np.concatenate(ys), ridge.alphas)
        record["settings"] = ridge.record()
    else:
        tensors, training = fit_shared_tensors(xs, ys, subjects, net, workdir)
        record["settings"] = net.record()
    record["training"] = training
    return FixationModel(kind, subjects, tensors, record)
