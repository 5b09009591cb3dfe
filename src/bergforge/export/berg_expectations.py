"""What BERG's own MEG/EEG loaders read from a model's ``.npy`` dicts, as checks that name each miss.

Facts from ``research/berg_loader_expectations.md``: EEG metadata ``eeg/ch_names`` (a Python
list: channel selections call ``list.index``) and ``eeg/times``; MEG metadata
``sensors/sensor_regions`` and ``sensors/sensor_prefixes`` (numpy string arrays, compared
elementwise). Weights: ``scaler_param`` over the backbone's features; ``pca_param`` with the nine
PCA keys (EEG: exactly ``rep-1 … rep-N``, each read with ``[key]``), orthonormal components and
positive, non-increasing explained variance; ``reg_param`` (EEG: the same ``rep-k`` keys) whose
``coef_`` BERG reshapes with a hard-coded component count (250). Every function returns one line
per problem, empty when the dict is as the loader expects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bergforge.export.berg import PCA_KEYS, SCALER_KEYS

REG_KEYS = ("coef_", "intercept_", "n_features_in_")
#: max |C Cᵀ − I| allowed for the PCA components
ORTHONORMAL_TOL = 1e-6


def _missing(params: Mapping, keys: tuple[str, ...], where: str) -> list[str]:
    gone = [k for k in keys if k not in params]
    return [f"{where} lacks {gone}; BERG's loader reads {list(keys)}"] if gone else []


def _vector(params: Mapping, key: str, length: int | None, where: str) -> list[str]:
    value = np.asarray(params[key])
    if value.ndim != 1 or (length is not None and value.shape[0] != length):
        want = "a vector" if length is None else f"({length},)"
        return [f"{where}.{key} has shape {value.shape}; expected {want}"]
    return []


def _count(params: Mapping, key: str, expected: int | None, where: str) -> list[str]:
    value = params[key]
    if expected is not None and (np.ndim(value) != 0 or int(value) != expected):
        return [f"{where}.{key} is {value!r}; expected {expected}"]
    return []


def _as_mapping(params: object, where: str, access: str) -> list[str]:
    if isinstance(params, Mapping):
        return []
    return [f"{where} is a {type(params).__name__}; BERG's loader reads it with {access}"]


def check_scaler(scaler: object, n_features: int | None) -> list[str]:
    """``scaler_param``: the five StandardScaler fields over ``n_features`` features."""
    where = "scaler_param"
    if found := _as_mapping(scaler, where, "['mean_'] etc. (store a dict)"):
        return found
    if found := _missing(scaler, SCALER_KEYS, where):
        return found
    problems = [_vector(scaler, k, n_features, where) for k in ("scale_", "mean_", "var_")]
    return [line for lines in problems for line in lines] + _count(
        scaler, "n_features_in_", n_features, where
    )


def check_pca(pca: object, n_features: int | None, n_components: int, where: str) -> list[str]:
    """One PCA: the nine keys, components ``(n_components, n_features)`` with orthonormal rows,
    explained variance positive and non-increasing."""
    if found := _as_mapping(pca, where, "['components_'] (store a dict or sklearn Bunch)"):
        return found
    if found := _missing(pca, PCA_KEYS, where):
        return found
    problems = _count(pca, "n_components_", n_components, where)
    components = np.asarray(pca["components_"], dtype=np.float64)
    shape = (n_components, n_features if n_features is not None else components.shape[-1])
    if components.shape != shape:
        problems.append(f"{where}.components_ has shape {components.shape}; expected {shape}")
    elif (err := float(np.abs(components @ components.T - np.eye(n_components)).max())) > (
        ORTHONORMAL_TOL
    ):
        problems.append(
            f"{where}.components_ rows are not orthonormal: max |C C^T - I| = {err:.3g} "
            f"(> {ORTHONORMAL_TOL:g})"
        )
    problems += _vector(pca, "mean_", shape[1], where)
    variance = np.asarray(pca["explained_variance_"], dtype=np.float64)
    if variance.shape != (n_components,):
        problems.append(
            f"{where}.explained_variance_ has shape {variance.shape}; expected ({n_components},)"
        )
    elif not np.all(variance > 0):
        problems.append(f"{where}.explained_variance_ is not positive: min {variance.min():.6g}")
    elif np.any(np.diff(variance) > 0):
        at = int(np.argmax(np.diff(variance) > 0))
        problems.append(
            f"{where}.explained_variance_ increases at component {at + 1} "
            f"({variance[at]:.6g} -> {variance[at + 1]:.6g}); BERG's PCA orders them decreasing"
        )
    return problems


def check_regression(
    reg: object, target_shape: tuple[int, ...] | None, n_components: int, where: str
) -> list[str]:
    """One regression: ``coef_`` ``(n_targets, n_components)``, ``intercept_`` ``(n_targets,)``;
    BERG reshapes the coefficients to ``(*target_shape, n_components)``."""
    if found := _as_mapping(reg, where, "['coef_'] (store a dict)"):
        return found
    if found := _missing(reg, REG_KEYS, where):
        return found
    coef = np.asarray(reg["coef_"])
    n_targets = None if target_shape is None else int(np.prod(target_shape))
    rows = coef.shape[0] if n_targets is None and coef.ndim == 2 else n_targets
    problems = []
    if coef.shape != (rows, n_components):
        goal = (*target_shape, n_components) if target_shape else (n_components,)
        problems.append(
            f"{where}.coef_ has shape {coef.shape}; BERG's loader reshapes it to {goal}, which "
            f"needs ({rows}, {n_components})"
        )
    problems += _vector(reg, "intercept_", rows, where)
    return problems + _count(reg, "n_features_in_", n_components, where)


def check_rep_keys(params: object, where: str) -> list[str]:
    """EEG ``pca_param``/``reg_param``: a dict keyed exactly ``rep-1 … rep-N``."""
    if not isinstance(params, Mapping) or not params:
        return [f"{where} must be a non-empty dict keyed 'rep-1' … 'rep-N'"]
    expected = [f"rep-{k}" for k in range(1, len(params) + 1)]
    if sorted(map(str, params)) != sorted(expected):
        return [
            f"{where} keys {sorted(map(str, params))} are not exactly {expected}; BERG's loader "
            "reads rep-1 … rep-len(dict)"
        ]
    return []


def eeg_metadata_problems(meta: dict) -> tuple[list[str], tuple[int, int] | None]:
    """``eeg/ch_names`` (a list of str) and ``eeg/times``; also (n_channels, n_times)."""
    eeg = meta.get("eeg")
    if not isinstance(eeg, Mapping) or not {"ch_names", "times"} <= set(eeg):
        return ["metadata lacks eeg/ch_names or eeg/times, which BERG's loader reads"], None
    names, problems = eeg["ch_names"], []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.append(
            f"eeg/ch_names is a {type(names).__name__}; BERG's loader calls ch_names.index(...) "
            "for a channel selection, so store a Python list of str"
        )
    times = np.asarray(eeg["times"])
    if times.ndim != 1 or not times.size:
        problems.append(f"eeg/times has shape {times.shape}; expected a vector of time points")
    return problems, (len(names), int(times.size))


def meg_metadata_problems(meta: dict) -> tuple[list[str], tuple[int, int] | None]:
    """``sensors/sensor_regions`` and ``sensors/sensor_prefixes`` as numpy string arrays of one
    length; also (n_sensors, n_times) when ``meg/times`` is there (BERG hard-codes 271 × 281)."""
    sensors = meta.get("sensors")
    if not isinstance(sensors, Mapping):
        return ["metadata lacks sensors/, which BERG's loader reads for selections"], None
    problems, lengths = [], set()
    for key in ("sensor_regions", "sensor_prefixes"):
        value = sensors.get(key)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "US" or value.ndim != 1:
            problems.append(
                f"sensors/{key} is a {type(value).__name__}"
                f"{f' of {value.dtype}' if isinstance(value, np.ndarray) else ''}; BERG's loader "
                "compares it elementwise, so store a 1-D numpy array of str"
            )
        else:
            lengths.add(len(value))
    if len(lengths) > 1:
        problems.append(f"sensors/sensor_regions and sensor_prefixes differ in length: {lengths}")
    meg = meta.get("meg")
    times = meg.get("times") if isinstance(meg, Mapping) else None
    if len(lengths) != 1 or times is None:
        return problems, None
    return problems, (lengths.pop(), int(np.asarray(times).size))


def eeg_weights_problems(
    weights: dict, shape: tuple[int, int] | None, n_features: int | None, n_components: int
) -> list[str]:
    """The EEG weights dict: one scaler, ``rep-k`` PCAs and regressions."""
    if found := _missing(weights, ("scaler_param", "pca_param", "reg_param"), "weights"):
        return found
    problems = check_scaler(weights["scaler_param"], n_features)
    pcas, regs = weights["pca_param"], weights["reg_param"]
    problems += check_rep_keys(pcas, "pca_param") + check_rep_keys(regs, "reg_param")
    if problems:
        return problems
    if sorted(pcas) != sorted(regs):
        return [f"pca_param {sorted(pcas)} and reg_param {sorted(regs)} list different reps"]
    for rep in sorted(pcas):
        problems += check_pca(pcas[rep], n_features, n_components, f"pca_param['{rep}']")
        problems += check_regression(regs[rep], shape, n_components, f"reg_param['{rep}']")
    return problems


def meg_weights_problems(
    weights: dict, shape: tuple[int, int] | None, n_features: int | None, n_components: int
) -> list[str]:
    """One MEG weights dict: a scaler, one PCA and one regression."""
    if found := _missing(weights, ("scaler_param", "pca_param", "reg_param"), "weights"):
        return found
    return (
        check_scaler(weights["scaler_param"], n_features)
        + check_pca(weights["pca_param"], n_features, n_components, "pca_param")
        + check_regression(weights["reg_param"], shape, n_components, "reg_param")
    )
