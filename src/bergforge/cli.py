"""The ``bergforge`` command line: utilities around the workflow (the workflow itself is Snakemake)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bergforge import paths
from bergforge._version import __version__
from bergforge.errors import BergforgeError


def _verify(args: argparse.Namespace) -> int:
    from bergforge.release import verify_release

    report = verify_release(Path(args.target))
    for name in report.mismatched:
        print(f"DIFFERS  {name}")
    for name in report.missing:
        print(f"MISSING  {name}")
    for name in report.unlisted:
        print(f"UNLISTED {name}")
    if report.ok:
        print(f"OK: {report.checked} files match {args.target}'s SHA256SUMS")
        return 0
    bad = len(report.mismatched) + len(report.missing) + len(report.unlisted)
    print(f"FAILED: {bad} of {report.checked} files do not match the manifest", file=sys.stderr)
    return 1


def _check_berg_files(args: argparse.Namespace) -> int:
    from bergforge.export.berg_check import check_berg_tree

    report = check_berg_tree(Path(args.berg_dir), args.n_components)
    for line in report.problems:
        print(line)
    if report.ok:
        print(
            f"OK: {len(report.models)} EEG/MEG model folders, {report.n_subjects} subjects: every "
            "file BERG's loaders read is as they expect"
        )
        return 0
    print(f"FAILED: {len(report.problems)} problems under {args.berg_dir}", file=sys.stderr)
    return 1


def _seal_stores(args: argparse.Namespace) -> int:
    from bergforge.store_checksums import MANIFEST, check_store, find_stores, seal_store

    stores = [store for target in args.paths for store in find_stores(target)]
    if not stores:
        print(f"bergforge: error: no Zarr store under {' '.join(args.paths)}", file=sys.stderr)
        return 1
    for store in stores:
        if (store / MANIFEST).is_file():
            check_store(store, str(store))
            print(f"already sealed  {store}")
        else:
            seal_store(store)
            print(f"sealed          {store}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def _demo_accuracy(args: argparse.Namespace) -> int:
    from bergforge.simulate.accuracy import format_table, study_accuracy

    rows = study_accuracy(Path(args.results), args.threshold)
    print(format_table(rows, args.threshold))
    page = Path(args.results) / Path(paths.SUMMARY_PAGE).relative_to(paths.RESULTS)
    if page.is_file():
        print(f"summary page: {page.absolute()}")
    return 0 if rows else 1


def _check_config(args: argparse.Namespace) -> int:
    from bergforge.config import load_config
    from bergforge.datasets.formats import check_datasets
    from bergforge.workflow.bold5000 import check_decoding_datasets
    from bergforge.workflow.free_viewing import check_free_viewing
    from bergforge.workflow.meeg_decoding import check_meeg_decoding_datasets
    from bergforge.workflow.models import check_models

    config = load_config(args.configfile)
    check_datasets(config)
    check_decoding_datasets(config)
    check_meeg_decoding_datasets(config)
    check_models(config)
    check_free_viewing(config)
    print(f"OK: {args.configfile}: datasets {', '.join(config['datasets'])}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from bergforge.config import canonical, load_config
    from bergforge.datasets.formats import check_datasets
    from bergforge.report.leaderboard import build_leaderboard, format_table, format_tsv
    from bergforge.report.leaderboard_decoding import format_decoding_table
    from bergforge.report.leaderboard_free_viewing import format_free_viewing_table
    from bergforge.workflow.free_viewing import check_free_viewing
    from bergforge.workflow.leaderboard import decoding_runs, free_viewing_runs, leaderboard_runs
    from bergforge.workflow.models import check_models

    config = canonical(load_config(args.configfile))  # the workflow's order (sorted keys)
    check_datasets(config)
    check_models(config)
    check_free_viewing(config)
    runs, unseen_missing = leaderboard_runs(config, args.directory)
    missing = [r for r in runs if not r.evaluation.is_file()]
    runs = [r for r in runs if r.evaluation.is_file()]
    decoders = decoding_runs(config, args.directory)
    missing_decoders = [r.retrieval for r in decoders if not r.retrieval.is_file()]
    decoders = [r for r in decoders if r.retrieval.is_file()]
    viewing = free_viewing_runs(config, args.directory)
    missing_viewing = [r.evaluation for r in viewing if not r.evaluation.is_file()]
    viewing = [r for r in viewing if r.evaluation.is_file()]
    left_out = [r.evaluation for r in missing] + unseen_missing + missing_decoders + missing_viewing
    for path in left_out:
        print(f"not evaluated yet (left out): {path}", file=sys.stderr)
    board = build_leaderboard(runs, decoders, viewing)
    if args.format == "json":
        print(json.dumps(board.as_dict(), indent=2))
    elif args.format == "tsv":
        print(format_tsv(board.subjects), end="")
    else:
        if board.subjects:
            print(format_table(board.subjects))
            print("\nmean over subjects")
            print(format_table(board.means))
        if board.decoding:
            print("\ndecoding: image retrieval (%, chance beside)")
            print(format_decoding_table(board.decoding))
        if board.free_viewing:
            print(
                "\nfree viewing: subjects no model saw, median over channels of r across fixations"
            )
            print(format_free_viewing_table(board.free_viewing))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bergforge`` console script."""
    parser = argparse.ArgumentParser(prog="bergforge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bergforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser(
        "verify-release", help="check every file of a release folder or archive against SHA256SUMS"
    )
    verify.add_argument("target", help="release folder or .tar.gz archive")
    verify.set_defaults(func=_verify)
    check = sub.add_parser(
        "check-berg-files",
        help="check the EEG/MEG model files of a BERG tree against what BERG's own loaders read",
    )
    check.add_argument("berg_dir", help="the folder holding encoding_models/ (e.g. results/berg)")
    check.add_argument(
        "--n-components",
        type=_positive,
        default=250,
        help="PCA components per model (BERG's loader reshapes to 250; default 250)",
    )
    check.set_defaults(func=_check_berg_files)
    seal = sub.add_parser(
        "seal-stores",
        help="add checksums.json to complete Zarr stores written by an earlier bergforge, "
        "trusting their bytes as they are now (stores that have one are checked instead)",
    )
    seal.add_argument("paths", nargs="+", help="stores, or folders searched for *.zarr stores")
    seal.set_defaults(func=_seal_stores)
    accuracy = sub.add_parser(
        "demo-accuracy",
        help="median percent of the true noise ceiling of a simulated study's models on its "
        "real-signal targets (the truth of the prepared data, results/truth/); then the summary "
        "page's path",
    )
    accuracy.add_argument("--results", default="results", help="the workflow's results folder")
    accuracy.add_argument(
        "--threshold", type=float, default=20.0, help="true NC (%%) above which a target counts"
    )
    accuracy.set_defaults(func=_demo_accuracy)
    check_config = sub.add_parser(
        "check-config",
        help="check a config file as the workflow does (schema, dataset subjects, model kinds), "
        "before giving it to snakemake --configfile",
    )
    check_config.add_argument("configfile", help="YAML config file")
    check_config.set_defaults(func=_check_config)
    board = sub.add_parser(
        "leaderboard",
        help="every evaluated model × subject beside the ridge_cv baseline: median r and median "
        "%% of the noise ceiling (mean ± sd over seeds), fit time and peak memory",
    )
    board.add_argument(
        "--configfile", default="config/config.yaml", help="the run's config (config/config.yaml)"
    )
    board.add_argument(
        "--directory", default=".", help="the run's working folder, holding results/ (.)"
    )
    board.add_argument(
        "--format", choices=("table", "tsv", "json"), default="table", help="output (table)"
    )
    board.set_defaults(func=_leaderboard)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BergforgeError as err:
        print(f"bergforge: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
