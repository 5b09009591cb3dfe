"""One subject's BOLD windows from runs in BOLD5000's layout (events, fsnative GIFTI runs,
``sphere.reg``): the stored windows equal a direct computation in the test (scipy's detrend, a
z-score by hand, neuralset's window rule), the trial table round-trips with the study's split,
and a run too short for its last window is one clear error with nothing written."""

from __future__ import annotations

import nibabel.freesurfer as fs
import numpy as np
import pytest
from scipy.signal import detrend

from bergforge.datasets import bold5000 as b5
from bergforge.errors import DataError
from bergforge.preprocess.bold_prepare import prepare_bold_subject
from bergforge.preprocess.bold_window_settings import WindowSettings
from bergforge.preprocess.decoding_split import decoding_split
from bergforge.preprocess.sphere_projection import bundled_sphere, fsaverage_projection
from bergforge.preprocess.surface_runs import write_func_gii
from bergforge.preprocess.trial_responses import PreparedTrials
from bergforge.simulate.bold5000_design import repeated_images, subject_events

RUNS = [(1, 1), (1, 2), (2, 1)]
TRIALS, VOLUMES = 8, 60  # the first 8 trials of each run (onsets up to ≈ 76 s), 120 s runs


def miniature(root, n_volumes=VOLUMES):
    """Subject CSI1, three runs: events, both hemispheres' runs on a 'subject' sphere equal to
    fsaverage5's (so the projection is the identity), ``sphere.reg`` files, the test list."""
    rng = np.random.default_rng(4)
    events = subject_events(1, seed=2)
    raw = {}
    for session, run in RUNS:
        path = b5.events_path(root, 1, session, run)
        path.parent.mkdir(parents=True, exist_ok=True)
        events[(session, run)].iloc[:TRIALS].to_csv(path, sep="\t", index=False)
        for hemi in ("L", "R"):
            trend = np.linspace(0, 3, n_volumes)[None] * rng.uniform(-1, 1, (10_242, 1))
            data = 500 + trend + rng.standard_normal((10_242, n_volumes))
            raw[(session, run, hemi)] = data.astype(np.float32)
            write_func_gii(
                b5.surface_run_path(root, 1, session, run, hemi), raw[(session, run, hemi)], 2.0
            )
    surf = b5.freesurfer_surf(root, 1)
    surf.mkdir(parents=True)
    for fs_hemi, name in (("lh", "left"), ("rh", "right")):
        coords, faces = bundled_sphere("fsaverage5", name)
        fs.write_geometry(str(surf / f"{fs_hemi}.sphere.reg"), coords, faces.astype(np.int32))
    (root / b5.REPEATED_LIST).parent.mkdir(parents=True)
    (root / b5.REPEATED_LIST).write_text("\n".join(n for _, n in repeated_images()))
    table = b5.trial_table(root, 1, b5.read_repeated(root), root, runs=RUNS)
    table["split"] = decoding_split(table, b5.read_repeated(root), 0.5)
    projections = {
        name: fsaverage_projection(surf / f"{fs_hemi}.sphere.reg", name)
        for fs_hemi, name in (("lh", "left"), ("rh", "right"))
    }
    files = lambda s, r, h: b5.surface_run_path(root, 1, s, r, h)  # noqa: E731
    return table, files, projections, raw


def test_windows_equal_a_direct_computation(tmp_path):
    table, files, projections, raw = miniature(tmp_path)
    out = prepare_bold_subject(table, files, projections, tmp_path / "sub-01.zarr", dataset="b5")
    store = PreparedTrials(out)
    assert store.n_trials == 3 * TRIALS
    data = store.read()
    assert data.shape == (24, 20_484, 4) and data.dtype == np.float32
    read = store.trials
    assert list(read["split"]) == list(table["split"]) and set(read["split"]) >= {
        "train",
        "validation",
    }
    np.testing.assert_allclose(read["onset"], table["onset"])
    k = 0
    for session, run in RUNS:
        bold = np.concatenate([raw[(session, run, h)] for h in ("L", "R")]).astype(np.float64)
        x = detrend(bold, axis=1)
        x /= x.std(axis=1, ddof=1, keepdims=True)
        for onset in table[(table.session == session) & (table.run == run)].onset:
            first = round((onset + 2.0) * 0.5)
            np.testing.assert_allclose(data[k], x[:, first : first + 4], atol=2e-4)
            k += 1
    assert store.coords["tr"] == [0, 1, 2, 3] and len(store.coords["vertex"]) == 20_484


def test_a_run_too_short_for_its_windows_is_one_error_and_nothing_is_written(tmp_path):
    table, files, projections, _ = miniature(tmp_path, n_volumes=40)
    out = tmp_path / "sub-01.zarr"
    with pytest.raises(
        DataError, match=r"subject 1 session 1 run 1: trial \d+ .* outside the run of 40 TRs"
    ):
        prepare_bold_subject(table, files, projections, out, dataset="b5")
    assert not out.exists() and list(tmp_path.glob("sub-01*")) == []
    with pytest.raises(
        DataError, match=r"a 11.0 s window at TR 2.0 s is 6 TRs; the model expects 4"
    ):
        prepare_bold_subject(
            table, files, projections, out, dataset="b5", settings=WindowSettings(duration=11.0)
        )
    with pytest.raises(DataError, match="mesh 'fsaverage6'; expected one of"):
        prepare_bold_subject(
            table, files, projections, out, dataset="b5", settings=WindowSettings(mesh="fsaverage6")
        )
    with pytest.raises(DataError, match="trials must be grouped by run"):
        order = [0, TRIALS, *range(1, TRIALS), *range(TRIALS + 1, len(table))]  # runs interleaved
        prepare_bold_subject(table.iloc[order], files, projections, out, dataset="b5")
    assert not out.exists()
