"""Neuroglancer precomputed writers, judged from outside: cloud-volume and navis read the files
back, and small decoders written from the spec text (Neuroglancer's ``volume.md``,
``compressed_segmentation/README.md`` and ``annotations.md``) check the bytes themselves."""

from __future__ import annotations

import json
from pathlib import Path

import cloudvolume
import navis
import numpy as np
import pytest
from cloudvolume import CloudVolume

from ingest.precomputed import (
    Annotations,
    Compartment,
    write_annotations,
    write_dataset,
    write_image,
    write_meshes,
    write_segmentation,
    write_skeletons,
)
from ingest.precomputed.volume import downsample_image_xy, downsample_labels_xy

VOXEL_NM_ZYX = (40.0, 8.0, 8.0)
SHAPE_ZYX = (5, 7, 9)  # not a multiple of the chunk: the last chunks are truncated
CHUNK_XYZ = (4, 4, 2)
BIG = 2**53 + 1  # a float64 (and a JavaScript number) cannot tell it from 2**53
HUGE = 2**64 - 2
SMALL = 7


def cv(path: Path, mip: int = 0) -> CloudVolume:
    return CloudVolume("file://" + str(path), mip=mip, progress=False)


@pytest.fixture(scope="module")
def raw_zyx() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, SHAPE_ZYX, dtype=np.uint8)


@pytest.fixture(scope="module")
def labels_zyx() -> np.ndarray:
    labels = np.zeros(SHAPE_ZYX, np.uint64)
    labels[1:4, 2:6, 3:8] = BIG
    labels[:, :2, :2] = HUGE
    labels[4, 6, 8] = SMALL
    return labels


def tetrahedron(offset_nm: float) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.array([[0, 0, 0], [80, 0, 0], [0, 80, 0], [0, 0, 40]], np.float32) + offset_nm
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.uint32)
    return vertices, faces


# --- image ----------------------------------------------------------------------------------


def test_cloudvolume_reads_back_the_raw_image_exactly_with_its_resolution(tmp_path, raw_zyx):
    write_image(tmp_path / "image", raw_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ, num_scales=1)
    vol = cv(tmp_path / "image")
    assert list(vol.resolution) == [8, 8, 40]
    assert tuple(vol.shape) == (9, 7, 5, 1)
    assert vol.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(vol[:, :, :])[..., 0], raw_zyx.transpose(2, 1, 0))


def test_raw_chunks_are_named_by_voxel_ranges_and_stored_x_fastest(tmp_path, raw_zyx):
    write_image(tmp_path / "image", raw_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ, num_scales=1)
    info = json.loads((tmp_path / "image" / "info").read_text())
    scale = info["scales"][0]
    assert scale["key"] == "8_8_40" and scale["size"] == [9, 7, 5]
    assert scale["chunk_sizes"] == [[4, 4, 2]] and scale["encoding"] == "raw"
    names = {p.name for p in (tmp_path / "image" / "8_8_40").iterdir()}
    assert len(names) == 3 * 2 * 3 and "8-9_4-7_4-5" in names  # truncated corner chunk
    # volume.md: [x, y, z, channel] in Fortran order, consecutive x contiguous
    data = (tmp_path / "image" / "8_8_40" / "4-8_0-4_2-4").read_bytes()
    block_xyz = np.frombuffer(data, np.uint8).reshape((4, 4, 2), order="F")
    np.testing.assert_array_equal(block_xyz, raw_zyx[2:4, 0:4, 4:8].transpose(2, 1, 0))


def test_a_downsampled_scale_halves_x_and_y_and_cloudvolume_reads_it(tmp_path, raw_zyx):
    write_image(tmp_path / "image", raw_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ, num_scales=2)
    vol = cv(tmp_path / "image", mip=1)
    assert list(vol.resolution) == [16, 16, 40]
    assert tuple(vol.shape[:3]) == (5, 4, 5)
    expected = downsample_image_xy(raw_zyx).transpose(2, 1, 0)
    np.testing.assert_array_equal(np.asarray(vol[:, :, :])[..., 0], expected)


def test_the_default_number_of_scales_stops_when_xy_fits_one_chunk(tmp_path, raw_zyx):
    info = write_image(tmp_path / "image", raw_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ)
    assert [s["size"][:2] for s in info["scales"]] == [[9, 7], [5, 4], [3, 2]]


