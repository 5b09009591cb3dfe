"""Peak memory of MEG preprocessing with 2 and with 8 runs per subject (it must not grow).

Simulates two THINGS-MEG1-like subjects whose runs all have the same length (the number of
training images grows with the number of runs), preprocesses each in a fresh process and prints
that process's peak resident memory, next to the peak of a process that only imports the same
libraries (the anchor). Run: ``.venv/bin/python benchmarks/preprocess_memory.py [--runs 2 8]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CHILD = """
import json, sys, time
from pathlib import Path
from bergforge.preprocess import meg
from bergforge.preprocess.params import meg_params
raw_dir, n_runs, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
start = time.perf_counter()
if n_runs:
    meg.prepare_subject(raw_dir, 1, out, meg_params(), n_runs, 1, "bench")
# VmHWM: this process's own peak (ru_maxrss would also count the parent's size at fork)
status = Path("/proc/self/status").read_text().splitlines()
peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": time.perf_counter() - start}))
"""


def study(n_runs: int) -> dict:
    """A simulated study with ``n_runs`` sessions of one run, each run of the same length."""
    return {
        "format": "things_meg1",
        "source": "simulated",
        "subjects": [1],
        "simulation": {
            "seed": 11,
            "n_sessions": n_runs,
            "runs_per_session": 1,
            "n_train_concepts": 10 * n_runs,
            "images_per_concept": 2,
            "n_test_images": 10,
            "catch_per_run": 2,
            "image_size": 64,
            "n_latents": 4,
        },
    }


def measure(raw_dir: Path, n_runs: int, out: Path) -> dict:
    """Peak memory (MB) and time of preprocessing ``n_runs`` runs in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(raw_dir), str(n_runs), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, nargs="+", default=[2, 8])
    args = parser.parse_args()
    from conftest import simulate_study

    with tempfile.TemporaryDirectory(prefix="bergforge-bench-") as tmp:
        tmp = Path(tmp)
        anchor = measure(tmp, 0, tmp / "none.zarr")
        print(f"anchor (imports only): peak {anchor['peak_mb']:.0f} MB")
        for n_runs in args.runs:
            raw_dir = tmp / f"runs-{n_runs}"
            start = time.perf_counter()
            simulate_study(study(n_runs), raw_dir)
            simulated = time.perf_counter() - start
            result = measure(raw_dir, n_runs, tmp / f"runs-{n_runs}.zarr")
            run_mb = sum(p.stat().st_size for p in raw_dir.rglob("*_meg.fif")) / n_runs / 1e6
            print(
                f"{n_runs} runs ({run_mb:.0f} MB FIF each; simulated in {simulated:.0f} s): "
                f"preprocessing peak {result['peak_mb']:.0f} MB "
                f"(+{result['peak_mb'] - anchor['peak_mb']:.0f} MB over the anchor), "
                f"{result['seconds']:.1f} s"
            )


if __name__ == "__main__":
    main()
