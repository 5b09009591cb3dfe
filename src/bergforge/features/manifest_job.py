"""The manifest job of the workflow (rule ``feature_manifest``): check a backbone's shards form
one matrix and list them in ``features.json``. It imports no torch (the job reads Zarr only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bergforge.features.plan import write_json
from bergforge.features.store import FeatureStore


def write_manifest(shards: list[Path | str], out: Path | str) -> dict[str, Any]:
    """Check the shards form one complete matrix and list them in ``out`` (``features.json``)."""
    out = Path(out)
    store = FeatureStore.open(shards)
    manifest = {
        "backbone": store.attrs["backbone"],
        "shape": list(store.shape),
        "layers": store.layers,
        "layer_sizes": [store.layer_sizes[k] for k in store.layers],
        "dtype": store.attrs["dtype"],
        "spec": store.attrs["spec"],
        "shards": [Path(s).relative_to(out.parent).as_posix() for s in shards],
    }
    write_json(out, manifest)
    return manifest