def test_a_jpeg_image_reads_back_close_to_the_original(tmp_path):
    z, y, x = np.mgrid[0:4, 0:16, 0:16]
    smooth = (x * 8 + y * 4 + z * 2).astype(np.uint8)
    write_image(tmp_path / "image", smooth, VOXEL_NM_ZYX, chunk_xyz=(16, 16, 4), encoding="jpeg")
    got = np.asarray(cv(tmp_path / "image")[:, :, :])[..., 0].astype(int)
    assert np.abs(got - smooth.transpose(2, 1, 0)).max() <= 8


# --- segmentation ---------------------------------------------------------------------------


def test_cloudvolume_reads_back_the_segmentation_exactly_even_ids_above_2_53(tmp_path, labels_zyx):
    write_segmentation(
        tmp_path / "seg",
        labels_zyx,
        VOXEL_NM_ZYX,
        chunk_xyz=CHUNK_XYZ,
        compressed_segmentation_block=(4, 2, 1),
        num_scales=1,
    )
    vol = cv(tmp_path / "seg")
    assert vol.layer_type == "segmentation" and vol.dtype == np.uint64
    assert list(vol.resolution) == [8, 8, 40]
    got = np.asarray(vol[:, :, :])[..., 0]
    np.testing.assert_array_equal(got, labels_zyx.transpose(2, 1, 0))
    assert {int(v) for v in np.unique(got)} == {0, SMALL, BIG, HUGE}


def test_the_segmentation_info_names_its_encoding_block_mesh_and_skeletons(tmp_path, labels_zyx):
    info = write_segmentation(tmp_path / "seg", labels_zyx, VOXEL_NM_ZYX, num_scales=1)
    on_disk = json.loads((tmp_path / "seg" / "info").read_text())
    assert on_disk == info
    assert info["type"] == "segmentation" and info["data_type"] == "uint64"
    assert info["num_channels"] == 1
    assert info["mesh"] == "mesh" and info["skeletons"] == "skeletons"
    scale = info["scales"][0]
    assert scale["encoding"] == "compressed_segmentation"
    assert scale["compressed_segmentation_block_size"] == [8, 8, 8]


