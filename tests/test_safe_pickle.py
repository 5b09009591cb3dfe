"""Pickled ``.npy`` files are read by a restricted unpickler (``bergforge.safe_pickle``).

Each malicious file here really runs a command when numpy loads it (checked: the marker file
appears); bergforge refuses it with one error naming the file and the global, manifest or not, and
the marker never appears. Every kind of object BERG's files hold still loads, equal to what
``np.load(..., allow_pickle=True)`` gives.
"""

from __future__ import annotations

import builtins
import collections
import copyreg
import functools
import os
import pickle
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch

from bergforge import BERG
from bergforge.cli import main as bergforge_cli
from bergforge.datasets.sensors import EEG_CHANNELS
from bergforge.datasets.things_eeg2 import read_partition
from bergforge.errors import DataError, ModelLoadError
from bergforge.export.manifest import MANIFEST_NAME, write_manifest
from bergforge.safe_pickle import UnsafePickleError, load_npy, load_npy_item

EEG_ID = "eeg-things_eeg_2-alexnet_untrained"
EEG_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-alexnet_untrained"


class Call:
    """Pickles as the call ``func(*args)``: what a malicious file does with ``__reduce__``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def touch_command(marker: Path) -> str:
    return f"touch {marker}"


def payloads(marker: Path) -> dict[str, Call]:
    """Objects whose unpickling creates ``marker``, by the global each names first."""
    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "posix.system": Call(os.system, touch_command(marker)),
        "subprocess.call": Call(subprocess.call, ["touch", str(marker)]),
        "builtins.eval": Call(builtins.eval, code),
        "builtins.exec": Call(builtins.exec, code),
        "functools.partial": Call(functools.partial(os.system, touch_command(marker))),
    }


def save_object(path: Path, value: object) -> Path:
    """``np.save`` as BERG does: a 0-d object array holding ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(value, dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize("name", list(payloads(Path("m"))))
def test_a_pickle_that_runs_code_is_refused_before_it_runs(tmp_path, name):
    marker = tmp_path / "marker"
    path = save_object(tmp_path / "weights.npy", {"pca_param": payloads(marker)[name]})
    np.load(path, allow_pickle=True)  # the control: numpy's own loader runs the command
    assert marker.exists(), f"the {name} payload does not work; the test would prove nothing"
    marker.unlink()
    for load in (load_npy, load_npy_item):
        with pytest.raises(UnsafePickleError) as err:
            load(path)
        assert str(err.value).startswith(f"{path}: refuses to load global '{name}' (allowed: ")
        assert "\n" not in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_and_a_bare_pickle_file_are_refused(tmp_path, protocol):
    marker = tmp_path / "marker"
    stream = pickle.dumps({"x": [1, Call(os.system, touch_command(marker))]}, protocol=protocol)
    bare = tmp_path / "bare.npy"
    bare.write_bytes(stream)  # no .npy magic: np.load reads a bare pickle
    with_header = tmp_path / "header.npy"
    with open(with_header, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|O", "fortran_order": False, "shape": ()}
        )
        fh.write(stream)
    for path in (bare, with_header):
        with pytest.raises(UnsafePickleError, match=r"refuses to load global 'posix\.system'"):
            load_npy(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module, name",
    [
        ("os", "system"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("__builtin__", "eval"),  # Python 2 name
        ("subprocess", "Popen"),
        ("importlib", "import_module"),
        ("pickle", "loads"),
        ("copyreg", "_reconstructor"),
        ("numpy", "load"),  # numpy, but not one of its reconstruct functions
        ("numpy.testing._private.utils", "runstring"),  # numpy's own exec
        ("sklearn.utils", "_safe_indexing"),  # sklearn, but not an allowed class
        ("numpy", "ndarray.__new__"),  # a dotted name below an allowed class
    ],
)
def test_any_other_global_is_refused_by_name(tmp_path, module, name):
    """A protocol-0 stream calling ``module.name('touch marker')``: refused at the global."""
    marker = tmp_path / "marker"
    stream = f"c{module}\n{name}\n(S'touch {marker}'\ntR.".encode()
    path = tmp_path / "x.npy"
    path.write_bytes(stream)
    with pytest.raises(UnsafePickleError, match=rf"refuses to load global '{module}\.{name}'"):
        load_npy(path)
    assert not marker.exists()


EXT_CODE = 0xBEEF  # any code the copyreg extension registry leaves free


def test_the_extension_registry_goes_through_the_same_check(tmp_path):
    marker = tmp_path / "marker"
    copyreg.add_extension("posix", "system", EXT_CODE)
    try:
        stream = pickle.dumps(Call(os.system, touch_command(marker)), protocol=2)
        assert b"system" not in stream  # the global is an extension code, not a name
        path = tmp_path / "ext.npy"
        path.write_bytes(stream)
        with pytest.raises(UnsafePickleError, match=r"refuses to load global 'posix\.system'"):
            load_npy(path)
    finally:
        copyreg.remove_extension("posix", "system", EXT_CODE)
    assert not marker.exists()


def test_persistent_ids_are_refused(tmp_path):
    path = tmp_path / "pid.npy"
    path.write_bytes(b"Pabc\n.")  # protocol 0 PERSID
    with pytest.raises(UnsafePickleError, match="persistent id"):
        load_npy(path)


# --- what BERG's files hold still loads --------------------------------------------------------


def same(a: object, b: object) -> bool:
    """Deep equality of unpickled values (types included; arrays by dtype, shape and values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:
            return all(same(x, y) for x, y in zip(a.ravel(), b.ravel(), strict=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return same(vars(a), vars(b))
    return bool(a == b)


def fitted_estimators() -> dict[str, object]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 7)), rng.standard_normal((20, 3))
    return {
        "scaler": StandardScaler().fit(x),
        "pca_randomized": PCA(3, svd_solver="randomized", random_state=1).fit(x),
        "pca_full": PCA(3, svd_solver="full").fit(x),
        "linear": LinearRegression().fit(x, y),
        "ridge": Ridge(alpha=0.5).fit(x, y),
        "ridge_cv": RidgeCV(alphas=[0.1, 1.0, 10.0]).fit(x, y),
    }


def berg_like_dict() -> dict:
    """Every kind of value BERG's weight and metadata dicts hold (and a few neighbours)."""
    rng = np.random.default_rng(1)
    pca = {"components_": rng.standard_normal((3, 7)), "n_components_": 3, "noise_variance_": 0.5}
    return {
        "eeg": {"ch_names": ["Fp1", "Oz"], "times": np.linspace(-0.2, 0.8, 5)},
        "sensors": {"sensor_regions": np.array(["Frontal", "Occipital"])},
        "scaler_param": {
            "scale_": rng.random(7).astype(np.float32),
            "n_samples_seen_": np.int64(20),
        },
        "pca_param": {"rep-1": pca, "rep-2": Bunch(**pca)},
        "files": np.array(["a.jpg", "b.jpg"], dtype=object),
        "half": np.ones((2, 2), np.float16),
        "fortran": np.asfortranarray(rng.standard_normal((3, 4))),
        "record": np.zeros(2, dtype=[("a", "f4"), ("b", "U3")]),
        "dates": np.array(["2020-01-01"], dtype="datetime64[D]"),
        "scalars": [
            np.float64(1.5),
            np.float32(2),
            np.bool_(True),
            np.str_("x"),
            np.complex128(1j),
        ],
        "python": (None, True, 3, 2.5, 1 + 2j, "s", b"bytes", {1, 2}, frozenset({3})),
        "ordered": collections.OrderedDict(b=1, a=2),
        "dtype": np.dtype("<f4"),
    }


def test_berg_like_dicts_load_as_numpy_loads_them(tmp_path):
    value = berg_like_dict()
    path = save_object(tmp_path / "w.npy", value)
    expected = np.load(path, allow_pickle=True)
    got = load_npy(path)
    assert same(got, expected)
    assert same(load_npy_item(path), expected.item())
    assert isinstance(load_npy_item(path)["pca_param"]["rep-2"], Bunch)


def test_fitted_sklearn_estimators_load_and_compute_the_same(tmp_path):
    fits = fitted_estimators()
    path = save_object(tmp_path / "w.npy", {"fits": fits})
    loaded = load_npy_item(path)["fits"]
    x = np.random.default_rng(2).standard_normal((4, 7))
    for name, fit in fits.items():
        assert type(loaded[name]) is type(fit) and same(loaded[name], fit), name
        method = "predict" if hasattr(fit, "predict") else "transform"
        # attributes are equal bit for bit; BLAS may round a differently aligned copy 1 ulp off
        np.testing.assert_allclose(
            getattr(loaded[name], method)(x), getattr(fit, method)(x), rtol=1e-12, atol=1e-15
        )


def test_numpy_1_names_and_protocol_5_buffers_load_without_warnings(tmp_path):
    value = {"a": np.arange(6.0).reshape(2, 3), "s": np.float64(2.0), "pca": fitted_estimators()}
    old = pickle.dumps(np.asarray(value, dtype=object), protocol=2)
    assert b"numpy._core.multiarray\n_reconstruct" in old
    old = old.replace(b"numpy._core.", b"numpy.core.")  # as numpy 1.x wrote them
    new = pickle.dumps(value, protocol=5)
    assert b"_frombuffer" in new
    for name, stream in (("old.npy", old), ("new.npy", new)):
        (tmp_path / name).write_bytes(stream)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no DeprecationWarning from numpy.core
            got = load_npy(tmp_path / name)
        assert same(got, pickle.loads(stream, encoding="latin1")), name


def test_plain_arrays_and_other_files(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.arange(5, dtype=np.int16))
    assert same(load_npy(path), np.arange(5, dtype=np.int16))
    np.save(tmp_path / "scalar.npy", np.float32(3))
    assert load_npy_item(tmp_path / "scalar.npy") == 3.0
    np.savez(tmp_path / "a.npz", x=np.zeros(2))
    with pytest.raises(DataError, match=r"a\.npz is an \.npz archive; expected a \.npy file"):
        load_npy(tmp_path / "a.npz")
    truncated = tmp_path / "truncated.npy"
    save_object(truncated, {"a": np.zeros(100)})
    truncated.write_bytes(truncated.read_bytes()[:-50])
    with pytest.raises((pickle.UnpicklingError, EOFError, ValueError)):
        load_npy(truncated)


# --- the loaders that read these files ---------------------------------------------------------


def eeg_tree(root: Path, weights: object) -> Path:
    """A published-like EEG model folder: valid metadata, the given weights dict."""
    folder = root / EEG_DIR
    save_object(
        folder / "metadata/metadata_subject-01.npy",
        {"eeg": {"ch_names": list(EEG_CHANNELS), "times": np.linspace(-0.1, 0.595, 140)}},
    )
    save_object(folder / "encoding_models_weights/weights_subject-01.npy", weights)
    return folder


@pytest.mark.parametrize("manifest", [False, True])
def test_the_api_refuses_a_command_in_the_weights_with_or_without_a_manifest(tmp_path, manifest):
    marker = tmp_path / "marker"
    bad = {"scaler_param": {}, "pca_param": Call(os.system, touch_command(marker)), "reg_param": {}}
    root = tmp_path / "berg"
    folder = eeg_tree(root, bad)
    if manifest:  # a manifest that matches: it vouches for the bytes, not for what they run
        write_manifest(root)
        assert (root / MANIFEST_NAME).read_text().count("\n") == 2
    weights = folder / "encoding_models_weights/weights_subject-01.npy"
    with pytest.raises(ModelLoadError) as err:
        BERG(root).get_encoding_model(EEG_ID, 1, device="cpu")
    assert str(err.value).startswith(f"{weights}: refuses to load global 'posix.system' (allowed: ")
    assert not marker.exists()


def test_the_api_refuses_a_command_in_the_metadata(tmp_path):
    marker = tmp_path / "marker"
    root = tmp_path / "berg"
    folder = eeg_tree(root, {})
    meta = save_object(
        folder / "metadata/metadata_subject-01.npy", Call(os.system, f"touch {marker}")
    )
    with pytest.raises(ModelLoadError, match=rf"^{meta}: refuses to load global 'posix\.system'"):
        BERG(root).get_model_metadata(EEG_ID, 1)
    assert not marker.exists()


def test_check_berg_files_names_the_refused_file_and_global(tmp_path, capsys):
    marker = tmp_path / "marker"
    root = tmp_path / "berg"
    folder = eeg_tree(root, {})
    code = f"open({str(marker)!r}, 'w').close()"
    save_object(folder / "metadata/metadata_subject-01.npy", Call(builtins.exec, code))
    assert bergforge_cli(["check-berg-files", str(root)]) == 1
    out, err = capsys.readouterr()
    line = next(ln for ln in out.splitlines() if "metadata_subject-01.npy" in ln)
    assert "refuses to load global 'builtins.exec'" in line
    assert err.startswith("FAILED:") and err.count("\n") == 1
    assert not marker.exists()


def test_raw_things_eeg2_files_are_read_through_the_same_check(tmp_path):
    marker = tmp_path / "marker"
    path = save_object(
        tmp_path / "raw_eeg_training.npy", {"raw_eeg_data": Call(os.system, f"touch {marker}")}
    )
    with pytest.raises(
        UnsafePickleError, match=rf"^{path}: refuses to load global 'posix\.system'"
    ):
        read_partition(path)
    assert not marker.exists()


def test_a_weights_link_out_of_a_manifested_tree_is_refused(tmp_path):
    root = tmp_path / "berg"
    folder = eeg_tree(root, {})
    write_manifest(root)
    weights = folder / "encoding_models_weights/weights_subject-01.npy"
    outside = save_object(tmp_path / "elsewhere.npy", {})
    weights.unlink()
    weights.symlink_to(outside)
    with pytest.raises(ModelLoadError, match=r"resolves to .*elsewhere\.npy, outside the tree"):
        BERG(root).get_encoding_model(EEG_ID, 1, device="cpu")
