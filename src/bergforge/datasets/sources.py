"""Catalogue of the remote files of each real dataset: where they live and where they go.

Every file is a :class:`RemoteFile`: a *source* (whose base URL the config may override, so
tests can point it at a loopback server), a path relative to that base URL, and a path relative
to the dataset's folder ``resources/raw/{dataset}/``. A published SHA-256 is recorded where one
exists; otherwise the digest of the first download is kept in ``resources/checksums/{source}.json``
(tracked in git) and later downloads are verified against it. URLs and layouts: see
``../shared/research/data.md`` §1–§3 and §5, BOLD5000: ``decoding.md`` §1.2, §2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bergforge.datasets import bold5000 as b5
from bergforge.errors import ConfigError, DataError

#: Default base URL of every source (overridable per dataset in config ``download.base_urls``).
BASE_URLS: dict[str, str] = {
    # OpenNeuro ds004212 (THINGS-MEG1) over plain HTTPS from the public bucket
    "openneuro_ds004212": "https://s3.amazonaws.com/openneuro.org/ds004212",
    # THINGS object images (OSF jum2f); files addressed by their OSF storage id
    "things_images": "https://files.osf.io/v1/resources/jum2f/providers/osfstorage",
    # THINGS-EEG2 raw data (OSF crxs4, Google-Drive provider: addressed by name)
    "things_eeg2_raw": "https://files.osf.io/v1/resources/crxs4/providers/googledrive",
    # THINGS-EEG2 image set (OSF y63gw): the whole component as one zip
    "things_eeg2_images": "https://files.de-1.osf.io/v1/resources/y63gw/providers/osfstorage",
    # NSD bucket (needs the NSD data access agreement)
    "nsd": "https://natural-scenes-dataset.s3.amazonaws.com",
    # MOSAIC bucket
    "mosaic": "https://mosaicfmri.s3.amazonaws.com",
    # OpenNeuro ds001499 (BOLD5000) over plain HTTPS from the public bucket
    "openneuro_ds001499": "https://s3.amazonaws.com/openneuro.org/ds001499",
    # BOLD5000's stimulus images: not in ds001499; the zip neuralfetch fetches, on Dropbox
    "bold5000_stimuli": "https://www.dropbox.com/s/5ie18t4rjjvsl47",
}

#: THINGS object image zips on OSF (storage id → file name); unpacked with the password below.
THINGS_IMAGE_ZIPS: dict[str, str] = {
    "5f89eef1d85b700286657a33": "object_images_A-C.zip",
    "5f89f02b37b6bb0248309053": "object_images_D-K.zip",
    "5f89f10e37b6bb02483092bb": "object_images_L-Q.zip",
    "5f89f218d85b700291656821": "object_images_R-S.zip",
    "5f89f30a37b6bb02483098c8": "object_images_T-Z.zip",
}
THINGS_PASSWORD_ID = "5d4d7ec80f488d0017907d30"  # password_images.txt
#: Split parts MNE wrote beside each ``preprocessed_P{n}-epo.fif`` (``-epo-1`` … ``-epo-3``).
MEG_EPOCH_PARTS = 3
#: Files of one CTF ``.ds`` run folder in ds004212 (suffix after the run stem); the first two are
#: required, the others are fetched when the server has them.
CTF_REQUIRED = ("_meg.res4", "_meg.meg4")
CTF_OPTIONAL = ("_meg.infods", "_meg.hc", "_meg.acq", "_BadChannels", "_ClassFile.cls")
MEG_SESSIONS, MEG_RUNS = 12, 10
EEG_SESSIONS = 4
MOSAIC_BETAS = "fMRIPrepv23_2_0/task_fMRI/betas/GLMsinglev1_2/NaturalScenesDataset"


@dataclass(frozen=True)
class RemoteFile:
    """One remote file: ``source`` base URL + ``remote`` → ``resources/raw/{dataset}/{local}``."""

    source: str
    remote: str
    local: str
    sha256: str | None = None
    optional: bool = False  # a 404 skips the file instead of failing

    def url(self, base_urls: dict[str, str]) -> str:
        return f"{base_urls[self.source].rstrip('/')}/{self.remote.lstrip('/')}"


def base_urls(entry: dict[str, Any]) -> dict[str, str]:
    """The default base URLs updated with the entry's ``download.base_urls``."""
    overrides = (entry.get("download") or {}).get("base_urls") or {}
    unknown = sorted(set(overrides) - set(BASE_URLS))
    if unknown:
        raise ConfigError(
            f"config: download.base_urls names unknown source(s) {unknown}; "
            f"expected some of {sorted(BASE_URLS)}"
        )
    return {**BASE_URLS, **overrides}


