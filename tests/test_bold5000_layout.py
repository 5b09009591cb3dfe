"""BOLD5000's layout and events as the decoding task reads them: full-size events generated from
the published design give the task's trial and split counts (CSI1: 5,254 trials, 451 test trials of
113 images, 4,803 training images; CSI4: 3,108, 262 of 106, 2,846), and bad files are one clear
error each."""

from __future__ import annotations

from collections import Counter

import pytest

from bergforge.datasets import bold5000 as b5
from bergforge.errors import DataError
from bergforge.simulate.bold5000_design import repeated_images, subject_events, write_events


def write_repeated(stimuli_root, names):
    path = stimuli_root / b5.REPEATED_LIST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(names) + "\n")


@pytest.mark.parametrize(
    ("subject", "runs", "trials", "test", "test_images", "pattern"),
    [
        (1, 142, 5254, 451, 113, {4: 112, 3: 1}),
        (4, 84, 3108, 262, 106, {1: 16, 2: 39, 3: 37, 4: 13, 5: 1}),
    ],
)
def test_full_size_events_give_the_task_counts(
    tmp_path, subject, runs, trials, test, test_images, pattern
):
    assert len(b5.runs_of(subject)) == runs
    assert len(write_events(tmp_path, subject, seed=3)) == runs
    write_repeated(tmp_path, [name for _, name in repeated_images()])
    table = b5.trial_table(tmp_path, subject, b5.read_repeated(tmp_path), tmp_path)
    assert len(table) == trials
    counts = table["split"].value_counts()
    assert counts["test"] == test and counts["train"] == trials - test
    assert table.loc[table.split == "train", "image"].is_unique  # training images seen once
    per_image = table.loc[table.split == "test", "image"].value_counts()
    assert len(per_image) == test_images and dict(Counter(per_image.to_numpy())) == pattern
    # a repeated image's first presentation has the plain ImgType, later ones rep_…
    for _, shown in table[table.split == "test"].groupby("image", sort=False):
        assert not shown.img_type.iloc[0].startswith("rep_")
        assert shown.img_type.iloc[1:].str.startswith("rep_").all()
    # one run: 37 trials, onsets every ≈ 10 s from ≈ 6 s, inside the 388 s run
    first = table[(table.session == 1) & (table.run == 1)]
    assert len(first) == b5.TRIALS_PER_RUN and 6.0 <= first.onset.iloc[0] < 6.1
    assert first.onset.iloc[-1] + 9.0 < b5.N_VOLUMES * b5.TR
    kinds = table.file.str.extract(r"Presented_Stimuli/(\w+)/")[0]
    assert set(kinds) == {"COCO", "ImageNet", "Scene"}


def test_paths_follow_ds001499():
    assert b5.events_path("R", 2, 3, 10).as_posix() == (
        "R/sub-CSI2/ses-03/func/sub-CSI2_ses-03_task-5000scenes_run-10_events.tsv"
    )
    assert b5.surface_run_path("R", 1, 1, 2, "L").as_posix() == (
        "R/derivatives/fmriprep/sub-CSI1/ses-01/func/"
        "sub-CSI1_ses-01_task-5000scenes_run-02_bold_space-fsnative.L.func.gii"
    )
    assert b5.freesurfer_surf("R", 3).as_posix() == "R/derivatives/freesurfer/sub-CSI3/surf"
    assert (
        b5.freesurfer_surf("R", "fsaverage").as_posix() == "R/derivatives/freesurfer/fsaverage/surf"
    )
    assert b5.stimulus_path("S", "rep_imagenet", "n1.JPEG").as_posix() == (
        "S/BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/ImageNet/n1.JPEG"
    )


def events_file(tmp_path, edit):
    path = b5.events_path(tmp_path, 1, 1, 1)
    path.parent.mkdir(parents=True)
    edit(subject_events(1)[(1, 1)]).to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.rename(columns={"stim_file": "stimfile"}),
            r"lacks column\(s\) \['stim_file'\]; .*\(an earlier ds001499 snapshot's events",
        ),
        (  # ds001499's events as an earlier snapshot has them: the 12 columns up to RT
            lambda t: t.drop(columns="stim_file"),
            r"lacks column\(s\) \['stim_file'\]; .*v1\.3\.1",
        ),
        (
            lambda t: t.drop(columns=["stim_file", "ImgType"]),
            r"lacks column\(s\) \['ImgType', 'stim_file'\]; expected BOLD5000's \[[^\]]*\]$",
        ),
        (lambda t: t.assign(ImgType="faces"), r"ImgType \['faces'\]; expected one of"),
        (
            lambda t: t.assign(onset=t.onset[::-1].to_numpy()),
            "onsets must be finite and increasing",
        ),
        (lambda t: t.assign(stim_file=""), "a row has no stim_file"),
    ],
)
def test_a_bad_events_file_is_one_clear_error(tmp_path, edit, message):
    path = events_file(tmp_path, edit)
    with pytest.raises(DataError, match=f"^{path}: .*{message}"):
        b5.read_events(path)


def test_bad_lists_subjects_and_types_are_refused(tmp_path):
    with pytest.raises(DataError, match="repeated_stimuli_113_list.txt: cannot read"):
        b5.read_repeated(tmp_path)
    write_repeated(tmp_path, ["a.jpg", "b.jpg", "a.jpg"])
    with pytest.raises(DataError, match="an image is listed twice"):
        b5.read_repeated(tmp_path)
    with pytest.raises(DataError, match="subjects CSI1–CSI4; got subject 5"):
        b5.runs_of(5)
    with pytest.raises(DataError, match="ImgType 'faces'; expected one of"):
        b5.stimulus_path(tmp_path, "faces", "x.jpg")
    with pytest.raises(DataError, match="hemisphere 'X'; expected 'L' or 'R'"):
        b5.surface_run_path(tmp_path, 1, 1, 1, "X")