def decode_compressed_segmentation(
    data: bytes, size_xyz: tuple[int, ...], block_xyz: tuple[int, ...]
) -> np.ndarray:
    """Decode one uint64 channel, written from compressed_segmentation/README.md only."""
    words = np.frombuffer(data, "<u4")
    base = int(words[0])  # multi-channel header: offset of channel 0, which must be 1
    assert base == 1
    grid = [-(-s // b) for s, b in zip(size_xyz, block_xyz, strict=True)]
    out = np.zeros(size_xyz, np.uint64)
    for gz in range(grid[2]):
        for gy in range(grid[1]):
            for gx in range(grid[0]):
                header = base + 2 * (gx + grid[0] * (gy + grid[1] * gz))
                table = base + int(words[header] & 0xFFFFFF)
                bits = int(words[header] >> 24)
                values = base + int(words[header + 1])
                for z in range(block_xyz[2]):
                    for y in range(block_xyz[1]):
                        for x in range(block_xyz[0]):
                            vx = gx * block_xyz[0] + x
                            vy = gy * block_xyz[1] + y
                            vz = gz * block_xyz[2] + z
                            if vx >= size_xyz[0] or vy >= size_xyz[1] or vz >= size_xyz[2]:
                                continue
                            index = 0
                            if bits:
                                bit = bits * (x + block_xyz[0] * (y + block_xyz[1] * z))
                                word = int(words[values + bit // 32])
                                index = (word >> (bit % 32)) & ((1 << bits) - 1)
                            lo = int(words[table + 2 * index])
                            hi = int(words[table + 2 * index + 1])
                            out[vx, vy, vz] = lo | (hi << 32)
    return out


def test_segmentation_chunks_decode_with_a_decoder_written_from_the_spec(tmp_path, labels_zyx):
    block = (4, 2, 1)
    write_segmentation(
        tmp_path / "seg",
        labels_zyx,
        VOXEL_NM_ZYX,
        chunk_xyz=CHUNK_XYZ,
        compressed_segmentation_block=block,
        num_scales=1,
    )
    chunk_dir = tmp_path / "seg" / "8_8_40"
    for path in chunk_dir.iterdir():
        (x0, x1), (y0, y1), (z0, z1) = (map(int, r.split("-")) for r in path.name.split("_"))
        got = decode_compressed_segmentation(path.read_bytes(), (x1 - x0, y1 - y0, z1 - z0), block)
        np.testing.assert_array_equal(got, labels_zyx[z0:z1, y0:y1, x0:x1].transpose(2, 1, 0))


def test_downsampled_labels_keep_a_majority_id_exactly(tmp_path, labels_zyx):
    write_segmentation(tmp_path / "seg", labels_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ)
    vol = cv(tmp_path / "seg", mip=1)
    got = np.asarray(vol[:, :, :])[..., 0]
    np.testing.assert_array_equal(got, downsample_labels_xy(labels_zyx).transpose(2, 1, 0))
    assert int(got[0, 0, 0]) == HUGE and BIG in {int(v) for v in np.unique(got)}


# --- streaming ------------------------------------------------------------------------------


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("block_bytes", [1, 4 * 4 * 2 * 8 * 4, 10**9])  # 1 chunk, 2x2, all
def test_a_zarr_input_streamed_in_any_block_size_gives_the_same_files_as_numpy(
    tmp_path, raw_zyx, labels_zyx, block_bytes
):
    import zarr

    wide = np.tile(labels_zyx, (1, 3, 4))  # 21 x 36 voxels in y, x: 6 x 9 chunks, 5 scales
    image = np.tile(raw_zyx, (1, 3, 4))
    stored = zarr.open_group(str(tmp_path / "v.zarr"), mode="w")
    lazy_labels = stored.create_dataset("cells", data=wide, chunks=(2, 8, 8))
    lazy_image = stored.create_dataset("raw", data=image, chunks=(2, 8, 8))
    for name, source in (("numpy", (image, wide)), ("zarr", (lazy_image, lazy_labels))):
        bb = 10**9 if name == "numpy" else block_bytes
        write_image(tmp_path / name / "image", source[0], VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ,
                    block_bytes=bb)  # fmt: skip
        write_segmentation(tmp_path / name / "seg", source[1], VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ,
                           block_bytes=bb)  # fmt: skip
    assert tree_bytes(tmp_path / "zarr") == tree_bytes(tmp_path / "numpy")
    assert len(json.loads((tmp_path / "zarr" / "seg" / "info").read_text())["scales"]) == 5
    got = np.asarray(cv(tmp_path / "zarr" / "seg", mip=2)[:, :, :])[..., 0]
    expected = downsample_labels_xy(downsample_labels_xy(wide))
    np.testing.assert_array_equal(got, expected.transpose(2, 1, 0))


class CountedReads:
    """A lazily read volume that counts its block reads and, like a killed process, stops
    (``KeyboardInterrupt``) at read number ``stop``."""

    def __init__(self, array: np.ndarray, stop: int | None = None) -> None:
        self.array, self.stop, self.reads = array, stop, 0
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key):
        self.reads += 1
        if self.reads == self.stop:
            raise KeyboardInterrupt
        return self.array[key]


def test_an_interrupted_write_with_a_resume_key_goes_on_where_it_stopped(
    tmp_path, raw_zyx, labels_zyx
):
    wide, image = np.tile(labels_zyx, (1, 3, 4)), np.tile(raw_zyx, (1, 3, 4))
    args = {"voxel_size_nm_zyx": VOXEL_NM_ZYX, "chunk_xyz": CHUNK_XYZ, "num_scales": 2,
            "block_bytes": 1, "meshes": {BIG: tetrahedron(0.0)}}  # fmt: skip
    reference = write_dataset(tmp_path / "ref" / "tiny", raw_zyx=image, labels_zyx=wide, **args)
    total = CountedReads(wide)
    write_dataset(tmp_path / "all" / "tiny", raw_zyx=image, labels_zyx=total, **args)
    assert total.reads == 3 * 6 * 9  # z slabs x chunks in y x chunks in x, one read each

    killed = CountedReads(wide, stop=total.reads // 2)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path / "run" / "tiny", raw_zyx=image, labels_zyx=killed,
                      resume_key="v1", **args)  # fmt: skip
    assert not (tmp_path / "run" / "tiny").exists()
    image_again, resumed = CountedReads(image), CountedReads(wide)
    out = write_dataset(tmp_path / "run" / "tiny", raw_zyx=image_again, labels_zyx=resumed,
                        resume_key="v1", **args)  # fmt: skip
    assert image_again.reads == 0  # the image layer was whole: kept
    assert resumed.reads <= total.reads - total.reads // 2 + 4  # at most one top chunk again
    assert tree_bytes(out) == tree_bytes(reference)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["tiny"]  # nothing hidden

    other = CountedReads(wide)  # another key (another input): nothing is reused
    write_dataset(tmp_path / "run" / "tiny", raw_zyx=image, labels_zyx=other, resume_key="v2",
                  **args)  # fmt: skip
    assert other.reads == total.reads


def test_a_second_writer_with_the_same_resume_key_is_refused_in_one_sentence(tmp_path):
    from ingest.precomputed.atomic import replacing_dir

    with replacing_dir(tmp_path / "tiny", resume_key="k1"):
        with pytest.raises(FileExistsError, match="is being written by another process"):
            with replacing_dir(tmp_path / "tiny", resume_key="k1"):
                pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_negative_labels_are_refused_and_leave_nothing_behind(tmp_path, labels_zyx):
    signed = labels_zyx.astype(np.int64) % 1000
    signed[4, 6, 8] = -3  # in the last block read
    with pytest.raises(ValueError, match="must not hold negative ids"):
        write_segmentation(tmp_path / "seg", signed, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ,
                           block_bytes=1)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


# --- meshes ---------------------------------------------------------------------------------


@pytest.fixture
def seg_with_meshes(tmp_path, labels_zyx) -> Path:
    seg = tmp_path / "seg"
    write_segmentation(seg, labels_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ, num_scales=1)
    write_meshes(seg, {BIG: tetrahedron(24.0), SMALL: tetrahedron(0.0)})
    return seg


def test_cloudvolume_returns_the_mesh_vertices_and_faces_we_wrote(seg_with_meshes):
    vol = cv(seg_with_meshes)
    for segment_id, offset in ((BIG, 24.0), (SMALL, 0.0)):
        mesh = vol.mesh.get(segment_id, remove_duplicate_vertices=False)
        vertices, faces = tetrahedron(offset)
        np.testing.assert_array_equal(mesh.vertices, vertices)
        np.testing.assert_array_equal(mesh.faces, faces)


def test_the_legacy_mesh_layout_is_info_manifest_and_fragment(seg_with_meshes):
    mesh_dir = seg_with_meshes / "mesh"
    assert json.loads((mesh_dir / "info").read_text()) == {"@type": "neuroglancer_legacy_mesh"}
    manifest = json.loads((mesh_dir / f"{BIG}:0").read_text())
    assert manifest == {"fragments": [str(BIG)]}
    data = (mesh_dir / str(BIG)).read_bytes()
    assert int(np.frombuffer(data[:4], "<u4")[0]) == 4
    assert len(data) == 4 + 4 * 12 + 4 * 12  # header, 4 vertices, 4 triangles


def test_navis_reads_the_meshes_with_their_ids(seg_with_meshes):
    meshes = navis.read_precomputed(str(seg_with_meshes / "mesh"), datatype="mesh")
    by_id = {str(n.id): n for n in meshes}
    assert set(by_id) == {str(BIG), str(SMALL)}
    vertices, faces = tetrahedron(24.0)
    np.testing.assert_array_equal(by_id[str(BIG)].vertices, vertices)
    np.testing.assert_array_equal(by_id[str(BIG)].faces, faces)


# --- skeletons ------------------------------------------------------------------------------

# a soma in the middle: an axon to one side, a dendrite (written "backwards") to the other
SKELETON_VERTICES = np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0], [30, 5, 0], [40, 10, 0]], "f4")
SKELETON_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
SKELETON_RADIUS = np.array([1.5, 2.0, 40.0, 3.0, 2.5])
SKELETON_COMPARTMENT = np.array(
    [Compartment.DENDRITE, Compartment.DENDRITE, Compartment.SOMA, Compartment.AXON, 2]
)


