"""Surface time series in GIFTI (``*.func.gii``, one data array per volume, as fMRIPrep writes
fsnative runs): read one hemisphere of a run as ``[vertex, time]`` float32, checked, and write one
(the simulator's runs and the tests' miniature copies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bergforge.atomic import atomic_file
from bergforge.errors import DataError


def read_func_gii(path: Path, n_volumes: int | None = None) -> np.ndarray:
    """``[vertex, time]`` of a ``func.gii``: every data array one volume of the same vertices,
    finite; ``n_volumes`` (when given) must match."""
    import nibabel as nib

    path = Path(path)
    try:
        image = nib.load(str(path))
        arrays = [np.asarray(d.data) for d in image.darrays]
    except Exception as err:  # nibabel raises many kinds for a damaged file  # noqa: BLE001
        raise DataError(f"{path}: cannot read the GIFTI time series ({err})") from err
    if not arrays:
        raise DataError(f"{path}: no data arrays; expected one per volume")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or len(arrays[0].shape) != 1:
        raise DataError(
            f"{path}: data arrays of shapes {sorted(shapes)}; expected one 1-D array of the same "
            "vertices per volume"
        )
    if n_volumes is not None and len(arrays) != n_volumes:
        raise DataError(f"{path}: {len(arrays)} volumes; expected {n_volumes}")
    data = np.stack(arrays, axis=1).astype(np.float32, copy=False)
    if not np.all(np.isfinite(data)):
        vertex = int(np.flatnonzero(~np.isfinite(data).all(axis=1))[0])
        raise DataError(f"{path}: vertex {vertex} has non-finite values; expected finite BOLD")
    return data


def write_func_gii(path: Path, data: np.ndarray, tr: float) -> None:
    """Write ``data`` ``[vertex, time]`` as a ``func.gii`` (one float32 array per volume; the TR
    in each array's metadata as fMRIPrep's ``TimeStep`` in ms)."""
    from nibabel.gifti import GiftiDataArray, GiftiImage, GiftiMetaData

    meta = GiftiMetaData({"TimeStep": f"{tr * 1000:g}"})
    image = GiftiImage(
        darrays=[
            GiftiDataArray(
                np.ascontiguousarray(data[:, t], np.float32),
                intent="NIFTI_INTENT_TIME_SERIES",
                datatype="NIFTI_TYPE_FLOAT32",
                meta=meta,
            )
            for t in range(data.shape[1])
        ]
    )
    with atomic_file(path) as partial:
        partial.write_bytes(image.to_bytes())
