"""The point-cloud compartment predictor ``pointnet`` (SyConn2's, thesis chapter 4).

A cell's cloud (:mod:`ingest.point_clouds`: mesh surface points plus one point per
mitochondrion, vesicle cloud and synaptic junction) is cut into local contexts around its
skeleton nodes; the network (:mod:`models.pointnet`, weights ``models/weights/
compartments.pt``) labels every point of every context as soma, axon, dendrite (shaft),
bouton or spine head; a surface point's probabilities are averaged over the contexts that
drew it, and each skeleton node takes the mean of its ``k`` nearest surface points
(k-nearest-neighbour transfer). Boutons count as axon and spine heads as dendrite in the
node votes (soma, axon, dendrite); the synapse evidence of the baseline (presynaptic sites and
vesicle clouds for axon, postsynaptic sites for dendrite) is added on the nodes the model does
not call soma, each site worth :data:`EVIDENCE_WEIGHT` nodes (:func:`with_evidence`), and
:func:`ingest.compartments.label_skeleton` smooths the sum (it takes the soma column only
for a cell whose skeleton radii show no soma). The finer labels are kept per point
(:func:`predict_points`).

Registered in :data:`ingest.compartments.PREDICTORS` as ``pointnet``, the ingest's default
(``CONNECTOME_INGEST_COMPARTMENT_PREDICTOR``); without the weight file (or without a mesh)
it gives no votes, so the evidence baseline labels the cell. Its votes are smoothed over
``model_window_nm`` (0.5 µm), not the baseline's 10 µm: over 10 µm, which spans a phantom
cell's whole neurite, the many dendrite nodes outvoted an axon whose thin shaft the model
calls dendrite (47 of 71 presynaptic sites on axons on the test phantom). On the held-out
phantoms (seeds 2000-2002) with 0.5 µm, 0.935 of the skeleton nodes carry the planted
compartment (baseline 0.79), 197 of 201 presynaptic sites lie on axons (baseline 174) and
none of the 201 postsynaptic sites do (baseline 17).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ingest import point_clouds as pc  # a module object: ingest.compartments imports this one
from ingest.compartments import Evidence, Skeleton, register_predictor

WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "weights" / "compartments.pt"
SEG_CLASSES = ("soma", "axon", "dendrite", "bouton", "spine_head")
# the vote column (soma, axon, dendrite) of each class
COARSE_COLUMN = {"soma": 0, "axon": 1, "dendrite": 2, "bouton": 1, "spine_head": 2}
TRANSFER_K = 8
EVIDENCE_WEIGHT = 10.0  # a synapse site or vesicle cloud counts as this many nodes' votes


@dataclass
class PointPrediction:
    """Per point of ``cloud``: probabilities ``(n, len(classes))`` of the classes the weights
    know (:data:`SEG_CLASSES` for the shipped ones; NaN where no context drew the point)."""

    cloud: pc.Cloud
    probabilities: np.ndarray
    classes: tuple[str, ...] = SEG_CLASSES

    @property
    def coarse(self) -> np.ndarray:
        """Probabilities of soma, axon and dendrite ``(n, 3)``."""
        out = np.zeros((len(self.probabilities), 3))
        for c, name in enumerate(self.classes):
            out[:, COARSE_COLUMN[name]] += self.probabilities[:, c]
        return out


@lru_cache(maxsize=4)
def load(path: str) -> tuple[Any, dict[str, Any]]:
    """The network and data description of a checkpoint (cached per path)."""
    from models.pointnet import load_checkpoint

    return load_checkpoint(path)


def cloud_params(data: dict[str, Any]) -> pc.CloudParams:
    """The cloud parameters a checkpoint was trained with."""
    return pc.CloudParams(**data.get("cloud", {}))


def predict_points(
    net: Any,
    cloud: pc.Cloud,
    centres_nm_xyz: np.ndarray,
    params: pc.CloudParams,
    seed: int = 0,
    batch: int = 16,
    classes: tuple[str, ...] = SEG_CLASSES,
) -> PointPrediction:
    """Run ``net`` on a context around each centre; average each point's probabilities of
    ``classes`` (those of the weights)."""
    import torch

    rng = np.random.default_rng(seed)
    tree = cKDTree(cloud.points_nm_xyz)
    total = np.zeros((len(cloud.points_nm_xyz), len(classes)))
    seen = np.zeros(len(cloud.points_nm_xyz))
    drawn = (pc.draw_context(cloud, p, rng, params, tree) for p in centres_nm_xyz)
    contexts = [c for c in drawn if c is not None]
    with torch.no_grad():
        for start in range(0, len(contexts), batch):
            part = contexts[start : start + batch]
            coords = torch.from_numpy(np.stack([c.coords for c in part]))
            feats = torch.from_numpy(np.stack([c.features for c in part]))
            prob = torch.softmax(net(coords, feats)[0], dim=-1).numpy()
            for ctx, p in zip(part, prob, strict=True):
                np.add.at(total, ctx.index, p)
                np.add.at(seen, ctx.index, 1.0)
    with np.errstate(invalid="ignore"):
        return PointPrediction(cloud, total / seen[:, None], tuple(classes))


def node_votes(skel: Skeleton, prediction: PointPrediction, k: int = TRANSFER_K) -> np.ndarray:
    """Soma, axon and dendrite votes ``(n_nodes, 3)``: the mean of the ``k`` nearest
    predicted surface points of each node.

    Examples
    --------
    >>> skel = Skeleton(np.array([[0.0, 0, 0], [1000, 0, 0]]), np.array([[0, 1]]), np.ones(2))
    >>> cloud = pc.Cloud(np.array([[0.0, 50, 0], [1000, 50, 0]]), np.zeros(2, int), ("surface",))
    >>> p = PointPrediction(cloud, np.array([[1.0, 0, 0, 0, 0], [0, 0, 0, 0, 1.0]]))
    >>> node_votes(skel, p, k=1).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    ok = prediction.cloud.surface & np.isfinite(prediction.probabilities).all(axis=1)
    n = len(skel.vertices_nm_xyz)
    if not ok.any() or n == 0:
        return np.zeros((n, 3))
    points = prediction.cloud.points_nm_xyz[ok]
    coarse = prediction.coarse[ok]
    k = min(k, len(points))
    _, idx = cKDTree(points).query(skel.vertices_nm_xyz, k=k)
    return coarse[np.asarray(idx).reshape(n, k)].mean(axis=1)


