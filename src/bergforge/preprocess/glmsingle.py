"""GLMsingle (Prince et al. 2022) single-trial betas, types A–D, written for bergforge.

Inputs are runs of BOLD time series (vertices × time) and per-run (time × conditions) 0/1 designs
with a 1 at each onset (repeats of a condition drive the cross-validation). Outputs are dicts named
and keyed as the published tool names them: ``TYPEA_ONOFF``, ``TYPEB_FITHRF``,
``TYPEC_FITHRF_GLMDENOISE``, ``TYPED_FITHRF_GLMDENOISE_RR`` with ``betasmd`` (vertices × trials in
chronological order), ``HRFindex``, ``pcnum``, ``FRACvalue``, … plus ``DESIGNINFO``.

Because every trial regressor lives in one run and nuisance terms (polynomials, PCs) are projected
out per run, the OLS fits decompose by run; fractional ridge is fitted jointly over all runs (block
design) as the published tool does. The ON-OFF model (type A) has one regressor shared by all runs,
so it is one fit over the concatenated runs: one beta and one ``onoffR2`` per vertex, whose tail
threshold (:func:`~bergforge.preprocess.noise_regressors.find_tail_threshold`, seeded with
``GLMSingleParams.seed``) sets ``brainR2`` and ``pcR2cutoff`` unless they are given.

bergforge additions: ``TYPEA_ONOFF["betasmd_assumehrf"]`` holds single-trial betas with the
canonical HRF (NSD's ``betas_assumehrf``), the baseline of type A; types C and D record the
``brainR2`` and ``pcR2cutoff`` used and the mixture ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from fracridge import fracridge
from scipy.linalg import block_diag

from bergforge.atomic import atomic_folder
from bergforge.errors import DataError
from bergforge.preprocess import glm_design as dz
from bergforge.preprocess import hrf_library as hl
from bergforge.preprocess import noise_regressors as nr

OUTPUT_TYPES = (
    "TYPEA_ONOFF",
    "TYPEB_FITHRF",
    "TYPEC_FITHRF_GLMDENOISE",
    "TYPED_FITHRF_GLMDENOISE_RR",
)


@dataclass(frozen=True)
class GLMSingleParams:
    """Options, with the published defaults."""

    wantlibrary: bool = True
    wantglmdenoise: bool = True
    wantfracridge: bool = True
    wantautoscale: bool = True
    wantpercentbold: bool = True
    n_pcs: int = 10
    pcstop: float = 1.05
    fracs: tuple[float, ...] = field(
        default_factory=lambda: tuple(float(f) for f in np.linspace(1, 0.05, 20))
    )
    brainR2: float | None = None  # noqa: N815 - the published name
    pcR2cutoff: float | None = None  # noqa: N815 - the published name
    maxpolydeg: int | None = None
    chunklen: int = 50_000
    seed: int = 0  # of the R² mixture-model threshold (GLMsingle leaves it unseeded)


@dataclass
class _Runs:
    """Validated inputs: per-run (T, V) data, designs, polynomial bases and trial bookkeeping."""

    ys: list[np.ndarray]
    designs: list[np.ndarray]
    polys: list[np.ndarray]
    trial_run: np.ndarray
    trial_condition: np.ndarray
    trial_session: np.ndarray

    @property
    def n_vox(self) -> int:
        return self.ys[0].shape[1]


def _residualize(nuisance: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a`` with the column space of ``nuisance`` projected out."""
    q, _ = np.linalg.qr(nuisance)
    return a - q @ (q.T @ a)


def _prepare(data, design, session_indicator, maxpolydeg, tr) -> _Runs:
    if len(data) == 0 or len(data) != len(design):
        raise DataError(
            f"expected equal, non-zero numbers of data and design runs, got {len(data)} and {len(design)}"
        )
    ys, designs, polys, runs, conds = [], [], [], [], []
    n_vox, n_cond = np.asarray(data[0]).shape[0], np.asarray(design[0]).shape[1]
    for r, (d, x) in enumerate(zip(data, design, strict=True)):
        d, x = np.asarray(d, dtype=np.float64), np.asarray(x)
        if d.ndim != 2 or d.shape[0] != n_vox:
            raise DataError(f"run {r}: expected data (vertices={n_vox}, time), got {d.shape}")
        if not np.isfinite(d).all():
            raise DataError(f"run {r}: BOLD data must contain no NaN or inf")
        if x.ndim != 2 or x.shape != (d.shape[1], n_cond):
            raise DataError(
                f"run {r}: expected design (time={d.shape[1]}, conditions={n_cond}), got {x.shape}"
            )
        _, cond = dz.trial_onsets(x)
        degree = dz.default_max_poly_degree(d.shape[1], tr) if maxpolydeg is None else maxpolydeg
        ys.append(d.T)
        designs.append(x)
        polys.append(dz.polynomial_basis(d.shape[1], degree))
        runs.append(np.full(cond.size, r))
        conds.append(cond)
    trial_run = np.concatenate(runs)
    if trial_run.size == 0:
        raise DataError("the design holds no trials")
    sessions = (
        np.ones(len(data), dtype=int)
        if session_indicator is None
        else np.asarray(session_indicator)
    )
    if sessions.shape != (len(data),):
        raise DataError(
            f"session_indicator must have one entry per run ({len(data)}), got {sessions.shape}"
        )
    return _Runs(ys, designs, polys, trial_run, np.concatenate(conds), sessions[trial_run])