@pytest.fixture
def seg_with_skeletons(tmp_path, labels_zyx) -> Path:
    seg = tmp_path / "seg"
    write_segmentation(seg, labels_zyx, VOXEL_NM_ZYX, chunk_xyz=CHUNK_XYZ, num_scales=1)
    attributes = {"radius": SKELETON_RADIUS, "compartment": SKELETON_COMPARTMENT}
    single = {"radius": np.array([5.0]), "compartment": np.array([0])}
    write_skeletons(
        seg,
        {
            BIG: (SKELETON_VERTICES, SKELETON_EDGES, attributes),
            SMALL: (np.zeros((1, 3), "f4"), np.zeros((0, 2)), single),
        },
    )
    return seg


def undirected(edges: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(int(v) for v in e) for e in edges}


def test_cloudvolume_returns_vertices_edges_radius_and_compartment(seg_with_skeletons):
    skel = cv(seg_with_skeletons).skeleton.get(BIG)
    np.testing.assert_array_equal(skel.vertices, SKELETON_VERTICES)
    assert undirected(skel.edges) == undirected(SKELETON_EDGES)
    np.testing.assert_array_equal(skel.radius, SKELETON_RADIUS.astype("f4"))
    assert skel.compartment.dtype == np.float32  # Neuroglancer draws only float32 attributes
    np.testing.assert_array_equal(skel.compartment, SKELETON_COMPARTMENT)
    single = cv(seg_with_skeletons).skeleton.get(SMALL)
    assert len(single.vertices) == 1 and len(single.edges) == 0


