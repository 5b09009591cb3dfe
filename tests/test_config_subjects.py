"""Config-time checks: a downloaded dataset's subjects must be the published dataset's subjects
(THINGS-EEG2 1–10, THINGS-MEG1 1–4, NSD 1–8, BOLD5000 1–4); a simulated dataset takes any
positive subject; a config file that is missing or not YAML is one line from ``bergforge
check-config``."""

from __future__ import annotations

import copy

import pytest
import yaml

from bergforge.cli import main
from bergforge.config import REPO_ROOT, load_config
from bergforge.datasets.formats import FORMATS, check_datasets
from bergforge.errors import ConfigError
from conftest import TINY_MEG, make_workdir, run_snakemake

#: the published datasets' subjects, written out here (not read from the registry under test)
PUBLISHED = {
    "things_eeg.yaml": range(1, 11),
    "things_meg.yaml": range(1, 5),
    "nsd_mosaic.yaml": range(1, 9),
    "bold5000.yaml": range(1, 5),  # CSI1–CSI4
}


def real_config(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "config" / name).read_text())


def only_dataset(config: dict) -> dict:
    (entry,) = config["datasets"].values()
    return entry


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_subject_is_accepted(name):
    config = real_config(name)
    only_dataset(config)["subjects"] = list(PUBLISHED[name])
    check_datasets(config)


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        (
            "things_eeg.yaml",
            11,
            "config: datasets.things_eeg.subjects has 11, but THINGS-EEG2 has subjects 1–10 only",
        ),
        (
            "things_meg.yaml",
            5,
            "config: datasets.things_meg.subjects has 5, but THINGS-MEG1 has subjects 1–4 only",
        ),
        (
            "nsd_mosaic.yaml",
            9,
            "config: datasets.nsd.subjects has 9, but NSD (through MOSAIC) has subjects 1–8 only",
        ),
    ],
)
def test_a_subject_the_dataset_lacks_is_one_error_naming_dataset_subject_and_range(
    name, extra, message
):
    config = real_config(name)
    only_dataset(config)["subjects"].append(extra)
    with pytest.raises(ConfigError) as err:
        check_datasets(config)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_the_registry_holds_the_published_subjects():
    assert FORMATS["things_eeg2"].real_subjects == tuple(range(1, 11))
    assert FORMATS["things_meg1"].real_subjects == tuple(range(1, 5))
    assert FORMATS["nsd_mosaic"].real_subjects == tuple(range(1, 9))


def test_a_simulated_dataset_takes_any_positive_subject():
    config = {"datasets": {"sim": copy.deepcopy(TINY_MEG)}}
    config["datasets"]["sim"]["subjects"] = [5, 12, 400]  # not THINGS-MEG1's 1–4
    check_datasets(config)


def test_check_config_names_a_missing_file_in_one_line(tmp_path, capsys):
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == f"bergforge: error: config file not found: {tmp_path / 'nope.yaml'}\n"


def test_check_config_names_a_yaml_error_with_its_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("datasets:\n  tiny: {format: things_meg1\n  other: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML: .*\(line 3, column"):
        load_config(path)
    assert main(["check-config", str(path)]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_check_config_refuses_a_subject_and_accepts_the_real_configs(tmp_path, capsys):
    config = real_config("things_eeg.yaml")
    only_dataset(config)["subjects"] = [1, 11]
    path = tmp_path / "eeg.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["check-config", str(path)]) == 2
    assert "has 11, but THINGS-EEG2 has subjects 1–10 only" in capsys.readouterr().err
    for name in sorted(PUBLISHED):
        assert main(["check-config", str(REPO_ROOT / "config" / name)]) == 0
    assert capsys.readouterr().out.count("OK: ") == len(PUBLISHED)


@pytest.mark.workflow
def test_snakemake_plans_no_download_of_a_subject_the_dataset_lacks(tmp_path):
    config = real_config("things_eeg.yaml")
    only_dataset(config)["subjects"] = [10, 11]
    workdir = make_workdir(tmp_path, config)
    proc = run_snakemake(workdir, "-n", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config: datasets.things_eeg.subjects has 11, but THINGS-EEG2 has subjects 1–10" in text
    assert "sub-11" not in text and "Building DAG" not in text
