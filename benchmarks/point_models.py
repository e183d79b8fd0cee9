"""Point models and the synapse forest on held-out phantoms.

    .venv/bin/python benchmarks/point_models.py --json

Evaluation phantoms are :data:`connectome.train_points.EVAL_SEEDS` (the weights were trained
on other seeds), ingested once into the trainers' cache. Prints a table and, as its last line
with --json, one JSON object:

- ``compartment_f1``: per class (soma, axon, dendrite), F1 of the skeleton nodes' labels after
  :func:`ingest.compartments.label_skeleton` with the ``pointnet`` predictor's votes (the
  model's plus the synapse evidence, :func:`ingest.compartment_model.with_evidence`), against the
  phantom's ``truth/compartments`` at each node; ``compartment_f1_baseline`` the same for the
  evidence baseline in the same run (the ratio is the model's gain);
  ``compartment_windows``: per smoothing window of the model's votes (:data:`WINDOWS_NM`;
  the default is 500 nm) and for the baseline, the share of nodes agreeing with the truth and
  the cells' own presynaptic sites on axon nodes and postsynaptic sites off them;
  ``compartment_point_f1``: per surface point, F1 of all five classes of the model (soma,
  axon, dendrite shaft, bouton, spine head) before any transfer;
- ``celltype_accuracy``: the fraction of cells whose majority type over the samples is the
  planted one (and ``celltype_cells``, ``celltype_mean_confidence``);
- ``synapse_rf_f1``: the forest's F1, 5-fold cross-validated over the training phantoms'
  candidates (folds by phantom), and ``synapse_rf_heldout_f1`` of the shipped forest on the
  evaluation phantoms' candidates (SyConn2 reports 0.826);
- ``seconds`` per part and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectome import train_points  # noqa: E402
from ingest import celltypes, compartment_model  # noqa: E402
from ingest import compartments as comp  # noqa: E402
from ingest.point_clouds import cells_from_tables  # noqa: E402
from models.metrics import binary_scores  # noqa: E402

COARSE = ("soma", "axon", "dendrite")


def _f1(pred: np.ndarray, truth: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    known = truth >= 0
    return {n: round(binary_scores(pred[known] == i, truth[known] == i)["f1"], 4)
            for i, n in enumerate(names)}  # fmt: skip


def compartments(seeds: tuple[int, ...], progress: bool) -> dict[str, Any]:
    """Node F1 of the point model and of the baseline; point F1 of the model's five classes."""
    import torch

    torch.set_num_threads(1)
    net, data = compartment_model.load(str(compartment_model.WEIGHTS))
    coarse_of = np.array([0, 1, 2, 1, 2])  # point classes -> soma, axon, dendrite
    code_to_class = {comp.SOMA: 0, comp.AXON: 1, comp.DENDRITE: 2}
    nodes: dict[str, list[np.ndarray]] = {"truth": [], "model": [], "baseline": []}
    default = comp.CompartmentParams().model_window_nm  # the ingest's: compartment_f1
    assert default in WINDOWS_NM
    sweep = {w: {"right": 0, "nodes": 0, "pre_on_axon": 0, "pre": 0, "post_off_axon": 0,
                 "post": 0} for w in ("baseline", *WINDOWS_NM)}  # fmt: skip
    points: dict[str, list[np.ndarray]] = {"truth": [], "model": []}
    for seed in seeds:
        ph = train_points.phantom_tables(seed)
        cells, truth_comp = ph.arrays()
        by_id = {int(c["id"]): c for c in ph.truth["cells"]}
        for cell in cells_from_tables(ph.tables):
            skel, org = cell.skeleton, cell.organelles
            empty = np.empty((0, 3))
            evidence = comp.Evidence(
                _side(ph, cell.body_id, "pre"),
                _side(ph, cell.body_id, "post"),
                org.get("vesicle_cloud", empty),
                org.get("mitochondrion", empty),
            )
            votes, pred = compartment_model.predict_cell(
                net, data, skel, cell.mesh, compartment_model.evidence_organelles(evidence)
            )
            truth_nodes = train_points.point_classes(
                skel.vertices_nm_xyz, cell.body_id, cells, truth_comp, ph.voxel_size_nm_zyx
            )
            nodes["truth"].append(np.where(truth_nodes >= 0, coarse_of[truth_nodes], -1))
            votes = compartment_model.with_evidence(skel, votes, evidence)  # as the predictor
            for window in sweep:  # the baseline, then the model at each window
                if window == "baseline":
                    coarse = comp.label_skeleton(skel, evidence).coarse
                else:
                    params = comp.CompartmentParams(model_window_nm=float(window))
                    coarse = comp.label_skeleton(skel, evidence, params, votes=votes).coarse
                got = np.array([code_to_class.get(int(c), -1) for c in coarse])
                if window == "baseline" or window == default:
                    nodes["baseline" if window == "baseline" else "model"].append(got)
                _count_sites(sweep[window], skel, evidence, coarse, got, nodes["truth"][-1])
            surface = pred.cloud.surface & np.isfinite(pred.probabilities).all(axis=1)
            pts = pred.cloud.points_nm_xyz[surface]
            points["truth"].append(train_points.point_classes(
                pts, cell.body_id, cells, truth_comp, ph.voxel_size_nm_zyx,
                by_id.get(cell.body_id)))  # fmt: skip
            points["model"].append(pred.probabilities[surface].argmax(axis=1))
    t = np.concatenate(nodes["truth"])
    pt = np.concatenate(points["truth"])
    return {
        "compartment_f1": _f1(np.concatenate(nodes["model"]), t, COARSE),
        "compartment_f1_baseline": _f1(np.concatenate(nodes["baseline"]), t, COARSE),
        "compartment_point_f1": _f1(
            np.concatenate(points["model"]), pt, compartment_model.SEG_CLASSES
        ),  # fmt: skip
        "compartment_nodes": int((t >= 0).sum()),
        "compartment_windows": {
            str(w): {
                "node_agreement": round(c["right"] / max(c["nodes"], 1), 4),
                "pre_on_axon": f"{c['pre_on_axon']}/{c['pre']}",
                "post_off_axon": f"{c['post_off_axon']}/{c['post']}",
            }
            for w, c in sweep.items()
        },  # fmt: skip
    }