def test_the_skeleton_info_declares_radius_and_a_float32_compartment(seg_with_skeletons):
    info = json.loads((seg_with_skeletons / "skeletons" / "info").read_text())
    assert info["@type"] == "neuroglancer_skeletons"
    assert info["transform"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    assert info["vertex_attributes"] == [
        {"id": "radius", "data_type": "float32", "num_components": 1},
        {"id": "compartment", "data_type": "float32", "num_components": 1},
    ]


def test_navis_reads_a_tree_rooted_at_the_soma_with_the_attributes(seg_with_skeletons):
    neurons = navis.read_precomputed(str(seg_with_skeletons / "skeletons"), datatype="skeleton")
    by_id = {str(n.id): n for n in neurons}
    tree = by_id[str(BIG)]
    assert list(tree.root) == [2] and tree.n_trees == 1
    nodes = tree.nodes.set_index("node_id").sort_index()
    assert nodes["parent_id"].tolist() == [1, 2, -1, 2, 3]
    np.testing.assert_array_equal(nodes["radius"], SKELETON_RADIUS.astype("f4"))
    np.testing.assert_array_equal(nodes["compartment"], SKELETON_COMPARTMENT)


def test_skeletons_with_different_attributes_are_refused(tmp_path):
    one = (np.zeros((1, 3), "f4"), np.zeros((0, 2)), {"radius": np.ones(1)})
    other = (np.zeros((1, 3), "f4"), np.zeros((0, 2)), {"compartment": np.ones(1)})
    with pytest.raises(ValueError, match="same vertex attributes"):
        write_skeletons(tmp_path / "seg", {1: one, 2: other})
    assert not (tmp_path / "seg" / "skeletons").exists()


# --- annotations ----------------------------------------------------------------------------

SYN_POINTS = np.array(
    [[1.5, 2.5, 0.5], [8.25, 6.5, 4.75], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0], [8.0, 1.0, 4.0]]
)
SYN_IDS = np.array([10, 2**60 + 3, 12, 13, 14], np.uint64)
SYN_PROPERTIES = {
    "confidence": np.array([0.5, 0.9, 1.0, 0.0, 0.25]),
    "area_nm2": np.array([100.0, 250.5, 3.0, 4.0, 5.0]),
    "synapse_type": ["asymmetric", None, "symmetric", "unknown", "asymmetric"],
}
SYN_TYPE_CODES = [1, 0, 2, 0, 1]
SYN_PRE = np.array([BIG, SMALL, SMALL, 0, BIG], np.uint64)
SYN_POST = np.array([SMALL, BIG, 0, 0, HUGE], np.uint64)
BOUNDS = ((0, 0, 0), (9, 7, 5))

PROPERTY_FORMATS = {  # annotations.md: type -> (numpy little-endian dtype, components)
    "float32": ("<f4", 1),
    "uint32": ("<u4", 1),
    "int32": ("<i4", 1),
    "uint16": ("<u2", 1),
    "int16": ("<i2", 1),
    "uint8": ("u1", 1),
    "int8": ("i1", 1),
    "rgb": ("u1", 3),
    "rgba": ("u1", 4),
}


