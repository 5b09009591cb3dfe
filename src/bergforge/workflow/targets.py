"""Target lists of the workflow, computed from the validated config (used by the Snakefile)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bergforge import paths
from bergforge.datasets.formats import FIXATIONS, datasets_of, get_format


def alternation(names: list[str]) -> str:
    """A wildcard-constraint regex matching exactly ``names`` (and nothing when empty)."""
    return "|".join(names) if names else "(?!x)x"


def subject_label(fmt: str, subject: int) -> str:
    """How a dataset's raw files name a subject (``BIGMEG1`` for THINGS-MEG1, ``01`` otherwise)."""
    return get_format(fmt).raw_subject(subject)


def subject_paths(config: dict[str, Any], pattern: str) -> Callable[[Any], list[str]]:
    """Input function: ``pattern`` filled for every subject of the rule's ``{dataset}``."""

    def inputs(wildcards: Any) -> list[str]:
        subjects = config["datasets"][wildcards.dataset]["subjects"]
        return [paths.fill(pattern, dataset=wildcards.dataset, subject=s) for s in subjects]

    return inputs


def simulated_raw_targets(config: dict[str, Any]) -> list[str]:
    """What the simulator writes last for each simulated dataset: every MEG/EEG subject's truth
    file, the NSD-like study's summary."""
    targets = []
    for name in datasets_of(config, source="simulated"):
        ds = config["datasets"][name]
        if ds["format"] == "avs_fixations":
            targets.append(f"resources/raw/{name}/study.json")
            continue
        if ds["format"] == "nsd_bold":
            targets.append(f"resources/raw/{name}/ground_truth/study.json")
            continue
        for subject in ds["subjects"]:
            label = subject_label(ds["format"], subject)
            targets.append(f"resources/raw/{name}/ground_truth/sub-{label}_truth.npz")
    return targets


#: the key of rule simulate_latents' ``simulation`` param that carries the truth backbone's entry
TRUTH_BACKBONE_SPEC = "truth_backbone_spec"


