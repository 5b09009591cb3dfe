"""Resampling fsnative surface data to fsaverage5 through FreeSurfer's ``sphere.reg``.

A subject's ``{lh,rh}.sphere.reg`` places its fsnative vertices on the fsaverage sphere. Each
fsaverage5 vertex (nilearn's bundled ``sphere_{left,right}``, the only fsaverage mesh nilearn
ships in its wheel, so nothing is downloaded) takes the value of the registered subject surface
(its vertices taken as unit directions) where its direction meets it: linear (barycentric)
interpolation in the subject triangle its ray from the sphere's centre crosses, found among the
triangles around the nearest subject vertex (nearest-vertex value where none contains it). The
result is a sparse ``[target vertex, source vertex]`` matrix with at most 3 weights per row
summing to 1; a run is projected as one sparse product, ``[left 10,242; right 10,242] = 20,484``
rows per time point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from bergforge.errors import DataError
from bergforge.preprocess.meshes import BUNDLED

HEMIS = ("left", "right")


def bundled_sphere(mesh: str, hemi: str) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates, faces) of nilearn's bundled ``mesh`` sphere of ``hemi`` (``left``/``right``)."""
    if mesh not in BUNDLED:
        raise DataError(
            f"surface mesh {mesh!r} is not bundled with nilearn (it would be downloaded); "
            f"expected one of {sorted(BUNDLED)}"
        )
    if hemi not in HEMIS:
        raise DataError(f"hemisphere {hemi!r}; expected one of {HEMIS}")
    from nilearn import datasets, surface

    paths = datasets.fetch_surf_fsaverage(mesh)  # files inside nilearn's wheel: no download
    sphere = surface.load_surf_mesh(paths[f"sphere_{hemi}"])
    return np.asarray(sphere.coordinates, np.float64), np.asarray(sphere.faces, np.int64)


def read_sphere_reg(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates, faces) of a FreeSurfer surface file such as ``lh.sphere.reg``."""
    import nibabel.freesurfer as fs

    try:
        coords, faces = fs.read_geometry(str(path))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the FreeSurfer surface ({err})") from err
    return np.asarray(coords, np.float64), np.asarray(faces, np.int64)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _incident_faces(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """``[vertex, slot]`` faces around each vertex, padded with −1."""
    vertex = faces.ravel()
    face = np.repeat(np.arange(len(faces)), 3)
    order = np.argsort(vertex, kind="stable")
    vertex, face = vertex[order], face[order]
    degree = np.bincount(vertex, minlength=n_vertices)
    out = np.full((n_vertices, max(int(degree.max()), 1)), -1, np.int64)
    slot = np.arange(len(vertex)) - np.repeat(np.cumsum(degree) - degree, degree)
    out[vertex, slot] = face
    return out


def _barycentric(rays: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Weights of the points where ``rays`` (from the origin) meet the planes of the triangles
    ``corners`` ``[n, 3 corners, xyz]``; NaN where a ray is parallel to its plane."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    normal = np.cross(b - a, c - a)
    denom = np.einsum("ij,ij->i", rays, normal)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.einsum("ij,ij->i", a, normal) / denom
        p = rays * t[:, None]
        area = np.einsum("ij,ij->i", normal, normal)
        wa = np.einsum("ij,ij->i", np.cross(c - b, p - b), normal) / area
        wb = np.einsum("ij,ij->i", np.cross(a - c, p - c), normal) / area
    w = np.stack([wa, wb, 1.0 - wa - wb], axis=1)
    w[~(t > 0)] = np.nan  # behind the centre
    return w


@dataclass(frozen=True)
class SphereProjection:
    """Sparse resampling ``[target vertex, source vertex]`` of one hemisphere."""

    matrix: sparse.csr_matrix
    n_nearest: int  # target vertices that fell back to the nearest source vertex

    @classmethod
    def build(
        cls, source: np.ndarray, faces: np.ndarray, target: np.ndarray, tolerance: float = 1e-9
    ) -> SphereProjection:
        """Weights from the ``source`` sphere (``sphere.reg`` coordinates and ``faces``) to the
        ``target`` vertices (directions matter, not radii)."""
        if source.ndim != 2 or source.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise DataError(
                f"sphere of shapes {source.shape} and {faces.shape}; expected [vertex, 3] "
                "coordinates and [face, 3] vertex indices"
            )
        if faces.size and (faces.min() < 0 or faces.max() >= len(source)):
            raise DataError("sphere faces index vertices the sphere does not have")
        src, rays = _unit(source), _unit(np.asarray(target, np.float64))
        _, nearest = cKDTree(src).query(rays)
        around = _incident_faces(faces, len(src))[nearest]  # [target, slot]
        n, slots = around.shape
        corners = src[faces[np.maximum(around, 0)]]  # [target, slot, 3, xyz]
        weights = _barycentric(
            np.repeat(rays, slots, axis=0), corners.reshape(n * slots, 3, 3)
        ).reshape(n, slots, 3)
        inside = (around >= 0) & np.all(weights >= -tolerance, axis=2)
        found = inside.any(axis=1)
        first = np.argmax(inside, axis=1)
        rows = np.arange(n)
        cols = np.where(found[:, None], faces[around[rows, first]], nearest[:, None])
        w = np.where(found[:, None], np.clip(weights[rows, first], 0.0, None), [1.0, 0.0, 0.0])
        w /= w.sum(axis=1, keepdims=True)
        matrix = sparse.csr_matrix(
            (w.ravel(), (np.repeat(rows, 3), cols.ravel())), shape=(n, len(src))
        )
        matrix.eliminate_zeros()
        return cls(matrix, int((~found).sum()))

    def apply(self, data: np.ndarray, what: str = "data") -> np.ndarray:
        """``data`` ``[source vertex, time]`` → ``[target vertex, time]`` (float32)."""
        if data.shape[0] != self.matrix.shape[1]:
            raise DataError(
                f"{what} has {data.shape[0]} vertices; the registered sphere has "
                f"{self.matrix.shape[1]} (expected one value per fsnative vertex)"
            )
        return np.asarray(self.matrix @ np.asarray(data, np.float64), np.float32)


def fsaverage_projection(sphere_reg: Path, hemi: str, mesh: str = "fsaverage5") -> SphereProjection:
    """The projection of a subject's ``{lh,rh}.sphere.reg`` onto the bundled ``mesh`` sphere."""
    target, _ = bundled_sphere(mesh, hemi)
    source, faces = read_sphere_reg(sphere_reg)
    return SphereProjection.build(source, faces, target)
