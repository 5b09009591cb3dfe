"""Config validation: bad configs stop before any job with one line naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from bergforge.config import REPO_ROOT, load_config, validate_config
from bergforge.errors import ConfigError
from conftest import TINY_MEG, make_workdir, run_snakemake

GOOD = {"datasets": {"tiny_meg": copy.deepcopy(TINY_MEG)}}


def bad(mutate):
    cfg = copy.deepcopy(GOOD)
    mutate(cfg)
    return cfg


CASES = [
    (
        bad(lambda c: c.update(colour="blue")),
        "config: unknown key(s) ['colour'] under <top level>; expected one of ['backbones', ",
    ),
    (
        bad(lambda c: c["datasets"]["tiny_meg"].update(subject=[1])),
        "config: unknown key(s) ['subject'] under datasets.tiny_meg; expected one of ['download', 'format'",
    ),
    (
        bad(lambda c: c["datasets"]["tiny_meg"].update(subjects="one")),
        "config: datasets.tiny_meg.subjects = 'one' has the wrong type; expected array",
    ),
    (
        bad(lambda c: c["datasets"]["tiny_meg"]["simulation"].update(n_sessions=2.5)),
        "config: datasets.tiny_meg.simulation.n_sessions = 2.5 has the wrong type; expected integer",
    ),
    (
        bad(lambda c: c["datasets"]["tiny_meg"].pop("format")),
        "config: datasets.tiny_meg is missing a required key: 'format'",
    ),
    (
        bad(lambda c: c["datasets"]["tiny_meg"].update(format="things_meg2")),
        "config: datasets.tiny_meg.format = 'things_meg2'; expected one of "
        "['things_meg1', 'things_eeg2', 'nsd_bold', 'nsd_mosaic', 'bold5000', 'avs_fixations']",
    ),
    (
        bad(lambda c: c["datasets"]["tiny_meg"].pop("simulation")),
        "config: datasets.tiny_meg has source 'simulated' but no 'simulation' section",
    ),
]


def test_demo_config_is_valid():
    cfg = load_config(REPO_ROOT / "config" / "config.yaml")
    assert set(cfg["datasets"]) == {"demo_meg", "demo_eeg", "demo_nsd"}


def test_every_demo_meg_eeg_model_has_bergs_250_components_and_enough_images():
    """BERG's loaders reshape with 250 components; a PCA needs more training images than
    components in every split (MEG: each random quarter; EEG: each repetition's images)."""
    from bergforge.simulate.study import simulation_params
    from bergforge.workflow.models import kind_settings

    cfg = validate_config(load_config(REPO_ROOT / "config" / "config.yaml"))
    for name in ("demo_meg", "demo_eeg"):
        ds = cfg["datasets"][name]
        assert kind_settings(cfg, name, "linear")["n_components"] == 250, name
        sim = simulation_params(ds["format"], ds["simulation"], name)
        smallest_split = sim.n_train // 4 if ds["format"] == "things_meg1" else sim.n_train
        assert smallest_split > 250, (name, smallest_split)
    assert kind_settings(cfg, "demo_nsd", "linear")["n_components"] < 100  # 100 own images


@pytest.mark.parametrize(("cfg", "message"), CASES)
def test_bad_config_gets_one_clear_message(cfg, message):
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.workflow
@pytest.mark.parametrize(("cfg", "message"), CASES[:3] + CASES[4:5])
def test_snakemake_stops_before_any_job(tmp_path, cfg, message):
    workdir = make_workdir(tmp_path, cfg)
    proc = run_snakemake(workdir, "--cores", "1", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert not (workdir / "resources" / "raw").exists(), "no job may run on a bad config"
    assert "Building DAG" not in proc.stderr + proc.stdout


def test_config_file_roundtrip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_config(path) == GOOD


def _schema_at(schema: dict, pattern: str) -> dict:
    """The schema of the config section at ``pattern`` (``*`` = any name). A dataset's own settings
    of a kind (``datasets/*/models/<kind>``) are documented where the kind's are (``models/<kind>``)."""
    if pattern.startswith("datasets/*/models/"):
        pattern = pattern.removeprefix("datasets/*/")
    node = schema
    for key in pattern.split("/"):
        node = node["additionalProperties"] if key == "*" else node["properties"][key]
        node = node if "$ref" not in node else schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_runtime_key_is_a_documented_config_key():
    from bergforge.config import RUNTIME_KEYS, SCHEMA_PATH

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    for pattern, keys in RUNTIME_KEYS.items():
        properties = _schema_at(schema, pattern)["properties"]
        for key in keys:
            assert key in properties, f"{pattern}/{key} is not in the schema"
            assert "runtime" in properties[key]["description"], f"{pattern}/{key}: say runtime"


def test_result_params_and_config_drop_exactly_the_runtime_keys():
    from bergforge.config import result_config, result_params, runtime_settings

    cfg = copy.deepcopy(GOOD)
    cfg["datasets"]["real"] = {
        "format": "things_eeg2",
        "source": "download",
        "subjects": [1],
        "download": {"retries": 2, "backoff": 0.5, "base_urls": {"nsd": "http://mirror"}},
    }
    cfg["features"] = {"shard_size": 8, "dtype": "float16", "threads": 4, "batch_size": 2}
    cfg["preprocess"] = {"mem_mb": 9000}
    cfg["models"] = {
        "linear": {"n_components": 3, "dask_scheduler": "tcp://h:8786"},
        "cnn8": {"batch_size": 16, "device": "cuda"},
    }
    validate_config(cfg)
    assert result_params(cfg, "features") == {"shard_size": 8, "dtype": "float16"}
    assert runtime_settings(cfg, "features") == {"threads": 4, "batch_size": 2}
    assert result_params(cfg, "models/cnn8") == {"batch_size": 16}  # a training hyperparameter
    assert result_params(cfg, "models/linear/pca", default={}) == {}

    class Wildcards(dict):  # what Snakemake passes to a params function
        pass

    dataset = result_params(cfg, "datasets/{dataset}")(Wildcards(dataset="real"))
    assert dataset["download"] == {"base_urls": {"nsd": "http://mirror"}}
    assert result_params(cfg, "datasets/{dataset}")(Wildcards(dataset="tiny_meg")) == TINY_MEG
    stripped = result_config(cfg)
    assert "preprocess" not in stripped, "a section of runtime keys only is as if absent"
    assert stripped["models"] == {"linear": {"n_components": 3}, "cnn8": {"batch_size": 16}}
    assert stripped["datasets"]["tiny_meg"] == TINY_MEG


def test_a_model_kind_that_does_not_exist_is_one_error_naming_where():
    """Under a dataset's `models` and under the top-level `models` (whose settings would be
    silently unused): one error naming the config key and the known kinds, before any job."""
    from bergforge.workflow.models import check_models

    check_models(validate_config(copy.deepcopy(GOOD)))  # the control: no error
    dataset = bad(lambda c: c["datasets"]["tiny_meg"].update(models={"linear": {}, "mpl": {}}))
    with pytest.raises(ConfigError) as err:
        check_models(validate_config(dataset))
    assert str(err.value).startswith(
        "config: datasets.tiny_meg.models.mpl: unknown model kind 'mpl'; expected one of ["
    )
    assert all(f"'{kind}'" in str(err.value) for kind in ("cnn8", "linear", "mlp", "shared"))
    top = bad(lambda c: c.update(models={"linear": {}, "sharde": {"hidden": 8}}))
    with pytest.raises(ConfigError, match=r"^config: models.sharde: unknown model kind 'sharde'"):
        check_models(validate_config(top))
