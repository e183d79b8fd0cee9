"""`connectome train compartments|celltypes|synapse_rf` in their --quick form."""

from __future__ import annotations

import numpy as np
import pytest

from connectome import train_points
from connectome.train import trainers
from models.pointnet import load_checkpoint
from models.synapse_rf import FEATURES, SynapseForest


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """The quick phantom in this session's folder (shared with the ingest tests)."""
    monkeypatch.setenv("CONNECTOME_CACHE", str(tmp_path_factory.getbasetemp()))


def test_the_point_trainers_join_the_registry():
    assert {"compartments", "celltypes", "synapse_rf"} <= set(trainers())


@pytest.mark.parametrize("name", ["compartments", "celltypes"])
def test_a_quick_point_trainer_writes_a_checkpoint_with_its_data(name, tmp_path):
    out = train_points.TRAINERS[name](tmp_path / f"{name}.pt", seed=1, quick=True,
                                       progress=False)  # fmt: skip
    net, data = load_checkpoint(out)
    assert data["phantom_seeds"] == list(train_points.QUICK_SEEDS)
    assert not set(data["phantom_seeds"]) & set(train_points.EVAL_SEEDS)
    assert data["cells"] >= 4 and data["quick"] is True
    assert out.stat().st_size < 2_000_000


def test_a_quick_forest_separates_the_phantom_synapses_from_decoys(tmp_path):
    out = train_points.TRAINERS["synapse_rf"](tmp_path / "rf.pkl", seed=1, quick=True,
                                               progress=False)  # fmt: skip
    forest = SynapseForest.load(out)
    assert forest.data["features"] == FEATURES and 0 < forest.data["real"] < forest.data[
        "candidates"]  # fmt: skip
    assert 0.0 <= forest.metrics["cv_f1"] <= 1.0


def test_decoys_lie_on_contacts_of_two_cells_and_real_patches_are_the_phantoms_junctions():
    data = train_points.phantom_tables(train_points.QUICK_SEEDS[0], train_points.QUICK_SHAPE_ZYX)
    table = train_points.synapse_candidates(data, seed=0)
    real = table[table["real"]]
    assert 0.8 * len(data.truth["synapses"]) <= len(real) <= len(data.truth["synapses"])
    decoys = table[~table["real"]]
    assert len(decoys) >= 0.5 * len(real)
    assert (decoys["pre_body_id"] != decoys["post_body_id"]).all()
    assert np.isfinite(table["mesh_area_nm2"]).all()


def test_point_labels_follow_the_truth_array():
    cells = np.zeros((3, 3, 3), np.uint64)
    cells[:, :, :2] = 5
    comp = np.zeros((3, 3, 3), np.uint8)
    comp[:, :, 0], comp[:, :, 1] = 1, 2  # soma, dendrite
    pts = np.array([[0.0, 10, 10], [10, 10, 10], [20, 10, 10]])  # x, y, z in nm (10 nm voxels)
    got = train_points.point_classes(pts, 5, cells, comp, np.array([10.0, 10, 10]))
    assert got.tolist() == [train_points.SOMA_C, train_points.SOMA_C, train_points.DENDRITE_C]
    assert train_points.point_classes(pts, 6, cells, comp, np.array([10.0] * 3)).tolist() == [
        -1, -1, -1]  # fmt: skip