class SpecDecoder:
    """Reads an annotation layer from annotations.md alone (not from the writer's code)."""

    def __init__(self, root: Path):
        self.root = root
        self.info = json.loads((root / "info").read_text())
        self.rank = len(self.info["dimensions"])
        # binary order: 4-byte types, then 2-byte, then 1-byte types (each in info order)
        groups = {4: [], 2: [], 1: []}
        for p in self.info["properties"]:
            dtype, n = PROPERTY_FORMATS[p["type"]]
            groups[np.dtype(dtype).itemsize].append((p["id"], dtype, n))
        self.fields = groups[4] + groups[2] + groups[1]
        size = 4 * self.rank + sum(np.dtype(d).itemsize * n for _, d, n in self.fields)
        self.record_bytes = size + (-size) % 4  # padded to a multiple of 4

    def record(self, data: bytes, offset: int) -> dict:
        point = np.frombuffer(data, "<f4", self.rank, offset).tolist()
        at = offset + 4 * self.rank
        out = {"point": point}
        for name, dtype, n in self.fields:
            values = np.frombuffer(data, dtype, n, at)
            out[name] = values[0].item() if n == 1 else values.tolist()
            at += np.dtype(dtype).itemsize * n
        assert all(b == 0 for b in data[at : offset + self.record_bytes])  # zero padding
        return out

    def by_id(self, annotation_id: int) -> dict:
        data = (self.root / self.info["by_id"]["key"] / str(annotation_id)).read_bytes()
        out = self.record(data, 0)
        at = self.record_bytes
        for rel in self.info["relationships"]:
            (count,) = np.frombuffer(data, "<u4", 1, at)
            at += 4
            out[rel["id"]] = [int(v) for v in np.frombuffer(data, "<u8", int(count), at)]
            at += 8 * int(count)
        assert at == len(data)
        return out

    def annotation_list(self, path: Path) -> dict[int, dict]:
        data = path.read_bytes()
        (count,) = np.frombuffer(data, "<u8", 1, 0)
        count = int(count)
        assert len(data) == 8 + count * (self.record_bytes + 8)
        records = [self.record(data, 8 + i * self.record_bytes) for i in range(count)]
        ids = np.frombuffer(data, "<u8", count, 8 + count * self.record_bytes)
        return {int(i): r for i, r in zip(ids, records, strict=True)}


@pytest.fixture
def synapses(tmp_path) -> Path:
    write_annotations(
        tmp_path / "synapses",
        "synapse",
        SYN_POINTS,
        SYN_IDS,
        SYN_PROPERTIES,
        {"pre_synaptic_cell": SYN_PRE, "post_synaptic_cell": SYN_POST},
        VOXEL_NM_ZYX,
        bounds_xyz_vx=BOUNDS,
        limit=2,  # forces several spatial index levels
    )
    return tmp_path / "synapses"


def test_the_annotation_info_follows_the_spec(synapses):
    info = json.loads((synapses / "info").read_text())
    assert info["@type"] == "neuroglancer_annotations_v1"
    assert info["annotation_type"] == "POINT"
    assert list(info["dimensions"]) == ["x", "y", "z"]
    assert info["dimensions"]["x"] == [8e-9, "m"] and info["dimensions"]["z"] == [4e-8, "m"]
    assert info["lower_bound"] == [0, 0, 0] and info["upper_bound"] == [9, 7, 5]
    assert [p["id"] for p in info["properties"]] == ["confidence", "area_nm2", "synapse_type"]
    enum = next(p for p in info["properties"] if p["id"] == "synapse_type")
    assert enum["type"] == "uint8"
    assert dict(zip(enum["enum_values"], enum["enum_labels"], strict=True)) == {
        0: "unknown",
        1: "asymmetric",
        2: "symmetric",
    }
    assert [r["id"] for r in info["relationships"]] == ["pre_synaptic_cell", "post_synaptic_cell"]
    assert info["by_id"] == {"key": "by_id"}
    extent = np.array(info["upper_bound"]) - np.array(info["lower_bound"])
    assert info["spatial"][0]["grid_shape"] == [1, 1, 1]
    for level in info["spatial"]:
        assert np.allclose(np.array(level["grid_shape"]) * level["chunk_size"], extent)


def test_each_annotation_by_id_decodes_with_its_properties_and_related_segments(synapses):
    decoder = SpecDecoder(synapses)
    for i, annotation_id in enumerate(SYN_IDS):
        got = decoder.by_id(int(annotation_id))
        np.testing.assert_allclose(got["point"], SYN_POINTS[i])
        assert got["confidence"] == pytest.approx(SYN_PROPERTIES["confidence"][i])
        assert got["area_nm2"] == pytest.approx(SYN_PROPERTIES["area_nm2"][i])
        assert got["synapse_type"] == SYN_TYPE_CODES[i]
        assert got["pre_synaptic_cell"] == ([int(SYN_PRE[i])] if SYN_PRE[i] else [])
        assert got["post_synaptic_cell"] == ([int(SYN_POST[i])] if SYN_POST[i] else [])


