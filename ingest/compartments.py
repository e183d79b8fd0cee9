"""Compartments of a cell on its skeleton and mesh: soma, axon, dendrite, boutons and spines.

The baseline (SyConn2's smoothing on top of evidence that needs no model):

1. **Soma** — when the thickest skeleton node has a radius of at least
   ``soma_min_radius_nm`` and ``soma_radius_ratio`` times the cell's median radius (a soma is
   much thicker than its neurites): the nodes within ``soma_extent`` times its radius of it
   (somata are not round; by distance alone, as a skeleton may lie in pieces inside the
   soma), and the nodes joined to those through nodes at least ``soma_fraction`` as thick.
2. **Axon or dendrite** — presynaptic sites and vesicle clouds of the cell vote *axon* at
   their nearest node (half a vote each: a bouton shows both), postsynaptic sites vote
   *dendrite*. Every node then takes the majority of the votes within ``window_nm`` of path
   through the skeleton with the soma removed: SyConn2's running majority vote within
   10 µm, with the nodes that carry no evidence abstaining. Nodes without any vote in reach
   take the majority of their neurite (connected part of the skeleton without the soma),
   else *dendrite* (ties go to dendrite, as SyConn2 biases its vote).
3. **Boutons** — runs of axon nodes thicker than ``bouton_radius_ratio`` times the axon's
   median radius that hold a vesicle cloud or a presynaptic site; terminal when the run holds
   an end of the skeleton, en passant otherwise.
4. **Spines** — a side tree of a dendrite (the skeleton rooted at its thickest node) with at
   most ``spine_max_length_nm`` of cable and at most ``spine_length_ratio`` times the radius
   of the shaft it leaves, whose path from the shaft to its thickest node clear of the shaft
   (the node's ball beyond the shaft's) narrows, beyond the shaft's surface, to less than
   ``spine_neck_ratio`` of the shaft's radius; its head is the run of nodes at least half as
   thick as that thickest node around it (and what lies within its radius), the rest clear
   of the shaft its neck.

Mesh vertices, synapse sites and organelles take the label of the skeleton node whose ball
(centre and radius) they are nearest to. A model (the models issue) replaces step 2 and
stands in for step 1 where step 1 finds no soma: it joins :data:`PREDICTORS` under a name
(``CONNECTOME_INGEST_COMPARTMENT_PREDICTOR``) and gives node votes (soma, axon, dendrite).
A node is soma where step 1 puts it or, when step 1 finds none (a soma cut by the volume's
face, too thin for its radius test), where the model's soma column wins. Node soma F1 is
then 0.913 on the training phantoms 1000-1002 (0.889 with step 1 alone, 0.868 with either, 0.795
with the model's alone) and 0.881 on held-out phantoms (0.861, 0.842, 0.726).
:func:`label_skeleton` smooths the axon and dendrite votes over ``model_window_nm`` of path
(a model votes at every node, so a short window: a 10 µm one spans a phantom neurite and
lets many dendrite nodes outvote a thin axon). Boutons, spines and everything after stay
the same. The point model ``pointnet`` (:mod:`ingest.compartment_model`) is registered so
and is the ingest's default; without its weight file or a mesh it gives no votes and this
baseline labels the cell.

Codes are those of the skeleton ``compartment`` attribute of the Neuroglancer files
(:class:`ingest.precomputed.skeleton.Compartment`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import ConvexHull, QhullError, cKDTree

from ingest.precomputed.skeleton import Compartment
from ingest.volume import InputError

SOMA, AXON, DENDRITE = int(Compartment.SOMA), int(Compartment.AXON), int(Compartment.DENDRITE)
SPINE_HEAD, SPINE_NECK = int(Compartment.SPINE_HEAD), int(Compartment.SPINE_NECK)
BOUTON_EN_PASSANT, BOUTON_TERMINAL = (int(Compartment.BOUTON_EN_PASSANT),
                                      int(Compartment.BOUTON_TERMINAL))  # fmt: skip
# the coarse compartment of every fine code
COARSE = np.zeros(256, np.uint8)
COARSE[[SOMA, AXON, DENDRITE, SPINE_HEAD, SPINE_NECK, BOUTON_EN_PASSANT, BOUTON_TERMINAL]] = [
    SOMA, AXON, DENDRITE, DENDRITE, DENDRITE, AXON, AXON]  # fmt: skip
NAMES = {SOMA: "soma", AXON: "axon", DENDRITE: "dendrite"}
PRE_SITE = {
    SOMA: "soma",
    AXON: "axon",
    DENDRITE: "dendrite",
    SPINE_HEAD: "dendrite",
    SPINE_NECK: "dendrite",
    BOUTON_EN_PASSANT: "bouton",
    BOUTON_TERMINAL: "bouton",
}
POST_SITE = {
    SOMA: "soma",
    AXON: "axon",
    DENDRITE: "shaft",
    SPINE_HEAD: "spine_head",
    SPINE_NECK: "spine_neck",
    BOUTON_EN_PASSANT: "axon",
    BOUTON_TERMINAL: "axon",
}


@dataclass(frozen=True)
class CompartmentParams:
    """Parameters of the baseline, in nm (see the module docstring); ``model_window_nm``
    replaces ``window_nm`` for the votes of a model."""

    window_nm: float = 10_000.0
    model_window_nm: float = 500.0
    soma_min_radius_nm: float = 250.0
    soma_radius_ratio: float = 2.5
    soma_fraction: float = 0.5
    soma_extent: float = 1.2
    bouton_radius_ratio: float = 1.5
    spine_max_length_nm: float = 2_500.0
    spine_length_ratio: float = 6.0
    spine_neck_ratio: float = 0.6


@dataclass
class Skeleton:
    """A cell's skeleton: vertices ``(n, 3)`` in nm (x, y, z), edges ``(m, 2)``, radii."""

    vertices_nm_xyz: np.ndarray
    edges: np.ndarray
    radii_nm: np.ndarray

    @cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(self.vertices_nm_xyz)

    @cached_property
    def _full_graph(self) -> sparse.csr_matrix:
        return self._graph(None)

    def graph(self, keep: np.ndarray | None = None) -> sparse.csr_matrix:
        """Edge lengths (nm) as a symmetric sparse matrix; ``keep`` drops other nodes' edges."""
        return self._full_graph if keep is None else self._graph(keep)

    def _graph(self, keep: np.ndarray | None) -> sparse.csr_matrix:
        n = len(self.vertices_nm_xyz)
        e = np.asarray(self.edges, np.int64).reshape(-1, 2)
        if keep is not None:
            e = e[keep[e[:, 0]] & keep[e[:, 1]]]
        length = np.linalg.norm(self.vertices_nm_xyz[e[:, 0]] - self.vertices_nm_xyz[e[:, 1]],
                                axis=1)  # fmt: skip
        length = np.maximum(length, 1e-6)  # a zero would read as "no edge"
        g = sparse.coo_matrix((length, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
        return (g + g.T).tocsr()

    def nearest(self, points_nm_xyz: np.ndarray, k: int = 8) -> np.ndarray:
        """The node whose ball (centre, radius) is nearest to each point: ``|p - c| - r``
        smallest among the ``k`` nodes nearest by centre.

        Examples
        --------
        >>> s = Skeleton(np.array([[0.0, 0, 0], [100, 0, 0]]), np.array([[0, 1]]),
        ...              np.array([90.0, 10.0]))
        >>> s.nearest(np.array([[70.0, 0, 0]])).tolist()  # inside the thick node's ball
        [0]
        """
        pts = np.asarray(points_nm_xyz, float).reshape(-1, 3)
        n = len(self.vertices_nm_xyz)
        if n == 0 or len(pts) == 0:
            return np.zeros(len(pts), np.int64)
        k = min(k, n)
        dist, idx = self._tree.query(pts, k=k)
        dist, idx = dist.reshape(len(pts), k), idx.reshape(len(pts), k)
        best = np.argmin(dist - self.radii_nm[idx], axis=1)
        return idx[np.arange(len(pts)), best].astype(np.int64)


@dataclass
class Evidence:
    """Points (nm, x, y, z) that tell axon from dendrite: the cell's presynaptic sites and
    vesicle clouds, and its postsynaptic sites; its mitochondria for the point model."""

    pre_nm_xyz: np.ndarray
    post_nm_xyz: np.ndarray
    vesicles_nm_xyz: np.ndarray
    mitochondria_nm_xyz: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))


