"""The point-cloud compartment predictor (ingest.compartment_model) on an ingested phantom."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connectome.train_points import (
    QUICK_SEEDS,
    QUICK_SHAPE_ZYX,
    PhantomData,
    phantom_tables,
    point_classes,
)
from ingest import compartment_model
from ingest import compartments as comp
from ingest.point_clouds import CellInput, cells_from_tables
from ingest.settings import IngestSettings


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> PhantomData:
    root = tmp_path_factory.getbasetemp() / "point-phantoms"
    return phantom_tables(QUICK_SEEDS[0], QUICK_SHAPE_ZYX, root=root)


def _evidence(data: PhantomData, cell: CellInput) -> comp.Evidence:
    syn = pd.read_parquet(data.tables / "synapses.parquet")
    vox = data.voxel_size_nm_zyx[::-1]

    def side(name: str) -> np.ndarray:
        mine = syn[syn[f"{name}_body_id"].to_numpy(np.uint64) == np.uint64(cell.body_id)]
        return mine[[f"{name}_x", f"{name}_y", f"{name}_z"]].to_numpy(float) * vox

    empty = np.empty((0, 3))
    return comp.Evidence(side("pre"), side("post"), cell.organelles.get("vesicle_cloud", empty),
                         cell.organelles.get("mitochondrion", empty))  # fmt: skip


def test_the_point_model_is_registered_and_chosen_by_its_setting(monkeypatch):
    assert comp.PREDICTORS["pointnet"] is compartment_model.pointnet
    assert compartment_model.WEIGHTS.exists()
    monkeypatch.setenv("CONNECTOME_INGEST_COMPARTMENT_PREDICTOR", "pointnet")
    assert IngestSettings().compartment_predictor == "pointnet"


def test_the_point_model_labels_phantom_nodes_closer_to_the_truth_than_the_baseline(ingested):
    cells, truth = ingested.arrays()
    coarse_class = np.array([0, 1, 2, 1, 2])  # soma, axon, dendrite, bouton, spine head
    code_class = {comp.SOMA: 0, comp.AXON: 1, comp.DENDRITE: 2}
    right = {"pointnet": 0, "baseline": 0}
    total = 0
    for cell in cells_from_tables(ingested.tables):
        evidence = _evidence(ingested, cell)
        want = point_classes(cell.skeleton.vertices_nm_xyz, cell.body_id, cells, truth,
                             ingested.voxel_size_nm_zyx)  # fmt: skip
        known = want >= 0
        total += int(known.sum())
        for name in right:
            votes = comp.PREDICTORS[name](cell.skeleton, evidence, cell.mesh)
            if name == "pointnet":
                assert votes is not None and votes.shape == (len(cell.skeleton.radii_nm), 3)
                # mean probabilities, plus the synapse evidence at a few nodes
                assert (votes >= 0).all() and np.median(votes.sum(axis=1)) == pytest.approx(1.0)
            got = comp.label_skeleton(cell.skeleton, evidence, votes=votes).coarse
            got_class = np.array([code_class.get(int(c), -1) for c in got])
            right[name] += int((got_class[known] == coarse_class[want[known]]).sum())
    assert total > 500
    # on this phantom (seed 1000, 32 x 160 x 160): 0.81 for the model, 0.61 for the baseline
    assert right["pointnet"] / total >= 0.75
    assert right["pointnet"] / total >= right["baseline"] / total + 0.1


def test_without_the_weight_file_the_baseline_labels_the_cell(ingested, tmp_path, monkeypatch):
    cell = next(cells_from_tables(ingested.tables))
    monkeypatch.setattr(compartment_model, "WEIGHTS", tmp_path / "none.pt")
    assert comp.PREDICTORS["pointnet"](cell.skeleton, _evidence(ingested, cell), cell.mesh) is None


def test_a_cell_without_a_mesh_gets_no_votes(ingested):
    cell = next(cells_from_tables(ingested.tables))
    assert comp.PREDICTORS["pointnet"](cell.skeleton, _evidence(ingested, cell), None) is None


def test_every_surface_point_drawn_gets_probabilities_of_the_five_classes(ingested):
    net, data = compartment_model.load(str(compartment_model.WEIGHTS))
    cell = next(cells_from_tables(ingested.tables))
    votes, pred = compartment_model.predict_cell(net, data, cell.skeleton, cell.mesh,
                                                 cell.organelles)  # fmt: skip
    seen = np.isfinite(pred.probabilities).all(axis=1)
    assert pred.probabilities.shape[1] == len(compartment_model.SEG_CLASSES) == 5
    assert seen[pred.cloud.surface].mean() > 0.95
    assert np.allclose(pred.probabilities[seen].sum(axis=1), 1.0, atol=1e-4)