def test_each_segment_lists_exactly_its_related_annotations(synapses):
    decoder = SpecDecoder(synapses)
    for rel, column in (("pre_synaptic_cell", SYN_PRE), ("post_synaptic_cell", SYN_POST)):
        key = next(r["key"] for r in decoder.info["relationships"] if r["id"] == rel)
        files = {int(p.name): p for p in (synapses / key).iterdir()}
        assert set(files) == {int(s) for s in column if s}  # 0 means none, never a file
        for segment, path in files.items():
            listed = decoder.annotation_list(path)
            assert set(listed) == {
                int(a) for a, s in zip(SYN_IDS, column, strict=True) if s == segment
            }
            for annotation_id, record in listed.items():
                assert record["point"] == decoder.by_id(annotation_id)["point"]


def test_the_spatial_index_holds_every_annotation_once_inside_its_cell(synapses):
    decoder = SpecDecoder(synapses)
    lower = np.array(decoder.info["lower_bound"], float)
    seen: list[int] = []
    assert len(decoder.info["spatial"]) > 1
    for level in decoder.info["spatial"]:
        chunk = np.array(level["chunk_size"], float)
        for path in (synapses / level["key"]).iterdir():
            cell = np.array([int(c) for c in path.name.split("_")])
            assert (cell < level["grid_shape"]).all()
            listed = decoder.annotation_list(path)
            assert 0 < len(listed)  # Neuroglancer rejects an empty (8-byte) list
            for annotation_id, record in listed.items():
                point = np.array(record["point"])
                assert (point >= lower + cell * chunk).all()
                assert (point <= lower + (cell + 1) * chunk).all()
                seen.append(annotation_id)
    assert sorted(seen) == sorted(int(i) for i in SYN_IDS)


def test_cloudvolume_reads_annotations_by_id_relationship_and_bounding_box(synapses):
    source = cloudvolume.from_cloudpath("precomputed://file://" + str(synapses), progress=False)
    by_id = source.get_by_id([int(i) for i in SYN_IDS])
    assert set(by_id) == {int(i) for i in SYN_IDS}
    big = by_id[2**60 + 3]
    np.testing.assert_allclose(big.geometry[0], SYN_POINTS[1])
    assert big.properties["synapse_type"].tolist() == [0]
    assert big.relationships["rel_pre_synaptic_cell"].tolist() == [SMALL]
    assert big.relationships["rel_post_synaptic_cell"].tolist() == [BIG]
    pre_big = source.get_by_relationship("pre_synaptic_cell", BIG)
    assert sorted(pre_big.ids.tolist()) == [10, 14]
    whole = source.get_by_bbox((slice(0, 9), slice(0, 7), slice(0, 5)), mip=0)  # level 0
    assert 0 < len(whole) and set(whole.ids.tolist()) <= {int(i) for i in SYN_IDS}


def test_mitochondria_relate_to_their_cell(tmp_path):
    info = write_annotations(
        tmp_path / "mito",
        "mitochondrion",
        np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]),
        np.array([1, 2]),
        {"volume_nm3": [1000.0, 2000.0]},
        {"cell": [BIG, BIG]},
        VOXEL_NM_ZYX,
    )
    assert info["relationships"] == [{"id": "cell", "key": "rel_cell"}]
    listed = SpecDecoder(tmp_path / "mito").annotation_list(
        tmp_path / "mito" / "rel_cell" / str(BIG)
    )
    assert set(listed) == {1, 2}
    assert listed[2]["volume_nm3"] == 2000.0