# ---------------------------------------------------------------- THINGS-MEG1 (+ THINGS images)


def meg_epochs_parts(subject: int) -> list[RemoteFile]:
    """The published epochs of participant P{n}: the main file and its split parts."""
    folder = "derivatives/preprocessed"
    names = [f"preprocessed_P{subject}-epo.fif"] + [
        f"preprocessed_P{subject}-epo-{k}.fif" for k in range(1, MEG_EPOCH_PARTS + 1)
    ]
    return [RemoteFile("openneuro_ds004212", f"{folder}/{n}", f"{folder}/{n}") for n in names]


def meg_sample_attributes(subject: int) -> RemoteFile:
    path = f"sourcedata/sample_attributes_P{subject}.csv"
    return RemoteFile("openneuro_ds004212", path, path)


def meg_run_stem(subject: int, session: int, run: int) -> str:
    return f"sub-BIGMEG{subject}_ses-{session:02d}_task-main_run-{run:02d}"


def meg_raw_files(subject: int) -> list[RemoteFile]:
    """Every BIDS run of a participant: the CTF ``.ds`` folder's files and ``events.tsv``.

    Local paths are relative to ``sub-BIGMEG{n}`` (the rule writes the folder as a whole)."""
    files = []
    for session in range(1, MEG_SESSIONS + 1):
        for run in range(1, MEG_RUNS + 1):
            stem = meg_run_stem(subject, session, run)
            rel = f"ses-{session:02d}/meg"
            remote = f"sub-BIGMEG{subject}/{rel}"
            files.append(
                RemoteFile(
                    "openneuro_ds004212",
                    f"{remote}/{stem}_events.tsv",
                    f"{rel}/{stem}_events.tsv",
                )
            )
            for suffix in CTF_REQUIRED + CTF_OPTIONAL:
                inner = f"{stem}_meg.ds/{stem}{suffix}"
                files.append(
                    RemoteFile(
                        "openneuro_ds004212",
                        f"{remote}/{inner}",
                        f"{rel}/{inner}",
                        optional=suffix in CTF_OPTIONAL,
                    )
                )
    return files


def things_image_files() -> list[RemoteFile]:
    """The THINGS image zips and the password file, under ``downloads/things_images/``."""
    files = [
        RemoteFile(
            "things_images", THINGS_PASSWORD_ID, "downloads/things_images/password_images.txt"
        )
    ]
    files += [
        RemoteFile("things_images", osf_id, f"downloads/things_images/{name}")
        for osf_id, name in THINGS_IMAGE_ZIPS.items()
    ]
    return files


# ---------------------------------------------------------------------------------- THINGS-EEG2


def eeg_subject_zip(subject: int) -> RemoteFile:
    return RemoteFile(
        "things_eeg2_raw", f"sub-{subject:02d}.zip", f"downloads/sub-{subject:02d}.zip"
    )


def eeg_image_set_zip() -> RemoteFile:
    """The OSF y63gw component as one zip (training_images.zip, test_images.zip, metadata)."""
    return RemoteFile("things_eeg2_images", "?zip=", "downloads/image_set.zip")


# ------------------------------------------------------------------------------- NSD via MOSAIC


def nsd_files() -> list[RemoteFile]:
    return [
        RemoteFile("nsd", "nsddata/experiments/nsd/nsd_expdesign.mat", "nsd_expdesign.mat"),
        RemoteFile("nsd", "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5", "nsd_stimuli.hdf5"),
        RemoteFile("mosaic", "stimulus_info/nsd_stiminfo.tsv", "nsd_stiminfo.tsv"),
    ]


def mosaic_betas(subject: int) -> RemoteFile:
    name = f"sub-{subject:02d}_NSD.hdf5"
    return RemoteFile("mosaic", f"{MOSAIC_BETAS}/{name}", f"betas/{name}")


# --------------------------------------------------------------------- BOLD5000 (OpenNeuro ds001499)

#: FreeSurfer files of a subject that the route reads: the registration of its fsnative surfaces
#: to the fsaverage sphere, all the fsnative → fsaverage5 projection needs. Not white/pial: the
#: volume route samples nilearn's bundled fsaverage5 pial/white, never a subject's own.
BOLD5000_SURFACES = ("lh.sphere.reg", "rh.sphere.reg")
#: Sizes read from ds001499's git-annex keys (research/decoding.md §2.1): one hemisphere of one
#: 194-volume fsnative run is 114–125 MB (127.4 GB for all 1,080 func.gii), a sphere.reg ≈ 5 MB,
#: an events.tsv ≈ 3 kB. Upper estimates, for the rule's resources and the job's progress log.
BOLD5000_FUNC_GII_BYTES = 125_000_000
BOLD5000_SURFACE_BYTES = 5_500_000
BOLD5000_EVENTS_BYTES = 4_000
#: Where the stimulus zip lands (unpacked to ``BOLD5000_Stimuli/`` beside it)
BOLD5000_STIMULI_ZIP = "downloads/BOLD5000_Stimuli.zip"


