"""Accuracy plots of an exported model, drawn from its metadata files (``encoding_models_accuracy/``).

MEG: per training split, Pearson r and the noise ceiling over time per sensor region, and a
topomap of r at the peak time (MNE, CTF-275 layout). EEG: r over time per channel group, one
line per training repetition plus the repetition average. Sizes are fixed (no tight bbox) so
that every plot of a kind has the same pixel size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bergforge.atomic import atomic_file
from bergforge.datasets.sensors import meg_sensor_positions
from bergforge.export import layout
from bergforge.export.plot_files import MEG_SPLIT_KEYS, plot_names
from bergforge.safe_pickle import load_npy_item

DPI = 100
MEG_FIGSIZE = (16.0, 4.5)  # 1600 x 450 px
EEG_FIGSIZE = (15.0, 8.0)  # 1500 x 800 px
#: EEG channel groups by the letters of the 10-10 name (AF/Fp count as frontal, PO as parietal).
EEG_GROUPS = {
    "Frontal": ("Fp", "AF", "F", "FC", "FT"),
    "Central": ("C", "CP"),
    "Temporal": ("T", "TP"),
    "Parietal": ("P", "PO"),
    "Occipital": ("O",),
}


def _save(fig: Figure, path: Path) -> None:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")


def eeg_group_of(name: str) -> str:
    """The channel group of a 10-10 EEG channel name."""
    letters = "".join(c for c in name if c.isalpha()).rstrip("z")
    for group, prefixes in EEG_GROUPS.items():
        if letters in prefixes:
            return group
    return "Other"


def plot_meg_split(metadata: dict, split_key: str, title: str, path: Path) -> None:
    """r and noise ceiling over time per sensor region, and the r topomap at the peak."""
    from mne.viz import plot_topomap

    times_ms = np.asarray(metadata["meg"]["times"]) * 1000
    regions = np.asarray(metadata["sensors"]["sensor_regions"]).astype(str)
    enc = metadata["encoding_model"]
    r = np.asarray(enc[split_key]["correlation_results"], dtype=float)
    nc = np.asarray(enc["noise_ceiling"], dtype=float)
    fig = Figure(figsize=MEG_FIGSIZE)
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.12, top=0.85, wspace=0.25)
    ax_r, ax_nc, ax_topo = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 2, 1.2]})
    for region in sorted(set(regions)):
        keep = regions == region
        ax_r.plot(times_ms, np.nanmean(r[keep], axis=0), label=f"{region} ({keep.sum()})")
        ax_nc.plot(times_ms, np.nanmean(nc[keep], axis=0), label=region)
    ax_r.set(xlabel="time (ms)", ylabel="Pearson r", title="Encoding accuracy per sensor region")
    ax_nc.set(
        xlabel="time (ms)", ylabel="noise ceiling (% variance)", title="Noise ceiling per region"
    )
    for ax in (ax_r, ax_nc):
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=7, title="region (sensors)" if ax is ax_r else "region")
    peak = int(np.nanargmax(np.nanmean(r, axis=0)))
    pos = meg_sensor_positions(list(np.asarray(metadata["sensors"]["sensor_names"]).astype(str)))
    pos = (pos - pos.mean(axis=0)) / np.abs(pos - pos.mean(axis=0)).max() * 0.09
    im, _ = plot_topomap(
        np.nan_to_num(r[:, peak]),
        pos,
        ch_type="mag",
        axes=ax_topo,
        show=False,
        sphere=0.1,
        res=48,
        contours=4,
    )
    fig.colorbar(im, ax=ax_topo, shrink=0.7, label="Pearson r")
    ax_topo.set_title(f"r at peak, {times_ms[peak]:.0f} ms")
    fig.suptitle(title)
    _save(fig, path)


def plot_eeg(metadata: dict, title: str, path: Path) -> None:
    """r over time per channel group: each repetition's model and their average."""
    eeg, enc = metadata["eeg"], metadata["encoding_models"]
    times_ms = np.asarray(eeg["times"]) * 1000
    groups = np.asarray([eeg_group_of(c) for c in eeg["ch_names"]])
    single = np.asarray(enc["correlation_single_repetitions"], dtype=float)
    average = np.asarray(enc["correlation_averaged_repetitions"], dtype=float)
    fig = Figure(figsize=EEG_FIGSIZE, layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
    panels = [("All", np.ones(len(groups), bool))] + [(g, groups == g) for g in EEG_GROUPS]
    for ax, (name, keep) in zip(axes, panels, strict=True):
        for k, rep in enumerate(single, start=1):
            ax.plot(
                times_ms, np.nanmean(rep[keep], axis=0), lw=0.9, alpha=0.8, label=f"repetition {k}"
            )
        ax.plot(
            times_ms, np.nanmean(average[keep], axis=0), color="black", lw=2, label="average of 4"
        )
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{name} channels ({int(keep.sum())})")
        ax.set(xlabel="time (ms)", ylabel="Pearson r")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def plot_subject(model_dir: Path, modality: str, subject: int, model_id: str) -> list[Path]:
    """Draw every plot of one exported subject from its metadata file; return the paths."""
    meta_path = model_dir / layout.METADATA_DIR / layout.metadata_name(modality, subject)
    metadata = load_npy_item(meta_path)
    out_dir = model_dir / layout.ACCURACY_DIR
    paths = [out_dir / n for n in plot_names(modality, subject)]
    tag = layout.subject_tag(modality, subject)
    if modality == "meg":
        for key, path in zip(MEG_SPLIT_KEYS, paths, strict=True):
            plot_meg_split(
                metadata, key, f"{model_id} {tag} — trained on {key.replace('_', ' ')}", path
            )
    else:
        plot_eeg(metadata, f"{model_id} {tag} — Pearson r on the test images", paths[0])
    return paths