def test_an_empty_layer_has_an_info_and_no_annotation_files(tmp_path):
    info = write_annotations(
        tmp_path / "none",
        "synapse",
        np.zeros((0, 3)),
        np.zeros(0, np.uint64),
        {"confidence": []},
        {"pre_synaptic_cell": []},
        VOXEL_NM_ZYX,
    )
    assert len(info["spatial"]) == 1
    files = [p for p in (tmp_path / "none").rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["info"]
    source = cloudvolume.from_cloudpath("precomputed://file://" + str(tmp_path / "none"))
    assert source.summary()["relationships"] == ["pre_synaptic_cell"]  # the info is accepted


def test_unknown_properties_and_out_of_range_values_are_refused(tmp_path):
    points, ids = np.zeros((1, 3)), np.array([1])
    with pytest.raises(ValueError, match="no properties"):
        write_annotations(tmp_path / "a", "synapse", points, ids, {"colour": [1]}, {}, VOXEL_NM_ZYX)
    with pytest.raises(ValueError, match="outside its enum"):
        write_annotations(
            tmp_path / "a", "synapse", points, ids, {"synapse_type": [7]}, {}, VOXEL_NM_ZYX
        )
    with pytest.raises(ValueError, match="unique"):
        write_annotations(tmp_path / "a", "synapse", np.zeros((2, 3)), [1, 1], {}, {}, VOXEL_NM_ZYX)
    assert not (tmp_path / "a").exists()


# --- the whole data set ---------------------------------------------------------------------


def dataset_inputs(raw_zyx, labels_zyx) -> dict:
    attributes = {"radius": SKELETON_RADIUS, "compartment": SKELETON_COMPARTMENT}
    return {
        "voxel_size_nm_zyx": VOXEL_NM_ZYX,
        "raw_zyx": raw_zyx,
        "labels_zyx": labels_zyx,
        "meshes": {BIG: tetrahedron(0.0)},
        "skeletons": {BIG: (SKELETON_VERTICES, SKELETON_EDGES, attributes)},
        "annotations": {
            "synapses": Annotations(
                "synapse",
                SYN_POINTS,
                SYN_IDS,
                SYN_PROPERTIES,
                {"pre_synaptic_cell": SYN_PRE, "post_synaptic_cell": SYN_POST},
            ),
            "mitochondria": Annotations(
                "mitochondrion", SYN_POINTS[:2], np.array([1, 2]), {}, {"cell": [BIG, SMALL]}
            ),
        },
        "chunk_xyz": CHUNK_XYZ,
    }


def test_a_data_set_has_the_documented_layout_and_index(tmp_path, raw_zyx, labels_zyx):
    out = write_dataset(tmp_path / "tiny", **dataset_inputs(raw_zyx, labels_zyx))
    assert sorted(p.name for p in out.iterdir()) == [
        "image",
        "layers.json",
        "mitochondria",
        "segmentation",
        "synapses",
    ]
    assert {"mesh", "skeletons", "info"} <= {p.name for p in (out / "segmentation").iterdir()}
    index = json.loads((out / "layers.json").read_text())
    assert index["dataset"] == "tiny" and index["size_xyz"] == [9, 7, 5]
    assert [(layer["name"], layer["type"]) for layer in index["layers"]] == [
        ("image", "image"),
        ("segmentation", "segmentation"),
        ("synapses", "annotation"),
        ("mitochondria", "annotation"),
    ]
    assert json.loads((out / "synapses" / "info").read_text())["upper_bound"] == [9, 7, 5]
    np.testing.assert_array_equal(
        np.asarray(cv(out / "segmentation")[:, :, :])[..., 0], labels_zyx.transpose(2, 1, 0)
    )
    assert cv(out / "segmentation").skeleton.get(BIG).compartment.tolist() == list(
        SKELETON_COMPARTMENT
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # no temporary left


def test_a_failed_write_leaves_the_previous_data_set_whole(tmp_path, raw_zyx, labels_zyx):
    out = write_dataset(tmp_path / "tiny", **dataset_inputs(raw_zyx, labels_zyx))
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    broken = dataset_inputs(np.zeros_like(raw_zyx), labels_zyx)
    broken["annotations"]["synapses"].kind = "no_such_kind"  # fails after image and labels
    with pytest.raises(ValueError, match="unknown annotation kind"):
        write_dataset(tmp_path / "tiny", **broken)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    np.testing.assert_array_equal(
        np.asarray(cv(out / "image")[:, :, :])[..., 0], raw_zyx.transpose(2, 1, 0)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_a_second_write_replaces_the_first_entirely(tmp_path, raw_zyx, labels_zyx):
    write_dataset(tmp_path / "tiny", **dataset_inputs(raw_zyx, labels_zyx))
    out = write_dataset(tmp_path / "tiny", voxel_size_nm_zyx=VOXEL_NM_ZYX, raw_zyx=raw_zyx)
    assert sorted(p.name for p in out.iterdir()) == ["image", "layers.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]  # the old one is gone too


def test_a_data_set_name_the_api_cannot_serve_is_refused(tmp_path, raw_zyx):
    with pytest.raises(ValueError, match="must match"):
        write_dataset(tmp_path / "no-dashes", voxel_size_nm_zyx=VOXEL_NM_ZYX, raw_zyx=raw_zyx)
