"""The one writer and the one reader of the evaluation contract (``docs/interfaces.md``).

``results/evaluation/{dataset}/{model}/sub-{subject}/evaluation.npz`` (pickle-free arrays) and
``summary.json`` beside it (medians for model cards). Two byte layouts, by what the kind reads:

- ``features`` (kinds reading feature shards): :func:`bergforge.atomic.save_npz` (fixed zip
  timestamps, same arrays → same bytes) and JSON with sorted keys, indent 2 and a final newline.
- ``images`` (kinds reading images, e.g. the fMRI CNN8): ``np.savez`` and JSON in the summary's
  own key order, indent 2, no final newline: the bytes these files have always had.

Both are written atomically (:func:`bergforge.atomic.atomic_file`). Export, the API's checks and
the simulator's accuracy report read them only through :func:`read_evaluation` and
:func:`read_evaluation_summary`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bergforge.atomic import atomic_file, save_json, save_npz
from bergforge.errors import DataError

Layout = Literal["features", "images"]


def write_evaluation(
    evaluation: Path | str,
    summary_path: Path | str,
    arrays: dict[str, Any],
    summary: dict[str, Any],
    layout: Layout = "features",
) -> None:
    """Write ``evaluation.npz`` (``arrays``, in their order) and then ``summary.json``."""
    if layout == "features":
        save_npz(Path(evaluation), **arrays)
        save_json(Path(summary_path), summary)
    elif layout == "images":
        with atomic_file(evaluation) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        with atomic_file(summary_path) as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
    else:
        raise ValueError(f"evaluation layout {layout!r}; expected 'features' or 'images'")


def read_evaluation(path: Path | str, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of ``evaluation.npz`` (no pickles); :class:`DataError` if it is missing or lacks
    one of ``required``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing evaluation file {path}")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    missing = [k for k in required if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks {missing}; expected the arrays of docs/interfaces.md")
    return arrays


def read_evaluation_summary(path: Path | str) -> Any:
    """``summary.json`` as written (key order kept)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"evaluation summary {path}: {err}") from err