def predict_cell(
    net: Any,
    data: dict[str, Any],
    skel: Skeleton,
    mesh: tuple[np.ndarray, np.ndarray],
    organelles: dict[str, np.ndarray],
    seed: int = 0,
) -> tuple[np.ndarray, PointPrediction]:
    """Node votes ``(n_nodes, 3)`` and the per-point prediction of one cell."""
    params = cloud_params(data)
    rng = np.random.default_rng(seed)
    kinds = tuple(data.get("kinds", pc.COMPARTMENT_KINDS))  # those the weights were trained on
    cloud = pc.cell_cloud(mesh, organelles, kinds, rng, params)
    centres = skel.vertices_nm_xyz[pc.context_centres(skel.vertices_nm_xyz, params.cover_nm)]
    classes = tuple(data.get("classes", SEG_CLASSES))
    prediction = predict_points(net, cloud, centres, params, seed, classes=classes)
    return node_votes(skel, prediction), prediction


def evidence_organelles(evidence: Evidence) -> dict[str, np.ndarray]:
    """The cloud's organelle points from the evidence the compartment stage gathers."""
    return {
        "junction": np.concatenate([evidence.pre_nm_xyz, evidence.post_nm_xyz]).reshape(-1, 3),
        "junction_pre": evidence.pre_nm_xyz,
        "junction_post": evidence.post_nm_xyz,
        "vesicle_cloud": evidence.vesicles_nm_xyz,
        "mitochondrion": evidence.mitochondria_nm_xyz,
    }


@register_predictor("pointnet")
def pointnet(
    skel: Skeleton, evidence: Evidence, mesh: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray | None:
    """Node votes from the point model, or ``None`` (the baseline) without weights or mesh."""
    if mesh is None or len(mesh[1]) == 0 or len(skel.vertices_nm_xyz) == 0 or not WEIGHTS.exists():
        return None
    import torch

    torch.set_num_threads(1)
    net, data = load(str(WEIGHTS))
    votes, _ = predict_cell(net, data, skel, mesh, evidence_organelles(evidence))
    return with_evidence(skel, votes, evidence)


def with_evidence(
    skel: Skeleton, votes: np.ndarray, evidence: Evidence, weight: float = EVIDENCE_WEIGHT
) -> np.ndarray:
    """The model's node votes plus the baseline's synapse evidence on the nodes it does not
    call soma: presynaptic sites and vesicle clouds vote axon (half each), postsynaptic sites
    dendrite, each ``weight`` times a node's vote.

    Examples
    --------
    >>> skel = Skeleton(np.array([[0.0, 0, 0], [100, 0, 0]]), np.array([[0, 1]]), np.ones(2))
    >>> none = np.empty((0, 3))
    >>> ev = Evidence(np.array([[100.0, 0, 0]]), none, none)
    >>> with_evidence(skel, np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5]]), ev).tolist()
    [[0.8, 0.1, 0.1], [0.2, 5.3, 0.5]]
    """
    out = np.array(votes, float)
    soma = (out[:, 0] > out[:, 1]) & (out[:, 0] > out[:, 2])
    extra = np.zeros_like(out)
    for points, column, share in ((evidence.pre_nm_xyz, 1, 0.5),
                                  (evidence.vesicles_nm_xyz, 1, 0.5),
                                  (evidence.post_nm_xyz, 2, 1.0)):  # fmt: skip
        if len(points):
            np.add.at(extra[:, column], skel.nearest(points), weight * share)
    extra[soma] = 0.0
    return out + extra
