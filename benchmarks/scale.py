"""Scale harness: every heavy rule's job at fractions of the real datasets' size, inside its resources.

For each case (a rule of config/things_meg.yaml, things_eeg.yaml or nsd_mosaic.yaml, sized at the
largest backbone they build, ViT-B/32's 460,800 features) it writes synthetic inputs in the real
layout at each fraction of the real size, runs the rule's job function (the package function its
script calls; no Snakemake) in a fresh child process, and records that process's peak resident
memory (VmHWM, which counts memory-mapped file pages too), its peak anonymous memory (RssAnon,
sampled every 20 ms) and the job's wall time. Peak and time are fitted against the job's size by
least squares, linear: ``peak = a + b·size + fixed`` and ``time = c + d·work`` (size, work and
fixed as :mod:`bergforge.workflow.resources` computes them from the same inputs), and each table
gives the measured points, the predicted full-size peak and time, and the rule's declared
``mem_mb`` and ``runtime`` for the real job (from the coefficient table in that module).

The trained kinds (``fit_mlp``, ``fit_shared``, ``evaluate_unseen``: ``scale_trained``) train 2
epochs per point; their time is fitted as the job's time projected to the real 200 epochs (the
epoch loop is timed apart), against the work of 200 epochs, and the table shows both.

Run (2 cores and 24 GB are enough; an idle machine gives the numbers to keep)::

    .venv/bin/python benchmarks/scale.py                     # every case at its fractions
    .venv/bin/python benchmarks/scale.py --rule fit_linear --fractions 0.02 0.04
    .venv/bin/python benchmarks/scale.py --rule fit_mlp fit_shared evaluate_unseen --full never
    .venv/bin/python benchmarks/scale.py --list

``--max-seconds`` caps each point (a capped point is shown, not fitted); ``--full auto`` adds the
full size when the fit predicts it fits in memory, on disk and in the cap; ``--disk-budget-gb``
caps the temporary inputs of one point (all are deleted after it); ``--json FILE`` keeps every
number; ``--emit-coefficients`` prints the rows to paste into ``COEFFICIENTS``. Never part of
``make test`` (``tests/test_scale_harness.py`` runs one cheap case at a tiny fraction).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_cases import (  # noqa: E402
    DEVICE_VARIABLE,
    Case,
    all_cases,
    case_by_name,
    declared,
    limit_verdict,
)
from scale_fit import Fit, fit_case, ok_margin  # noqa: E402

DEFAULT_FRACTIONS = (1 / 8, 1 / 4, 1 / 2)
GB = 1024.0  # MB per GB in the tables (RSS is read in KiB: MB here are MiB)
LIMIT_GB = 16.0


# ------------------------------------------------------------------------------ one point


def _vmhwm_mb(pid: int) -> float | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    found = [int(x.split()[1]) for x in lines if x.startswith("VmHWM:")]
    return found[0] / 1024 if found else None


def _child(mode: str, case: Case, fraction: float, point: Path, limit: float) -> dict:
    """Run ``--child mode`` in a fresh process; returns its JSON line or a capped/failed record."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--case", case.name]
    cmd += ["--fraction", repr(fraction), "--point", str(point)]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    began, peak = time.perf_counter(), 0.0
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            while proc.poll() is None:
                peak = max(peak, _vmhwm_mb(proc.pid) or 0.0)
                if time.perf_counter() - began > limit:
                    proc.kill()
                    proc.wait()
                    return {"capped": True, "seconds": limit, "peak_mb_at_least": peak}
                time.sleep(0.2)
        finally:
            if proc.poll() is None:  # the harness itself was stopped
                proc.kill()
        out, err = proc.communicate()
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-6:])
        return {"failed": True, "error": tail}
    return json.loads(out.strip().splitlines()[-1])


def measure_point(case: Case, fraction: float, root: Path, args) -> dict:
    """Prepare inputs and run the job at ``fraction``; the point's folder is deleted after."""
    point = root / f"{case.name}-{fraction:.6g}"
    need = case.disk_gb(fraction)
    free = shutil.disk_usage(root).free / 2**30
    record: dict = {"fraction": fraction, "disk_gb": round(need, 2)}
    if need > args.disk_budget_gb or need > free - args.disk_reserve_gb:
        record["skipped"] = (
            f"needs ≈{need:.1f} GB of disk; budget {args.disk_budget_gb} GB, free {free:.0f} GB"
        )
        return record
    try:
        point.mkdir(parents=True)
        prepared = _child("prepare", case, fraction, point, 2 * args.max_seconds)
        if prepared.get("failed") or prepared.get("capped"):
            record["skipped"] = "preparing the inputs " + (
                "took longer than the cap" if prepared.get("capped") else "failed"
            )
            record["error"] = prepared.get("error", "")
            return record
        record |= prepared
        record |= _child("run", case, fraction, point, args.max_seconds)
    finally:
        shutil.rmtree(point, ignore_errors=True)
    return record