def truth_backbone_entry(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Params function of rule ``simulate_latents``: the dataset's ``simulation`` section, plus
    (:data:`TRUTH_BACKBONE_SPEC`) the config's ``backbones`` entry of its ``truth_backbone``
    (without its ``datasets`` restriction) where that entry is not empty, i.e. where the config
    defines or overrides the backbone; a registry backbone taken as it is adds nothing."""
    from bergforge.simulate.study import simulation_params

    def params(wildcards: Any) -> dict[str, Any]:
        ds = config["datasets"][wildcards.dataset]
        simulation = dict(ds.get("simulation") or {})
        sim = simulation_params(ds["format"], simulation, wildcards.dataset)
        entry = dict((config.get("backbones") or {}).get(sim.truth_backbone) or {})
        entry.pop("datasets", None)
        return simulation | ({TRUTH_BACKBONE_SPEC: entry} if entry else {})

    return params


def truth_file(config: dict[str, Any]) -> Callable[[Any], str]:
    """Input function: the simulator's ground-truth file of the rule's ``{dataset}`` × ``{subject}``."""

    def inputs(wildcards: Any) -> str:
        label = subject_label(
            config["datasets"][wildcards.dataset]["format"], int(wildcards.subject)
        )
        return f"resources/raw/{wildcards.dataset}/ground_truth/sub-{label}_truth.npz"

    return inputs


def preprocess_section(config: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """Params function: the ``preprocess.<modality>`` section of the rule's ``{dataset}`` (or {})."""

    def params(wildcards: Any) -> dict[str, Any]:
        modality = get_format(config["datasets"][wildcards.dataset]["format"]).modality
        return dict((config.get("preprocess") or {}).get(modality) or {})

    return params


def prepared_truth_targets(config: dict[str, Any]) -> list[str]:
    """The prepared-data truth of every subject of each simulated MEG/EEG dataset (image-indexed:
    a decoding variant's trial-indexed stores have no such truth)."""
    targets = []
    for name in datasets_of(config, source="simulated", layout="images"):
        ds = config["datasets"][name]
        if get_format(ds["format"]).modality in ("meg", "eeg"):
            targets += [
                paths.fill(paths.PREPARED_TRUTH, dataset=name, subject=s) for s in ds["subjects"]
            ]
    return targets


def prepared_targets(config: dict[str, Any]) -> list[str]:
    """The stimulus table and every subject's prepared store of each dataset (the free-viewing
    stores are the free-viewing stage's: :func:`free_viewing_targets`)."""
    targets = []
    for name, ds in config["datasets"].items():
        if get_format(ds["format"]).layout == FIXATIONS:
            continue
        targets.append(paths.fill(paths.STIMULI, dataset=name))
        targets += [
            paths.fill(paths.PREPARED_STORE, dataset=name, subject=s) for s in ds["subjects"]
        ]
    return targets


def feature_targets(config: dict[str, Any]) -> list[str]:
    """The feature manifest of every backbone of every dataset whose models read features."""
    from bergforge.workflow.models import feature_backbones, feature_datasets

    return [
        paths.fill(paths.FEATURES, dataset=d, backbone=b)
        for d in feature_datasets(config)
        for b in feature_backbones(config, d)
    ]


def model_targets(config: dict[str, Any]) -> list[str]:
    """The marker file of every model folder (``model.json`` of each linear subject × split)."""
    from bergforge.workflow.models import fit_targets

    return fit_targets(config)


def evaluation_targets(config: dict[str, Any]) -> list[str]:
    """evaluation.npz of every subject of every configured model."""
    from bergforge.workflow.models import evaluation_targets as targets

    return targets(config)


def unseen_targets(config: dict[str, Any]) -> list[str]:
    """``unseen.npz`` of every held-out subject of every model whose kind predicts subjects it
    never saw (leave-one-subject-out; the ``shared`` kind)."""
    from bergforge.workflow.models import unseen_targets as targets

    return targets(config)


def retrieval_targets(config: dict[str, Any]) -> list[str]:
    """``retrieval.json`` of every decoding model (rule ``evaluate_decoder``)."""
    from bergforge.workflow.decoding import retrieval_targets as targets

    return targets(config)


def export_targets(config: dict[str, Any]) -> list[str]:
    """The exported tree: BERG's layouts (linear on MEG/EEG, cnn8) and bergforge's own layout."""
    from bergforge.workflow.export import export_targets as tree

    return tree(config)


def berg_manifest_targets(config: dict[str, Any]) -> list[str]:
    """``results/berg/SHA256SUMS`` over the exported tree (none when nothing is exported)."""
    return [paths.EXPORT_MANIFEST] if export_targets(config) else []


def release_targets(config: dict[str, Any]) -> list[str]:
    """The manifest and archive of the configured version's release (target `release`).

    The folder ``bergforge-models-<version>/`` is not a Snakemake ``directory()`` output (Snakemake
    would write its ``.snakemake_timestamp`` marker into it, a file the manifest does not list);
    its ``SHA256SUMS``, written last, stands for it.
    """
    from bergforge._version import __version__

    version = config.get("release", {}).get("version", __version__)
    return [
        paths.fill(paths.RELEASE_MANIFEST, version=version),
        paths.fill(paths.RELEASE_ARCHIVE, version=version),
    ]


def release_export_files(config: dict[str, Any]) -> list[str]:
    """Every export-tree file a release holds: the whole exported tree of the config and every
    decoding model's exported folder under ``decoding_models/`` (declared by its JSON and
    ``SHA256SUMS``; the release copies the weights that manifest lists, verified)."""
    return export_targets(config) + decoder_export_targets(config)


def release_seed_files(config: dict[str, Any]) -> list[str]:
    """The files whose seeds a release's provenance records: the marker file of every model folder
    of an exported model (``model.json`` of each linear split, ``training.json`` of a cnn8, the
    ``model.json`` of every decoding model)."""
    from bergforge.workflow.decoding import decoder_marker
    from bergforge.workflow.models import decoding_entries, exported_model_files

    decoders = [decoder_marker(config, e) for e in decoding_entries(config)]
    return exported_model_files(config) + decoders


def summary_targets(config: dict[str, Any]) -> list[str]:
    """The summary page over every evaluated model (``results/summary/index.html``)."""
    from bergforge.workflow.summary import summary_targets as page

    return page(config)


def all_targets(config: dict[str, Any]) -> list[str]:
    """What `rule all` builds: every stage output (one line per stage), then the summary page."""
    targets: list[str] = []
    targets += simulated_raw_targets(config)
    targets += prepared_targets(config)
    targets += prepared_truth_targets(config)
    targets += feature_targets(config)
    targets += model_targets(config)
    targets += evaluation_targets(config)
    targets += unseen_targets(config)
    targets += retrieval_targets(config)
    targets += oracle_targets(config)
    targets += decoder_export_targets(config)
    targets += export_targets(config)
    targets += berg_manifest_targets(config)
    targets += summary_targets(config)
    targets += decoding_leaderboard_targets(config)
    targets += free_viewing_targets(config)
    return list(dict.fromkeys(targets))


def free_viewing_targets(config: dict[str, Any]) -> list[str]:
    """Every free-viewing score and challenge output, and the leaderboard when there are any."""
    from bergforge.workflow.free_viewing import free_viewing_targets as targets
    from bergforge.workflow.leaderboard import leaderboard_targets

    found = targets(config)
    return found + leaderboard_targets(config) if found else []


def oracle_targets(config: dict[str, Any]) -> list[str]:
    """``oracle.json`` of every simulated decoding dataset × target backbone."""
    from bergforge.workflow.decoding_oracle import oracle_targets as targets

    return targets(config)


def decoder_export_targets(config: dict[str, Any]) -> list[str]:
    """Every decoding model's exported folder (rule ``export_decoder``)."""
    from bergforge.workflow.decoder_export import decoder_export_targets as targets

    return targets(config)


def decoding_leaderboard_targets(config: dict[str, Any]) -> list[str]:
    """The leaderboard's files when decoding models are configured (their rows are there; a
    config of decoders only has no summary page to bring the leaderboard in)."""
    from bergforge.workflow.leaderboard import leaderboard_targets
    from bergforge.workflow.models import decoding_entries

    return leaderboard_targets(config) if decoding_entries(config) else []
