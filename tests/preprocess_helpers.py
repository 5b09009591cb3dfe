"""Helpers shared by the preprocessing tests: mirrors of tiny studies and correlations."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mirror(src: Path, dst: Path) -> Path:
    """A copy of the study folder ``src`` made of symlinks (damage files with :func:`replace`)."""
    for path in src.rglob("*"):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    return dst


def replace(link: Path, content: bytes) -> None:
    """Replace a mirrored file by a real file holding ``content``."""
    link.unlink()
    link.write_bytes(content)


def leftovers(folder: Path) -> list[str]:
    """Whatever a failed job left in the prepared folder (nothing is expected)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def column_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r over the first axis, for every remaining index."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
