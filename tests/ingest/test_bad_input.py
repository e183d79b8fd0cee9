"""Bad input: one sentence naming the input and what was expected, a non-zero exit, and
nothing written to Neo4j."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from graph.load import connect
from tests.volumes import two_cells_with_synapse, write_volume


def _good(**changes):
    labels = two_cells_with_synapse()
    labels.update(changes)
    return labels


def _no_cells(path: Path) -> Path:
    labels = _good()
    del labels["cells"]
    return write_volume(path, np.zeros((8, 32, 32), np.uint8), labels)


CASES = {
    "missing_path": (
        lambda p: p / "nothing-here.zarr",
        "nothing-here.zarr does not exist; expected an OME-Zarr volume",
    ),
    "no_cells_layer": (_no_cells, "has no labels/cells; expected the cell instance segmentation"),
    "shape_mismatch": (
        lambda p: write_volume(
            p, np.zeros((8, 32, 32), np.uint8), _good(mitochondria=np.zeros((8, 32, 30), np.uint8))
        ),
        "layer 'mitochondria' has shape (8, 32, 30) but labels/cells has (8, 32, 32)",
    ),
    "float_cells": (
        lambda p: write_volume(p, None, _good(cells=np.ones((8, 32, 32), np.float32))),
        "labels/cells has dtype float32; expected unsigned integer instance ids",
    ),
    "negative_cells": (
        lambda p: write_volume(p, None, _good(cells=-np.ones((8, 32, 32), np.int64))),
        "labels/cells has negative ids; expected non-negative instance ids",
    ),
    "no_voxel_size": (
        lambda p: write_volume(p, np.zeros((8, 32, 32), np.uint8), _good(), voxel_size_nm_zyx=None),
        "gives no voxel size",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_sentence_a_nonzero_exit_and_no_write(
    case, tmp_path, cli_env, connectome_bin, neo4j_settings
):
    make, expected = CASES[case]
    path = make(tmp_path / f"{case}.zarr") or tmp_path / f"{case}.zarr"
    dataset = f"bad_{case}"
    proc = subprocess.run(
        [connectome_bin, "ingest", str(path), "--dataset", dataset, "--quiet"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("connectome ingest: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr
    with connect(neo4j_settings) as driver:
        n = driver.execute_query(
            "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH $p) RETURN count(n) AS c",
            p=f"{dataset}_",
        ).records[0]["c"]
    assert n == 0
    tables = Path(cli_env["CONNECTOME_DATA_DIR"]) / "tables" / dataset
    assert not tables.exists()


def test_a_bad_dataset_name_is_one_sentence(tmp_path, cli_env, connectome_bin):
    path = write_volume(tmp_path / "v.zarr", None, _good())
    proc = subprocess.run(
        [connectome_bin, "ingest", str(path), "--dataset", "1 bad"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "connectome ingest: data set name '1 bad' is not allowed; "
        "use a letter followed by letters, digits or underscores "
        "(at most 64)"
    )


def test_an_unknown_compartment_predictor_is_one_sentence_before_any_work(
    tmp_path, cli_env, connectome_bin
):
    path = write_volume(tmp_path / "v.zarr", None, _good())
    env = {**cli_env, "CONNECTOME_INGEST_COMPARTMENT_PREDICTOR": "voxelnet"}
    proc = subprocess.run(
        [connectome_bin, "ingest", str(path), "--dataset", "predictor", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "connectome ingest: unknown compartment predictor 'voxelnet' "
        "(CONNECTOME_INGEST_COMPARTMENT_PREDICTOR); known: baseline, pointnet"
    )
    assert not (Path(cli_env["CONNECTOME_DATA_DIR"]) / "work" / "predictor").exists()
