"""A miniature OpenNeuro ds001499 (BOLD5000) and its stimulus zip, in the real layouts, for a
loopback server.

``write_ds001499`` runs the BOLD5000 simulator (:mod:`bergforge.simulate.bold5000`: ds001499's
``events.tsv`` columns, fsnative ``func.gii`` runs, ``{lh,rh}.sphere.reg``, the stimulus tree and
``repeated_stimuli_113_list.txt``) for a few subjects and a few runs, then adds files of ds001499
that the decoding route does not read (raw and T1w-space BOLD, the localizer's surface runs,
confounds, other FreeSurfer surfaces, fsaverage, MRIQC), so a test can check that they are not
fetched. ``write_stimuli_zip`` packs the stimulus tree as ``BOLD5000_Stimuli.zip`` (with folders
the route does not read and macOS ``__MACOSX`` copies beside it, as such zips often have).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from bergforge.datasets import bold5000 as b5
from bergforge.simulate.bold5000 import write_images, write_subject
from bergforge.simulate.bold5000_settings import Bold5000Simulation

#: 2 sessions of 2 runs of 6 trials; 3 repeated images shown twice; 32-px images
SIM = Bold5000Simulation(
    n_sessions=2, runs_per_session=2, trials_per_run=6, n_test_images=3, image_size=32
)


def unneeded_files(subject: int, session: int, run: int) -> list[str]:
    """ds001499 files of a run and a subject that the route does not read (real names)."""
    stem = b5.run_stem(subject, session, run)
    func = f"sub-CSI{subject}/ses-{session:02d}/func"
    prep = f"derivatives/fmriprep/{func}"
    localizer = f"sub-CSI{subject}_ses-{session:02d}_task-localizer_run-01"
    surf = f"derivatives/freesurfer/sub-CSI{subject}/surf"
    return [
        f"{func}/{stem}_bold.nii.gz",
        f"{func}/{stem}_bold.json",
        f"{func}/{stem}_recording-cardiac_physio.tsv.gz",
        f"{prep}/{stem}_bold_space-T1w_preproc.nii.gz",
        f"{prep}/{stem}_bold_space-T1w_brainmask.nii.gz",
        f"{prep}/{stem}_bold_confounds.tsv",
        f"{prep}/{localizer}_bold_space-fsnative.L.func.gii",
        f"{prep}/{localizer}_bold_space-fsnative.R.func.gii",
        f"{surf}/lh.white",
        f"{surf}/rh.pial",
        f"{surf}/lh.sphere",
        f"derivatives/freesurfer/sub-CSI{subject}/mri/orig.mgz",
        "derivatives/freesurfer/fsaverage/surf/lh.sphere.reg",
        f"derivatives/mriqc/sub-CSI{subject}_ses-{session:02d}_task-5000scenes_bold.html",
        f"derivatives/spm/sub-CSI{subject}/sub-CSI{subject}_mask-LH_PPA.nii.gz",
    ]


def write_ds001499(tree: Path, stimuli: Path, subjects: list[int]) -> pd.DataFrame:
    """The simulated study's ds001499 files of ``subjects`` under ``tree`` (plus files the route
    does not read) and its stimulus tree under ``stimuli``; returns the image table."""
    table = write_images(stimuli, SIM)
    latents = np.random.default_rng(0).standard_normal((len(table), SIM.n_latents))
    for subject in subjects:
        write_subject(tree, SIM, subject, table, latents)
        for session, run in SIM.runs():
            for rel in unneeded_files(subject, session, run):
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                (tree / rel).write_bytes(f"not read by the route: {rel}\n".encode())
    return table


def write_stimuli_zip(stimuli: Path, archive: Path, top: bool = True) -> None:
    """``stimuli``'s ``BOLD5000_Stimuli/`` as a zip (the folder as its top entry, or its content
    at the top with ``top=False``), plus folders the route does not read."""
    folder = stimuli / b5.STIMULI.parent
    prefix = f"{folder.name}/" if top else ""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
        zf.writestr(f"{prefix}Image_Labels/imagenet_final_labels.txt", "n01930112 nematode\n")
        zf.writestr(f"{prefix}Scene_Stimuli/Original_Images/COCO/unused.jpg", b"original")
        zf.writestr(f"{prefix}Stimuli_Presentation_Lists/CSI1/CSI1_sess01.txt", b"list")
        zf.writestr(f"__MACOSX/{prefix}Scene_Stimuli/._repeated_stimuli_113_list.txt", b"mac")