WINDOWS_NM = (10_000, 1_500, 1_000, 500, 300)
"""Smoothing windows (nm of path) of the model's votes compared in ``compartment_windows``."""


def _count_sites(
    counts: dict[str, int],
    skel: comp.Skeleton,
    evidence: comp.Evidence,
    coarse: np.ndarray,
    got: np.ndarray,
    truth: np.ndarray,
) -> None:
    """Add a cell's node agreement and its own synapse sites on (pre) or off (post) the axon."""
    known = truth >= 0
    counts["right"] += int((got[known] == truth[known]).sum())
    counts["nodes"] += int(known.sum())
    for side, points, want in (("pre", evidence.pre_nm_xyz, True),
                               ("post", evidence.post_nm_xyz, False)):  # fmt: skip
        if len(points):
            on_axon = coarse[skel.nearest(points)] == comp.AXON
            counts[side] += len(points)
            counts[f"{side}_{'on' if want else 'off'}_axon"] += int((on_axon == want).sum())


_SYNAPSES: dict[Path, pd.DataFrame] = {}


def _side(ph: train_points.PhantomData, body: int, side: str) -> np.ndarray:
    """The cell's synapse sites on one side (nm), from the phantom's synapses table."""
    if ph.tables not in _SYNAPSES:
        _SYNAPSES[ph.tables] = pd.read_parquet(ph.tables / "synapses.parquet")
    syn = _SYNAPSES[ph.tables]
    mine = syn[syn[f"{side}_body_id"].to_numpy(np.uint64) == np.uint64(body)]
    vox = np.asarray(ph.truth["voxel_size_nm_zyx"], float)[::-1]
    return mine[[f"{side}_x", f"{side}_y", f"{side}_z"]].to_numpy(float) * vox


def cell_types(seeds: tuple[int, ...]) -> dict[str, Any]:
    """Accuracy of the majority type per cell against the planted type."""
    right, total, confidence = 0, 0, []
    for seed in seeds:
        ph = train_points.phantom_tables(seed)
        planted = {str(c["id"]): c["type"] for c in ph.truth["cells"]}
        got = celltypes.predict_types(ph.tables)
        for row in got.itertuples(index=False):
            if row.bodyId in planted:
                total += 1
                right += int(row.type == planted[row.bodyId])
                confidence.append(row.typeConfidence)
    return {"celltype_accuracy": round(right / max(total, 1), 4), "celltype_cells": total,
            "celltype_mean_confidence": round(float(np.mean(confidence)), 4)
            if confidence else None}  # fmt: skip


def synapse_forest(progress: bool) -> dict[str, Any]:
    """Cross-validated F1 over the training phantoms; F1 of the shipped forest held out."""
    from models.synapse_rf import WEIGHTS, SynapseForest, cross_validated_f1, feature_matrix

    train = train_points._synapse_table(train_points.TRAIN_SEEDS, progress)
    x, y = feature_matrix(train), train["real"].to_numpy(bool)
    cv = cross_validated_f1(x, y, groups=train["seed"].tolist())
    held = train_points._synapse_table(train_points.EVAL_SEEDS, progress)
    forest = SynapseForest.load(WEIGHTS)
    pred = forest.probability(feature_matrix(held)) >= 0.5
    return {"synapse_rf_f1": round(cv, 4),
            "synapse_rf_heldout_f1": round(binary_scores(pred, held["real"])["f1"], 4),
            "synapse_rf_candidates": int(len(y)), "synapse_rf_syconn2_f1": 0.826}  # fmt: skip


def evaluate(progress: bool = True) -> dict[str, Any]:
    """Every figure of the module docstring as one dict."""
    out: dict[str, Any] = {"seconds": {}}
    for name, part in (("compartments", lambda: compartments(train_points.EVAL_SEEDS, progress)),
                       ("celltypes", lambda: cell_types(train_points.EVAL_SEEDS)),
                       ("synapse_rf", lambda: synapse_forest(progress))):  # fmt: skip
        start = time.perf_counter()
        out.update(part())
        out["seconds"][name] = round(time.perf_counter() - start, 1)
    out["eval_seeds"] = list(train_points.EVAL_SEEDS)
    out["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, torch threads 1"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the JSON object last")
    args = parser.parse_args()
    result = evaluate(progress=not args.json)
    for key, value in result.items():
        print(f"{key:28s} {value}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