def _ds001499(path: Path) -> RemoteFile:
    """A ds001499 file kept under the same path below ``resources/raw/{dataset}/``."""
    rel = path.as_posix()
    return RemoteFile("openneuro_ds001499", rel, rel)


def bold5000_runs(subject: int, runs: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """(session, run) of CSI{subject}'s ``task-5000scenes`` runs to fetch: ``runs`` (each one of
    its design), or every run of the design."""
    design = b5.runs_of(subject)
    if runs is None:
        return design
    unknown = sorted(set(runs) - set(design))
    if unknown:
        raise DataError(
            f"CSI{subject} has no run(s) {unknown} (session, run); expected runs of its "
            f"{b5.SESSIONS[subject]} sessions"
        )
    return [r for r in design if r in set(runs)]


def bold5000_subject_files(
    subject: int, runs: list[tuple[int, int]] | None = None
) -> list[RemoteFile]:
    """What the decoding route reads of CSI{subject}, in ds001499's layout (remote path = local
    path): ``{lh,rh}.sphere.reg`` of its FreeSurfer recon, then per ``task-5000scenes`` run
    (:func:`bold5000_runs`) its ``events.tsv`` and fMRIPrep's fsnative ``func.gii`` (L, R). Not
    the raw or T1w-space BOLD, the localizer, confounds, MRIQC or the rest of the recon."""
    root = Path()
    surf = b5.freesurfer_surf(root, subject)
    files = [_ds001499(surf / name) for name in BOLD5000_SURFACES]
    for session, run in bold5000_runs(subject, runs):
        files.append(_ds001499(b5.events_path(root, subject, session, run)))
        files += [
            _ds001499(b5.surface_run_path(root, subject, session, run, hemi))
            for hemi in b5.HEMISPHERES
        ]
    return files


def bold5000_subject_bytes(subject: int, runs: list[tuple[int, int]] | None = None) -> int:
    """About how many bytes :func:`bold5000_subject_files` are (an upper estimate)."""
    n_runs = len(bold5000_runs(subject, runs))
    return len(BOLD5000_SURFACES) * BOLD5000_SURFACE_BYTES + n_runs * (
        BOLD5000_EVENTS_BYTES + len(b5.HEMISPHERES) * BOLD5000_FUNC_GII_BYTES
    )


def bold5000_stimuli_zip() -> RemoteFile:
    """``BOLD5000_Stimuli.zip`` (``Scene_Stimuli/Presented_Stimuli/{COCO,ImageNet,Scene}/``,
    ``Scene_Stimuli/repeated_stimuli_113_list.txt``, ``Image_Labels/``): once per dataset."""
    return RemoteFile("bold5000_stimuli", "BOLD5000_Stimuli.zip?dl=1", BOLD5000_STIMULI_ZIP)


# ------------------------------------------------------------------------------ per config entry


def single_files(entry: dict[str, Any], published_epochs: bool = False) -> list[RemoteFile]:
    """Files a ``source: download`` entry fetches one per job (rule ``download_file``)."""
    fmt = entry.get("format", "nsd_mosaic")
    subjects = entry["subjects"]
    if fmt == "things_meg1":
        return [meg_sample_attributes(s) for s in subjects] + things_image_files()
    if fmt == "things_eeg2":
        return [eeg_subject_zip(s) for s in subjects] + [eeg_image_set_zip()]
    if fmt == "nsd_mosaic":
        return nsd_files() + [mosaic_betas(s) for s in subjects]
    if fmt == "bold5000":  # a subject's files are fetched together (rule download_bold5000_subject)
        return [bold5000_stimuli_zip()]
    raise ConfigError(f"no download catalogue for format {fmt!r}")


def find_file(entry: dict[str, Any], local: str) -> RemoteFile:
    """The catalogue entry of ``local`` (a path under ``resources/raw/{dataset}/``)."""
    for file in single_files(entry):
        if file.local == local:
            return file
    raise ConfigError(f"{local!r} is not a file of this dataset's download catalogue")


def path_pattern(files: list[RemoteFile]) -> str:
    """A wildcard-constraint regex matching exactly the local paths of ``files``."""
    return "|".join(re.escape(f.local) for f in files) if files else "(?!x)x"


def lock_file(source: str) -> str:
    """The checksum lock of a source, relative to the working directory."""
    return f"resources/checksums/{source}.json"
