"""PCA seeds per subject × split, derived as BERG derives them (research/berg.md §2b, §2d)."""

from __future__ import annotations

from hashlib import md5

from bergforge.models.linear.splits import BERG_SEED, single_index


def pca_seed(modality: str, subject: int, split: str) -> int:
    """The random seed of the PCA of one subject and split.

    EEG: ``20200220 + subject*1000 + (r+1)*10`` for training repetition ``r`` (``single-(r+1)``),
    ``20200220 + subject*1000`` for ``all``. Everything else (MEG):
    ``int(md5(f"{subject}_{split}").hexdigest(), 16) % 2**31``.
    """
    k = single_index(split)
    if modality == "eeg":
        return BERG_SEED + subject * 1000 + (k * 10 if k else 0)
    return int(md5(f"{subject}_{split}".encode()).hexdigest(), 16) % 2**31