# ----------------------------------------------------------------------------- the tables


def _gb(mb: float | None) -> str:
    return "–" if mb is None else f"{mb / GB:.2f} GB"


def _secs(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s:.1f} s" if s < 600 else f"{s / 60:.1f} min" if s < 36000 else f"{s / 3600:.1f} h"


def _projected(p: dict) -> str:
    """A trained kind's point: its epochs and the time projected to the real job's epochs."""
    if "projected_seconds" not in p:
        return ""
    ran = f"{p['epochs_run']} epochs" if "epochs_run" in p else f"{p['steps_run']} steps"
    train, projected = _secs(p["train_seconds"]), _secs(p["projected_seconds"])
    return f" ({ran}, {train} of them; → {projected} projected)"


def print_case(case: Case, points: list[dict], fit: Fit | None) -> None:
    """The table of one case: measured points, the fit, the full-size prediction and declared."""
    print(f"\n== {case.name}: {case.dataset}")
    print(f"   size = {case.unit}; work = {case.work_unit}. {case.note}")
    print(
        f"   {'fraction':>9} {'size':>12} {'work':>12} {'peak RSS':>10} {'anon peak':>10} {'time':>9}"
        f" {'inputs':>8}"
    )
    for p in points:
        if "skipped" in p or p.get("failed"):
            print(f"   {p['fraction']:>9.4g}  {_why(p)}")
            continue
        if p.get("capped"):
            print(
                f"   {p['fraction']:>9.4g} {p['units']:>12.1f} {p['work']:>12.1f} "
                f"≥{_gb(p['peak_mb_at_least']):>9} {'':>10} >{_secs(p['seconds']):>8} (capped)"
            )
            continue
        print(
            f"   {p['fraction']:>9.4g} {p['units']:>12.1f} {p['work']:>12.1f} {_gb(p['peak_mb']):>10} "
            f"{_gb(p['anon_peak_mb']):>10} {_secs(p['seconds']):>9} "
            f"{_secs(p.get('prepare_seconds')):>8}{_projected(p)}"
            + (f" [GPU peak {_gb(p['gpu_peak_mb'])}]" if "gpu_peak_mb" in p else "")
        )
    if fit is None:
        print("   no fit: fewer than one measured point")
        return
    print(
        f"   fit (linear: least-squares slope, intercept covering all {fit.n_points} point(s)): peak = "
        f"{fit.mem_base_mb:.0f} MB + {fit.mem_mb_per_unit:.4g} MB/unit · size + {fit.fixed_mb:.0f} MB fixed; "
        f"time = {fit.seconds_base:.1f} s + {fit.seconds_per_work:.4g} s/unit · work"
    )
    mem, minutes = declared(case)
    verdict = ok_margin(fit.full_peak_mb, mem)
    said = "none (local rule or no row)" if mem is None else f"mem_mb {mem}, runtime {minutes} min"
    print(
        f"   full size (size {case.real.units:.1f}, work {case.real.work:.1f}): predicted peak "
        f"{_gb(fit.full_peak_mb)}, time {_secs(fit.full_seconds)}"
        + (f" (GPU estimate {_secs(fit.gpu_seconds)})" if fit.gpu_seconds else "")
        + f" | declared: {said} | mem_mb within "
        f"[prediction, 1.5·prediction + 1 GB]: {verdict} | ≤ {LIMIT_GB:.0f} GB: "
        f"{limit_verdict(case, case.variant, fit.full_peak_mb, LIMIT_GB * GB)}"
    )