# A compartment predictor: (skeleton, evidence, mesh or None) -> node votes ``(n, 3)`` for
# soma, axon and dendrite, or None for the evidence baseline.
Predictor = Callable[["Skeleton", "Evidence", "tuple[np.ndarray, np.ndarray] | None"],
                     "np.ndarray | None"]  # fmt: skip
PREDICTORS: dict[str, Predictor] = {"baseline": lambda skel, evidence, mesh: None}


def check_predictor(name: str) -> None:
    """Raise :class:`ingest.volume.InputError` (one sentence) unless ``name`` is registered.

    Examples
    --------
    >>> check_predictor("baseline")
    >>> check_predictor("voxelnet")
    Traceback (most recent call last):
    ...
    ingest.volume.InputError: unknown compartment predictor 'voxelnet' \
(CONNECTOME_INGEST_COMPARTMENT_PREDICTOR); known: baseline, pointnet
    """
    if name not in PREDICTORS:
        known = ", ".join(sorted(PREDICTORS))
        raise InputError(f"unknown compartment predictor {name!r} "
                         f"(CONNECTOME_INGEST_COMPARTMENT_PREDICTOR); known: {known}")  # fmt: skip


def register_predictor(name: str) -> Callable[[Predictor], Predictor]:
    """Add a compartment predictor under ``name`` (a decorator).

    Examples
    --------
    >>> @register_predictor("all-soma")
    ... def _(skel, evidence, mesh):
    ...     return np.tile([1.0, 0.0, 0.0], (len(skel.radii_nm), 1))
    >>> s = Skeleton(np.zeros((2, 3)), np.array([[0, 1]]), np.ones(2))
    >>> none = np.empty((0, 3))
    >>> votes = PREDICTORS["all-soma"](s, Evidence(none, none, none), None)
    >>> label_skeleton(s, Evidence(none, none, none), votes=votes).coarse.tolist()
    [1, 1]
    >>> del PREDICTORS["all-soma"]
    """

    def add(func: Predictor) -> Predictor:
        PREDICTORS[name] = func
        return func

    return add


