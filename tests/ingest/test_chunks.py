"""Chunked ingest: objects across chunk borders, independence of the chunking, resuming a
killed ingest, and running on a dask.distributed cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph import tables
from ingest.phantom import make_phantom
from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume
from tests.volumes import write_volume

A, B = 2**60 + 1, 7
NAMES = ("neurons", "synapses", "elements", "close_to")


def corner_volume(path: Path) -> Path:
    """A mitochondrion ball centred on a corner where 8 chunks of (8, 16, 24) meet, and a
    synapse from A to B whose junction crosses chunk borders in z, y and x."""
    shape = (16, 32, 48)
    cells = np.zeros(shape, np.uint64)
    cells[:, :, 1:24] = A
    cells[:, :, 24:47] = B
    zz, yy, xx = np.ogrid[:16, :32, :48]
    mito = ((zz - 7.5) ** 2 + (yy - 15.5) ** 2 + ((xx - 12.5) / 2) ** 2 <= 12).astype(np.uint8)
    junction = np.zeros(shape, np.uint8)
    junction[5:11, 12:20, 22:26] = 1
    vesicles = np.zeros(shape, np.uint8)
    vesicles[6:10, 14:18, 17:20] = 1
    labels = {
        "cells": cells,
        "mitochondria": mito,
        "vesicle_clouds": vesicles,
        "synaptic_junctions": junction,
        "synapse_type": junction * 2,
    }
    return write_volume(path, None, labels)


def _run(path: Path, data: Path, **settings) -> dict[str, pd.DataFrame]:
    out = run_stages(
        open_volume(path),
        "t",
        IngestSettings(data_dir=data, **settings),
        progress=False,
        echo=lambda *_: None,
    )
    return {n: tables.read_table(out, n) for n in NAMES}


def test_objects_across_chunk_corners_are_one_object_each(tmp_path):
    path = corner_volume(tmp_path / "v.zarr")
    chunked = _run(path, tmp_path / "a", chunk_zyx=(8, 16, 24), workers=1)
    whole = _run(path, tmp_path / "b", chunk_zyx=(16, 32, 48), workers=1)
    mito = chunked["elements"][chunked["elements"]["type"] == "mitochondrion"]
    assert len(mito) == 1 and int(mito["body_id"].iloc[0]) == A
    assert int(mito["voxels"].iloc[0]) == int(open_volume(path).labels["mitochondria"][...].sum())
    (syn,) = chunked["synapses"].itertuples()
    assert (int(syn.pre_body_id), int(syn.post_body_id)) == (A, B)
    assert syn.junction_voxels == 6 * 8 * 4 and syn.synapse_type == "symmetric"
    assert syn.contact_area_nm2 == pytest.approx(6 * 8 * 20 * 10)  # faces normal to x: vz * vy
    assert syn.area_nm2 == pytest.approx(syn.mesh_area_nm2 / 2)  # the cleft: half the mesh
    # the inner point of a cell is searched chunk by chunk, so it may differ
    for t in (chunked, whole):
        t["neurons"] = t["neurons"].drop(columns=["x", "y", "z"])
    for name in NAMES:
        pd.testing.assert_frame_equal(chunked[name], whole[name], check_dtype=False)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("chunks") / "p.zarr"
    make_phantom(path, seed=4, shape_zyx=(32, 128, 128))
    return path


def _comparable(t: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Tables without ids whose numbering follows the chunk order."""
    syn = (
        t["synapses"]
        .drop(columns="synapse_id")
        .sort_values(["pre_body_id", "post_body_id", "x", "y", "z"])
    )
    el = t["elements"].drop(columns="element_id").sort_values(["type", "body_id", "x", "y", "z"])
    neurons = t["neurons"].drop(columns=["x", "y", "z"])  # the inner point depends on chunks
    return {
        "synapses": syn.reset_index(drop=True),
        "elements": el.reset_index(drop=True),
        "neurons": neurons,
    }


def test_tables_do_not_depend_on_the_chunking(phantom, tmp_path):
    small = _comparable(_run(phantom, tmp_path / "a", chunk_zyx=(8, 48, 40), workers=2))
    whole = _comparable(_run(phantom, tmp_path / "b", chunk_zyx=(32, 128, 128), workers=1))
    assert len(whole["synapses"]) > 5
    for name, frame in whole.items():
        pd.testing.assert_frame_equal(small[name], frame, check_dtype=False)


def test_a_killed_ingest_resumes_and_ends_with_the_same_tables(phantom, tmp_path, connectome_bin):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "CONNECTOME_"))}
    env.update(CONNECTOME_INGEST_CHUNK_ZYX="[8, 32, 32]", CONNECTOME_INGEST_WORKERS="1")
    cmd = [connectome_bin, "ingest", str(phantom), "--dataset", "resume", "--no-load"]
    reference = subprocess.run(
        cmd,
        env=dict(env, CONNECTOME_DATA_DIR=str(tmp_path / "ref")),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert reference.returncode == 0, reference.stderr

    data = tmp_path / "killed"
    proc = subprocess.Popen(
        cmd,
        env=dict(env, CONNECTOME_DATA_DIR=str(data)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done: list[Path] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        done = [
            p for p in (data / "work" / "resume").glob("*/chunks/*") if not p.name.startswith(".")
        ]
        if len(done) >= 8:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the ingest ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 8 <= len(done) < 64
    assert not (data / "tables" / "resume").exists()  # nothing half-written

    resumed = subprocess.run(
        cmd,
        env=dict(env, CONNECTOME_DATA_DIR=str(data)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"chunks:  {len(done) * 100 // 64}%" in resumed.stderr.replace("\r", "\n")
    for name in NAMES:
        pd.testing.assert_frame_equal(
            tables.read_table(data / "tables" / "resume", name),
            tables.read_table(tmp_path / "ref" / "tables" / "resume", name),
        )


def test_ingest_runs_on_a_dask_distributed_cluster(phantom, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = _run(
            phantom, tmp_path / "a", chunk_zyx=(16, 64, 64), scheduler=cluster.scheduler_address
        )
    local = _run(phantom, tmp_path / "b", chunk_zyx=(16, 64, 64))
    for name in NAMES:
        pd.testing.assert_frame_equal(remote[name], local[name])
