"""The one reader of a model folder's JSON records (``docs/interfaces.md``, model folders).

A fit writes its records with :func:`bergforge.atomic.save_json`: ``model.json`` of a ``linear``
split folder (sorted keys), ``training.json`` of a ``cnn8`` folder (its own key order, which the
exported metadata keeps), and whatever marker a kind declares first in ``fit_outputs``. Export and
release read them only through :func:`read_record` and :func:`read_marker`; the weights files are
read by their kind (:func:`bergforge.models.linear.predict.read_model_arrays`,
:func:`bergforge.models.cnn8.checkpoint.read_checkpoint`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bergforge.errors import DataError


def read_record(path: Path | str) -> Any:
    """A JSON record of a model folder, as written (key order kept)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model record {path} not found")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from err


def read_marker(folder: Path | str, marker: str) -> dict[str, Any]:
    """The kind's marker file (written last by fit); its JSON when it is JSON, else ``{}``."""
    folder = Path(folder)
    path = folder / marker
    if not path.is_file():
        raise DataError(f"model folder {folder} is incomplete: no {marker} (written last by fit)")
    if path.suffix != ".json":
        return {}
    found = read_record(path)
    return found if isinstance(found, dict) else {}