@dataclass
class Labels:
    """Per-node results: fine ``codes``, spine and bouton numbers (-1: none)."""

    codes: np.ndarray  # uint8, Compartment codes
    spine: np.ndarray  # int, the spine a node belongs to
    bouton: np.ndarray  # int, the bouton a node belongs to

    @property
    def coarse(self) -> np.ndarray:
        return COARSE[self.codes]


def _soma(skel: Skeleton, p: CompartmentParams) -> np.ndarray:
    r = np.asarray(skel.radii_nm, float)
    soma = np.zeros(len(r), bool)
    if len(r) == 0:
        return soma
    top = int(np.argmax(r))
    if r[top] < p.soma_min_radius_nm or r[top] < p.soma_radius_ratio * float(np.median(r)):
        return soma
    reach = np.linalg.norm(skel.vertices_nm_xyz - skel.vertices_nm_xyz[top], axis=1)
    ball = reach <= p.soma_extent * r[top]  # by distance: a skeleton may lie in pieces here
    thick = (r >= p.soma_fraction * r[top]) | ball
    _, part = csgraph.connected_components(skel.graph(keep=thick), directed=False)
    return ball | (thick & np.isin(part, part[ball]))


def _path_rows(graph: sparse.csr_matrix, sources: np.ndarray,
               limit: float = np.inf) -> Iterator[tuple[slice, np.ndarray]]:  # fmt: skip
    """Path lengths from ``sources`` to every node, in batches of rows that hold about 2e7
    distances (a batch's slice of ``sources`` and its ``(batch, n)`` rows; ``inf``: out of
    reach or beyond ``limit``)."""
    batch = max(1, int(2e7 // max(graph.shape[0], 1)))
    for start in range(0, len(sources), batch):
        part = slice(start, start + batch)
        yield part, csgraph.dijkstra(graph, directed=False, indices=sources[part], limit=limit)


def _within(graph: sparse.csr_matrix, sources: np.ndarray, weights: np.ndarray,
            limit: float) -> np.ndarray:  # fmt: skip
    """For every node, the sum of ``weights`` of the ``sources`` within ``limit`` of path."""
    total = np.zeros((graph.shape[0],) + weights.shape[1:], float)
    for part, rows in _path_rows(graph, sources, limit):
        total += np.isfinite(rows).T.astype(float) @ weights[part]
    return total


def label_skeleton(
    skel: Skeleton,
    evidence: Evidence,
    params: CompartmentParams | None = None,
    votes: np.ndarray | None = None,
) -> Labels:
    """Label every skeleton node (see the module docstring for the baseline).

    ``votes`` (``(n, 3)``: soma, axon, dendrite per node), when given, replace the baseline's
    evidence: a node is soma where the baseline's soma rule puts it or, when the rule finds
    no soma, where that column wins; the other two columns are smoothed within
    ``model_window_nm`` as the evidence is within ``window_nm``.

    Examples
    --------
    A straight neurite of 21 nodes, 100 nm apart; a presynaptic site near one end:

    >>> v = np.stack([np.arange(21) * 100.0, np.zeros(21), np.zeros(21)], axis=1)
    >>> s = Skeleton(v, np.stack([np.arange(20), np.arange(1, 21)], 1), np.full(21, 50.0))
    >>> ev = Evidence(np.array([[0.0, 60, 0]]), np.empty((0, 3)), np.empty((0, 3)))
    >>> sorted(set(NAMES[c] for c in label_skeleton(s, ev).coarse))
    ['axon']
    """
    p = params or CompartmentParams()
    n = len(skel.vertices_nm_xyz)
    codes = np.zeros(n, np.uint8)
    none = np.full(n, -1, np.int64)
    if n == 0:
        return Labels(codes, none, none.copy())
    from_evidence = votes is None
    if votes is None:
        soma = _soma(skel, p)
        votes = np.zeros((n, 3), float)
        # a bouton shows both a presynaptic site and a vesicle cloud: half a vote each
        for points, column, weight in ((evidence.pre_nm_xyz, 1, 0.5),
                                       (evidence.vesicles_nm_xyz, 1, 0.5),
                                       (evidence.post_nm_xyz, 2, 1.0)):  # fmt: skip
            if len(points):
                np.add.at(votes[:, column], skel.nearest(points), weight)
    else:
        votes = np.asarray(votes, float)
        # the radius rule where it finds a soma, else the model's (a soma cut by the volume)
        soma = _soma(skel, p)
        if not soma.any():
            soma = (votes[:, 0] > votes[:, 1]) & (votes[:, 0] > votes[:, 2])
    votes = votes.copy()
    votes[soma] = 0.0
    free = skel.graph(keep=~soma)
    sources = np.flatnonzero(votes[:, 1:].any(axis=1))
    window = p.window_nm if from_evidence else p.model_window_nm
    score = _within(free, sources, votes[sources, 1] - votes[sources, 2], window)
    codes[:] = np.where(score > 0, AXON, np.where(score < 0, DENDRITE, 0))
    # nodes out of reach of every vote: the majority of their neurite, else dendrite
    _, part = csgraph.connected_components(free, directed=False)
    unknown = (codes == 0) & ~soma
    if unknown.any():
        voted = (codes != 0) & ~soma
        axon = np.bincount(part[voted], weights=codes[voted] == AXON, minlength=part.max() + 1)
        dend = np.bincount(part[voted], weights=codes[voted] == DENDRITE,
                           minlength=part.max() + 1)  # fmt: skip
        codes[unknown] = np.where(axon[part[unknown]] > dend[part[unknown]], AXON, DENDRITE)
    codes[soma] = SOMA
    bouton = _boutons(skel, codes, evidence, p)
    spine = _spines(skel, codes, p)
    return Labels(codes, spine, bouton)


def _degree(skel: Skeleton) -> np.ndarray:
    e = np.asarray(skel.edges, np.int64).reshape(-1)
    return np.bincount(e, minlength=len(skel.vertices_nm_xyz))


def _boutons(skel: Skeleton, codes: np.ndarray, ev: Evidence, p: CompartmentParams) -> np.ndarray:
    bouton = np.full(len(codes), -1, np.int64)
    axon = codes == AXON
    if not axon.any():
        return bouton
    r = np.asarray(skel.radii_nm, float)
    swollen = axon & (r >= p.bouton_radius_ratio * float(np.median(r[axon])))
    if not swollen.any():
        return bouton
    _, part = csgraph.connected_components(skel.graph(keep=swollen), directed=False)
    marked = np.zeros(len(codes), bool)
    for points in (ev.pre_nm_xyz, ev.vesicles_nm_xyz):
        if len(points):
            marked[skel.nearest(points)] = True
    with_evidence = np.unique(part[swollen & marked])
    leaf = _degree(skel) <= 1
    for number, run in enumerate(with_evidence):
        nodes = swollen & (part == run)
        bouton[nodes] = number
        codes[nodes] = BOUTON_TERMINAL if leaf[nodes].any() else BOUTON_EN_PASSANT
    return bouton


def _rooted(skel: Skeleton, g: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first order and parents of the skeleton, each piece rooted at its thickest
    node (the soma where there is one)."""
    n = g.shape[0]
    _, part = csgraph.connected_components(g, directed=False)
    r = np.asarray(skel.radii_nm, float)
    order, parent = [], np.full(n, -1, np.int64)
    for piece in range(part.max() + 1):
        nodes = np.flatnonzero(part == piece)
        root = int(nodes[np.argmax(r[nodes])])
        o, pred = csgraph.breadth_first_order(g, root, directed=False, return_predecessors=True)
        order.append(o)
        parent[o] = np.where(pred[o] >= 0, pred[o], -1)
    return np.concatenate(order), parent


def _spines(skel: Skeleton, codes: np.ndarray, p: CompartmentParams) -> np.ndarray:
    """Spines: side trees of dendrite shafts, short and narrowing (module docstring)."""
    n = len(codes)
    spine = np.full(n, -1, np.int64)
    if not (codes == DENDRITE).any():
        return spine
    g = skel.graph()
    v, r = skel.vertices_nm_xyz, np.asarray(skel.radii_nm, float)
    order, parent = _rooted(skel, g)
    has = parent >= 0
    step = np.zeros(n)
    step[has] = np.linalg.norm(v[has] - v[parent[has]], axis=1)
    below = np.zeros(n)  # cable of the subtree under each node, with its edge to the parent
    dendrite = codes == DENDRITE
    pure = dendrite.copy()  # the whole subtree is dendrite
    children: list[list[int]] = [[] for _ in range(n)]
    for u in order[::-1]:
        below[u] += step[u]
        q = parent[u]
        if q >= 0:
            below[q] += below[u]
            pure[q] &= pure[u]
            children[q].append(int(u))
    done = np.zeros(n, bool)
    count = 0
    q_of = np.maximum(parent, 0)
    longest = np.minimum(p.spine_max_length_nm, p.spine_length_ratio * r[q_of])
    candidate = (parent >= 0) & dendrite[q_of] & pure & (below <= longest)
    for u in order[candidate[order]]:
        q = parent[u]
        if done[u]:
            continue
        tree, stack = [], [int(u)]
        while stack:
            x = stack.pop()
            tree.append(x)
            stack.extend(children[x])
        nodes = np.array(tree)
        gap = np.linalg.norm(v[nodes] - v[q], axis=1)
        outside = gap > r[q]
        clear = gap > r[q] + r[nodes]  # the node's ball lies beyond the shaft's
        if outside.sum() < 2 or not clear.any():
            continue
        top = int(nodes[clear][np.argmax(r[nodes[clear]])])
        trunk, x = [], top  # from the head back to where the side tree leaves the shaft
        while x != q:
            trunk.append(x)
            x = int(parent[x])
        trunk_nodes = np.array(trunk)
        trunk_out = np.linalg.norm(v[trunk_nodes] - v[q], axis=1) > r[q]
        if not trunk_out.any() or r[trunk_nodes[trunk_out]].min() >= p.spine_neck_ratio * r[q]:
            continue
        done[nodes] = True
        # the head: the run of nodes at least half as thick as its thickest around that node
        thick = clear & (r[nodes] >= 0.5 * r[top])
        thick_nodes = set(nodes[thick].tolist())
        run, stack = {top}, [top]  # thick nodes joined to the top through thick nodes
        while stack:
            x = stack.pop()
            for y in (*children[x], int(parent[x])):
                if y in thick_nodes and y not in run:
                    run.add(y)
                    stack.append(y)
        near_top = np.linalg.norm(v[nodes] - v[top], axis=1) <= r[top]
        head = np.isin(nodes, list(run)) | near_top
        part = nodes[clear | head]  # what touches the shaft's ball stays shaft
        codes[part] = np.where(head[clear | head], SPINE_HEAD, SPINE_NECK)
        spine[part] = count
        count += 1
    return spine


def path_lengths_nm(skel: Skeleton, coarse: np.ndarray) -> dict[int, float]:
    """Cable length per coarse code: each edge counts half for each of its two nodes.

    Examples
    --------
    >>> s = Skeleton(np.array([[0.0, 0, 0], [10, 0, 0], [30, 0, 0]]),
    ...              np.array([[0, 1], [1, 2]]), np.ones(3))
    >>> path_lengths_nm(s, np.array([SOMA, AXON, AXON]))
    {1: 5.0, 2: 25.0}
    """
    e = np.asarray(skel.edges, np.int64).reshape(-1, 2)
    half = np.linalg.norm(skel.vertices_nm_xyz[e[:, 0]] - skel.vertices_nm_xyz[e[:, 1]], axis=1)
    half = half / 2
    total = np.bincount(coarse[e[:, 0]], half, minlength=256)
    total += np.bincount(coarse[e[:, 1]], half, minlength=256)
    return {int(c): float(total[c]) for c in np.flatnonzero(total)}


def face_codes(faces: np.ndarray, vertex_codes: np.ndarray) -> np.ndarray:
    """A face's code: that of its second and third vertex when they agree, else the first's."""
    c = vertex_codes[np.asarray(faces, np.int64)]
    return np.where(c[:, 1] == c[:, 2], c[:, 1], c[:, 0])


def face_areas_nm2(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    f = np.asarray(faces, np.int64)
    a, b, c = vertices[f[:, 0]], vertices[f[:, 1]], vertices[f[:, 2]]
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def spine_head_volumes_nm3(
    skel: Skeleton, labels: Labels, mesh_vertices: np.ndarray | None, vertex_node: np.ndarray | None
) -> dict[int, float]:
    """Volume of each spine's head: the convex hull of the mesh vertices nearest its head
    nodes, or a ball of the head's largest radius where there is no mesh (or too few)."""
    out: dict[int, float] = {}
    head = labels.codes == SPINE_HEAD
    for number in np.unique(labels.spine[head]):
        nodes = np.flatnonzero(head & (labels.spine == number))
        volume = 4.0 / 3.0 * np.pi * float(skel.radii_nm[nodes].max()) ** 3
        if mesh_vertices is not None and vertex_node is not None:
            pts = mesh_vertices[np.isin(vertex_node, nodes)]
            if len(pts) >= 8:
                try:
                    volume = float(ConvexHull(pts).volume)
                except QhullError:  # flat or degenerate: keep the ball
                    pass
        out[int(number)] = volume
    return out


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int,
                   rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """``n`` points uniformly distributed over the area of the triangles ``faces``.

    Examples
    --------
    >>> tri = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    >>> pts = sample_surface(tri, np.array([[0, 1, 2]]), 100, np.random.default_rng(0))
    >>> bool(np.all(pts[:, 0] + pts[:, 1] <= 1 + 1e-9)), pts.shape
    (True, (100, 3))
    """
    if n <= 0 or len(faces) == 0:
        return np.empty((0, 3))
    area = face_areas_nm2(vertices, faces)
    if area.sum() <= 0:
        return np.empty((0, 3))
    pick = rng.choice(len(faces), size=n, p=area / area.sum())
    u, w = rng.random(n), rng.random(n)
    flip = u + w > 1
    u[flip], w[flip] = 1 - u[flip], 1 - w[flip]
    f = np.asarray(faces, np.int64)[pick]
    a, b, c = vertices[f[:, 0]], vertices[f[:, 1]], vertices[f[:, 2]]
    return a + u[:, None] * (b - a) + w[:, None] * (c - a)


def path_between(skel: Skeleton, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Path length (nm) through the skeleton from each ``sources[i]`` to ``targets[i]``
    (``nan`` where they lie in separate pieces).

    Examples
    --------
    >>> s = Skeleton(np.array([[0.0, 0, 0], [3, 4, 0], [6, 0, 0]]),
    ...              np.array([[0, 1], [1, 2]]), np.ones(3))
    >>> path_between(s, np.array([0]), np.array([2])).tolist()
    [10.0]
    """
    src, tgt = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
    out = np.full(len(src), np.nan)
    if len(src) == 0:
        return out
    unique, inverse = np.unique(src, return_inverse=True)
    for part, rows in _path_rows(skel.graph(), unique):
        sel = (inverse >= part.start) & (inverse < part.stop)
        out[sel] = rows[inverse[sel] - part.start, tgt[sel]]
    out[~np.isfinite(out)] = np.nan
    return out


# -- per cell: everything the tables need ------------------------------------------------------
@dataclass
class CellResult:
    """What one cell contributes to the tables (see :func:`cell_compartments`)."""

    compartments: list[dict]  # rows of the compartments table
    pre_codes: np.ndarray  # code at each presynaptic site given
    post_codes: np.ndarray  # code at each postsynaptic site given
    post_head_volume_nm3: np.ndarray  # spine head volume at each postsynaptic site (nan)
    element_codes: np.ndarray  # coarse code at each organelle location given
    pre_nodes: np.ndarray  # skeleton node of each presynaptic site
    element_nodes: np.ndarray  # skeleton node of each organelle location
    control_nm_xyz: np.ndarray  # random points on the axon's surface
    control_nodes: np.ndarray
    skeleton_codes: np.ndarray
    mesh_codes: np.ndarray


def cell_compartments(
    skel: Skeleton,
    evidence: Evidence,
    organelles_nm_xyz: np.ndarray,
    mesh: tuple[np.ndarray, np.ndarray] | None,
    params: CompartmentParams,
    voxel_size_nm_xyz: np.ndarray,
    control_per_um: float,
    seed: int,
    predictor: str = "baseline",
) -> CellResult:
    """Label one cell and place its synapse sites, organelles and control points.

    ``evidence`` carries the cell's presynaptic and postsynaptic sites in the order of the
    synapse rows they come from; ``organelles_nm_xyz`` are locations of its organelles;
    ``mesh`` is ``(vertices_nm_xyz, faces)`` or ``None``. Control points are drawn uniformly
    over the area of the axon's mesh faces, ``control_per_um`` per µm of axon cable (at
    least one when there is an axon), with a generator seeded by ``seed``.
    """
    check_predictor(predictor)
    votes = PREDICTORS[predictor](skel, evidence, mesh)
    labels = label_skeleton(skel, evidence, params, votes=votes)
    codes, coarse = labels.codes, labels.coarse
    v = skel.vertices_nm_xyz
    mesh_codes = np.zeros(0, np.uint8)
    vertex_node = None
    mesh_vertices = None
    face_code = np.zeros(0, np.uint8)
    areas = np.zeros(0)
    if mesh is not None and len(mesh[0]) and len(v):
        mesh_vertices, faces = np.asarray(mesh[0], float), np.asarray(mesh[1], np.int64)
        vertex_node = skel.nearest(mesh_vertices, k=4)
        mesh_codes = codes[vertex_node]
        face_code = COARSE[face_codes(faces, mesh_codes)]
        areas = face_areas_nm2(mesh_vertices, faces)
    lengths = path_lengths_nm(skel, coarse)
    rows = []
    for code, name in NAMES.items():
        nodes = np.flatnonzero(coarse == code)
        if len(nodes) == 0:
            continue
        spot = v[nodes[np.argmax(skel.radii_nm[nodes])]] / voxel_size_nm_xyz
        boutons = len(np.unique(labels.bouton[nodes][labels.bouton[nodes] >= 0]))
        spines = len(np.unique(labels.spine[nodes][labels.spine[nodes] >= 0]))
        rows.append(
            {
                "compartment": name,
                "path_length_nm": lengths.get(code, 0.0),
                "nodes": len(nodes),
                "mesh_area_nm2": float(areas[face_code == code].sum()) if len(areas) else np.nan,
                "boutons": boutons,
                "spines": spines,
                "x": int(round(spot[0])),
                "y": int(round(spot[1])),
                "z": int(round(spot[2])),
            }
        )
    pre_nodes = skel.nearest(evidence.pre_nm_xyz)
    post_nodes = skel.nearest(evidence.post_nm_xyz)
    heads = spine_head_volumes_nm3(skel, labels, mesh_vertices, vertex_node)
    post_codes = codes[post_nodes] if len(v) else np.zeros(len(post_nodes), np.uint8)
    head_volume = np.full(len(post_nodes), np.nan)
    for i, node in enumerate(post_nodes):
        if len(v) and codes[node] == SPINE_HEAD:
            head_volume[i] = heads.get(int(labels.spine[node]), np.nan)
    element_nodes = skel.nearest(organelles_nm_xyz)
    axon_um = lengths.get(AXON, 0.0) / 1000.0
    control = np.empty((0, 3))
    if mesh_vertices is not None and axon_um > 0:
        count = max(1, int(round(axon_um * control_per_um)))
        axon_faces = np.asarray(mesh[1], np.int64)[face_code == AXON]  # type: ignore[index]
        control = sample_surface(mesh_vertices, axon_faces, count, np.random.default_rng(seed))
    return CellResult(
        compartments=rows,
        pre_codes=codes[pre_nodes] if len(v) else np.zeros(len(pre_nodes), np.uint8),
        post_codes=post_codes,
        post_head_volume_nm3=head_volume,
        element_codes=coarse[element_nodes] if len(v) else np.zeros(len(element_nodes), np.uint8),
        pre_nodes=pre_nodes,
        element_nodes=element_nodes,
        control_nm_xyz=control,
        control_nodes=skel.nearest(control),
        skeleton_codes=codes,
        mesh_codes=mesh_codes,
    )


# -- the stage's unit of work: a batch of cells, run on a Dask worker ------------------------
def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def compartment_batch(
    folder: str,
    bodies: list[int],
    synapses: pd.DataFrame,
    elements: pd.DataFrame,
    close_to: pd.DataFrame,
    mito_surface: pd.DataFrame,
    voxel_size_nm_zyx: tuple[float, float, float],
    params: CompartmentParams,
    control_per_um: float,
    predictor: str = "baseline",
) -> dict[str, pd.DataFrame]:
    """Compartments of the cells ``bodies`` whose meshes and skeletons are in ``folder``.

    ``synapses`` holds the rows (``synapse_id``, pre/post body ids and sites) with either side
    in ``bodies``; ``elements`` the organelles of these cells (``type``, ``element_id``,
    ``body_id``, ``x, y, z``); ``close_to`` the nearest mitochondrion of each synapse
    (``synapse_id``, ``element_id``); ``mito_surface`` the boundary voxels of these cells'
    mitochondria. Writes ``<body>.compartments.npz`` (node and mesh-vertex codes) beside each
    cell's morphology and returns the rows for the tables: ``compartments``, ``pre``,
    ``post``, ``elements``, ``close_to`` and ``control_points`` (without point ids).
    """
    from ingest.distances import nearest_mitochondria

    vox_xyz = np.asarray(voxel_size_nm_zyx, float)[::-1]
    out: dict[str, list[pd.DataFrame]] = {
        k: [] for k in ("compartments", "pre", "post", "elements", "close_to", "control_points")
    }
    pre_xyz, post_xyz = ["pre_x", "pre_y", "pre_z"], ["post_x", "post_y", "post_z"]
    rows_of = {
        "pre": synapses.groupby("pre_body_id").indices,
        "post": synapses.groupby("post_body_id").indices,
        "own": elements.groupby("body_id").indices,
        "surface": mito_surface.groupby("body_id").indices if len(mito_surface) else {},
    }
    none = np.zeros(0, np.int64)
    close_by_synapse = close_to.set_index("synapse_id")
    for body in bodies:
        path = Path(folder) / f"{body}.npz"
        if not path.exists():
            continue
        with np.load(path) as saved:
            if "skeleton_edges" not in saved:
                continue
            skel = Skeleton(
                saved["skeleton_vertices_nm_xyz"].astype(float),
                saved["skeleton_edges"],
                saved["skeleton_radii_nm"].astype(float),
            )
            mesh = (
                (saved["mesh_vertices_nm_xyz"], saved["mesh_faces"])
                if "mesh_faces" in saved
                else None
            )
        b = np.uint64(body)
        pre = synapses.iloc[rows_of["pre"].get(b, none)]
        post = synapses.iloc[rows_of["post"].get(b, none)]
        own = elements.iloc[rows_of["own"].get(b, none)]
        vesicles = own[own["type"] == "vesicle_cloud"]
        evidence = Evidence(
            pre[pre_xyz].to_numpy(float) * vox_xyz,
            post[post_xyz].to_numpy(float) * vox_xyz,
            vesicles[["x", "y", "z"]].to_numpy(float) * vox_xyz,
            own.loc[own["type"] == "mitochondrion", ["x", "y", "z"]].to_numpy(float) * vox_xyz,
        )
        res = cell_compartments(
            skel,
            evidence,
            own[["x", "y", "z"]].to_numpy(float) * vox_xyz,
            mesh,
            params,
            vox_xyz,
            control_per_um,
            seed=body % 2**32,
            predictor=predictor,
        )
        _atomic_savez(
            path.with_name(f"{body}.compartments.npz"),
            skeleton_compartment=res.skeleton_codes,
            mesh_compartment=res.mesh_codes,
        )
        out["compartments"].append(pd.DataFrame(res.compartments).assign(body_id=b))
        out["pre"].append(
            pd.DataFrame(
                {
                    "synapse_id": pre["synapse_id"].to_numpy(),
                    "pre_compartment": [NAMES.get(int(COARSE[c])) for c in res.pre_codes],
                    "pre_site": [PRE_SITE.get(int(c)) for c in res.pre_codes],
                }
            )
        )
        out["post"].append(
            pd.DataFrame(
                {
                    "synapse_id": post["synapse_id"].to_numpy(),
                    "post_compartment": [NAMES.get(int(COARSE[c])) for c in res.post_codes],
                    "post_site": [POST_SITE.get(int(c)) for c in res.post_codes],
                    "spine_head_volume_nm3": res.post_head_volume_nm3,
                }
            )
        )
        out["elements"].append(
            pd.DataFrame(
                {
                    "type": own["type"].to_numpy(),
                    "element_id": own["element_id"].to_numpy(),
                    "compartment": [NAMES.get(int(c)) for c in res.element_codes],
                }
            )
        )
        # along-the-skeleton distances: synapse (or control point) node to the organelle's
        node_of_element = pd.Series(res.element_nodes, index=own["element_id"].to_numpy())
        mito_nodes = node_of_element[(own["type"] == "mitochondrion").to_numpy()]
        found_ids = close_by_synapse.index.intersection(pre["synapse_id"])
        near = close_by_synapse.loc[found_ids].reset_index()
        if len(near):
            node_of_syn = pd.Series(res.pre_nodes, index=pre["synapse_id"].to_numpy())
            nm = path_between(
                skel,
                node_of_syn.reindex(near["synapse_id"]).to_numpy(),
                mito_nodes.reindex(near["element_id"]).to_numpy(),
            )
            out["close_to"].append(
                pd.DataFrame(
                    {"synapse_id": near["synapse_id"].to_numpy(), "distance_vx": nm / vox_xyz[0]}
                )
            )
        if len(res.control_nm_xyz):
            vx = res.control_nm_xyz / vox_xyz
            points = pd.DataFrame(
                {
                    "synapse_id": np.arange(len(vx)),
                    "pre_body_id": b,
                    "x": vx[:, 0],
                    "y": vx[:, 1],
                    "z": vx[:, 2],
                }
            )
            surface = mito_surface.iloc[rows_of["surface"].get(b, none)]
            found = nearest_mitochondria(points, surface, voxel_size_nm_zyx)
            found = found.set_index("synapse_id").reindex(np.arange(len(vx)))
            element = found["element_id"].to_numpy(float)
            distance = np.full(len(vx), np.nan)
            has = ~np.isnan(element)
            if has.any():
                distance[has] = (
                    path_between(
                        skel,
                        res.control_nodes[has],
                        mito_nodes.reindex(element[has].astype(np.int64)).to_numpy(),
                    )
                    / vox_xyz[0]
                )
            out["control_points"].append(
                pd.DataFrame(
                    {
                        "body_id": b,
                        "x": vx[:, 0],
                        "y": vx[:, 1],
                        "z": vx[:, 2],
                        "element_id": pd.array(np.where(has, element, np.nan), dtype="Int64"),
                        "euclidean_nm": found["euclidean_nm"].to_numpy(float),
                        "distance_vx": distance,
                    }
                )
            )
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}


# the point model registers itself as "pointnet" (imported last: it builds on this module)
from ingest import compartment_model as _compartment_model  # noqa: E402, F401
