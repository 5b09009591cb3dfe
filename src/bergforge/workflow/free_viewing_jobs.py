"""The jobs of workflow/rules/free_viewing.smk (the rules' scripts call these).

- :func:`simulate_study_job`: the AVS-like study (:mod:`bergforge.simulate.avs`).
- :func:`epochs_job`: one subject's fixation-onset epochs into the trial-indexed prepared store,
  from the continuous recording (simulated) or a published ``-epo.fif`` checked against the table
  (a local copy).
- :func:`fit_job`: one free-viewing model (:mod:`bergforge.models.fixations`) on the training
  subjects' fixation features and epochs at the model's ``times``.
- :func:`evaluate_job`: a subject the model never saw, predicted from its features alone and
  scored against its epochs: Pearson r across fixations per channel and time
  (:func:`bergforge.evaluation.fixation_loso.channel_correlations`), the median over channels at
  the latency and per time, beside the simulated truth's ceiling.
- :func:`challenge_job`: the challenge's prediction files of a held-out subject
  (:mod:`bergforge.export.challenge`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bergforge.atomic import atomic_file
from bergforge.datasets.avs_fixations import FixationTableSpec, read_fixation_table
from bergforge.datasets.sensors import triux_gradiometer_names
from bergforge.errors import ConfigError, DataError
from bergforge.features.fixation_store import FixationFeatures
from bergforge.preprocess.fixation_epochs import FixationEpochParams
from bergforge.preprocess.trial_responses import PreparedTrials

log = logging.getLogger(__name__)
#: fixations read from a prepared store at a time
READ_BLOCK = 2048


def table_spec(study: Path | str | None, table: dict[str, Any] | None) -> dict[str, Any]:
    """The fixation table's mapping: the config's (a local copy) or the simulator's study.json."""
    if table is not None:
        return dict(table)
    if study is None:
        raise ConfigError("free_viewing.table: no column mapping and no simulated study.json")
    return dict(json.loads(Path(study).read_text())["fixation_table"])


def simulate_study_job(out_study: Path | str, simulation: dict[str, Any]) -> None:
    """Write the simulated study into ``out_study``'s folder (study.json written last)."""
    from bergforge.simulate.avs import AvsSimulation, write_study

    values = dict(simulation)
    if "train_subjects" in values:
        values["train_subjects"] = tuple(int(s) for s in values["train_subjects"])
    write_study(Path(out_study).parent, AvsSimulation(**values))


def epochs_job(
    out: Path | str,
    *,
    dataset: str,
    subject: int,
    table_file: Path | str,
    spec: dict[str, Any],
    epochs: dict[str, Any],
    split: str,
    recording: Path | str | None = None,
    epochs_file: Path | str | None = None,
    epoch_ids: dict[str, str] | None = None,
) -> None:
    """One subject's prepared store from its recording or its published epochs."""
    table = read_fixation_table(table_file, FixationTableSpec.from_config(spec))
    baseline = epochs.get("baseline")
    params = FixationEpochParams(
        tmin=float(epochs.get("tmin", -0.1)),
        tmax=float(epochs.get("tmax", 0.5)),
        baseline=None if baseline is None else (float(baseline[0]), float(baseline[1])),
    )
    if recording is not None:
        import mne

        from bergforge.preprocess.fixation_epochs import write_fixation_store

        raw = mne.io.read_raw_fif(recording, preload=False, verbose="error")
        write_fixation_store(
            out,
            raw,
            table,
            subject=subject,
            dataset=dataset,
            params=params,
            split=split,
            source=str(recording),
        )
    elif epochs_file is not None:
        from bergforge.preprocess.fixation_epo import write_epochs_store

        if epochs:
            log.info(
                "a published -epo.fif keeps its own window; free_viewing.epochs is not applied"
            )
        write_epochs_store(
            out,
            epochs_file,
            table,
            subject=subject,
            dataset=dataset,
            id_columns=epoch_ids,
            split=split,
        )
    else:
        raise ConfigError(f"subject {subject}: neither a recording nor an epochs file")
    log.info("sub-%02d: %d fixation epochs → %s", subject, len(table), out)


