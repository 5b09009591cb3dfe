"""Reading pickled ``.npy`` files (BERG's weight and metadata dicts) without running any code.

A pickle names the globals (functions, classes) it calls to rebuild its objects, so unpickling an
untrusted file runs whatever it names (``posix.system``, ``builtins.eval``, …). The
:class:`RestrictedUnpickler` resolves only an explicit allow-list: what BERG's files hold (dicts,
lists, tuples, numbers, strings, numpy arrays, dtypes and scalars, scikit-learn's ``Bunch`` and the
fitted estimators BERG's trainers store: ``StandardScaler``, ``PCA``, ``LinearRegression``,
``Ridge``/``RidgeCV``). Any other global is refused with :class:`UnsafePickleError` before it is
imported, let alone called. Rebuilding an allowed estimator sets attributes only (its
``__setstate__``), and numpy's reconstruct functions only allocate arrays.

:func:`load_npy` reads a ``.npy`` as ``np.load(path, allow_pickle=True)`` does: the header with
numpy's own reader, then, for object arrays, the pickle stream with the restricted unpickler (a
file without the ``.npy`` magic is read as a bare pickle, the same way).
"""

from __future__ import annotations

import pickle
from importlib import import_module
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bergforge.errors import DataError

__all__ = [
    "ALLOWED_GLOBALS",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "load_npy",
    "load_npy_item",
]

_NUMPY = {
    # numpy 2.x names, then the ``numpy.core`` names numpy 1.x wrote (resolved to the same objects
    # without going through numpy 2's deprecated ``numpy.core`` shim)
    "numpy._core.multiarray._reconstruct": ("numpy._core.multiarray", "_reconstruct"),
    "numpy.core.multiarray._reconstruct": ("numpy._core.multiarray", "_reconstruct"),
    "numpy._core.multiarray.scalar": ("numpy._core.multiarray", "scalar"),
    "numpy.core.multiarray.scalar": ("numpy._core.multiarray", "scalar"),
    "numpy._core.numeric._frombuffer": ("numpy._core.numeric", "_frombuffer"),  # protocol 5
    "numpy.core.numeric._frombuffer": ("numpy._core.numeric", "_frombuffer"),
    "numpy.ndarray": ("numpy", "ndarray"),
    "numpy.dtype": ("numpy", "dtype"),
}
_BUILTINS = {
    f"{module}.{name}": ("builtins", name)
    for module in ("builtins", "__builtin__")  # __builtin__: Python 2 pickles
    for name in ("set", "frozenset", "complex", "bytearray", "slice", "range")
}
_STDLIB = {
    "collections.OrderedDict": ("collections", "OrderedDict"),
    "_codecs.encode": ("_codecs", "encode"),  # bytes in protocol-2 pickles (numpy 1.x on Python 2)
}
#: scikit-learn classes under every module path their pickles have named (old private modules
#: included), each resolved through sklearn's public module
_SKLEARN_CLASSES = {
    "Bunch": ("sklearn.utils", ("sklearn.utils._bunch", "sklearn.utils")),
    "StandardScaler": (
        "sklearn.preprocessing",
        ("sklearn.preprocessing._data", "sklearn.preprocessing.data"),
    ),
    "PCA": ("sklearn.decomposition", ("sklearn.decomposition._pca", "sklearn.decomposition.pca")),
    "LinearRegression": (
        "sklearn.linear_model",
        ("sklearn.linear_model._base", "sklearn.linear_model.base"),
    ),
    "Ridge": (
        "sklearn.linear_model",
        ("sklearn.linear_model._ridge", "sklearn.linear_model.ridge"),
    ),
    "RidgeCV": (
        "sklearn.linear_model",
        ("sklearn.linear_model._ridge", "sklearn.linear_model.ridge"),
    ),
}
_SKLEARN = {
    f"{module}.{name}": (public, name)
    for name, (public, modules) in _SKLEARN_CLASSES.items()
    for module in modules
}
#: every global a pickle may name ("module.qualname") → (module to import, attribute)
ALLOWED_GLOBALS: dict[str, tuple[str, str]] = {**_NUMPY, **_BUILTINS, **_STDLIB, **_SKLEARN}
ALLOWED_SUMMARY = (
    "dicts, lists, tuples, sets, numbers, strings, bytes, numpy arrays/dtypes/scalars, "
    "sklearn Bunch, " + ", ".join(n for n in _SKLEARN_CLASSES if n != "Bunch")
)


class UnsafePickleError(DataError):
    """A pickle names a global outside the allow-list (it would run code to load)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`; ``source`` names the file in errors."""

    def __init__(self, file: BinaryIO, source: Path | str):
        super().__init__(file, encoding="latin1")  # latin1: numpy arrays pickled by Python 2
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for ``module.name``; :class:`UnsafePickleError` for anything else."""
        full = f"{module}.{name}"
        where = ALLOWED_GLOBALS.get(full)
        if where is None:
            raise UnsafePickleError(
                f"{self.source}: refuses to load global {full!r} (allowed: {ALLOWED_SUMMARY})"
            )
        return getattr(import_module(where[0]), where[1])

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refuses a persistent id {pid!r} in its pickle")


def _read_header(fh: BinaryIO, path: Path) -> np.dtype:
    """Read the ``.npy`` magic and header (numpy's readers); return the dtype."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        _, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        _, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise DataError(
            f"{path}: .npy format version {version} is not supported (expected 1.0 or 2.0)"
        )
    return dtype


def load_npy(path: Path | str) -> Any:
    """What ``np.load(path, allow_pickle=True)`` returns for a ``.npy`` (or bare pickle) file, with
    pickled content read by :class:`RestrictedUnpickler`; ``.npz`` archives are refused."""
    path = Path(path)
    with open(path, "rb") as fh:
        prefix = fh.read(len(np.lib.format.MAGIC_PREFIX))
        fh.seek(0)
        if prefix.startswith(b"PK\x03\x04"):
            raise DataError(f"{path} is an .npz archive; expected a .npy file")
        if prefix != np.lib.format.MAGIC_PREFIX:
            return RestrictedUnpickler(fh, path).load()
        dtype = _read_header(fh, path)
        if dtype.hasobject:
            return RestrictedUnpickler(fh, path).load()
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)


def load_npy_item(path: Path | str) -> Any:
    """:func:`load_npy`, then the object a 0-d array holds (``np.load(...).item()`` for the dicts
    ``np.save`` writes); anything else is returned as it is."""
    value = load_npy(path)
    if isinstance(value, np.ndarray) and value.shape == ():
        return value.item()
    return value
