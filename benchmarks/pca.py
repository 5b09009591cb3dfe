"""Out-of-core StandardScaler → PCA (bergforge) vs scikit-learn's randomized PCA in memory.

The features (default 5,000 images × 460,800 float16 values, the size of ViT-B/32 all-token
features of a MEG split) are written to a Zarr store on disk. bergforge streams column blocks
from it (randomized range finder, power iterations fused into one pass each); scikit-learn loads
the whole matrix as float32 and runs ``StandardScaler`` (fitted and applied in place, in row
chunks) + ``PCA(svd_solver="randomized", copy=False)``. Each runs in its own child process so
that its peak memory (VmHWM) is its own. Prints both times, both peaks and the agreement of the
two subspaces (largest principal-angle sine, explained variance). scikit-learn is skipped when
the machine lacks the memory it needs.

    .venv/bin/python benchmarks/pca.py                      # full size (needs ~5 GB of disk)
    .venv/bin/python benchmarks/pca.py --n 2000 --p 60000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_gb


def write_features(path: Path, n: int, p: int, block: int, rank: int = 300) -> None:
    """Low-rank (decaying spectrum) + noise features with column offsets/scales, float16 on disk."""
    import zarr

    rng = np.random.default_rng(0)
    latents = (rng.standard_normal((n, rank)) * np.geomspace(20, 0.5, rank)).astype(np.float32)
    arr = zarr.create_array(
        str(path), shape=(n, p), chunks=(min(n, 1024), block), dtype="float16", compressors=None
    )
    for s in range(0, p, block):
        e = min(s + block, p)
        mixing = rng.standard_normal((rank, e - s), dtype=np.float32) / np.sqrt(rank)
        x = latents @ mixing + rng.standard_normal((n, e - s), dtype=np.float32)
        arr[:, s:e] = (x * rng.uniform(0.5, 2, e - s) + rng.uniform(-1, 1, e - s)).astype(
            np.float16
        )


def run_bergforge(store: str, out: str, k: int, block: int, threads: int) -> dict:
    import zarr
    from threadpoolctl import threadpool_limits

    from bergforge.models.linear.matrix import ArrayFeatures
    from bergforge.models.linear.pca import PCAOptions, fit_scaler_pca

    features = ArrayFeatures(zarr.open_array(store, mode="r"))
    opts = PCAOptions(n_components=k, solver="randomized", block_size=block)
    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(threads):
        fit = fit_scaler_pca(features, np.arange(features.shape[0]), None, opts, seed=20200220)
    res = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    np.save(out, fit.pca.components_)
    np.save(out.replace(".npy", "_ev.npy"), fit.pca.explained_variance_ratio_)
    return {**res, "peak_gb": peak_gb(), "passes": fit.passes}


def run_sklearn(store: str, out: str, k: int, block: int, threads: int) -> dict:
    import zarr
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    t0, c0 = time.perf_counter(), time.process_time()
    arr = zarr.open_array(store, mode="r")
    x = np.empty(arr.shape, dtype=np.float32)
    for s in range(0, arr.shape[1], block):
        x[:, s : s + block] = arr[:, s : s + block]
    t_load = time.perf_counter() - t0
    rows = max(1, 2**28 // (4 * x.shape[1]))  # ≈256 MB of rows: fit_transform's temporaries
    with threadpool_limits(threads):  # of the whole matrix would not fit beside it in 24 GB
        scaler = StandardScaler(copy=False)
        for s in range(0, len(x), rows):
            scaler.partial_fit(x[s : s + rows])
        for s in range(0, len(x), rows):
            x[s : s + rows] = scaler.transform(x[s : s + rows])
        pca = PCA(k, svd_solver="randomized", random_state=0, copy=False).fit(x)
    res = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    np.save(out, pca.components_.astype(np.float32))
    np.save(out.replace(".npy", "_ev.npy"), pca.explained_variance_ratio_)
    return {**res, "load_seconds": t_load, "peak_gb": peak_gb()}


def child(kind: str, args: argparse.Namespace, store: Path, out: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        str(store),
        str(out),
        "--k",
        str(args.k),
        "--block",
        str(args.block),
        "--threads",
        str(args.threads),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def zarr_shape(path: Path) -> tuple[int, ...]:
    import zarr

    return tuple(zarr.open_array(str(path), mode="r").shape)


def subspace_sine(a: np.ndarray, b: np.ndarray) -> float:
    qa, _ = np.linalg.qr(a.T.astype(np.float64))
    qb, _ = np.linalg.qr(b.T.astype(np.float64))
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.sqrt(max(0.0, 1 - cos.min() ** 2)))


def available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 2**20
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--p", type=int, default=460800)
    ap.add_argument("--k", type=int, default=250)
    ap.add_argument("--block", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument(
        "--features", type=Path, default=None, help="keep the features here and reuse them"
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, store, out = args.child
        run = run_bergforge if kind == "bergforge" else run_sklearn
        print(json.dumps(run(store, out, args.k, args.block, args.threads)))
        return

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        store = tmp / "features.zarr"
        if args.features is not None:  # reuse (or first write) the features at this path
            store = args.features
        if store.exists() and zarr_shape(store) == (args.n, args.p):
            print(f"features {args.n} × {args.p} float16 reused from {store}")
        else:
            write_features(store, args.n, args.p, args.block)
            print(
                f"features {args.n} × {args.p} float16 on disk ({args.n * args.p * 2 / 2**30:.1f}"
                f" GiB), written in {time.perf_counter() - t0:.0f} s"
            )
        ours = child("bergforge", args, store, tmp / "ours.npy")
        print(f"bergforge out-of-core PCA({args.k}): {json.dumps(ours)}")
        need = args.n * args.p * 4 / 2**30 * 1.3
        if available_gb() > need + 2:
            ref = child("sklearn", args, store, tmp / "ref.npy")
        else:
            ref = {"error": f"skipped: needs ≈ {need:.1f} GB, {available_gb():.1f} GB available"}
        print(f"scikit-learn PCA(randomized) in memory: {json.dumps(ref)}")
        if "error" not in ours and "error" not in ref:
            comp_ours, comp_ref = np.load(tmp / "ours.npy"), np.load(tmp / "ref.npy")
            sines = {
                m: subspace_sine(comp_ours[:m], comp_ref[:m])
                for m in (10, 50, 100, 200, args.k)
                if m <= args.k
            }
            ev_ours, ev_ref = np.load(tmp / "ours_ev.npy"), np.load(tmp / "ref_ev.npy")
            top = min(50, args.k)
            print(
                "subspace agreement (largest principal-angle sine of the top-m components): "
                + ", ".join(f"m={m}: {v:.1e}" for m, v in sines.items())
            )
            print(
                f"explained variance ratio: total {ev_ours.sum():.5f} vs {ev_ref.sum():.5f}, "
                f"top-{top} max rel. diff "
                f"{np.max(np.abs(ev_ours[:top] - ev_ref[:top]) / ev_ref[:top]):.1e}"
            )
            print(
                f"time: bergforge {ours['seconds']:.0f} s, scikit-learn {ref['seconds']:.0f} s; "
                f"peak memory: bergforge {ours['peak_gb']:.2f} GB, "
                f"scikit-learn {ref['peak_gb']:.2f} GB"
            )
            ratio = ref["seconds"] / ours["seconds"]
            compute = (ref["seconds"] - ref["load_seconds"]) / ours["seconds"]
            print(f"ratio: bergforge is {ratio:.2f}× scikit-learn's speed (target ≥ 2×)")
            print(
                f"ratio without scikit-learn's load ({ref['load_seconds']:.0f} s of reading the "
                f"store into memory): {compute:.2f}×"
            )
            print(f"[{'ok' if ratio >= 2 else 'FAIL'}] bergforge ≥ 2× scikit-learn")
        if "error" not in ours:
            print(f"[{'ok' if ours['peak_gb'] < 4 else 'FAIL'}] bergforge peak memory < 4 GB")


if __name__ == "__main__":
    main()
