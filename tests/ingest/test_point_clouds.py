"""Point clouds of cells (ingest.point_clouds): surface sampling, contexts, organelle points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ingest.point_clouds import (
    CELLTYPE_KINDS,
    COMPARTMENT_KINDS,
    Cloud,
    CloudParams,
    cell_cloud,
    context_centres,
    draw_context,
    organelle_points,
    rotate_z,
)


def _box_mesh(size: float) -> tuple[np.ndarray, np.ndarray]:
    """A closed cube of edge ``size`` nm (12 triangles)."""
    v = np.array([[x, y, z] for x in (0, size) for y in (0, size) for z in (0, size)], float)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])  # fmt: skip
    return v, f


def test_surface_points_lie_on_the_mesh_one_per_area_step():
    mesh = _box_mesh(1000.0)
    cloud = cell_cloud(mesh, {}, COMPARTMENT_KINDS, np.random.default_rng(0),
                       CloudParams(area_per_point_nm2=10_000.0))  # fmt: skip
    assert len(cloud.points_nm_xyz) == 600  # 6 µm² / 0.01 µm²
    on_face = np.isclose(cloud.points_nm_xyz, 0) | np.isclose(cloud.points_nm_xyz, 1000)
    assert on_face.any(axis=1).all()


def test_organelles_become_points_of_their_kind_and_unknown_kinds_are_left_out():
    organelles = {"mitochondrion": np.array([[500.0, 500, 500], [400, 400, 400]]),
                  "junction_symmetric": np.array([[0.0, 500, 500]]),
                  "golgi": np.array([[1.0, 1, 1]])}  # fmt: skip
    cloud = cell_cloud(_box_mesh(1000.0), organelles, CELLTYPE_KINDS, np.random.default_rng(0),
                       CloudParams(area_per_point_nm2=60_000.0))  # fmt: skip
    assert np.bincount(cloud.kind).tolist() == [100, 2, 0, 0, 1]


def test_a_context_holds_only_points_within_its_radius_and_keeps_the_organelles():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3000, 3000, (5000, 3))
    kind = np.zeros(5000, np.int64)
    kind[:5] = 2  # five vesicle clouds near the centre
    pts[:5] = rng.uniform(-100, 100, (5, 3))
    cloud = Cloud(pts, kind, COMPARTMENT_KINDS)
    params = CloudParams(radius_nm=1000.0, n_points=256)
    ctx = draw_context(cloud, np.zeros(3), rng, params)
    assert ctx is not None and ctx.coords.shape == (256, 3)
    assert ctx.features.shape == (256, len(COMPARTMENT_KINDS))
    assert np.linalg.norm(pts[ctx.index], axis=1).max() <= 1000.0
    assert np.abs(np.linalg.norm(ctx.coords, axis=1).max()) <= 1.0
    assert set(range(5)) <= set(ctx.index.tolist())
    assert np.array_equal(ctx.features.argmax(axis=1), kind[ctx.index])


def test_no_context_where_the_cell_has_no_surface():
    cloud = Cloud(np.array([[0.0, 0, 0]]), np.array([1]), COMPARTMENT_KINDS)
    assert draw_context(cloud, np.zeros(3), np.random.default_rng(0)) is None


@pytest.mark.parametrize("cover", [100.0, 450.0])
def test_every_skeleton_node_lies_within_cover_of_a_context_centre(cover):
    nodes = np.random.default_rng(3).uniform(0, 3000, (400, 3))
    centres = nodes[context_centres(nodes, cover)]
    d = np.linalg.norm(nodes[:, None] - centres[None], axis=2).min(axis=1)
    assert d.max() <= cover


def test_rotation_about_z_keeps_z_and_lengths():
    coords = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    turned = rotate_z(coords, np.random.default_rng(1))
    assert np.allclose(turned[:, 2], coords[:, 2])
    assert np.allclose(np.linalg.norm(turned, axis=1), np.linalg.norm(coords, axis=1), atol=1e-5)


def test_junction_points_go_to_both_cells_with_the_synapse_type():
    syn = pd.DataFrame({"pre_body_id": np.array([7, 7], np.uint64),
                        "post_body_id": np.array([2**63 + 1, 9], np.uint64),
                        "pre_x": [1, 2], "pre_y": [0, 0], "pre_z": [0, 0],
                        "post_x": [5, 6], "post_y": [0, 0], "post_z": [1, 1],
                        "synapse_type": ["asymmetric", "symmetric"]})  # fmt: skip
    got = organelle_points(syn, pd.DataFrame(), np.array([10.0, 10.0, 20.0]))
    assert got[7]["junction_asymmetric"].tolist() == [[10.0, 0.0, 0.0]]
    assert got[7]["junction_symmetric"].tolist() == [[20.0, 0.0, 0.0]]
    assert len(got[7]["junction"]) == len(got[7]["junction_pre"]) == 2
    assert got[9]["junction_post"].tolist() == [[60.0, 0.0, 20.0]] and "junction_pre" not in got[9]
    assert got[2**63 + 1]["junction_asymmetric"].tolist() == [[50.0, 0.0, 20.0]]
