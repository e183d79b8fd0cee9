"""Raw-only ingest: a phantom with its label layers removed gets them predicted by the shipped
3D U-Net (cells by watershed + agglomeration) and goes through the normal pipeline."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import zarr

from benchmarks.fib25_segmentation import ingest_synapses, strip_labels, synapse_recall
from graph import tables
from ingest.phantom import make_phantom
from ingest.predict import DEFAULT_WEIGHTS, prepare
from ingest.volume import InputError, open_volume

SHAPE_ZYX = (32, 128, 128)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("raw-only")
    given = folder / "phantom.zarr"
    truth = make_phantom(given, seed=77, shape_zyx=SHAPE_ZYX)
    return {"given": given, "raw_only": strip_labels(given, folder / "raw-only.zarr"),
            "truth": truth, "folder": folder}  # fmt: skip


@pytest.fixture(scope="module")
def raw_only_ingest(phantom, connectome_bin) -> dict:
    """`connectome ingest RAW_ONLY --no-load` (no Neo4j needed), as a user runs it."""
    data = phantom["folder"] / "data"
    env = {**os.environ, "CONNECTOME_DATA_DIR": str(data), "OMP_NUM_THREADS": "1",
           "CONNECTOME_INGEST_WORKERS": "1"}  # fmt: skip
    proc = subprocess.run(
        [connectome_bin, "ingest", str(phantom["raw_only"]), "--dataset", "rawonly", "--no-load",
         "--quiet"], env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"data": data, "stderr": proc.stderr, "tables": data / "tables" / "rawonly"}


def test_raw_only_ingest_yields_cells_and_synapses(raw_only_ingest, phantom):
    assert "has only the raw image: predicting its layers" in raw_only_ingest["stderr"]
    neurons = tables.read_table(raw_only_ingest["tables"], "neurons")
    synapses = tables.read_table(raw_only_ingest["tables"], "synapses")
    planted = phantom["truth"]
    assert len(neurons) >= len(planted["cells"]) // 2
    assert len(synapses) >= len(planted["synapses"]) // 2


def test_the_predicted_container_follows_the_input_contract(raw_only_ingest, phantom):
    (container,) = (raw_only_ingest["data"] / "predicted").glob("raw-only-*.zarr")
    volume = open_volume(container)
    assert volume.shape_zyx == SHAPE_ZYX
    assert volume.voxel_size_nm_zyx == tuple(phantom["truth"]["voxel_size_nm_zyx"])
    assert str(volume.labels["cells"].dtype) == "uint64"
    for layer in ("mitochondria", "vesicle_clouds", "synaptic_junctions"):
        assert str(volume.labels[layer].dtype) == "uint8"
    assert not list(container.parent.glob(".*partial*"))  # built aside, moved into place
    assert not (container / "probabilities").exists()


def test_a_rerun_takes_the_predicted_container_from_the_cache(raw_only_ingest, phantom):
    (container,) = (raw_only_ingest["data"] / "predicted").glob("raw-only-*.zarr")
    before = zarr.open(str(container / "labels" / "cells" / "0"), mode="r")[...]
    said: list[str] = []
    again = prepare(phantom["raw_only"], raw_only_ingest["data"], progress=False,
                    echo=said.append)  # fmt: skip
    assert again == container and "using its predicted layers" in said[0]
    assert (zarr.open(str(again / "labels" / "cells" / "0"), mode="r")[...] == before).all()


def test_a_container_with_labels_is_ingested_as_it_is(phantom, tmp_path):
    assert prepare(phantom["given"], tmp_path, echo=print) == phantom["given"]
    assert not (tmp_path / "predicted").exists()


def test_test_time_views_give_their_own_predicted_container(raw_only_ingest, phantom, tmp_path):
    (one,) = (raw_only_ingest["data"] / "predicted").glob("raw-only-*.zarr")
    two = prepare(phantom["raw_only"], tmp_path, views=2, progress=False, echo=lambda line: None)
    assert two.name != one.name  # the views are part of the cache key
    maps = [zarr.open(str(c / "labels" / "mitochondria" / "0"), mode="r")[...] for c in (one, two)]
    assert (maps[0] != maps[1]).any()


def test_raw_only_without_a_model_is_one_sentence(phantom, tmp_path):
    expected = r"only the raw image \(no labels/cells\) and no model is available .*missing\.pt"
    with pytest.raises(InputError, match=expected):
        prepare(phantom["raw_only"], tmp_path, weights=tmp_path / "missing.pt")
    with pytest.raises(InputError, match="has only the raw image"):
        open_volume(phantom["raw_only"])


def test_raw_only_synapse_recall_is_at_least_09_of_the_recall_with_given_labels(
    raw_only_ingest, phantom
):
    truth = phantom["truth"]
    with_labels = synapse_recall(
        ingest_synapses(phantom["given"], phantom["folder"] / "given-data", "given"), truth
    )
    raw_only = tables.read_table(raw_only_ingest["tables"], "synapses")[["x", "y", "z"]]
    predicted = synapse_recall(raw_only.to_numpy(), truth)
    assert with_labels >= 0.9
    assert predicted >= 0.9 * with_labels, (predicted, with_labels)


def test_the_shipped_model_is_the_default():
    assert DEFAULT_WEIGHTS == Path(__file__).resolve().parents[2] / "models/weights/unet3d.pt"


def test_a_views_count_out_of_range_is_refused_in_one_line(capsys):
    from connectome.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "raw.zarr", "--dataset", "d", "--views", "20"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("--views: expected a whole number from 1 to 16, got '20'")
    assert len(err) < 120
