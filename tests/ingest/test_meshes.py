"""Cell meshes (ingest.meshes): closed surfaces in nm that hold their cells' voxel volume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import trimesh
from scipy import ndimage
from scipy.spatial import cKDTree

from ingest.cells import relabel
from ingest.chunks import chunk_grid
from ingest.meshes import CellMesh, merge_pieces, mesh_cell, mesh_cells, mesh_chunk
from ingest.morphology import read_box
from ingest.phantom import make_phantom
from ingest.volume import open_volume

VOXEL = (20.0, 10.0, 10.0)
VOXEL_NM3 = float(np.prod(VOXEL))


@dataclass
class Phantom:
    truth: dict
    compact: np.ndarray
    ids: np.ndarray
    meshes: dict[int, CellMesh]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Phantom:
    path = tmp_path_factory.mktemp("meshes") / "phantom.zarr"
    truth = make_phantom(path, seed=0, shape_zyx=(64, 256, 256))
    volume = open_volume(path)
    labels = relabel(np.asarray(volume.labels["cells"][...]))
    meshes = mesh_cells(labels.compact, labels.ids, volume.voxel_size_nm_zyx)
    return Phantom(truth, labels.compact, labels.ids, meshes)


def _ball(radius_nm: float, shape: tuple[int, int, int]) -> np.ndarray:
    z, y, x = np.indices(shape)
    c = [(s - 1) / 2 for s in shape]
    d2 = ((z - c[0]) * VOXEL[0]) ** 2 + ((y - c[1]) * VOXEL[1]) ** 2 + ((x - c[2]) * VOXEL[2]) ** 2
    return d2 <= radius_nm**2


@pytest.mark.parametrize("xy_step", [1, 2, 3])
def test_a_box_meshes_onto_its_faces_in_nm_with_the_offset(xy_step: int) -> None:
    # 10 x 18 x 18 voxels from voxel (3, 12, 30): centres z 60-240, y 120-290, x 300-470 nm;
    # its faces lie half a voxel further out; every step used divides 12, 30 and 18.
    mask = np.ones((10, 18, 18), bool)
    m = mesh_cell(mask, (3, 12, 30), VOXEL, xy_step=xy_step)
    assert m.watertight
    assert m.vertices_nm_xyz.dtype == np.float32 and m.faces.dtype == np.uint32
    lo, hi = m.vertices_nm_xyz.min(axis=0), m.vertices_nm_xyz.max(axis=0)
    np.testing.assert_allclose(lo, [295.0, 115.0, 50.0], atol=1e-3)
    np.testing.assert_allclose(hi, [475.0, 295.0, 250.0], atol=1e-3)
    # marching cubes bevels the box's edges: a little under the voxel volume
    assert 0.96 < m.volume_nm3 / (mask.sum() * VOXEL_NM3) < 1.0


@pytest.mark.parametrize("xy_step", [1, 2])
def test_a_voxelised_ball_keeps_its_volume_within_two_percent(xy_step: int) -> None:
    ball = _ball(300.0, (40, 80, 80))
    m = mesh_cell(ball, (0, 0, 0), VOXEL, xy_step=xy_step)
    assert m.watertight
    assert m.volume_nm3 == pytest.approx(ball.sum() * VOXEL_NM3, rel=0.02)
    assert m.volume_nm3 == pytest.approx(4 / 3 * np.pi * 300.0**3, rel=0.02)
    # the staircase adds area; simplification takes most of it back
    assert m.area_nm2 == pytest.approx(4 * np.pi * 300.0**2, rel=0.10)
    centre_xyz = np.array([39.5 * VOXEL[2], 39.5 * VOXEL[1], 19.5 * VOXEL[0]])
    radii = np.linalg.norm(m.vertices_nm_xyz - centre_xyz, axis=1)
    assert radii.min() > 300.0 - 2 * VOXEL[0] and radii.max() < 300.0 + 2 * VOXEL[0]


def test_normals_point_out_of_the_cell() -> None:
    m = mesh_cell(_ball(200.0, (30, 60, 60)), (0, 0, 0), VOXEL, xy_step=1)
    centre = m.vertices_nm_xyz.mean(axis=0)
    tri = m.vertices_nm_xyz[m.faces.astype(np.int64)]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    outward = np.einsum("ij,ij->i", normals, tri.mean(axis=1) - centre)
    assert m.volume_nm3 > 0
    assert np.mean(outward > 0) > 0.99


def test_a_crop_at_any_offset_samples_the_same_voxels_as_the_whole_volume() -> None:
    rng = np.random.default_rng(0)
    blob = ndimage.binary_opening(rng.random((20, 60, 60)) < 0.7, iterations=2)
    blob = ndimage.label(blob)[0] == 1
    box = ndimage.find_objects(blob.astype(np.uint8))[0]
    assert box[1].start % 2 or box[2].start % 2, "the crop should start off the sampled grid"
    crop = blob[box]
    offset = (box[0].start, box[1].start, box[2].start)
    for xy_step in (1, 2, 3):
        whole = mesh_cell(blob, (0, 0, 0), VOXEL, xy_step=xy_step, reduction_factor=0)
        cropped = mesh_cell(crop, offset, VOXEL, xy_step=xy_step, reduction_factor=0)
        np.testing.assert_allclose(
            np.sort(cropped.vertices_nm_xyz, axis=0), np.sort(whole.vertices_nm_xyz, axis=0)
        )
        assert cropped.volume_nm3 == pytest.approx(whole.volume_nm3)


def test_an_empty_mask_gives_an_empty_mesh() -> None:
    m = mesh_cell(np.zeros((3, 4, 5), bool), (0, 0, 0), VOXEL)
    assert m.vertices_nm_xyz.shape == (0, 3) and m.faces.shape == (0, 3)
    assert m.volume_nm3 == 0.0 and not m.watertight


def test_meshes_are_keyed_by_uint64_body_ids(phantom: Phantom) -> None:
    assert set(phantom.meshes) == {int(c["id"]) for c in phantom.truth["cells"]}
    assert any(i > 2**53 for i in phantom.meshes)


def test_phantom_meshes_are_closed_and_hold_their_voxel_volume_within_5_percent(
    phantom: Phantom,
) -> None:
    large = [c for c in phantom.truth["cells"] if c["voxels"] >= 10_000]
    assert len(large) >= 6
    closed = [c for c in large if phantom.meshes[int(c["id"])].watertight]
    assert len(closed) == len(large), "every large cell should mesh to a closed surface"
    for c in closed:
        voxel_volume = c["voxels"] * VOXEL_NM3
        error = abs(phantom.meshes[int(c["id"])].volume_nm3 - voxel_volume) / voxel_volume
        assert error <= 0.05, f"cell {c['id']}: mesh volume off by {error:.1%}"


def test_phantom_meshes_lie_on_the_boundary_of_their_cells(phantom: Phantom) -> None:
    # a vertex is at most half a sampled voxel (10 nm at xy_step 2) plus the simplification
    # error (20 nm) from the centre of one of its cell's boundary voxels, plus half a voxel
    # for the boundary itself: allow 40 nm
    for k in range(1, len(phantom.ids)):
        mask = phantom.compact == k
        boundary = mask & ~ndimage.binary_erosion(mask)
        centres_xyz = np.argwhere(boundary)[:, ::-1] * np.array(VOXEL[::-1])
        mesh = phantom.meshes[int(phantom.ids[k])]
        dist, _ = cKDTree(centres_xyz).query(mesh.vertices_nm_xyz)
        assert dist.max() <= 40.0, f"cell {phantom.ids[k]}: a vertex {dist.max():.0f} nm off"


# ---------------------------------------------------------------------------------------------
# chunk by chunk


def _mesh_by_chunks(labels: np.ndarray, chunk_zyx: tuple[int, int, int], xy_step: int) -> CellMesh:
    pieces = []
    for box in chunk_grid(labels.shape, chunk_zyx):
        read = read_box(box.start, box.stop, labels.shape, xy_step)
        offset = (read[0].start, read[1].start, read[2].start)
        found = mesh_chunk(labels[read], offset, VOXEL, volume_shape_zyx=labels.shape,
                           xy_step=xy_step, presampled=True)  # fmt: skip
        if 1 in found:
            pieces.append(found[1])
    return merge_pieces(pieces)


@pytest.mark.parametrize("xy_step", [1, 2])
def test_a_cell_cut_by_chunks_merges_into_one_closed_mesh_that_holds_its_voxel_volume(
    xy_step: int,
) -> None:
    # a ball and a tube leaving it through the volume's border, cut by 2 x 3 x 3 chunks
    labels = _ball(300.0, (40, 80, 80)).astype(np.uint32)
    labels[16:24, 36:44, 40:] = 1
    m = _mesh_by_chunks(labels, (20, 30, 30), xy_step)
    whole = mesh_cell(labels == 1, (0, 0, 0), VOXEL, xy_step=xy_step)
    assert m.watertight
    assert len(trimesh.Trimesh(m.vertices_nm_xyz, m.faces).split(only_watertight=False)) == 1
    assert m.volume_nm3 == pytest.approx(labels.sum() * VOXEL_NM3, rel=0.05)
    assert m.volume_nm3 == pytest.approx(whole.volume_nm3, rel=0.02)
    assert m.area_nm2 == pytest.approx(whole.area_nm2, rel=0.03)


def test_unsimplified_chunk_meshes_merge_into_exactly_the_unchunked_mesh() -> None:
    rng = np.random.default_rng(1)
    blob = ndimage.binary_opening(rng.random((24, 60, 60)) < 0.7, iterations=2)
    labels = (ndimage.label(blob)[0] == 1).astype(np.uint32)
    pieces = []
    for box in chunk_grid(labels.shape, (10, 16, 22)):
        read = read_box(box.start, box.stop, labels.shape, 2)
        offset = (read[0].start, read[1].start, read[2].start)
        found = mesh_chunk(labels[read], offset, VOXEL, volume_shape_zyx=labels.shape,
                           reduction_factor=0, presampled=True)  # fmt: skip
        pieces += [found[1]] if 1 in found else []
    merged = merge_pieces(pieces)
    whole = mesh_cell(labels == 1, (0, 0, 0), VOXEL, reduction_factor=0)
    assert merged.watertight == whole.watertight
    assert merged.volume_nm3 == pytest.approx(whole.volume_nm3, rel=1e-9)
    assert merged.area_nm2 == pytest.approx(whole.area_nm2, rel=1e-9)
