"""Tests of the synthetic EM phantom (ingest.phantom)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cc3d
import numpy as np
import pytest
import zarr
from scipy import ndimage, stats

from ingest.phantom import LABEL_NAMES, container, make_phantom

SMALL = (32, 128, 128)
VOXEL = (20.0, 10.0, 10.0)


class Phantom:
    """A written phantom with its arrays loaded."""

    def __init__(self, path: Path, truth: dict[str, Any]):
        self.path = path
        self.truth = truth
        root = zarr.open_group(str(path), mode="r")
        self.root = root
        self.raw = root["0"][:]
        self.cells = root["labels/cells/0"][:]
        self.mito = root["labels/mitochondria/0"][:]
        self.ves = root["labels/vesicle_clouds/0"][:]
        self.junction = root["labels/synaptic_junctions/0"][:]
        self.syn_type = root["labels/synapse_type/0"][:]

    def junction_components(self) -> tuple[np.ndarray, dict[tuple[float, ...], int]]:
        return _components(self.junction)


def _components(mask: np.ndarray) -> tuple[np.ndarray, dict[tuple[float, ...], int]]:
    """26-connected components and a map from their xyz centroid to their label."""
    cc = cc3d.connected_components(mask, connectivity=26)
    z, y, x = np.nonzero(cc)
    v = cc[z, y, x].astype(np.int64)
    n = np.bincount(v)
    sums = [np.bincount(v, weights=w) for w in (x, y, z)]
    by_centroid = {tuple(float(s[k] / n[k]) for s in sums): k for k in range(1, len(n))}
    return cc, by_centroid


def _find(by_centroid: dict[tuple[float, ...], int], xyz: list[float]) -> int:
    for c, k in by_centroid.items():
        if np.allclose(c, xyz, atol=1e-6):
            return k
    raise AssertionError(f"no junction component with centroid {xyz}")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Phantom:
    out = tmp_path_factory.mktemp("small") / "phantom.zarr"
    return Phantom(out, make_phantom(out, seed=0, shape_zyx=SMALL, voxel_size_nm_zyx=VOXEL))


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Phantom:
    out = tmp_path_factory.mktemp("default") / "phantom.zarr"
    return Phantom(out, make_phantom(out, seed=0, shape_zyx=(64, 256, 256)))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_identical_volumes(tmp_path: Path, small: Phantom) -> None:
    out = tmp_path / "again.zarr"
    truth = make_phantom(out, seed=0, shape_zyx=SMALL, voxel_size_nm_zyx=VOXEL)
    assert truth == small.truth
    assert _files(out) == _files(small.path)


def test_different_seeds_give_different_volumes(tmp_path: Path, small: Phantom) -> None:
    out = tmp_path / "other.zarr"
    make_phantom(out, seed=1, shape_zyx=SMALL)
    assert not np.array_equal(zarr.open_group(str(out), mode="r")["labels/cells/0"][:], small.cells)


def test_labels_are_in_the_ngff_04_layout_with_dtypes_and_voxel_size(small: Phantom) -> None:
    def check_multiscales(attrs: dict[str, Any], name: str) -> None:
        (ms,) = attrs["multiscales"]
        assert ms["version"] == "0.4"
        assert ms["name"] == name
        assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
        assert all(a["type"] == "space" and a["unit"] == "nanometer" for a in ms["axes"])
        (ds,) = ms["datasets"]
        assert ds["path"] == "0"
        assert ds["coordinateTransformations"] == [{"type": "scale", "scale": list(VOXEL)}]

    root = small.root
    check_multiscales(dict(root.attrs), "raw")
    assert root["0"].dtype == np.uint8
    assert dict(root["labels"].attrs) == {"labels": list(LABEL_NAMES)}
    dtypes = {
        "cells": np.uint64,
        "mitochondria": np.uint8,
        "vesicle_clouds": np.uint8,
        "synaptic_junctions": np.uint8,
        "synapse_type": np.uint8,
    }
    for name in LABEL_NAMES:
        grp = root[f"labels/{name}"]
        check_multiscales(dict(grp.attrs), name)
        assert grp.attrs["image-label"] == {"version": "0.4", "source": {"image": "../../"}}
        arr = grp["0"]
        assert arr.dtype == dtypes[name]
        assert arr.shape == SMALL
        assert arr.chunks == (32, 128, 128)
        assert arr.compressor.cname == "zstd"
    zarray = json.loads((small.path / "labels" / "cells" / "0" / ".zarray").read_text())
    assert zarray["zarr_format"] == 2 and zarray["dimension_separator"] == "/"
    for name in ("mitochondria", "vesicle_clouds", "synaptic_junctions"):
        assert set(np.unique(root[f"labels/{name}/0"][:])) <= {0, 1}
    assert set(np.unique(small.syn_type)) <= {0, 1, 2}


def test_chunks_are_clipped_to_small_shapes(tmp_path: Path) -> None:
    out = tmp_path / "tiny.zarr"
    truth = make_phantom(out, seed=2, shape_zyx=(16, 48, 64))
    arr = zarr.open_group(str(out), mode="r")["labels/cells/0"]
    assert arr.chunks == (16, 48, 64)
    assert truth["shape_zyx"] == [16, 48, 64]


def test_large_cell_ids_round_trip_exactly_through_the_json(small: Phantom) -> None:
    on_disk = json.loads((small.path / "ground_truth.json").read_text())
    assert on_disk == small.truth
    ids = [c["id"] for c in on_disk["cells"]]
    assert all(isinstance(i, str) for i in ids)
    as_int = [int(i) for i in ids]
    assert any(i > 2**32 for i in as_int)
    assert any(i > 2**53 for i in as_int)
    values, counts = np.unique(small.cells, return_counts=True)
    in_volume = {int(v): int(n) for v, n in zip(values, counts, strict=True) if v != 0}
    assert in_volume == {int(c["id"]): c["voxels"] for c in on_disk["cells"]}
    for c in on_disk["cells"]:
        assert sum(c["compartment_voxels"].values()) == c["voxels"]


def test_small_shapes_have_at_least_two_cells_of_each_type(small: Phantom) -> None:
    types = [c["type"] for c in small.truth["cells"]]
    assert types.count("TypeA") >= 2 and types.count("TypeB") >= 2
    assert small.truth["synapses"], "expected some synapses"
    assert small.truth["mitochondria"], "expected some mitochondria"


def test_every_synapse_junction_touches_exactly_its_two_cells(small: Phantom) -> None:
    truth = small.truth
    cc, by_centroid = small.junction_components()
    assert cc.max() == len(truth["synapses"]) + len(truth["orphan_junctions"])
    cell_type = {c["id"]: c["type"] for c in truth["cells"]}
    for s in truth["synapses"]:
        k = _find(by_centroid, s["position_xyz_vx"])
        voxels = cc == k
        assert int(voxels.sum()) == s["junction_voxels"]
        assert {str(v) for v in np.unique(small.cells[voxels])} == {s["pre"], s["post"]}
        faces = ndimage.binary_dilation(voxels, structure=ndimage.generate_binary_structure(3, 1))
        assert {str(v) for v in np.unique(small.cells[faces])} <= {"0", s["pre"], s["post"]}
        assert s["pre"] != s["post"]
        expected = 1 if cell_type[s["pre"]] == "TypeA" else 2
        assert s["type"] == expected
        assert set(np.unique(small.syn_type[voxels])) == {expected}
        assert s["post_compartment"] in {"dendrite", "spine", "soma"}
        assert s["area_nm2"] > 0
    assert not np.any(small.syn_type[small.junction == 0])


def test_synapses_vary_in_size_and_connect_many_pairs(default: Phantom) -> None:
    syn = default.truth["synapses"]
    n_cells = len(default.truth["cells"])
    assert 4 * n_cells <= len(syn) <= 12 * n_cells
    areas = np.array([s["area_nm2"] for s in syn])
    assert areas.max() > 5 * areas.min()
    pairs: dict[tuple[str, str], int] = {}
    for s in syn:
        pairs[s["pre"], s["post"]] = pairs.get((s["pre"], s["post"]), 0) + 1
    assert len(pairs) >= n_cells
    assert max(pairs.values()) > 1
    assert any((b, a) in pairs for a, b in pairs)
    kinds = {s["post_compartment"] for s in syn}
    assert kinds == {"dendrite", "spine", "soma"}
    assert default.truth["contacts_without_synapse"] > 0


def test_vesicle_clouds_sit_in_presynaptic_cells_away_from_the_partner(small: Phantom) -> None:
    ves = small.ves > 0
    assert ves.any()
    assert not np.any(ves & (small.junction > 0))
    pres = {s["pre"] for s in small.truth["synapses"]}
    assert {str(v) for v in np.unique(small.cells[ves])} <= pres
    cube = np.ones((3, 3, 3), dtype=bool)
    v = np.array(VOXEL)
    pts = np.argwhere(ves)
    for s in small.truth["synapses"]:
        pos = np.array(s["position_xyz_vx"][::-1])
        near = pts[np.linalg.norm((pts - pos) * v, axis=1) < 400.0]
        near = near[small.cells[tuple(near.T)] == np.uint64(int(s["pre"]))]
        assert len(near), "every synapse has a vesicle cloud next to its junction"
    # every vesicle voxel lies inside its cell with a one-voxel margin
    cc = cc3d.connected_components(ves, connectivity=26)
    for k in range(1, int(cc.max()) + 1):
        around = ndimage.binary_dilation(cc == k, structure=cube)
        assert len(np.unique(small.cells[around])) == 1


def test_every_mitochondrion_is_one_component_inside_exactly_one_cell(small: Phantom) -> None:
    mitos = small.truth["mitochondria"]
    cc = cc3d.connected_components(small.mito, connectivity=26)
    assert int(cc.max()) == len(mitos) > 0
    cube = np.ones((3, 3, 3), dtype=bool)
    _, by_centroid = _components(small.mito)
    for m in mitos:
        voxels = cc == _find(by_centroid, m["centroid_xyz_vx"])
        assert int(voxels.sum()) == m["voxels"]
        owner = np.unique(small.cells[voxels])
        assert [str(v) for v in owner] == [m["cell"]]
        # a margin of one voxel: every neighbour of the mitochondrion is in the same cell
        around = ndimage.binary_dilation(voxels, structure=cube)
        assert [str(v) for v in np.unique(small.cells[around])] == [m["cell"]]
        assert m["compartment"] in {"axon", "dendrite", "soma"}
    # at least a two-voxel gap between any two mitochondria
    near = ndimage.grey_dilation(cc, size=(5, 5, 5))
    assert not np.any((cc > 0) & (near != cc))


def test_mito_distances_are_measured_from_the_final_arrays(small: Phantom) -> None:
    v = np.array(VOXEL)
    for s in small.truth["synapses"]:
        own = (small.mito > 0) & (small.cells == np.uint64(int(s["pre"])))
        if not own.any():
            assert s["mito_distance_nm"] is None
            continue
        pts = np.argwhere(own) * v
        pos = np.array(s["position_xyz_vx"][::-1]) * v
        expected = float(np.min(np.linalg.norm(pts - pos, axis=1)))
        assert s["mito_distance_nm"] == pytest.approx(expected, abs=1e-6)


def test_some_cells_are_separated_by_gaps_and_others_touch(small: Phantom) -> None:
    cells = small.cells
    touching = gaps = 0
    for axis in (1, 2):
        a = np.moveaxis(cells, axis, -1)
        touching += int(
            np.sum((a[..., :-1] != a[..., 1:]) & (a[..., :-1] != 0) & (a[..., 1:] != 0))
        )
        for gap in (1, 2, 3):
            left, right = a[..., : -gap - 1], a[..., gap + 1 :]
            between = np.ones(left.shape, dtype=bool)
            for k in range(1, gap + 1):
                between &= a[..., k : a.shape[-1] - gap - 1 + k] == 0
            gaps += int(np.sum(between & (left != 0) & (right != 0) & (left != right)))
    assert touching > 100
    assert gaps > 100


def test_orphan_junctions_exist_and_touch_one_cell_only(small: Phantom) -> None:
    orphans = small.truth["orphan_junctions"]
    assert 2 <= len(orphans) <= 4
    cc, by_centroid = small.junction_components()
    cube = np.ones((3, 3, 3), dtype=bool)
    for o in orphans:
        voxels = cc == _find(by_centroid, o["position_xyz_vx"])
        around = ndimage.binary_dilation(voxels, structure=cube)
        assert [str(v) for v in np.unique(small.cells[around])] == [o["cell"]]
        assert not np.any(small.syn_type[voxels])


def test_raw_image_is_em_like(small: Phantom) -> None:
    raw = small.raw.astype(float)
    inside = ndimage.binary_erosion(small.cells > 0, iterations=3)
    cytoplasm = raw[inside & (small.mito == 0) & (small.ves == 0) & (small.junction == 0)]
    assert 140 < np.median(cytoplasm) < 185
    assert np.median(raw[small.mito > 0]) < np.median(cytoplasm) - 30
    assert np.median(raw[small.junction > 0]) < np.median(cytoplasm) - 50
    boundary = (small.cells > 0) & ~ndimage.binary_erosion(small.cells > 0)
    assert np.median(raw[boundary]) < np.median(cytoplasm) - 30
    assert 0 < raw.std() < 80


def test_large_typea_synapses_have_a_mitochondrion_nearby(default: Phantom) -> None:
    def split(type_: int) -> tuple[np.ndarray, np.ndarray]:
        syn = [s for s in default.truth["synapses"] if s["type"] == type_]
        area = np.array([s["area_nm2"] for s in syn])
        dist = np.array(
            [np.inf if s["mito_distance_nm"] is None else s["mito_distance_nm"] for s in syn]
        )
        median = np.median(area)
        return dist[area <= median], dist[area > median]

    small_a, large_a = split(1)
    assert len(small_a) + len(large_a) >= 20
    assert stats.ks_2samp(small_a, large_a).pvalue < 0.01
    assert np.median(large_a) < np.median(small_a)
    small_b, large_b = split(2)
    assert stats.ks_2samp(small_b, large_b).pvalue > 0.05


def test_existing_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "file").write_text("x")
    with pytest.raises(FileExistsError, match="already exists; choose a new output path"):
        make_phantom(out, shape_zyx=(8, 32, 32))
    empty = tmp_path / "empty"
    empty.mkdir()
    make_phantom(empty, shape_zyx=(8, 32, 32))
    assert (empty / "ground_truth.json").exists()


def test_a_failing_write_leaves_no_output_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, truth: dict[str, Any]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(container, "_write_truth", broken)
    out = tmp_path / "out.zarr"
    with pytest.raises(OSError, match="disk full"):
        make_phantom(out, shape_zyx=(8, 32, 32))
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_cable_lengths_are_positive_and_the_in_cell_part_is_at_most_the_planted_one(
    default: Phantom,
) -> None:
    for c in default.truth["cells"]:
        assert 0 < c["cable_length_in_cell_nm"] <= c["cable_length_nm"] + 1e-6
        # the planted lines mostly survive in the final labels
        assert c["cable_length_in_cell_nm"] >= 0.7 * c["cable_length_nm"]


def test_centre_lines_form_one_tree_rooted_at_the_soma() -> None:
    from ingest.phantom.build import _STAGES
    from ingest.phantom.scene import Scene
    from ingest.phantom.truth import centre_lines_nm

    scene = Scene(0, SMALL, VOXEL)
    for _, stage in _STAGES:
        stage(scene)
    for cell in scene.cells:
        lines = centre_lines_nm(cell, scene.g)
        root = np.clip(cell.soma_center_nm, 0.0, scene.g.extent_nm)
        joined = [root]
        for line in lines:
            # every line starts at the root or on a point of a line before it
            assert min(np.linalg.norm(line[0] - p) for p in joined) < 1e-6
            joined.extend(line)
        n_spines = len(cell.spine_heads)
        n_primary = sum(d.from_soma for d in cell.dendrites)
        assert len(lines) == n_primary + len(cell.dendrites) + n_spines + 2 * bool(
            len(cell.axon_points_nm)
        )


def test_in_cell_cable_length_counts_a_line_only_where_its_cell_is() -> None:
    from ingest.phantom.geometry import Grid
    from ingest.phantom.scene import Cell, Dendrite
    from ingest.phantom.truth import cable_length_in_cell_nm, cable_length_nm

    grid = Grid((16, 64, 128), np.array(VOXEL))
    line = np.array([[160.0, 320.0, 100.0], [160.0, 320.0, 1100.0]])  # 1000 nm along x
    cell = Cell(
        label=1,
        id=7,
        type="TypeA",
        soma_center_nm=np.array([160.0, 320.0, -5000.0]),
        soma_radii_nm=np.ones(3),
        axon_radius_nm=25.0,
        dendrites=[Dendrite(line, np.full(2, 60.0), from_soma=False)],
    )
    lab = np.zeros((16, 64, 128), np.uint16)
    sl, mask = grid.capsule(line[0], line[1], 60.0, 60.0)
    assert sl is not None and mask is not None
    lab[sl][mask] = 1
    assert cable_length_nm(cell, grid) == pytest.approx(1000.0)
    assert cable_length_in_cell_nm(cell, grid, lab) == pytest.approx(1000.0, abs=1.0)
    lab[:, :, 60:] = np.where(lab[:, :, 60:] == 1, 2, lab[:, :, 60:])  # another cell from x = 600
    # the line runs through cell 1 up to the voxel before x = 600 nm, plus a voxel of slack
    assert cable_length_in_cell_nm(cell, grid, lab) == pytest.approx(505.0, abs=1.0)
