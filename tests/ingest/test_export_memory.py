"""The precomputed export streams: a volume whose cells layer is larger than the memory the
export may use is exported whole and read back right, where reading the layer whole fails; and
a killed export, started again, keeps what it had written and ends with the same files.

The export runs in a child process that first exports a tiny data set (so that every module
and thread pool is loaded), then caps its address space (``RLIMIT_AS``) at what it holds plus
:data:`HEADROOM`, less than the cells layer alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from cloudvolume import CloudVolume

from graph import tables
from ingest.precomputed.volume import downsample_image_xy, downsample_labels_xy

SHAPE = (128, 1024, 512)  # cells alone: 512 MiB as uint64; two z slabs of 64-voxel chunks
HEADROOM = 256 * 2**20  # address space the export may add to what the child holds
VOXEL_NM_ZYX = (20, 10, 10)
ROOT = Path(__file__).resolve().parents[2]


def cells(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Boxes of 16 x 100 x 100 voxels with ids above 2**53, every seventh one background."""
    box = (y // 100) * 11 + x // 100
    ids = np.uint64(2**53 + 1) + (z // 16 * 1000 + box).astype(np.uint64)
    return np.where(box % 7 == 0, np.uint64(0), ids)


def raw(z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ((x + 3 * y + 7 * z) % 251).astype(np.uint8)


def write_dataset_tables(root: Path, name: str, shape: tuple[int, int, int]) -> Path:
    """An OME-Zarr volume (written in pieces, never whole in memory) and the tables that the
    export reads (no synapses, no organelles, no morphology)."""
    group = zarr.open_group(str(root / f"{name}.zarr"), mode="w")
    meta = {"multiscales": [{"version": "0.4", "name": name,
                             "axes": [{"name": a, "type": "space", "unit": "nanometer"}
                                      for a in "zyx"],
                             "datasets": [{"path": "0", "coordinateTransformations": [
                                 {"type": "scale", "scale": list(VOXEL_NM_ZYX)}]}]}]}  # fmt: skip
    group.attrs.update(meta)
    chunks = (32, 256, 256)
    image = group.create_dataset("0", shape=shape, chunks=chunks, dtype=np.uint8)
    labels = group.create_group("labels")
    labels.attrs["labels"] = ["cells"]
    layer = labels.create_group("cells")
    layer.attrs.update(meta)
    ids = layer.create_dataset("0", shape=shape, chunks=chunks, dtype=np.uint64)
    for z0 in range(0, shape[0], chunks[0]):
        for y0 in range(0, shape[1], chunks[1]):
            box = (slice(z0, min(z0 + chunks[0], shape[0])),
                   slice(y0, min(y0 + chunks[1], shape[1])), slice(0, shape[2]))  # fmt: skip
            ids[box] = cells(*np.ogrid[box])
            image[box] = raw(*np.ogrid[box])
    folder = root / f"{name}_tables"
    tables.write_meta(folder, {"dataset": name, "source": str(root / f"{name}.zarr")})
    for table in ("synapses", "elements"):
        tables.write_table(folder, table, tables.SCHEMAS[table].empty_table().to_pandas())
    return folder


CHILD = """
import json, resource, sys
import numpy as np
from graph import tables
from ingest.export import export_precomputed
from ingest.volume import open_volume

warm, big, out, headroom = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
export_precomputed(warm, out)  # loads every module and thread pool before the cap
def status(key):  # bytes; VmHWM (peak RSS) is this process's own, unlike ru_maxrss after exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))
held, warm_peak = status("VmSize"), status("VmHWM")
resource.setrlimit(resource.RLIMIT_AS, (held + headroom, held + headroom))
try:  # the old export read the cells layer whole: it cannot under this cap
    np.asarray(open_volume(tables.read_meta(big)["source"]).labels["cells"][...])
    whole = "read"
except MemoryError:
    whole = "MemoryError"
export_precomputed(big, out)
print(json.dumps({"whole_read": whole, "warm_peak_rss": warm_peak, "peak_rss": status("VmHWM")}))
"""


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tables of a tiny data set (to warm up with) and of the big one."""
    root = tmp_path_factory.mktemp("volumes")
    return write_dataset_tables(root, "warm", (8, 64, 64)), write_dataset_tables(root, "big", SHAPE)


def check_export(out: Path) -> None:
    """cloud-volume reads back the cells and the image of ``out`` (a precomputed data set)."""
    seg = CloudVolume(f"file://{out}/segmentation", progress=False)
    assert seg.dtype == np.uint64 and len(seg.available_mips) == 5  # 1024 -> 64 in y
    z, y, x = np.ogrid[50:80, 0:1024, 400:512]  # across chunk, slab and zarr-chunk borders
    got = np.asarray(seg[400:512, 0:1024, 50:80])[..., 0].transpose(2, 1, 0)
    np.testing.assert_array_equal(got, cells(z, y, x))
    top = np.asarray(CloudVolume(f"file://{out}/segmentation", mip=4, progress=False)[:, :, :])
    for z0 in range(0, SHAPE[0], 16):  # the cells change only every 16 sections
        plane = cells(*np.ogrid[z0 : z0 + 1, 0 : SHAPE[1], 0 : SHAPE[2]])
        for _ in range(4):
            plane = downsample_labels_xy(plane)
        for zz in range(z0, z0 + 16):
            np.testing.assert_array_equal(top[:, :, zz, 0].T, plane[0])
    image = CloudVolume(f"file://{out}/image", mip=1, progress=False)
    expected = downsample_image_xy(raw(*np.ogrid[60:70, 200:600, 100:500]))  # even starts
    got = np.asarray(image[50:250, 100:300, 60:70])[..., 0].transpose(2, 1, 0)
    np.testing.assert_array_equal(got, expected)


def test_a_volume_larger_than_the_memory_cap_exports_and_reads_back_right(volumes, tmp_path):
    warm, big = volumes
    cells_bytes = int(np.prod(SHAPE)) * 8
    assert cells_bytes >= 2 * HEADROOM
    out = tmp_path / "precomputed"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(warm), str(big), str(out), str(HEADROOM)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["whole_read"] == "MemoryError"  # the negative control
    assert report["peak_rss"] < cells_bytes  # the whole process, imports included
    assert report["peak_rss"] - report["warm_peak_rss"] < HEADROOM
    check_export(out / "big")


EXPORT = (
    "import sys; from ingest.export import export_precomputed; export_precomputed(*sys.argv[1:])"
)


def test_a_killed_export_resumes_keeping_the_chunks_it_had_written(volumes, tmp_path):
    _, big = volumes
    out = tmp_path / "precomputed"
    cmd = [sys.executable, "-c", EXPORT, str(big), str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    top = "160_160_20"  # the segmentation's top scale: one chunk per z slab
    first_slab: list[Path] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not first_slab:
        first_slab = list(out.glob(f".big.partial-*/segmentation/.{top}.partial-*/0-*_0-*_0-64"))
        time.sleep(0.005)
    assert proc.poll() is None, "the export ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "big").exists()
    kept = os.stat(first_slab[0]).st_ino

    resumed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert os.stat(out / "big" / "segmentation" / top / first_slab[0].name).st_ino == kept
    assert sorted(p.name for p in out.iterdir()) == ["big"]  # no temporary left
    assert not [p for p in (out / "big").rglob(".*")]
    check_export(out / "big")
