"""Memory stays bounded by the chunk size: a volume larger than the memory limit given to the
dask.distributed worker still completes, with the right answer; so do the mesh and skeleton
of a neuron whose bounding box alone is larger than that limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
import zarr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from graph import tables
from ingest.morphology import load_morphology
from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume

# The workers' limit holds the libraries as well as the data: numba's LLVM alone takes about
# 110 MB in a worker that thins (ingest.lee_thinning), so the limit is 640 MiB and each volume
# below is larger than that.
LIMIT_MIB = 640
MEMORY_LIMIT, LIMIT_BYTES = f"{LIMIT_MIB}MiB", LIMIT_MIB * 2**20
SHAPE = (64, 1024, 1408)  # cells alone: 704 MiB as uint64
BOX = (32, 128, 128)  # one cell per box; one mitochondrion cube in each


def _write_boxes(path: Path) -> int:
    """Cells tiling the volume in boxes, written slab by slab (never whole in memory)."""
    root = zarr.open_group(str(path), mode="w")
    meta = {"multiscales": [{"version": "0.4", "name": "x",
                             "axes": [{"name": a, "type": "space", "unit": "nanometer"}
                                      for a in "zyx"],
                             "datasets": [{"path": "0", "coordinateTransformations": [
                                 {"type": "scale", "scale": [20, 10, 10]}]}]}]}  # fmt: skip
    labels = root.create_group("labels")
    labels.attrs["labels"] = ["cells", "mitochondria"]
    arrays = {}
    for name, dtype in (("cells", np.uint64), ("mitochondria", np.uint8)):
        g = labels.create_group(name)
        g.attrs.update(meta)
        arrays[name] = g.create_dataset("0", shape=SHAPE, chunks=(32, 256, 256), dtype=dtype)
    by, bx = SHAPE[1] // BOX[1], SHAPE[2] // BOX[2]
    yy, xx = np.meshgrid(np.arange(SHAPE[1]) // BOX[1], np.arange(SHAPE[2]) // BOX[2],
                         indexing="ij")  # fmt: skip
    ly, lx = np.meshgrid(np.arange(SHAPE[1]) % BOX[1], np.arange(SHAPE[2]) % BOX[2],
                         indexing="ij")  # fmt: skip
    for z0 in range(0, SHAPE[0], BOX[0]):
        k = (z0 // BOX[0]) * by * bx + yy * bx + xx
        cells = np.broadcast_to((np.uint64(2**40) + k.astype(np.uint64) * np.uint64(7919)),
                                (BOX[0], *SHAPE[1:]))  # fmt: skip
        arrays["cells"][z0 : z0 + BOX[0]] = cells
        mito = np.zeros((BOX[0], *SHAPE[1:]), np.uint8)
        mito[10:20] = (ly >= 40) & (ly < 60) & (lx >= 40) & (lx < 60)
        arrays["mitochondria"][z0 : z0 + BOX[0]] = mito
    return (SHAPE[0] // BOX[0]) * by * bx


def test_a_volume_larger_than_the_worker_memory_limit_completes(tmp_path):
    from dask.distributed import LocalCluster

    n_cells = _write_boxes(tmp_path / "big.zarr")
    volume = open_volume(tmp_path / "big.zarr")
    assert np.prod(SHAPE) * 8 > LIMIT_BYTES  # the cells layer alone exceeds the limit
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      memory_limit=MEMORY_LIMIT, dashboard_address=None) as cluster:  # fmt: skip
        out = run_stages(
            volume,
            "big",
            IngestSettings(
                data_dir=tmp_path / "data",
                chunk_zyx=(32, 256, 256),
                scheduler=cluster.scheduler_address,
                # the point model's torch takes about 580 MB in each worker by itself, more
                # than this limit whatever the chunk size; the bound under test is the data's
                compartment_predictor="baseline",
            ),
            progress=False,
            echo=lambda *_: None,
        )
    neurons = tables.read_table(out, "neurons")
    assert len(neurons) == n_cells
    assert set(neurons["voxels"]) == {int(np.prod(BOX))}
    elements = tables.read_table(out, "elements")
    assert len(elements) == n_cells and set(elements["voxels"]) == {10 * 20 * 20}


# ---------------------------------------------------------------------------------------------
# morphology: one neuron whose bounding box is the whole volume

VOXEL_NM = (20.0, 10.0, 10.0)
RADIUS_NM = 60.0
TREE_BODY = 2**53 + 7  # above 2**53: must survive as uint64
TREE_SHAPE = (64, 1280, 1408)  # cells: 880 MiB as uint64
# centre lines (z, y, x voxels): a trunk along y, four branches along x crossing it, and two
# stems along z at the ends of two branches, so the bounding box spans nearly the whole volume
TREE = [((32, 32, 704), (32, 1248, 704))]
TREE += [((32, y, 32), (32, y, 1376)) for y in (128, 448, 768, 1088)]
TREE += [((2, 128, 32), (32, 128, 32)), ((32, 1088, 1376), (61, 1088, 1376))]


def _tree_mask(z0: int, z1: int) -> np.ndarray:
    """The neuron's voxels in planes ``z0 .. z1 - 1``: tubes of ``RADIUS_NM`` about ``TREE``."""
    z, y, x = np.ogrid[z0:z1, : TREE_SHAPE[1], : TREE_SHAPE[2]]
    mask = np.zeros((z1 - z0, *TREE_SHAPE[1:]), bool)
    for a, b in TREE:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        axis = int(np.argmax(np.subtract(hi, lo)))  # each line is parallel to one axis
        d2 = 0.0
        for k, c in enumerate((z, y, x)):
            if k != axis:
                d2 = d2 + ((c - lo[k]) * VOXEL_NM[k]) ** 2
        c = (z, y, x)[axis]
        mask |= (d2 <= RADIUS_NM**2) & (c >= lo[axis]) & (c <= hi[axis])
    return mask


