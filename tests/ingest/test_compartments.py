"""Compartments on skeletons built by hand, whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ingest.compartments import (
    AXON,
    BOUTON_EN_PASSANT,
    DENDRITE,
    SOMA,
    SPINE_HEAD,
    SPINE_NECK,
    CompartmentParams,
    Evidence,
    Skeleton,
    cell_compartments,
    compartment_batch,
    label_skeleton,
    path_between,
)

NONE = np.empty((0, 3))


def _line(start, direction, n, step=40.0):
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    return np.asarray(start, float) + np.outer(np.arange(1, n + 1) * step, d)


class Builder:
    """Grow a skeleton as polylines (nm) with a radius per line."""

    def __init__(self, soma_radius: float = 600.0):
        self.v = [np.zeros(3)]
        self.r = [soma_radius]
        self.e: list[tuple[int, int]] = []

    def grow(self, parent: int, points: np.ndarray, radius) -> list[int]:
        radii = np.broadcast_to(np.asarray(radius, float), (len(points),))
        ids = []
        for p, rad in zip(points, radii, strict=True):
            self.v.append(p)
            self.r.append(float(rad))
            ids.append(len(self.v) - 1)
            self.e.append((parent, ids[-1]))
            parent = ids[-1]
        return ids

    def skeleton(self) -> Skeleton:
        return Skeleton(np.array(self.v), np.array(self.e), np.array(self.r))


def _neuron():
    """A soma (radius 600 nm) with an axon along +x and a dendrite along -x (4 µm each)."""
    b = Builder()
    # inside the soma: nodes that shrink from the centre to its surface
    inner_ax = b.grow(0, _line([0, 0, 0], [1, 0, 0], 15), np.linspace(580, 80, 15))
    axon = b.grow(inner_ax[-1], _line(b.v[inner_ax[-1]], [1, 0, 0], 100), 30.0)
    inner_de = b.grow(0, _line([0, 0, 0], [-1, 0, 0], 15), np.linspace(580, 120, 15))
    dend = b.grow(inner_de[-1], _line(b.v[inner_de[-1]], [-1, 0, 0], 100), 100.0)
    return b, axon, dend


def test_the_thick_centre_is_soma_and_synapses_tell_axon_from_dendrite():
    b, axon, dend = _neuron()
    s = b.skeleton()
    ev = Evidence(s.vertices_nm_xyz[axon[10::20]] + [0, 30, 0],
                  s.vertices_nm_xyz[dend[10::20]] + [0, 100, 0], NONE)  # fmt: skip
    labels = label_skeleton(s, ev)
    assert labels.coarse[0] == SOMA
    # the soma reaches 1.2 times its radius (somata are not round): the first nodes beyond
    assert np.all(labels.coarse[axon[3:]] == AXON)
    assert np.all(labels.coarse[dend[3:]] == DENDRITE)


def test_a_skeleton_in_pieces_inside_the_soma_still_has_its_whole_soma():
    b, axon, dend = _neuron()
    b.e.remove((0, dend[0] - 15))  # the dendrite's first inner node loses its edge to the centre
    s = b.skeleton()
    inner_de = np.arange(dend[0] - 15, dend[0])
    reach = np.linalg.norm(s.vertices_nm_xyz[inner_de], axis=1)
    labels = label_skeleton(s, Evidence(NONE, NONE, NONE))
    assert np.all(labels.coarse[inner_de[reach <= 1.2 * 600]] == SOMA)
    assert np.all(labels.coarse[dend[3:]] != SOMA)


def test_the_model_names_the_soma_only_where_the_radius_rule_finds_none():
    b, axon, dend = _neuron()
    s = b.skeleton()
    votes = np.zeros((len(b.v), 3))
    votes[:, 2] = 1.0
    votes[dend[50:60], 0] = 2.0  # the model calls a stretch of dendrite soma
    rule = label_skeleton(s, Evidence(NONE, NONE, NONE), votes=votes)
    assert rule.coarse[0] == SOMA and np.all(rule.coarse[dend[50:60]] == DENDRITE)
    thin = Builder(soma_radius=100.0)  # no node thick enough for the rule: the model decides
    line = thin.grow(0, _line([0, 0, 0], [1, 0, 0], 50), 100.0)
    votes = np.zeros((51, 3))
    votes[:, 2] = 1.0
    votes[line[:5], 0] = 2.0
    model = label_skeleton(thin.skeleton(), Evidence(NONE, NONE, NONE), votes=votes)
    assert np.all(model.coarse[line[:5]] == SOMA) and np.all(model.coarse[line[5:]] != SOMA)


def test_a_lone_opposite_vote_is_outvoted_within_the_window():
    b, axon, dend = _neuron()
    s = b.skeleton()
    pre = s.vertices_nm_xyz[axon[::10]]  # ten presynaptic sites along the axon
    stray = s.vertices_nm_xyz[[axon[55]]]  # and one postsynaptic site among them
    labels = label_skeleton(s, Evidence(pre, stray, NONE))
    assert np.all(labels.coarse[axon[3:]] == AXON)
    # the same stray vote alone, with a window too short to reach the others, wins locally
    alone = label_skeleton(s, Evidence(pre, stray, NONE), CompartmentParams(window_nm=30.0))
    assert alone.coarse[axon[55]] == DENDRITE


def test_without_a_thick_node_there_is_no_soma():
    b = Builder(soma_radius=100.0)
    b.grow(0, _line([0, 0, 0], [1, 0, 0], 50), 100.0)
    labels = label_skeleton(b.skeleton(), Evidence(NONE, NONE, NONE))
    assert SOMA not in labels.coarse
    assert np.all(labels.coarse == DENDRITE)  # no evidence at all: dendrite


def test_a_short_narrowing_side_branch_is_a_spine_with_head_and_neck():
    b, axon, dend = _neuron()
    base = dend[50]  # on a shaft of radius 100 nm
    # neck: radius 25 nm out to 280 nm from the shaft's axis; head: radius 70, 200 nm long
    neck = b.grow(base, _line(b.v[base], [0, 1, 0], 7, step=40.0), 25.0)
    head = b.grow(neck[-1], _line(b.v[neck[-1]], [0, 1, 0], 5, step=40.0), 70.0)
    s = b.skeleton()
    post = s.vertices_nm_xyz[[head[2], dend[20], dend[80]]] + [[0, 0, 70], [0, 0, 100],
                                                               [0, 0, 100]]  # fmt: skip
    res = cell_compartments(s, Evidence(NONE, post, NONE), NONE, None, CompartmentParams(),
                            np.ones(3), 1.0, seed=0)  # fmt: skip
    codes = res.skeleton_codes
    assert codes[head[2]] == SPINE_HEAD and codes[neck[4]] == SPINE_NECK
    assert codes[dend[30]] == DENDRITE  # the shaft itself stays shaft
    assert res.post_codes.tolist() == [SPINE_HEAD, DENDRITE, DENDRITE]
    head_ball = 4 / 3 * np.pi * 70.0**3  # no mesh: a ball of the head's radius
    assert res.post_head_volume_nm3[0] == pytest.approx(head_ball)
    assert np.isnan(res.post_head_volume_nm3[1:]).all()
    spines = {r["compartment"]: r["spines"] for r in res.compartments}
    assert spines["dendrite"] == 1


def test_a_long_side_branch_is_no_spine():
    b, axon, dend = _neuron()
    base = dend[50]
    thin = b.grow(base, _line(b.v[base], [0, 1, 0], 40, step=40.0), 25.0)  # 1.6 µm of cable
    b.grow(thin[-1], _line(b.v[thin[-1]], [0, 1, 0], 5, step=40.0), 70.0)
    labels = label_skeleton(b.skeleton(), Evidence(NONE, NONE, NONE))
    assert SPINE_HEAD not in labels.codes and SPINE_NECK not in labels.codes


def test_a_swelling_with_a_vesicle_cloud_is_a_bouton_and_its_synapse_says_so():
    b, axon, dend = _neuron()
    s = b.skeleton()
    s.radii_nm[axon[40:46]] = 120.0  # a swelling of the axon
    vesicles = s.vertices_nm_xyz[[axon[43]]]
    pre = s.vertices_nm_xyz[[axon[43], axon[80]]] + [0, 50, 0]
    res = cell_compartments(s, Evidence(pre, NONE, vesicles), NONE, None, CompartmentParams(),
                            np.ones(3), 1.0, seed=0)  # fmt: skip
    assert set(res.skeleton_codes[axon[40:46]]) == {BOUTON_EN_PASSANT}
    assert res.pre_codes.tolist() == [BOUTON_EN_PASSANT, AXON]
    boutons = {r["compartment"]: r["boutons"] for r in res.compartments}
    assert boutons["axon"] == 1


def test_path_lengths_add_up_to_the_cable():
    b, axon, dend = _neuron()
    s = b.skeleton()
    ev = Evidence(s.vertices_nm_xyz[axon[::20]], s.vertices_nm_xyz[dend[::20]], NONE)
    res = cell_compartments(s, ev, NONE, None, CompartmentParams(), np.ones(3), 1.0, seed=0)
    lengths = {r["compartment"]: r["path_length_nm"] for r in res.compartments}
    e = s.edges
    total = np.linalg.norm(s.vertices_nm_xyz[e[:, 0]] - s.vertices_nm_xyz[e[:, 1]], axis=1).sum()
    assert sum(lengths.values()) == pytest.approx(total)
    assert lengths["axon"] == pytest.approx(4000.0, rel=0.04)  # less what the soma took
    assert lengths["dendrite"] == pytest.approx(4000.0, rel=0.04)


def test_the_along_skeleton_distance_follows_a_u_turn_not_the_straight_line():
    b = Builder(soma_radius=50.0)
    out = b.grow(0, _line([0, 0, 0], [1, 0, 0], 25), 50.0)  # 1 µm along x
    up = b.grow(out[-1], _line(b.v[out[-1]], [0, 1, 0], 5), 50.0)  # 200 nm along y
    back = b.grow(up[-1], _line(b.v[up[-1]], [-1, 0, 0], 25), 50.0)  # 1 µm back
    s = b.skeleton()
    straight = np.linalg.norm(s.vertices_nm_xyz[0] - s.vertices_nm_xyz[back[-1]])
    along = path_between(s, np.array([0]), np.array([back[-1]]))[0]
    assert straight == pytest.approx(200.0)
    assert along == pytest.approx(2200.0)


def test_control_points_lie_on_the_axon_surface_and_find_the_axon_mitochondrion(tmp_path):
    b, axon, dend = _neuron()
    s = b.skeleton()
    # a mesh: a square tube around the axon, one around the dendrite
    verts, faces = [], []
    for part, rad in ((axon, 30.0), (dend, 100.0)):
        for i in part[:-1]:
            a, c = s.vertices_nm_xyz[i], s.vertices_nm_xyz[i + 1]
            k = len(verts)
            for p in (a, c):
                verts += [p + [0, rad, 0], p + [0, 0, rad], p + [0, -rad, 0], p + [0, 0, -rad]]
            for j in range(4):
                j1 = (j + 1) % 4
                faces += [[k + j, k + j1, k + 4 + j], [k + j1, k + 4 + j1, k + 4 + j]]
    mesh_v, mesh_f = np.array(verts), np.array(faces)
    body = 77
    folder = tmp_path / "morphology"
    folder.mkdir()
    np.savez(folder / f"{body}.npz", skeleton_vertices_nm_xyz=s.vertices_nm_xyz,
             skeleton_edges=s.edges, skeleton_radii_nm=s.radii_nm,
             mesh_vertices_nm_xyz=mesh_v, mesh_faces=mesh_f)  # fmt: skip
    mito_xyz = s.vertices_nm_xyz[axon[60]]  # voxels are 1 nm here
    pre = s.vertices_nm_xyz[axon[10::10]]
    synapses = pd.DataFrame({
        "synapse_id": np.arange(1, len(pre) + 1), "pre_body_id": np.uint64(body),
        "post_body_id": np.uint64(5), "pre_x": pre[:, 0], "pre_y": pre[:, 1],
        "pre_z": pre[:, 2], "post_x": 0, "post_y": 0, "post_z": 0})  # fmt: skip
    elements = pd.DataFrame({"type": ["mitochondrion"], "element_id": [1],
                             "body_id": np.uint64(body), "x": [mito_xyz[0]],
                             "y": [mito_xyz[1]], "z": [mito_xyz[2]]})  # fmt: skip
    close_to = pd.DataFrame({"synapse_id": [1], "element_id": [1]})
    surface = pd.DataFrame({"element_id": [1], "body_id": np.uint64(body), "z": [mito_xyz[2]],
                            "y": [mito_xyz[1]], "x": [mito_xyz[0]]})  # fmt: skip
    out = compartment_batch(str(folder), [body], synapses, elements, close_to, surface,
                            (1.0, 1.0, 1.0), CompartmentParams(), 2.0)  # fmt: skip
    control = out["control_points"]
    assert len(control) == 8  # 2 per µm of a 4 µm axon
    xyz = control[["x", "y", "z"]].to_numpy()
    assert np.all(xyz[:, 0] > 600)  # along the axon (+x), none on the dendrite
    assert np.allclose(np.hypot(xyz[:, 1], xyz[:, 2]), 30.0, atol=9.0)  # on the tube
    assert (control["element_id"] == 1).all()
    assert (control["euclidean_nm"] > 0).all()
    # synapse 1 sits on the axon 50 nodes of 40 nm from the mitochondrion
    assert out["close_to"]["distance_vx"].iloc[0] == pytest.approx(50 * 40.0)
    assert out["elements"]["compartment"].tolist() == ["axon"]
    assert (folder / f"{body}.compartments.npz").exists()
