"""Bad stimulus images stop extraction with one error naming the file, and leave no shard behind;
other image modes are converted to RGB as BERG converts them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from features_data import make_stimuli
from PIL import Image

from bergforge.errors import ConfigError, DataError
from bergforge.features.errors import ImageError
from bergforge.features.images import load_rgb
from bergforge.features.job import extract_shard

SETTINGS = {"shard_size": 8, "batch_size": 2, "device": "cpu", "workers": 2}


def _missing(path: Path) -> None:
    path.unlink()


def _not_an_image(path: Path) -> None:
    path.write_text("this is not a JPEG\n")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _grey(path: Path) -> Path:
    Image.open(path).convert("L").save(path, format="JPEG")
    return path


def _cmyk(path: Path) -> Path:
    Image.open(path).convert("CMYK").save(path, format="JPEG")
    return path


def _unreadable(path: Path) -> None:
    path.unlink()
    path.mkdir()  # a folder where the image should be: cannot be opened as a file


BREAKERS = {
    "missing": (_missing, "not found"),
    "not-an-image": (_not_an_image, "not a readable image file"),
    "corrupt-jpeg": (_truncated, "unreadable or corrupt"),
    "unreadable": (_unreadable, "unreadable or corrupt"),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    make_stimuli(root, 5, size=64)
    return root


@pytest.mark.parametrize("kind", list(BREAKERS))
def test_bad_image_is_named(kind, pristine, tmp_path):
    root = tmp_path / "stimuli"
    shutil.copytree(pristine, root)
    table = pd.read_csv(root / "stimuli.tsv", sep="\t")
    bad = root / table["file"][3]
    breaker, message = BREAKERS[kind]
    breaker(bad)
    with pytest.raises(ImageError, match=message) as info:
        load_rgb(bad)
    assert str(bad) in str(info.value)


def test_a_bad_image_stops_the_shard_and_leaves_nothing(pristine, tmp_path):
    root = tmp_path / "stimuli"
    shutil.copytree(pristine, root)
    table = pd.read_csv(root / "stimuli.tsv", sep="\t")
    _truncated(root / table["file"][4])
    out = tmp_path / "features" / "shard-1-of-1.zarr"
    with pytest.raises(ImageError, match=str(table["file"][4])):
        extract_shard(root / "stimuli.tsv", "alexnet_untrained", {}, SETTINGS, 1, 1, out, 2, root)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # not even the temporary store


def test_good_images_decode_to_rgb(pristine):
    table = pd.read_csv(pristine / "stimuli.tsv", sep="\t")
    image = load_rgb(pristine / table["file"][0])
    assert image.mode == "RGB" and np.asarray(image).shape == (64, 64, 3)


def _palette(path: Path) -> Path:
    Image.open(path).convert("P").save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def _rgba(path: Path) -> Path:
    image = Image.open(path).convert("RGBA")
    image.putalpha(128)
    image.save(path.with_suffix(".png"))
    return path.with_suffix(".png")


@pytest.mark.parametrize("convert", [_grey, _cmyk, _palette, _rgba], ids=["L", "CMYK", "P", "RGBA"])
def test_other_modes_are_converted_to_rgb_as_berg_does(convert, pristine, tmp_path):
    """BERG decodes with Image.open(path).convert('RGB'); greyscale gives three equal channels."""
    source = pristine / pd.read_csv(pristine / "stimuli.tsv", sep="\t")["file"][1]
    path = tmp_path / source.name
    shutil.copy2(source, path)
    path = convert(path)
    with Image.open(path) as original:
        assert original.mode != "RGB"
        expected = np.asarray(original.convert("RGB"))
    got = np.asarray(load_rgb(path))
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (64, 64, 3)
    if convert is _grey:
        assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()


def test_bad_stimulus_table_and_settings_are_named(pristine, tmp_path):
    table = pd.read_csv(pristine / "stimuli.tsv", sep="\t").drop(columns=["file"])
    table.to_csv(tmp_path / "stimuli.tsv", sep="\t", index=False)
    out = tmp_path / "shard-1-of-1.zarr"
    with pytest.raises(DataError, match=r"lacks column\(s\) \['file'\]"):
        extract_shard(tmp_path / "stimuli.tsv", "alexnet_untrained", {}, SETTINGS, 1, 1, out)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['batchsize'\] under features"):
        extract_shard(
            pristine / "stimuli.tsv", "alexnet_untrained", {}, {"batchsize": 3}, 1, 1, out
        )
