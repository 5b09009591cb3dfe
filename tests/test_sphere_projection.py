"""fsnative → fsaverage5 through ``sphere.reg``: the sparse weights equal an exhaustive search of
every triangle for the one each target ray crosses (Möller–Trumbore, written here), the bundled
mesh maps onto itself as the identity, a FreeSurfer file round-trips, and bad input is one error."""

from __future__ import annotations

import nibabel.freesurfer as fs
import numpy as np
import pytest

from bergforge.errors import DataError
from bergforge.preprocess.sphere_projection import (
    SphereProjection,
    bundled_sphere,
    fsaverage_projection,
)


@pytest.fixture(scope="module")
def sphere():
    return bundled_sphere("fsaverage5", "left")


def exhaustive_weights(ray, coords, faces):
    """(face, barycentric weights) of the triangle the ray from the centre crosses, searching
    all faces (Möller–Trumbore), the sphere's vertices taken as unit directions."""
    coords = coords / np.linalg.norm(coords, axis=1, keepdims=True)
    a, b, c = (coords[faces[:, i]] for i in range(3))
    e1, e2 = b - a, c - a
    h = np.cross(ray, e2)
    det = np.einsum("ij,ij->i", e1, h)
    s = -a
    u = np.einsum("ij,ij->i", s, h) / det
    q = np.cross(s, e1)
    v = (q @ ray) / det
    t = np.einsum("ij,ij->i", e2, q) / det
    hit = np.flatnonzero((u >= -1e-12) & (v >= -1e-12) & (u + v <= 1 + 1e-12) & (t > 0))
    f = hit[0]
    return faces[f], np.array([1 - u[f] - v[f], u[f], v[f]])


def test_weights_equal_an_exhaustive_triangle_search(sphere):
    coords, faces = sphere
    rng = np.random.default_rng(0)
    targets = rng.standard_normal((150, 3))
    projection = SphereProjection.build(coords, faces, targets)
    m = projection.matrix.toarray()
    assert projection.n_nearest == 0
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-12)
    rays = targets / np.linalg.norm(targets, axis=1, keepdims=True)
    for row, ray in enumerate(rays):
        vertices, weights = exhaustive_weights(ray, coords, faces)
        expected = np.zeros(len(coords))
        np.add.at(expected, vertices, weights)
        np.testing.assert_allclose(m[row], expected, atol=1e-9)


def test_the_bundled_mesh_maps_onto_itself(sphere):
    coords, faces = sphere
    projection = SphereProjection.build(coords, faces, coords * 1.7)  # radius does not matter
    data = np.random.default_rng(1).standard_normal((len(coords), 4))
    np.testing.assert_allclose(projection.apply(data), data, atol=1e-5)
    assert projection.matrix.shape == (10_242, 10_242)


def test_a_freesurfer_sphere_reg_projects_a_smooth_map(sphere, tmp_path):
    """A finer 'subject' sphere (the bundled one rotated a little, written as lh.sphere.reg):
    a smooth map on it, projected, is close to the map at the fsaverage5 vertices."""
    coords, faces = sphere
    angle = 0.01
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    subject = coords @ rotation.T
    path = tmp_path / "lh.sphere.reg"
    fs.write_geometry(str(path), subject.astype(np.float32), faces.astype(np.int32))
    projection = fsaverage_projection(path, "left")
    smooth = lambda xyz: np.sin(xyz[:, 0] / 40) + xyz[:, 2] / 100  # noqa: E731
    projected = projection.apply(smooth(subject)[:, None])[:, 0]
    assert np.max(np.abs(projected - smooth(coords))) < 0.02
    assert np.corrcoef(projected, smooth(coords))[0, 1] > 0.999


def test_bad_input_is_one_clear_error(sphere, tmp_path):
    coords, faces = sphere
    with pytest.raises(DataError, match="'fsaverage6' is not bundled with nilearn"):
        bundled_sphere("fsaverage6", "left")
    with pytest.raises(DataError, match="hemisphere 'lh'; expected one of"):
        bundled_sphere("fsaverage5", "lh")
    projection = SphereProjection.build(coords, faces, coords[:10])
    with pytest.raises(DataError, match="run has 100 vertices; the registered sphere has 10242"):
        projection.apply(np.zeros((100, 3)), "run")
    with pytest.raises(DataError, match="faces index vertices the sphere does not have"):
        SphereProjection.build(coords[:100], faces, coords[:10])
    (tmp_path / "lh.sphere.reg").write_bytes(b"\x00\x01")
    with pytest.raises(DataError, match="cannot read the FreeSurfer surface"):
        fsaverage_projection(tmp_path / "lh.sphere.reg", "left")
