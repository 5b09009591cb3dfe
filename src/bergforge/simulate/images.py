"""Procedural stimulus images for the demo studies: gratings, shapes, textures and natural-like noise.

Every image is drawn from its own seeded generator, so a given (seed, index) always yields the same
pixels, and JPEG encoding with fixed settings makes the files byte-identical across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Image families; each demo concept is one family with its own fixed parameters.
KINDS: tuple[str, ...] = ("grating", "shapes", "texture", "pinknoise", "checker", "blobs")
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Concept:
    """A demo 'concept': an image family with parameters shared by all its exemplars."""

    name: str
    kind: str
    params: dict


def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.linspace(-1.0, 1.0, size, dtype=np.float64)
    return np.meshgrid(ax, ax, indexing="xy")


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.05, 0.95, size=3)


def _filtered_noise(rng: np.random.Generator, size: int, exponent: float) -> np.ndarray:
    """Gaussian noise with a 1/f^exponent amplitude spectrum, scaled to [0, 1]."""
    freq = np.fft.fftfreq(size)
    radius = np.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((size, size))) / radius**exponent
    spectrum[0, 0] = 0.0
    field = np.real(np.fft.ifft2(spectrum))
    field -= field.min()
    return field / max(field.max(), 1e-12)


def _grating(rng, size, p) -> np.ndarray:
    x, y = _unit_grid(size)
    theta = p["orientation"] + rng.normal(0, 0.15)
    freq = p["frequency"] * rng.uniform(0.8, 1.25)
    phase = rng.uniform(0, 2 * np.pi)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + phase)
    if p["envelope"]:
        wave = 0.5 + (wave - 0.5) * np.exp(-(x**2 + y**2) / (2 * 0.45**2))
    c1, c2 = np.asarray(p["colours"][0]), np.asarray(p["colours"][1])
    return wave[..., None] * c1 + (1 - wave[..., None]) * c2


def _shapes(rng, size, p) -> np.ndarray:
    x, y = _unit_grid(size)
    img = np.ones((size, size, 3)) * np.asarray(p["background"])
    for _ in range(int(rng.integers(1, p["max_shapes"] + 1))):
        cx, cy = rng.uniform(-0.6, 0.6, size=2)
        r = rng.uniform(0.15, 0.45)
        colour = np.clip(np.asarray(p["colour"]) + rng.normal(0, 0.08, 3), 0, 1)
        if p["shape"] == "disk":
            mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        elif p["shape"] == "square":
            mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < r)
        else:  # triangle pointing up
            mask = (y - cy > -r) & (np.abs(x - cx) < (r - (y - cy)) * 0.6)
        img[mask] = colour
    return img


def _texture(rng, size, p) -> np.ndarray:
    field = _filtered_noise(rng, size, p["exponent"])
    x, y = _unit_grid(size)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * p["frequency"] * (x + y * p["slant"]))
    mix = np.clip(0.6 * field + 0.4 * stripes, 0, 1)
    return mix[..., None] * np.asarray(p["colours"][0]) + (1 - mix[..., None]) * np.asarray(
        p["colours"][1]
    )


def _pinknoise(rng, size, p) -> np.ndarray:
    channels = [_filtered_noise(rng, size, p["exponent"]) for _ in range(3)]
    img = np.stack(channels, axis=-1)
    return np.clip(img * np.asarray(p["tint"]) * 1.4, 0, 1)


def _checker(rng, size, p) -> np.ndarray:
    x, y = _unit_grid(size)
    n = p["checks"] * rng.uniform(0.85, 1.2)
    shift = rng.uniform(0, 1, size=2)
    board = (np.floor((x + 1) * n / 2 + shift[0]) + np.floor((y + 1) * n / 2 + shift[1])) % 2
    return board[..., None] * np.asarray(p["colours"][0]) + (1 - board[..., None]) * np.asarray(
        p["colours"][1]
    )


def _blobs(rng, size, p) -> np.ndarray:
    x, y = _unit_grid(size)
    img = np.zeros((size, size, 3)) + np.asarray(p["background"])
    for _ in range(p["n_blobs"]):
        cx, cy = rng.uniform(-0.8, 0.8, size=2)
        s = rng.uniform(0.1, 0.35)
        g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
        img += g[..., None] * (_colour(rng) - 0.5)
    return np.clip(img, 0, 1)


_DRAW = {
    "grating": _grating,
    "shapes": _shapes,
    "texture": _texture,
    "pinknoise": _pinknoise,
    "checker": _checker,
    "blobs": _blobs,
}


def make_concepts(n: int, seed: int, prefix: str = "") -> list[Concept]:
    """``n`` concepts cycling over :data:`KINDS`, each with its own fixed parameters."""
    rng = np.random.default_rng([seed, 1])
    concepts = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        params: dict = {
            "grating": lambda: {
                "orientation": rng.uniform(0, np.pi),
                "frequency": rng.uniform(1.5, 8),
                "envelope": bool(rng.integers(0, 2)),
                "colours": (_colour(rng).tolist(), _colour(rng).tolist()),
            },
            "shapes": lambda: {
                "shape": ("disk", "square", "triangle")[int(rng.integers(0, 3))],
                "max_shapes": int(rng.integers(1, 4)),
                "colour": _colour(rng).tolist(),
                "background": _colour(rng).tolist(),
            },
            "texture": lambda: {
                "exponent": rng.uniform(0.8, 2.0),
                "frequency": rng.uniform(2, 10),
                "slant": rng.uniform(-1, 1),
                "colours": (_colour(rng).tolist(), _colour(rng).tolist()),
            },
            "pinknoise": lambda: {
                "exponent": rng.uniform(0.9, 1.6),
                "tint": rng.uniform(0.4, 1.0, 3).tolist(),
            },
            "checker": lambda: {
                "checks": rng.uniform(3, 12),
                "colours": (_colour(rng).tolist(), _colour(rng).tolist()),
            },
            "blobs": lambda: {
                "n_blobs": int(rng.integers(3, 9)),
                "background": _colour(rng).tolist(),
            },
        }[kind]()
        concepts.append(
            Concept(name=f"{prefix}{kind}_{i // len(KINDS) + 1:02d}", kind=kind, params=params)
        )
    return concepts


def draw_image(concept: Concept, seed: int, index: int, size: int) -> np.ndarray:
    """One exemplar of ``concept`` as a uint8 array (size, size, 3)."""
    rng = np.random.default_rng([seed, 2, index])
    img = _DRAW[concept.kind](rng, size, concept.params)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def save_jpeg(pixels: np.ndarray, path: Path) -> None:
    """Write an RGB uint8 array as a baseline JPEG with fixed settings (byte-reproducible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="RGB").save(
        path, format="JPEG", quality=JPEG_QUALITY, optimize=False
    )