def print_summary(results: list[tuple[Case, list[dict], Fit | None]]) -> None:
    """One row per case: the table README shows."""
    header = (
        "| rule | dataset | measured (fraction: peak RSS, time) | full size | predicted peak | "
        "predicted time | "
        "declared mem_mb | declared runtime | mem_mb in margin | ≤ 16 GB |"
    )
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    for case, points, fit in results:
        done = [p for p in points if "peak_mb" in p]
        fractions = (
            "; ".join(
                f"{p['fraction']:.4g}: {_gb(p['peak_mb'])}, {_secs(p['seconds'])}"
                + (f" (→ {_secs(p['projected_seconds'])})" if "projected_seconds" in p else "")
                for p in done
            )
            or "none"
        )
        largest = max((p["units"] for p in done), default=0.0)
        if any(p["fraction"] >= 1 for p in done):
            basis = "measured"
        elif largest > 0 and case.real.units > 0:
            basis = f"extrapolated ×{case.real.units / largest:.3g}"
        else:
            basis = "–"
        mem, minutes = declared(case)
        said = ("–", "–") if mem is None else (str(mem), f"{minutes} min")
        if fit is None:
            cells = ["–", "–", *said, "–", "–"]
        else:
            cells = [
                _gb(fit.full_peak_mb),
                _secs(fit.full_seconds),
                *said,
                ok_margin(fit.full_peak_mb, mem),
                limit_verdict(case, case.variant, fit.full_peak_mb, LIMIT_GB * GB),
            ]
        label = f"{case.rule} ({case.variant})" if case.gpu_variant else case.rule
        print(f"| {label} | {case.dataset} | {fractions} | {basis} | " + " | ".join(cells) + " |")
        if fit is not None and fit.gpu_peak_mb is not None:  # the GPU variant: an estimate
            gmem, gminutes = declared(case, gpu=True)
            gsaid = ("–", "–") if gmem is None else (str(gmem), f"{gminutes} min")
            cells = [
                f"{_gb(fit.gpu_peak_mb)} (est.)",
                f"{_secs(fit.gpu_seconds)} (est.)",
                *gsaid,
                ok_margin(fit.gpu_peak_mb, gmem),
                limit_verdict(case, case.gpu_variant, fit.gpu_peak_mb, LIMIT_GB * GB),
            ]
            print(
                f"| {case.rule} ({case.gpu_variant}) | {case.dataset} | {fractions} | "
                "estimate (CPU memory minus what the GPU holds; time from FLOPs) | "
                + " | ".join(cells)
                + " |"
            )


def emit_coefficients(results: list[tuple[Case, list[dict], Fit | None]], when: str) -> None:
    """``COEFFICIENTS`` rows (bergforge.workflow.resources) from the fits of sized rules."""
    from bergforge.workflow.resources import JOBS

    print("\n# rows for bergforge.workflow.resources.COEFFICIENTS")
    for case, points, fit in results:
        if fit is None or case.rule not in JOBS:  # local rules declare no resources
            continue
        done = [p for p in points if "peak_mb" in p]
        fractions = ", ".join(f"{p['fraction']:.4g}" for p in done)
        stamp = done[0].get("when", when)
        for key, row in fit.rows(case, f"{stamp}, fractions {fractions}").items():
            print(f'    "{key}": {row},')


# ------------------------------------------------------------------------------ main


def _stop(signum, frame) -> None:
    raise SystemExit(128 + signum)  # runs the cleanup below (the child of the point is killed)


def run_cases(cases: list[Case], args) -> list[tuple[Case, list[dict], Fit | None]]:
    signal.signal(signal.SIGTERM, _stop)
    root = Path(tempfile.mkdtemp(prefix="bergforge-scale-", dir=args.tmp))
    results = []
    try:
        began = time.perf_counter()
        for k, case in enumerate(cases):
            case_began = time.perf_counter()
            fractions = args.fractions or case.fractions
            points = [measure_point(case, f, root, args) for f in fractions]
            fit = fit_case(case, points)
            wanted = args.full == "always" or (fit is not None and _full_fits(case, fit, args))
            if args.full != "never" and max(fractions) < 1 and wanted:
                points.append(measure_point(case, 1.0, root, args))
                fit = fit_case(case, points)
            print_case(case, points, fit)
            inputs = sum(p.get("prepare_seconds", 0.0) for p in points)
            print(
                f"   case {k + 1} of {len(cases)}: {_secs(time.perf_counter() - case_began)} "
                f"(writing inputs {_secs(inputs)}); harness so far "
                f"{_secs(time.perf_counter() - began)}"
            )
            sys.stdout.flush()
            results.append((case, points, fit))
            shutil.rmtree(root / "cache" / case.name, ignore_errors=True)
            group = case.extra.get("cache_group")
            if group and all(c.extra.get("cache_group") != group for c in cases[k + 1 :]):
                shutil.rmtree(root / "cache" / group, ignore_errors=True)  # shared inputs
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def report(cases: list[Case], files: list[Path]) -> list[tuple[Case, list[dict], Fit | None]]:
    """The tables of earlier runs (their ``--json`` files), refitted; cases in registry order."""
    points: dict[str, list[dict]] = {}
    for path in files:
        stamp = time.strftime("%Y-%m-%d", time.localtime(path.stat().st_mtime))
        for entry in json.loads(path.read_text()):
            for p in entry["points"]:
                p.setdefault("when", f"{stamp} ({path.name})")
            points[entry["case"]] = entry["points"]
    results = []
    for case in cases:
        if case.name in points:
            fit = fit_case(case, points[case.name])
            print_case(case, points[case.name], fit)
            results.append((case, points[case.name], fit))
    return results


