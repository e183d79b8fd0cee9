"""Ground truth of the phantom, measured on the final label volumes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .geometry import face_pairs
from .scene import AXON, COMPARTMENT_NAMES, DENDRITE, SOMA, Contact, Scene

SCHEMA = "connectome-phantom-truth/1"
SYNAPSE_TYPE = {"TypeA": 1, "TypeB": 2}

IntArray = NDArray[np.int64]


def ground_truth(scene: Scene) -> tuple[dict[str, Any], NDArray[np.uint8]]:
    """The ground truth dictionary and the synapse type (1 or 2) of each junction label."""
    g, lab = scene.g, scene.lab
    n_cells = len(scene.cells)
    counts = np.zeros((n_cells + 1, 4), dtype=np.int64)
    for z0 in range(0, lab.shape[0], 16):
        key = lab[z0 : z0 + 16].astype(np.int64) * 4 + scene.comp[z0 : z0 + 16]
        counts += np.bincount(key.ravel(), minlength=(n_cells + 1) * 4).reshape(-1, 4)
    _show_large_ids(scene, counts.sum(axis=1))
    cells_out = []
    for cell in scene.cells:
        row = counts[cell.label]
        if row.sum() == 0:
            continue
        cells_out.append(
            {
                "id": str(cell.id),
                "type": cell.type,
                "soma_center_xyz_vx": [float(x) for x in (cell.soma_center_nm / g.v)[::-1]],
                "voxels": int(row.sum()),
                "compartment_voxels": {
                    "soma": int(row[SOMA]),
                    "dendrite": int(row[DENDRITE]),
                    "axon": int(row[AXON]),
                },
            }
        )

    # junctions and mitochondria: centroids and counts from the final arrays
    n_j = scene.n_synapse_labels
    _, _, _, _, j_count, j_sum = _label_sums(scene.jid, n_j)
    mz, my, mx, mv, m_count, m_sum = _label_sums(scene.mid, scene.n_mito)
    m_cell = lab[mz, my, mx]
    m_comp = np.bincount(mv * 4 + scene.comp[mz, my, mx], minlength=(scene.n_mito + 1) * 4)
    m_comp = m_comp.reshape(-1, 4)
    trees: dict[int, cKDTree] = {}
    for label in np.unique(m_cell):
        sel = m_cell == label
        pts = np.stack([mz[sel] * g.v[0], my[sel] * g.v[1], mx[sel] * g.v[2]], axis=1)
        trees[int(label)] = cKDTree(pts)

    syn_type_of_jid = np.zeros(n_j + 1, dtype=np.uint8)
    synapses: list[dict[str, Any]] = []
    without = 0
    for c in scene.contacts:
        if not c.jid or j_count[c.jid] == 0:
            without += int(_touching(scene, c))
            continue
        pre, post = scene.cell(c.pre), scene.cell(c.post)
        syn_type_of_jid[c.jid] = SYNAPSE_TYPE[pre.type]
        pos_xyz = j_sum[c.jid] / j_count[c.jid]
        tree = trees.get(c.pre)
        dist = None
        if tree is not None:
            dist = float(tree.query(pos_xyz[::-1] * g.v)[0])
        synapses.append(
            {
                "id": len(synapses) + 1,
                "pre": str(pre.id),
                "post": str(post.id),
                "position_xyz_vx": [float(x) for x in pos_xyz],
                "junction_voxels": int(j_count[c.jid]),
                "area_nm2": float(math.pi * c.junction_radius_nm**2),
                "type": SYNAPSE_TYPE[pre.type],
                "post_compartment": c.post_kind,
                "mito_distance_nm": dist,
            }
        )
    n_syn_labels = n_j - len(scene.orphan_cells)
    orphans = []
    for k, label in enumerate(scene.orphan_cells):
        j = n_syn_labels + 1 + k
        if j_count[j]:
            orphans.append(
                {
                    "cell": str(scene.cell(label).id),
                    "position_xyz_vx": [float(x) for x in j_sum[j] / j_count[j]],
                }
            )
    mitos: list[dict[str, Any]] = []
    order = np.argsort(mv, kind="stable")
    first = np.searchsorted(mv[order], np.arange(1, scene.n_mito + 1))
    for k in range(1, scene.n_mito + 1):
        if m_count[k] == 0:
            continue
        i = order[first[k - 1]]
        mitos.append(
            {
                "id": len(mitos) + 1,
                "cell": str(scene.cell(int(m_cell[i])).id),
                "compartment": COMPARTMENT_NAMES[int(np.argmax(m_comp[k, 1:]) + 1)],
                "centroid_xyz_vx": [float(x) for x in m_sum[k] / m_count[k]],
                "voxels": int(m_count[k]),
            }
        )
    truth = {
        "schema": SCHEMA,
        "seed": int(scene.seed),
        "shape_zyx": [int(s) for s in scene.shape],
        "voxel_size_nm_zyx": [float(v) for v in scene.voxel],
        "cells": cells_out,
        "synapses": synapses,
        "orphan_junctions": orphans,
        "contacts_without_synapse": int(without),
        "mitochondria": mitos,
    }
    return truth, syn_type_of_jid


def _label_sums(labels: NDArray[Any], n: int) -> tuple[NDArray[Any], ...]:
    """Labelled voxels ``z, y, x``, their labels, the voxel count of each label ``0..n`` and
    the sum of the ``(x, y, z)`` indices of its voxels (``(n + 1, 3)``)."""
    z, y, x = np.nonzero(labels)
    v = labels[z, y, x].astype(np.int64)
    count = np.bincount(v, minlength=n + 1)
    sums = np.stack([np.bincount(v, weights=w, minlength=n + 1) for w in (x, y, z)], axis=1)
    return z, y, x, v, count, sums


def _show_large_ids(scene: Scene, voxels: IntArray) -> None:
    """Swap ids so that cells present in the volume carry ids above 2**53 and 2**32."""
    for limit in (2**53, 2**32):
        shown = [c for c in scene.cells if voxels[c.label] > 0]
        if not shown or any(c.id > limit for c in shown):
            continue
        hidden = [c for c in scene.cells if voxels[c.label] == 0 and c.id > limit]
        if hidden:
            target = min(shown, key=lambda c: c.id)
            target.id, hidden[0].id = hidden[0].id, target.id


def _touching(scene: Scene, c: Contact) -> bool:
    """Whether the bouton's cell shares a voxel face with the target cell near the contact."""
    sl = scene.g.box(c.point_nm, 2.0 * c.bouton_radius_nm)
    if sl is None:
        return False
    region = scene.lab[sl]
    for lo, hi in face_pairs():
        x, y = region[lo], region[hi]
        if np.any(((x == c.pre) & (y == c.post)) | ((x == c.post) & (y == c.pre))):
            return True
    return False