def time_indices(store: PreparedTrials, times: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The store's samples nearest ``times`` (each within half a sample) and their times."""
    grid = np.asarray(store.coords["time"], dtype=float)
    index = np.array([int(np.argmin(np.abs(grid - t))) for t in times])
    off = np.abs(grid[index] - np.asarray(times)) > store.sampling_period / 2 + 1e-9
    if off.any():
        raise DataError(
            f"{store.label}: time {np.asarray(times)[off][0]} s is outside its epochs "
            f"({grid[0]}…{grid[-1]} s)"
        )
    return index, grid[index]


def read_targets(store: PreparedTrials, rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``[len(rows), channels, len(index)]`` float32: the store's rows at those samples, read in
    blocks of fixations (a subject's whole epochs never sit in memory)."""
    channels = store.coords["channel"]
    if list(channels) != triux_gradiometer_names():
        raise DataError(f"{store.label}: channels are not the 204 TRIUX gradiometers in order")
    out = np.empty((len(rows), len(channels), len(index)), dtype=np.float32)
    for start in range(0, len(rows), READ_BLOCK):
        part = rows[start : start + READ_BLOCK]
        out[start : start + len(part)] = store.read(part)[:, :, index]
    return out


def _subject_data(
    feature_file: Path | str, store_file: Path | str, stream: str, times: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, FixationFeatures]:
    features = FixationFeatures(feature_file)
    store = PreparedTrials(store_file)
    if features.attrs.get("n_table_rows") != store.n_trials:
        raise DataError(
            f"{feature_file} describes {features.attrs.get('n_table_rows')} fixations, "
            f"{store_file} holds {store.n_trials}; expected the same subject's table"
        )
    index, used = time_indices(store, times)
    y = read_targets(store, features.rows, index)
    return features.read(stream), y, used, features


def fit_job(
    out: Path | str,
    *,
    kind: str,
    settings: dict[str, Any],
    stream: str,
    times: list[float],
    subjects: list[int],
    feature_files: list[str],
    store_files: list[str],
    device: str = "auto",
    threads: int = 1,
) -> None:
    """Fit one free-viewing model on the training subjects and save it in ``out``, on
    ``threads`` CPU threads (torch and BLAS; the rule's ``threads``, never a setting)."""
    import torch
    from threadpoolctl import threadpool_limits

    from bergforge.models.fixations.folder import save_fixation_model
    from bergforge.models.fixations.model import fit_fixation_model

    threads = max(1, int(threads))
    torch.set_num_threads(threads)

    xs, ys, used = [], [], None
    for feature_file, store_file in zip(feature_files, store_files, strict=True):
        x, y, used, _ = _subject_data(feature_file, store_file, stream, times)
        xs.append(x)
        ys.append(y.reshape(len(y), -1))
    start = time.perf_counter()
    with threadpool_limits(limits=threads, user_api="blas"):
        model = fit_fixation_model(kind, xs, ys, list(subjects), settings, device=device)
    seconds = time.perf_counter() - start
    log.info(
        "%s on %d fixations of subjects %s: %.1f s (%d threads)",
        kind,
        sum(map(len, xs)),
        subjects,
        seconds,
        threads,
    )
    model.record["free_viewing"] = {
        "stream": stream,
        "times": [float(t) for t in used],
        "channels": triux_gradiometer_names(),
        "n_fixations": [int(len(x)) for x in xs],
        "fit_seconds": seconds,
    }
    save_fixation_model(model, Path(out))


def _model(folder: Path | str) -> tuple[Any, dict[str, Any]]:
    """The model of a ``fit_fixation_model`` folder and what the fit recorded about its targets
    (stream, times, channels, training subjects, fit seconds)."""
    from bergforge.models.fixations.folder import load_fixation_model

    model = load_fixation_model(Path(folder))
    meta = model.record.get("free_viewing")
    if not isinstance(meta, dict):
        raise DataError(f"{folder}: not a free-viewing fit (no 'free_viewing' record)")
    return model, {**meta, "kind": model.kind, "subjects": list(model.subjects)}


def predict(model: Any, meta: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """``[n, 204, len(times)]``: the model's predictions for a subject it never saw."""
    return model.predict_unseen(x).reshape(len(x), len(meta["channels"]), len(meta["times"]))


def evaluate_job(
    out: Path | str,
    *,
    model_dir: Path | str,
    feature_file: Path | str,
    store_file: Path | str,
    subject: int,
    latency: float,
    truth: Path | str | None = None,
) -> dict[str, Any]:
    """Score the model on ``subject`` (never trained on) and write the evaluation JSON."""
    from bergforge.evaluation.fixation_loso import channel_correlations

    model, meta = _model(model_dir)
    if int(subject) in meta["subjects"]:
        raise DataError(f"{model_dir} was trained on subject {subject}; expected an unseen one")
    x, observed, used, features = _subject_data(
        feature_file, store_file, meta["stream"], meta["times"]
    )
    predicted = predict(model, meta, x)
    r = channel_correlations(predicted.astype(np.float64), observed.astype(np.float64))
    at = int(np.argmin(np.abs(np.asarray(used) - latency)))
    ceiling = None
    if truth is not None and Path(truth).is_file():
        ceiling = json.loads(Path(truth).read_text()).get("ceiling_r_median")
    result = {
        "subject": int(subject),
        "trained_on": meta["subjects"],
        "kind": meta["kind"],
        "stream": meta["stream"],
        "route": features.attrs.get("route"),
        "backbone": features.attrs.get("backbone"),
        "layer": features.attrs.get("layer"),
        "n_fixations": int(len(x)),
        "n_features": int(x.shape[1]),
        "latency": float(used[at]),
        "median_r_at_latency": float(np.median(r[:, at])),
        "times": [float(t) for t in used],
        "median_r_per_time": np.median(r, axis=0).tolist(),
        "r_at_latency": r[:, at].tolist(),
        "ceiling_r_median": ceiling,
        "feature_cost": features.cost,
        "fit_seconds": meta.get("fit_seconds"),
    }
    with atomic_file(Path(out)) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    log.info(
        "sub-%02d %s %s %s: median r at %.0f ms = %.3f (ceiling %s)",
        subject,
        result["route"],
        meta["stream"],
        meta["kind"],
        used[at] * 1e3,
        result["median_r_at_latency"],
        ceiling,
    )
    return result


def challenge_job(
    out_dir: Path | str,
    *,
    model_dir: Path | str,
    feature_file: Path | str,
    table_file: Path | str,
    spec: dict[str, Any],
    subject: int,
    latency: float,
    model_info: dict[str, Any],
) -> None:
    """The challenge files of held-out ``subject``: predictions from its fixation table alone."""
    from bergforge.export.challenge import write_challenge_outputs

    model, meta = _model(model_dir)
    features = FixationFeatures(feature_file)
    table = read_fixation_table(table_file, FixationTableSpec.from_config(spec))
    if features.attrs.get("n_table_rows") != len(table):
        raise DataError(
            f"{feature_file} describes {features.attrs.get('n_table_rows')} fixations; "
            f"{table_file} has {len(table)}"
        )
    predicted = predict(model, meta, features.read(meta["stream"]))
    kept = table.iloc[features.rows].reset_index(drop=True)
    write_challenge_outputs(
        Path(out_dir),
        kept,
        predicted,
        list(meta["channels"]),
        np.asarray(meta["times"]),
        latency,
        {
            **model_info,
            "kind": meta["kind"],
            "stream": meta["stream"],
            "trained_on": meta["subjects"],
            "route": features.attrs.get("route"),
            "backbone": features.attrs.get("backbone"),
            "layer": features.attrs.get("layer"),
        },
        int(subject),
    )