def _write_tree(path: Path) -> tuple[int, float]:
    """An 880 MiB cell layer holding the neuron, written slab by slab; its voxels and the
    length of its centre lines (nm)."""
    root = zarr.open_group(str(path), mode="w")
    meta = {"multiscales": [{"version": "0.4", "name": "x",
                             "axes": [{"name": a, "type": "space", "unit": "nanometer"}
                                      for a in "zyx"],
                             "datasets": [{"path": "0", "coordinateTransformations": [
                                 {"type": "scale", "scale": list(VOXEL_NM)}]}]}]}  # fmt: skip
    labels = root.create_group("labels")
    labels.attrs["labels"] = ["cells"]
    g = labels.create_group("cells")
    g.attrs.update(meta)
    cells = g.create_dataset("0", shape=TREE_SHAPE, chunks=(32, 256, 256), dtype=np.uint64)
    voxels = 0
    for z0 in range(0, TREE_SHAPE[0], 16):
        mask = _tree_mask(z0, z0 + 16)
        cells[z0 : z0 + 16] = np.where(mask, np.uint64(TREE_BODY), np.uint64(0))
        voxels += int(mask.sum())
    length = sum(float(np.linalg.norm(np.subtract(b, a) * VOXEL_NM)) for a, b in TREE)
    return voxels, length


def _ingest_tree(tmp_path: Path, morphology_chunk_zyx: tuple[int, int, int]) -> Path:
    from dask.distributed import LocalCluster

    volume = open_volume(tmp_path / "tree.zarr")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      memory_limit=MEMORY_LIMIT, dashboard_address=None) as cluster:  # fmt: skip
        return run_stages(
            volume,
            "tree",
            IngestSettings(
                data_dir=tmp_path / "data",
                chunk_zyx=(32, 256, 256),
                morphology_chunk_zyx=morphology_chunk_zyx,
                scheduler=cluster.scheduler_address,
                compartment_predictor="baseline",  # torch alone exceeds the limit (see above)
            ),
            progress=False,
            echo=lambda *_: None,
        )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, float]:
    folder = tmp_path_factory.mktemp("tree")
    voxels, length = _write_tree(folder / "tree.zarr")
    return folder, voxels, length


def test_a_neuron_whose_bounding_box_exceeds_the_worker_memory_limit_gets_its_morphology(
    tree: tuple[Path, int, float],
) -> None:
    folder, voxels, length = tree
    ends = np.array([p for line in TREE for p in line])
    box = ends.max(axis=0) - ends.min(axis=0) + 1
    assert np.prod(box) * 8 > LIMIT_BYTES  # the neuron's bounding box alone exceeds it
    out = _ingest_tree(folder, (32, 256, 256))
    neurons = tables.read_table(out, "neurons").set_index("body_id")
    row = neurons.loc[TREE_BODY]
    assert row["voxels"] == voxels
    # one closed mesh holding the voxel volume, one connected skeleton of the tree's length
    assert row["mesh_volume_nm3"] == pytest.approx(voxels * np.prod(VOXEL_NM), rel=0.05)
    assert row["cable_length_nm"] == pytest.approx(length, rel=0.10)
    meshes, skeletons = load_morphology(out / "morphology")
    vertices, faces = meshes[TREE_BODY]
    mesh = trimesh.Trimesh(vertices, faces)
    assert mesh.is_watertight and len(mesh.split(only_watertight=False)) == 1
    sv, se, _ = skeletons[TREE_BODY]
    n = len(sv)
    graph = coo_matrix((np.ones(len(se)), tuple(se.T.astype(np.int64))), shape=(n, n))
    assert connected_components(graph, directed=False)[0] == 1


def test_morphology_with_whole_volume_chunks_exceeds_the_same_memory_limit(
    tree: tuple[Path, int, float],
) -> None:
    from distributed import KilledWorker

    folder, _, _ = tree
    with pytest.raises(KilledWorker):  # the nanny stops the worker at its memory limit
        _ingest_tree(folder, TREE_SHAPE)