def _fit_ols(runs: _Runs, hrf_tr: np.ndarray, vox: np.ndarray, extra: Sequence[np.ndarray | None]):
    """OLS single-trial betas (v, trials) and per-run SSE (v, runs) and SST (v, runs)."""
    betas, sse, sst = [], [], []
    for y, x, poly, ex in zip(runs.ys, runs.designs, runs.polys, extra, strict=True):
        yv = y[:, vox]
        nuis = poly if ex is None or ex.shape[1] == 0 else np.hstack([poly, ex])
        yp = _residualize(nuis, yv)
        xp = _residualize(nuis, dz.single_trial_design(x, hrf_tr))
        b = _ols(xp, yp)
        betas.append(b.T)
        sse.append(((yp - xp @ b) ** 2).sum(axis=0))
        sst.append((_residualize(poly, yv) ** 2).sum(axis=0))
    return np.hstack(betas), np.stack(sse, axis=1), np.stack(sst, axis=1)


def _fit_onoff(runs: _Runs, canonical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Type A: one ON-OFF beta per voxel from ONE fit over all runs, and its R² (V,) each.

    Each run's trials collapse into one canonical-HRF regressor; the run's polynomials are
    projected out of that regressor and of its data, and the runs are stacked for a single fit.
    """
    xs = [
        _residualize(poly, dz.onoff_design(x, canonical))
        for x, poly in zip(runs.designs, runs.polys, strict=True)
    ]
    ys = [_residualize(poly, y) for y, poly in zip(runs.ys, runs.polys, strict=True)]
    x_all, y_all = np.vstack(xs), np.vstack(ys)
    beta = _ols(x_all, y_all)
    sse = ((y_all - x_all @ beta) ** 2).sum(axis=0)
    return beta[0], _r2(sse, (y_all**2).sum(axis=0))


def _ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of a tall design via its QR factorisation."""
    q, r = np.linalg.qr(x)
    return np.linalg.solve(r, q.T @ y)


def _r2(sse: np.ndarray, sst: np.ndarray) -> np.ndarray:
    return 100.0 * (1.0 - sse / np.maximum(sst, np.finfo(float).tiny))


def _fit_per_voxel_hrf(runs: _Runs, hrfs_tr, hrf_index, extra):
    """OLS betas with each voxel's own HRF; returns betas (V, trials), R2 (V,), R2run (V, runs)."""
    betas = np.zeros((runs.n_vox, runs.trial_run.size))
    sse = np.zeros((runs.n_vox, len(runs.ys)))
    sst = np.zeros_like(sse)
    for h in np.unique(hrf_index):
        vox = np.flatnonzero(hrf_index == h)
        betas[vox], sse[vox], sst[vox] = _fit_ols(runs, hrfs_tr[h], vox, extra)
    return betas, _r2(sse.sum(1), sst.sum(1)), _r2(sse, sst)


def _fracridge_betas(runs, hrfs_tr, hrf_index, extra, fracs, chunklen) -> np.ndarray:
    """(n_fracs, V, trials) betas of fractional ridge fitted jointly over all runs."""
    out = np.zeros((len(fracs), runs.n_vox, runs.trial_run.size))
    ascending = np.argsort(fracs)
    for h in np.unique(hrf_index):
        nuis = [
            p if e is None or e.shape[1] == 0 else np.hstack([p, e])
            for p, e in zip(runs.polys, extra, strict=True)
        ]
        x_bd = block_diag(
            *[
                _residualize(n, dz.single_trial_design(x, hrfs_tr[h]))
                for n, x in zip(nuis, runs.designs, strict=True)
            ]
        )
        q_bd, r_bd = np.linalg.qr(x_bd)
        vox_all = np.flatnonzero(hrf_index == h)
        for start in range(0, vox_all.size, chunklen):
            vox = vox_all[start : start + chunklen]
            y = np.vstack(
                [_residualize(n, yr[:, vox]) for n, yr in zip(nuis, runs.ys, strict=True)]
            )
            # ridge depends on X only through XᵀX and Xᵀy, so fit on (R, Qᵀy) of X = QR: the same
            # coefficients from a square problem (the block design is tall and sparse)
            coef, _ = fracridge(r_bd, q_bd.T @ y, np.asarray(fracs)[ascending], jit=False)
            coef = coef.reshape(x_bd.shape[1], len(fracs), vox.size)
            out[ascending[:, None], vox[None, :]] = np.transpose(coef, (1, 2, 0))
    return out


def _percent(betas: np.ndarray, meanvol: np.ndarray) -> np.ndarray:
    return betas / np.abs(meanvol)[:, None] * 100.0


def _autoscale(chosen: np.ndarray, unregularised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per voxel, fit unregularised ≈ scale·chosen + offset (scale ≥ 0, else [1, 0])."""
    scaled = chosen.copy()
    scaleoffset = np.tile([1.0, 0.0], (chosen.shape[0], 1))
    for v in range(chosen.shape[0]):
        design = np.column_stack([chosen[v], np.ones(chosen.shape[1])])
        h = np.linalg.lstsq(design, unregularised[v], rcond=None)[0]
        if h[0] >= 0:
            scaleoffset[v] = h
            scaled[v] = design @ h
    return scaled, scaleoffset


def fit_glmsingle(
    data: Sequence[np.ndarray],
    design: Sequence[np.ndarray],
    stimdur: float,
    tr: float,
    params: GLMSingleParams | None = None,
    session_indicator: Sequence[int] | None = None,
    hrf_library_fine: np.ndarray | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Fit GLMsingle types A–D; see the module docstring for inputs and outputs."""
    p = params or GLMSingleParams()
    runs = _prepare(data, design, session_indicator, p.maxpolydeg, tr)
    library = hl.hrf_library() if hrf_library_fine is None else hrf_library_fine
    hrfs_tr = [hl.hrf_at_tr(library[:, h], stimdur, tr) for h in range(library.shape[1])]
    canonical = hl.hrf_at_tr(hl.canonical_hrf(), stimdur, tr)
    n_runs, all_vox = len(runs.ys), np.arange(runs.n_vox)
    no_extra = [None] * n_runs
    meanvol = np.concatenate(runs.ys, axis=0).mean(axis=0)

    # type A: on-off model with the canonical HRF
    onoff_beta, onoff_r2 = _fit_onoff(runs, canonical)
    assume_betas, _, _ = _fit_ols(runs, canonical, all_vox, no_extra)
    scale = (lambda b: _percent(b, meanvol)) if p.wantpercentbold else (lambda b: b)
    out: dict[str, dict[str, np.ndarray]] = {
        "TYPEA_ONOFF": {
            "onoffR2": onoff_r2,
            "meanvol": meanvol,
            "betasmd": scale(onoff_beta[:, None]),
            "betasmd_assumehrf": scale(assume_betas),
        }
    }

    # type B: per-voxel choice from the HRF library
    n_hrf = len(hrfs_tr) if p.wantlibrary else 1
    candidates = hrfs_tr if p.wantlibrary else [canonical]
    fit_r2 = np.zeros((runs.n_vox, n_hrf))
    fit_r2_run = np.zeros((runs.n_vox, n_runs, n_hrf))
    best_betas = np.zeros((runs.n_vox, runs.trial_run.size))
    for h, hrf in enumerate(candidates):
        b, sse, sst = _fit_ols(runs, hrf, all_vox, no_extra)
        fit_r2[:, h], fit_r2_run[:, :, h] = _r2(sse.sum(1), sst.sum(1)), _r2(sse, sst)
        better = fit_r2[:, h] >= fit_r2[:, : h + 1].max(axis=1)
        best_betas[better] = b[better]
    hrf_index = np.argmax(fit_r2, axis=1)
    if not p.wantlibrary:
        hrfs_tr = [canonical]
    out["TYPEB_FITHRF"] = {
        "FitHRFR2": fit_r2,
        "FitHRFR2run": fit_r2_run,
        "HRFindex": hrf_index,
        "HRFindexrun": np.argmax(fit_r2_run, axis=2),
        "R2": fit_r2[all_vox, hrf_index],
        "R2run": fit_r2_run[all_vox, :, hrf_index],
        "betasmd": scale(best_betas),
        "meanvol": meanvol,
    }

    # GLMdenoise: noise pool, PC regressors, cross-validated number of PCs
    conds = runs.trial_condition
    repeats = any(
        np.isin(conds[runs.trial_run == r], conds[runs.trial_run != r]).any() for r in range(n_runs)
    )
    brain_r2 = p.brainR2 if p.brainR2 is not None else nr.find_tail_threshold(onoff_r2, p.seed)
    pc_cutoff = p.pcR2cutoff if p.pcR2cutoff is not None else brain_r2
    pool = nr.noise_pool(meanvol, onoff_r2, brain_r2)
    pcvoxels = onoff_r2 > pc_cutoff
    if not pcvoxels.any():
        pcvoxels = np.zeros(runs.n_vox, dtype=bool)
        pcvoxels[np.argsort(onoff_r2)[::-1][:100]] = True
    n_pcs = p.n_pcs if (p.wantglmdenoise and repeats and pool.sum() > p.n_pcs) else 0
    pcs = [
        nr.pc_regressors(_residualize(poly, y[:, pool]), n_pcs)
        if n_pcs
        else np.zeros((y.shape[0], 0))
        for y, poly in zip(runs.ys, runs.polys, strict=True)
    ]
    per_k = [
        _fit_per_voxel_hrf(runs, hrfs_tr, hrf_index, [c[:, :k] for c in pcs])
        for k in range(n_pcs + 1)
    ]
    glmbadness = nr.calc_badness(
        [b for b, _, _ in per_k], runs.trial_run, conds, runs.trial_session
    )
    xvaltrend = -np.median(glmbadness[pcvoxels], axis=0)
    pcnum = nr.select_noise_regressors(xvaltrend, p.pcstop) if n_pcs else 0
    betas_c, r2_c, r2run_c = per_k[pcnum]
    chosen_pcs = [c[:, :pcnum] for c in pcs]
    denoise = {
        "HRFindex": hrf_index,
        "HRFindexrun": out["TYPEB_FITHRF"]["HRFindexrun"],
        "glmbadness": glmbadness,
        "pcvoxels": pcvoxels,
        "pcnum": np.int64(pcnum),
        "xvaltrend": xvaltrend,
        "noisepool": pool,
        "brainR2": np.float64(brain_r2),
        "pcR2cutoff": np.float64(pc_cutoff),
        "seed": np.int64(p.seed),
        "pcregressors": np.vstack(pcs),
        "R2": r2_c,
        "R2run": r2run_c,
        "meanvol": meanvol,
    }
    out["TYPEC_FITHRF_GLMDENOISE"] = {**denoise, "betasmd": _percent(betas_c, meanvol)}

    # type D: fractional ridge per voxel, chosen by cross-validation, then autoscaled
    fracs = [1.0] + [f for f in p.fracs if f != 1.0] if (p.wantfracridge and repeats) else [1.0]
    frac_betas = _fracridge_betas(runs, hrfs_tr, hrf_index, chosen_pcs, fracs, p.chunklen)
    rrbadness = nr.calc_badness(list(frac_betas), runs.trial_run, conds, runs.trial_session)
    choice = np.argmin(rrbadness, axis=1)
    chosen = frac_betas[choice, all_vox]
    scaleoffset = np.tile([1.0, 0.0], (runs.n_vox, 1))
    if p.wantautoscale:
        chosen, scaleoffset = _autoscale(chosen, frac_betas[0])
    out["TYPED_FITHRF_GLMDENOISE_RR"] = {
        **denoise,
        "betasmd": _percent(chosen, meanvol),
        "rrbadness": rrbadness,
        "FRACvalue": np.asarray(fracs)[choice],
        "scaleoffset": scaleoffset,
    }
    out["DESIGNINFO"] = {
        "trial_run": runs.trial_run,
        "trial_condition": conds,
        "trial_session": runs.trial_session,
        "stimdur": np.float64(stimdur),
        "tr": np.float64(tr),
        "run_lengths": np.array([y.shape[0] for y in runs.ys]),
        "fracs": np.asarray(fracs),
    }
    return out


def zscore_betas_per_session(betas: np.ndarray, trial_session: np.ndarray) -> np.ndarray:
    """(V, trials) betas z-scored per vertex within each session (NSD's recommendation)."""
    out = np.empty_like(betas, dtype=np.float64)
    for s in np.unique(trial_session):
        cols = trial_session == s
        block = betas[:, cols]
        sd = block.std(axis=1, keepdims=True)
        sd[sd == 0] = 1.0
        out[:, cols] = (block - block.mean(axis=1, keepdims=True)) / sd
    return out


def save_glmsingle_outputs(
    results: dict[str, dict[str, np.ndarray]], outdir: Path, params: GLMSingleParams | None = None
) -> None:
    """Write one ``{TYPE}.npz`` per output into ``outdir``; the folder appears only when complete."""
    with atomic_folder(Path(outdir)) as tmp:
        for name, arrays in results.items():
            np.savez(tmp / f"{name}.npz", **arrays)
        if params is not None:
            import json

            (tmp / "params.json").write_text(json.dumps(asdict(params), indent=2))