def _full_fits(case: Case, fit: Fit, args) -> bool:
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    return (
        fit.full_peak_mb < 0.8 * ram_mb
        and fit.full_seconds < args.max_seconds
        and case.disk_gb(1.0) <= args.disk_budget_gb
        and case.full_allowed
    )


def child_main(args) -> None:
    from scale_child import prepare_point, run_point

    case = case_by_name(args.case)
    result = (prepare_point if args.child == "prepare" else run_point)(
        case, args.fraction, Path(args.point)
    )
    print(json.dumps(result))


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU visible"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", nargs="+", help="only the cases of these rules (or case names)")
    parser.add_argument("--fractions", type=float, nargs="+", help="fractions of the real size")
    parser.add_argument("--max-seconds", type=float, default=600, help="cap per point (s)")
    parser.add_argument("--full", choices=("auto", "never", "always"), default="auto")
    parser.add_argument("--disk-budget-gb", type=float, default=25.0)
    parser.add_argument("--disk-reserve-gb", type=float, default=5.0, help="keep this much free")
    parser.add_argument("--tmp", help="folder for the temporary inputs (default: $TMPDIR)")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the jobs with a cuda path run (extraction, CNN8, the trained kinds)",
    )
    parser.add_argument("--json", type=Path, help="write every point and fit to this file")
    parser.add_argument("--emit-coefficients", action="store_true")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        help="no measuring: refit and print the points of "
        "these --json files (later files win for a case they share)",
    )
    parser.add_argument("--child", choices=("prepare", "run"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--fraction", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return
    cases = [c for c in all_cases() if not args.rule or c.rule in args.rule or c.name in args.rule]
    if args.report:
        results = report(cases, args.report)
        print_summary(results)
        if args.emit_coefficients:
            emit_coefficients(results, "from " + ", ".join(p.name for p in args.report))
        return
    if args.list or not cases:
        for c in all_cases():
            print(f"{c.name:<40} {c.dataset}")
        if not cases:
            sys.exit(f"no case matches --rule {args.rule}")
        return
    os.environ[DEVICE_VARIABLE] = args.device  # the children run their jobs there
    if args.tmp:
        Path(args.tmp).mkdir(parents=True, exist_ok=True)
    print(
        f"scale harness: {len(cases)} case(s) on {args.device}, fractions "
        f"{args.fractions or 'per case (default 1/8, 1/4, 1/2)'}, cap {args.max_seconds:.0f} s "
        f"per point, {os.cpu_count()} CPUs, temporary inputs ≤ {args.disk_budget_gb} GB per point"
    )
    when = time.strftime("%Y-%m-%d") + f", {os.cpu_count()} CPUs"
    if args.device != "cpu":
        when += f", {args.device} ({_gpu_name()})"
    results = run_cases(cases, args)
    for _, points, _ in results:
        for p in points:
            p["when"] = when
    print_summary(results)
    if args.emit_coefficients:
        emit_coefficients(results, when)
    if args.json:
        payload = [
            {
                "case": c.name,
                "rule": c.rule,
                "dataset": c.dataset,
                "unit": c.unit,
                "real": {"units": c.real.units, "work": c.real.work, "fixed_mb": c.real.fixed_mb},
                "points": pts,
                "fit": None if fit is None else fit.as_dict(),
                "declared": dict(zip(("mem_mb", "runtime"), declared(c), strict=True)),
            }
            for c, pts, fit in results
        ]
        args.json.write_text(json.dumps(payload, indent=1, default=_jsonable))
    unmeasured = [(c, pts) for c, pts, _ in results if not any("peak_mb" in p for p in pts)]
    if unmeasured:  # a table of "none" is not a measurement: say so in the exit status
        sys.exit(
            "no point was measured for "
            + "; ".join(
                f"{c.name} ({', '.join(sorted({_why(p) for p in pts}))})" for c, pts in unmeasured
            )
        )


def _why(point: dict) -> str:
    """Why ``point`` has no measurement (skipped, failed or capped)."""
    if point.get("skipped"):
        return point["skipped"]
    if point.get("capped"):
        return f"capped at {_secs(point['seconds'])}"
    last = (point.get("error") or "").strip().splitlines()[-1:]
    return "failed: " + (last[0] if last else "no message")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


if __name__ == "__main__":
    main()
