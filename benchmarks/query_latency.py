"""Query latency at scale: a synthetic connectome bulk-imported into Neo4j, then p50/p99 of
four questions through our GraphQL API and through neuprint-python's custom-Cypher path.

    .venv/bin/python benchmarks/query_latency.py                 # 100k neurons, 10M synapses
    .venv/bin/python benchmarks/query_latency.py --neurons 10000 --synapses 1000000 --quick

The tables (the contract of ``graph/tables.py``) are written with numpy: ~20 cell types with
uneven populations (set as neuron ``type``/``typeConfidence`` right after the import, as an
annotation would), compartments, mitochondria and vesicle clouds, a ``CloseTo`` from every
presynaptic site to a mitochondrion of its cell, control points on axons, and heavy-tailed
connection weights (Zipf, exponent 2). They are imported with ``graph.bulk`` into a Neo4j the
benchmark starts itself under ``--workdir``; the database is kept for reruns (a stamp of the
generator's parameters; ``--rebuild`` makes it anew). Then our API runs in a uvicorn
subprocess on loopback and each question is timed alone (sequential requests) and under 16
concurrent clients (one asyncio process), and the same questions are asked through
neuprint-python's ``Client.fetch_custom`` in the same run. Client, API server and Neo4j share
the machine's cores; the output says how many.

The last line is one JSON object keyed by query name, each with ``p50_ms``, ``p99_ms``,
``p50_ms_16_clients``, ``p99_ms_16_clients`` and ``ratio_vs_neuprint_path`` (the neuPrint
path's p50 over ours: above 1 means we are faster), plus ``build``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph import tables  # noqa: E402

DATASET = "bench"
VOXEL_SIZE_NM_XYZ = (8.0, 8.0, 40.0)
SHAPE_ZYX = (5_000, 50_000, 50_000)  # voxels: 0.2 x 0.4 x 0.4 mm


@dataclass(frozen=True)
class Synthetic:
    """The generator's parameters (their hash is the stamp of a built database)."""

    neurons: int = 100_000
    synapses: int = 10_000_000
    cell_types: int = 20
    mitochondria_per_neuron: float = 6.0
    vesicle_clouds_per_neuron: float = 2.0
    control_points_per_neuron: float = 5.0
    max_weight: int = 1_000
    seed: int = 0
    version: int = 1  # of this generator

    def stamp(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def type_names(count: int) -> list[str]:
    """Cell type names; every fourth type is inhibitory (its synapses symmetric).

    Examples
    --------
    >>> type_names(5)
    ['exc00', 'exc01', 'exc02', 'inh03', 'exc04']
    """
    return [f"{'inh' if i % 4 == 3 else 'exc'}{i:02d}" for i in range(count)]


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=names)


def _pick(rng: np.random.Generator, n: int, names: list[str], p: list[float]) -> np.ndarray:
    return rng.choice(len(names), size=n, p=p).astype(np.int8)


def _connections(rng: np.random.Generator, s: Synthetic, cell_type: np.ndarray):
    """(pre index, post index, weight) per connected pair, weights summing to ``s.synapses``.

    Pre cells are drawn by a log-normal output activity, the post cell's type by a
    type-to-type preference (one Dirichlet row per pre type), the post cell within that type
    by a log-normal input activity; weights are Zipf (exponent 2) capped at ``max_weight``.
    """
    n, t = s.neurons, s.cell_types
    out_act = rng.lognormal(0.0, 1.0, n)
    in_act = rng.lognormal(0.0, 1.0, n)
    prefer = rng.dirichlet(np.full(t, 0.5), size=t)
    members = [np.flatnonzero(cell_type == k) for k in range(t)]
    in_cum = [np.cumsum(in_act[m]) for m in members]
    pre_all, post_all, w_all = [], [], []
    total = 0
    mean_w = 5.0
    while total < s.synapses:
        pairs = int((s.synapses - total) / mean_w * 1.2) + 16
        pre = rng.choice(n, size=pairs, p=out_act / out_act.sum())
        post_type = np.empty(pairs, np.int64)
        for k in range(t):
            at = np.flatnonzero(cell_type[pre] == k)
            post_type[at] = rng.choice(t, size=len(at), p=prefer[k])
        post = np.empty(pairs, np.int64)
        for k in range(t):
            at = np.flatnonzero(post_type == k)
            if len(members[k]) == 0:
                post_type[at] = -1
                continue
            pick = np.searchsorted(in_cum[k], rng.random(len(at)) * in_cum[k][-1])
            post[at] = members[k][np.minimum(pick, len(members[k]) - 1)]
        keep = (post_type >= 0) & (pre != post)
        pre_all.append(pre[keep])
        post_all.append(post[keep])
        w_all.append(np.minimum(rng.zipf(2.0, keep.sum()), s.max_weight))
        pre, post = np.concatenate(pre_all), np.concatenate(post_all)
        weight = np.concatenate(w_all)
        _, first = np.unique(pre * n + post, return_index=True)  # one weight per pair
        first.sort()
        pre, post, weight = pre[first], post[first], weight[first]
        pre_all, post_all, w_all = [pre], [post], [weight]
        total = int(weight.sum())
    cut = int(np.searchsorted(np.cumsum(weight), s.synapses))
    pre, post, weight = pre[: cut + 1], post[: cut + 1], weight[: cut + 1].copy()
    weight[-1] -= int(weight.sum()) - s.synapses
    return pre, post, weight


def _per_owner(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner index per item (``counts[i]`` items for owner ``i``) and each owner's first item."""
    owner = np.repeat(np.arange(len(counts)), counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return owner, start


def write_synthetic_tables(folder: Path, s: Synthetic) -> dict[str, Any]:
    """Write the table contract's Parquet files for ``s`` into ``folder``; return the cell
    types (``body_id``, ``type``, ``type_confidence`` arrays) that the import annotates.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> types = write_synthetic_tables(folder, Synthetic(neurons=50, synapses=400))
    >>> len(tables.read_table(folder, "synapses")), len(types["type"])
    (400, 50)
    """
    rng = np.random.default_rng(s.seed)
    n = s.neurons
    names = type_names(s.cell_types)
    # body ids: uint64, unique, the last percent above 2**53 (where JSON numbers break)
    body = np.uint64(10**9) + np.cumsum(rng.integers(1, 5_000, n)).astype(np.uint64)
    body[n - n // 100 :] += np.uint64(2**53)
    population = 1.0 / np.arange(1, s.cell_types + 1) ** 0.8
    cell_type = rng.choice(s.cell_types, size=n, p=population / population.sum())
    extent = np.array(SHAPE_ZYX[::-1], np.float64)  # x, y, z
    centre = rng.random((n, 3)) * extent * 0.9 + extent * 0.05
    voxels = rng.lognormal(np.log(5e6), 1.0, n).astype(np.int64) + 1000
    half = np.cbrt(voxels)[:, None] * np.array([2.0, 2.0, 0.4])
    neurons = pd.DataFrame(
        {
            "body_id": body,
            "voxels": voxels,
            **{f"bbox_min_{a}": (centre[:, i] - half[:, i]).astype(np.int32)
               for i, a in enumerate("xyz")},
            **{f"bbox_max_{a}": (centre[:, i] + half[:, i]).astype(np.int32)
               for i, a in enumerate("xyz")},
            **{a: centre[:, i].astype(np.int32) for i, a in enumerate("xyz")},
            "mesh_area_nm2": rng.lognormal(np.log(4e8), 0.6, n),
            "mesh_volume_nm3": voxels * np.prod(VOXEL_SIZE_NM_XYZ),
            "cable_length_nm": rng.lognormal(np.log(2e6), 0.7, n),
        }
    )  # fmt: skip
    tables.write_table(folder, "neurons", neurons)

    # compartments: every cell an axon and a dendrite, nine in ten a soma
    has = np.stack([np.ones(n, bool), np.ones(n, bool), rng.random(n) < 0.9], axis=1)
    cell, comp = np.nonzero(has)
    kinds = ["axon", "dendrite", "soma"]
    m = len(cell)
    compartments = pd.DataFrame(
        {
            "body_id": body[cell],
            "compartment": _categorical(comp, kinds),
            "path_length_nm": rng.lognormal(np.log(6e5), 0.7, m),
            "nodes": rng.integers(20, 2_000, m).astype(np.int32),
            "mesh_area_nm2": rng.lognormal(np.log(1e8), 0.6, m),
            "boutons": np.where(comp == 0, rng.poisson(40, m), 0).astype(np.int32),
            "spines": np.where(comp == 1, rng.poisson(60, m), 0).astype(np.int32),
            **{a: centre[cell, i].astype(np.int32) for i, a in enumerate("xyz")},
        }
    )
    tables.write_table(folder, "compartments", compartments)

    # organelles: at least one mitochondrion per cell, so every presynaptic site has one
    n_mito = 1 + rng.poisson(s.mitochondria_per_neuron - 1, n)
    n_vc = rng.poisson(s.vesicle_clouds_per_neuron, n)
    mito_owner, mito_start = _per_owner(n_mito)
    vc_owner, _ = _per_owner(n_vc)
    owner = np.concatenate([mito_owner, vc_owner])
    k = len(owner)
    is_mito = np.arange(k) < len(mito_owner)
    elements = pd.DataFrame(
        {
            "element_id": np.arange(1, k + 1, dtype=np.int64),
            "type": _categorical((~is_mito).astype(np.int8), list(tables.ELEMENT_TYPES)),
            "body_id": body[owner],
            "voxels": rng.lognormal(np.log(3e3), 0.8, k).astype(np.int64) + 10,
            "overlap": rng.uniform(0.8, 1.0, k).astype(np.float32),
            "compartment": _categorical(
                np.where(is_mito, _pick(rng, k, kinds, [0.5, 0.35, 0.15]), 0), kinds
            ),
            **{a: (centre[owner, i] + rng.normal(0, 300, k)).astype(np.int32)
               for i, a in enumerate("xyz")},
        }
    )  # fmt: skip
    tables.write_table(folder, "elements", elements)

    # synapses, pair by pair, in a random order (no locality the real order would not have)
    pre_i, post_i, weight = _connections(rng, s, cell_type)
    order = rng.permutation(s.synapses)
    pre = np.repeat(pre_i, weight)[order]
    post = np.repeat(post_i, weight)[order]
    del order
    N = s.synapses
    pre_xyz = centre[pre] + rng.normal(0, 1, (N, 3)) * np.array([400.0, 400.0, 80.0])
    post_xyz = pre_xyz + rng.normal(0, 1, (N, 3)) * np.array([4.0, 4.0, 1.0])
    area = rng.lognormal(np.log(6e4), 0.7, N)
    pre_comp = _pick(rng, N, kinds, [0.93, 0.04, 0.03])
    post_comp = _pick(rng, N, kinds, [0.05, 0.85, 0.10])
    pre_sites = list(tables.PRE_SITES)  # bouton, axon, dendrite, soma
    pre_site = np.where(pre_comp == 0, np.where(rng.random(N) < 0.75, 0, 1), pre_comp + 1)
    post_sites = list(tables.POST_SITES)  # spine_head, spine_neck, shaft, soma, axon
    u = rng.random(N)
    post_site = np.select(
        [post_comp == 0, post_comp == 2, u < 0.55, u < 0.6], [4, 3, 0, 1], default=2
    )
    inhibitory = np.array([name.startswith("inh") for name in names])[cell_type[pre]]
    frac = rng.uniform(0.6, 1.0, N).astype(np.float32)
    synapses = pd.DataFrame(
        {
            "synapse_id": np.arange(1, N + 1, dtype=np.int64),
            "pre_body_id": body[pre],
            "post_body_id": body[post],
            **{a: (pre_xyz[:, i] + post_xyz[:, i]) / 2 for i, a in enumerate("xyz")},
            **{f"pre_{a}": pre_xyz[:, i].astype(np.int32) for i, a in enumerate("xyz")},
            **{f"post_{a}": post_xyz[:, i].astype(np.int32) for i, a in enumerate("xyz")},
            "junction_voxels": (area / 64).astype(np.int64) + 1,
            "area_nm2": area,
            "mesh_area_nm2": area * 2,
            "contact_area_nm2": area * rng.uniform(0.8, 1.2, N),
            "pre_compartment": _categorical(pre_comp, kinds),
            "post_compartment": _categorical(post_comp, kinds),
            "pre_site": _categorical(pre_site, pre_sites),
            "post_site": _categorical(post_site, post_sites),
            "spine_head_volume_nm3": np.where(
                post_site == 0, rng.lognormal(np.log(3e6), 0.6, N), np.nan
            ),
            "synapse_type": _categorical(inhibitory.astype(np.int8),
                                         ["asymmetric", "symmetric"]),
            "confidence": rng.beta(6, 2, N).astype(np.float32),
            "frac_asymmetric": np.where(inhibitory, 1 - frac, frac),
            "frac_symmetric": np.where(inhibitory, frac, 1 - frac),
            "n_mito_pre_2um": rng.poisson(1.5, N).astype(np.int32),
            "mito_voxels_pre_2um": rng.poisson(3e3, N),
            "n_mito_post_2um": rng.poisson(1.0, N).astype(np.int32),
            "mito_voxels_post_2um": rng.poisson(2e3, N),
            "n_vc_pre_1um": rng.poisson(1.2, N).astype(np.int32),
            "vc_voxels_pre_1um": rng.poisson(2e3, N),
            "n_vc_post_1um": rng.poisson(0.1, N).astype(np.int32),
            "vc_voxels_post_1um": rng.poisson(50, N),
        }
    )  # fmt: skip
    del pre_xyz, post_xyz
    tables.write_table(folder, "synapses", synapses)
    del synapses

    # every presynaptic site's nearest mitochondrion: one of its cell's
    def nearest_mito(cells: np.ndarray) -> np.ndarray:
        pick = (rng.random(len(cells)) * n_mito[cells]).astype(np.int64)
        return mito_start[cells] + pick + 1  # element ids start at 1

    euclid = rng.lognormal(np.log(500), 0.8, N)
    close_to = pd.DataFrame(
        {
            "synapse_id": np.arange(1, N + 1, dtype=np.int64),
            "element_id": nearest_mito(pre),
            "euclidean_nm": euclid,
            "distance_vx": euclid / VOXEL_SIZE_NM_XYZ[0] * rng.uniform(1.0, 2.0, N),
        }
    )
    tables.write_table(folder, "close_to", close_to)
    del close_to, pre, post

    # SyConn2's control: random points on axons, farther from mitochondria than synapses
    n_cp = rng.poisson(s.control_points_per_neuron, n)
    cp_owner, _ = _per_owner(n_cp)
    c = len(cp_owner)
    cp_euclid = rng.lognormal(np.log(800), 0.8, c)
    control_points = pd.DataFrame(
        {
            "point_id": np.arange(1, c + 1, dtype=np.int64),
            "body_id": body[cp_owner],
            **{a: centre[cp_owner, i] + rng.normal(0, 500, c) for i, a in enumerate("xyz")},
            "element_id": nearest_mito(cp_owner),
            "euclidean_nm": cp_euclid,
            "distance_vx": cp_euclid / VOXEL_SIZE_NM_XYZ[0] * rng.uniform(1.0, 2.0, c),
        }
    )
    tables.write_table(folder, "control_points", control_points)
    tables.write_meta(
        folder,
        {
            "dataset": DATASET,
            "voxel_size_nm_xyz": list(VOXEL_SIZE_NM_XYZ),
            "shape_zyx": list(SHAPE_ZYX),
            "source": f"synthetic connectome {asdict(s)}",
            "source_id": s.stamp(),
            "min_neuron_voxels": 0,
        },
    )
    return {
        "body_id": body,
        "type": np.array(names)[cell_type],
        "type_confidence": rng.beta(8, 2, n),
    }


# -- building the database -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def annotate_types(settings: Any, types: dict[str, Any], batch: int = 10_000) -> None:
    """Set each neuron's ``type`` and ``typeConfidence`` (as an annotation does), batched."""
    from graph.ids import to_neo4j
    from graph.load import connect
    from graph.schema import label

    rows = [
        {"b": to_neo4j(b), "t": t, "c": float(c)}
        for b, t, c in zip(
            types["body_id"].tolist(), types["type"].tolist(),
            types["type_confidence"].tolist(), strict=True,
        )
    ]  # fmt: skip
    with connect(settings) as driver:
        for start in range(0, len(rows), batch):
            driver.execute_query(
                f"UNWIND $rows AS r MATCH (n:{label(DATASET, 'Neuron')} {{bodyId: r.b}}) "
                "SET n.type = r.t, n.typeConfidence = r.c",
                rows=rows[start : start + batch],
            )
        driver.execute_query("CALL db.awaitIndexes(3600)")


def ensure_schema(settings: Any) -> None:
    """The data set's constraints and indexes (idempotent), online before anything is timed."""
    from graph.load import connect
    from graph.schema import constraint_statements

    with connect(settings) as driver:
        for statement in constraint_statements(DATASET):
            driver.execute_query(statement)
        driver.execute_query("CALL db.awaitIndexes(3600)")


def build(
    workdir: Path, s: Synthetic, rebuild: bool, heap: str, pagecache: str, echo: Callable
) -> tuple[Any, Any, dict[str, Any]]:
    """The benchmark's Neo4j, running, with the synthetic data set; built unless its stamp
    says it holds ``s`` already. Returns the server, its settings and the build figures."""
    from graph.bulk import bulk_import
    from graph.local import LocalNeo4j
    from graph.settings import LocalNeo4jSettings, Neo4jSettings

    local = LocalNeo4jSettings(
        data_dir=workdir, bolt_port=free_port(), heap=heap, pagecache=pagecache,
        start_timeout_s=900,
    )  # fmt: skip
    server = LocalNeo4j(local)
    stamp_file = workdir / "stamp.json"
    stamp = json.loads(stamp_file.read_text()) if stamp_file.exists() else {}
    if server.is_running():
        server.stop(echo=echo)
    if stamp.get("stamp") == s.stamp() and not rebuild:
        server.start(echo=echo)
        settings = Neo4jSettings(uri=server.uri, password=server.password())
        ensure_schema(settings)  # indexes added since the build
        return server, settings, {**stamp["build"], "reused": True}

    stamp_file.unlink(missing_ok=True)
    shutil.rmtree(local.home, ignore_errors=True)
    folder = workdir / "tables"
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    types = write_synthetic_tables(folder, s)
    t1 = time.perf_counter()
    echo(f"synthetic tables written in {t1 - t0:.1f} s")
    server.start(echo=echo)
    settings = Neo4jSettings(uri=server.uri, password=server.password())
    lines: list[str] = []

    def note(line: str) -> None:
        lines.append(line)
        echo(line)

    counts = bulk_import(folder, server, settings, echo=note, workdir=workdir)
    t2 = time.perf_counter()
    annotate_types(settings, types)
    t3 = time.perf_counter()
    from graph.load import connect

    with connect(settings) as driver:
        q = driver.execute_query
        nodes = q("MATCH (n) RETURN count(n) AS c").records[0]["c"]
        rels = q("MATCH ()-[r]->() RETURN count(r) AS c").records[0]["c"]
    rates = [ln for ln in lines if "rows/s" in ln]
    figures = {
        **counts,
        "graph_nodes": nodes,
        "graph_relationships": rels,
        "generate_s": round(t1 - t0, 1),
        "bulk_import_s": round(t2 - t1, 1),
        "csv_write": rates[0] if rates else None,
        "neo4j_admin": rates[1] if len(rates) > 1 else None,
        "import_rows_per_s": round((nodes + rels) / (t2 - t1)),
        "annotate_and_index_s": round(t3 - t2, 1),
    }
    shutil.rmtree(folder, ignore_errors=True)  # the database holds it now
    stamp_file.write_text(json.dumps({"stamp": s.stamp(), "synthetic": asdict(s),
                                      "build": figures}, indent=2) + "\n")  # fmt: skip
    return server, settings, figures


# -- the questions ----------------------------------------------------------------------------
SUMMARY_FIELDS = "n medianNm q1Nm q3Nm"
GRAPHQL = {
    "neuron_with_partners": (
        "query($ds: String!, $id: BodyId!) { neuron(dataset: $ds, bodyId: $id) { bodyId type "
        "pre post upstream { bodyId weight } downstream { bodyId weight } } }"
    ),
    "adjacency_500": (
        "query($ds: String!, $ids: [BodyId!], $after: String) { adjacency(dataset: $ds, "
        "sources: $ids, targets: $ids, first: 1000, after: $after) { nodes { pre post weight } "
        "pageInfo { hasNextPage endCursor } } }"
    ),
    "neuron_synapses_with_mito": (
        "query($ds: String!, $id: BodyId!) { neuron(dataset: $ds, bodyId: $id) { "
        "synapses(direction: OUTPUT, first: 1000) { nodes { id areaNm2 "
        "closestMitochondrion { euclideanNm distance } } } } }"
    ),
    "mito_synapse_summary": (
        "query($ds: String!, $types: [String!]!) { mitoSynapseDistances(dataset: $ds, "
        "cellTypes: $types) { summary { cellType synapses medianAreaNm2 "
        f"small {{ {SUMMARY_FIELDS} }} large {{ {SUMMARY_FIELDS} }} "
        f"control {{ {SUMMARY_FIELDS} }} ksSmallVsLarge {{ statistic pvalue }} "
        "ksSmallVsControl { statistic pvalue } ksLargeVsControl { statistic pvalue } } } }"
    ),
}
QUERIES = tuple(GRAPHQL)


def neuprint_cypher(name: str, arg: Any) -> list[str]:
    """The Cypher a neuPrint user would send through ``fetch_custom`` (values pasted in, as
    neuprint-python does), one string per round trip."""
    if name == "neuron_with_partners":
        return [
            f"MATCH (n:Neuron {{bodyId: {arg}}}) "
            "OPTIONAL MATCH (u:Neuron)-[cu:ConnectsTo]->(n) "
            "WITH n, collect({bodyId: u.bodyId, weight: cu.weight}) AS upstream "
            "OPTIONAL MATCH (n)-[cd:ConnectsTo]->(d:Neuron) "
            "RETURN n.bodyId AS bodyId, n.type AS type, n.pre AS pre, n.post AS post, "
            "upstream, collect({bodyId: d.bodyId, weight: cd.weight}) AS downstream"
        ]
    if name == "adjacency_500":
        ids = "[" + ", ".join(str(b) for b in arg) + "]"
        return [
            "MATCH (a:Neuron)-[e:ConnectsTo]->(b:Neuron) "
            f"WHERE a.bodyId IN {ids} AND b.bodyId IN {ids} "
            "RETURN a.bodyId AS pre, b.bodyId AS post, e.weight AS weight"
        ]
    if name == "neuron_synapses_with_mito":
        return [
            f"MATCH (n:Neuron {{bodyId: {arg}}})-[:Contains]->(:SynapseSet)-[:Contains]->"
            "(s:Synapse {type: 'pre'}) "
            "OPTIONAL MATCH (s)-[c:CloseTo]->(:Element {type: 'mitochondrion'}) "
            "RETURN s.synapseId AS id, s.areaNm2 AS areaNm2, c.euclideanNm AS euclideanNm, "
            "c.distance AS distance ORDER BY id LIMIT 1000"
        ]
    types = json.dumps(list(arg))
    return [
        "MATCH (n:Neuron)-[:Contains]->(:SynapseSet)-[:Contains]->(s:Synapse {type: 'pre'})"
        f"-[c:CloseTo]->(:Element) WHERE n.type IN {types} "
        "RETURN n.type AS type, s.areaNm2 AS area, c.euclideanNm AS d",
        "MATCH (n:Neuron)-[:HasCompartment]->(:Compartment {type: 'axon'})-[:Includes]->"
        f"(p:ControlPoint) WHERE n.type IN {types} AND p.euclideanNm IS NOT NULL "
        "RETURN n.type AS type, p.euclideanNm AS d",
    ]


def summarise_like_a_neuprint_user(rows: pd.DataFrame, control: pd.DataFrame) -> list[dict]:
    """The mito-synapse summary computed client-side from fetched rows (pandas + scipy)."""
    from scipy.stats import ks_2samp

    def stats(d: pd.Series) -> dict[str, float]:
        return {"n": len(d), "median": d.median(), "q1": d.quantile(0.25), "q3": d.quantile(0.75)}

    out = []
    for cell_type, group in rows.groupby("type"):
        large = group["area"] > group["area"].median()
        small_d, large_d = group.loc[~large, "d"], group.loc[large, "d"]
        ctrl = control.loc[control["type"] == cell_type, "d"]
        out.append({"type": cell_type, "small": stats(small_d), "large": stats(large_d),
                    "control": stats(ctrl), "ks": ks_2samp(small_d, large_d).pvalue,
                    "ks_small_control": ks_2samp(small_d, ctrl).pvalue,
                    "ks_large_control": ks_2samp(large_d, ctrl).pvalue})  # fmt: skip
    return out


@dataclass
class Sample:
    """Arguments for each question, drawn once so both paths answer the same ones."""

    neurons: list[int]  # random neurons with partners
    senders: list[int]  # random neurons with output synapses
    adjacency: list[list[int]]
    cell_types: list[str]


def draw(settings: Any, rng: np.random.Generator, count: int) -> Sample:
    from graph.ids import from_neo4j
    from graph.load import connect
    from graph.schema import label

    with connect(settings) as driver:
        q = driver.execute_query
        ids = [from_neo4j(r["b"]) for r in q(
            f"MATCH (n:{label(DATASET, 'Neuron')}) WHERE n.pre > 0 RETURN n.bodyId AS b"
        ).records]  # fmt: skip
        types = q(
            f"MATCH (n:{label(DATASET, 'Neuron')}) WHERE n.type IS NOT NULL "
            "RETURN n.type AS t, sum(n.pre) AS pre ORDER BY pre"
        ).records
    pick = lambda k: [int(b) for b in rng.choice(ids, size=k)]  # noqa: E731
    adjacency = [[int(b) for b in rng.choice(ids, size=500, replace=False)]
                 for _ in range(max(count // 10, 20))]  # fmt: skip
    # the two types with the fewest presynaptic sites keep a summary to about 2 % of synapses
    return Sample(pick(count), pick(count), adjacency, [r["t"] for r in types[:2]])


def arguments(name: str, sample: Sample, i: int) -> Any:
    if name == "neuron_with_partners":
        return sample.neurons[i % len(sample.neurons)]
    if name == "adjacency_500":
        return sample.adjacency[i % len(sample.adjacency)]
    if name == "neuron_synapses_with_mito":
        return sample.senders[i % len(sample.senders)]
    return sample.cell_types


async def ask_graphql(client: Any, name: str, arg: Any) -> int:
    """One question through GraphQL (every page); returns the rows received."""
    variables: dict[str, Any] = {"ds": DATASET}
    if name == "adjacency_500":
        variables["ids"] = [str(b) for b in arg]
        rows, after = 0, None
        while True:
            body = await _post(client, "/graphql", {"query": GRAPHQL[name],
                               "variables": {**variables, "after": after}})  # fmt: skip
            page = body["data"]["adjacency"]
            rows += len(page["nodes"])
            if not page["pageInfo"]["hasNextPage"]:
                return rows
            after = page["pageInfo"]["endCursor"]
    if name == "mito_synapse_summary":
        variables["types"] = list(arg)
    else:
        variables["id"] = str(arg)
    body = await _post(client, "/graphql", {"query": GRAPHQL[name], "variables": variables})
    return len(json.dumps(body["data"]))


async def _post(client: Any, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=payload)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{path} answered with errors: {body['errors'][:1]}")
    return body


async def ask_neuprint_http(client: Any, name: str, arg: Any) -> int:
    """The neuPrint path's requests as neuprint-python sends them, from the asyncio client."""
    rows = 0
    for cypher in neuprint_cypher(name, arg):
        body = await _post(client, "/api/custom/custom", {"cypher": cypher, "dataset": DATASET})
        rows += len(body["data"])
    return rows


def ask_neuprint_python(client: Any, name: str, arg: Any) -> int:
    """The question through neuprint-python's ``fetch_custom`` (a DataFrame per query), the
    summary computed from the rows as a neuPrint user would."""
    frames = [client.fetch_custom(cypher) for cypher in neuprint_cypher(name, arg)]
    if name == "mito_synapse_summary":
        summarise_like_a_neuprint_user(*frames)
    return sum(len(f) for f in frames)


def percentiles(ms: list[float]) -> tuple[float, float]:
    """p50 and p99 (linear interpolation) in milliseconds.

    Examples
    --------
    >>> percentiles([1.0, 2.0, 3.0])
    (2.0, 2.98)
    """
    return (round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 99)), 2))


async def timed_async(ask: Callable, base: str, token: str, name: str, sample: Sample,
                      clients: int, per_client: int) -> list[float]:  # fmt: skip
    """Latencies (ms) of ``clients`` concurrent clients asking ``per_client`` questions each."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, verify=False, timeout=600, limits=limits,
                                 headers=headers) as client:  # fmt: skip
        await ask(client, name, arguments(name, sample, 0))  # warm the connection
        latencies: list[float] = []

        async def one_client(c: int) -> None:
            for i in range(per_client):
                start = time.perf_counter()
                await ask(client, name, arguments(name, sample, c * per_client + i + 1))
                latencies.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(one_client(c) for c in range(clients)))
    return latencies


def timed_neuprint_python(base: str, token: str, name: str, sample: Sample,
                          repeats: int) -> list[float]:  # fmt: skip
    import warnings

    import neuprint

    warnings.filterwarnings("ignore")  # verify=False warns on every request
    client = neuprint.Client(base, dataset=DATASET, token=token, verify=False, progress=False)
    ask_neuprint_python(client, name, arguments(name, sample, 0))
    latencies = []
    for i in range(repeats):
        start = time.perf_counter()
        ask_neuprint_python(client, name, arguments(name, sample, i + 1))
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def timed_bolt(settings: Any, name: str, sample: Sample, repeats: int) -> list[float]:
    """The neuPrint path's Cypher straight through the Bolt driver: the floor that any HTTP
    API over this Neo4j pays (no HTTP, TLS, JSON or GraphQL)."""
    from graph.load import connect

    latencies = []
    with connect(settings) as driver:
        for i in range(repeats + 1):
            start = time.perf_counter()
            for cypher in neuprint_cypher(name, arguments(name, sample, i)):
                driver.execute_query(cypher, routing_="r")
            if i:  # the first warms the driver's connection
                latencies.append((time.perf_counter() - start) * 1000)
    return latencies


# -- the API server --------------------------------------------------------------------------
def serve(workdir: Path, settings: Any, echo: Callable,
          query_timeout_s: float | None = None) -> tuple[subprocess.Popen, str, str]:  # fmt: skip
    """``connectome serve --tls`` on a free loopback port (a subprocess) and a read token."""
    import httpx

    exe = str(Path(sys.executable).parent / "connectome")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "CONNECTOME_"))}
    env |= {"CONNECTOME_DATA_DIR": str(workdir), "NEO4J_URI": settings.uri,
            "NEO4J_PASSWORD": settings.password}  # fmt: skip
    if query_timeout_s is not None:
        env["NEO4J_QUERY_TIMEOUT_S"] = str(query_timeout_s)
    token = subprocess.run([exe, "token", "create", "--role", "read", "--name",
                            f"bench-{os.getpid()}"], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    port = free_port()
    log = open(workdir / "api.log", "ab")
    proc = subprocess.Popen([exe, "serve", "--tls", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited while starting; see {workdir / 'api.log'}")
        try:
            if httpx.get(base + "/healthz", verify=False).status_code == 200:
                echo(f"API at {base} (pid {proc.pid})")
                return proc, base, token
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"the API did not answer within 60 s; see {workdir / 'api.log'}")


def warm(settings: Any, echo: Callable) -> None:
    """Read the store into Neo4j's page cache (a server that just started is cold)."""
    from graph.load import connect

    start = time.perf_counter()
    with connect(settings) as driver:
        try:
            driver.execute_query("CALL apoc.warmup.run(true, true, true)")
        except Exception:  # noqa: BLE001 - older APOC: warm by scanning instead
            driver.execute_query("MATCH (n) RETURN count(n.bodyId) AS c")
            driver.execute_query("MATCH ()-[r]->() RETURN count(r.weight) AS c")
    echo(f"page cache warmed in {time.perf_counter() - start:.1f} s")


# how often each question is asked: alone, and by each of the 16 clients
REPEATS = {
    "neuron_with_partners": (300, 40),
    "adjacency_500": (100, 10),
    "neuron_synapses_with_mito": (200, 20),
    "mito_synapse_summary": (4, 1),
}
CLIENTS = 16


def measure(name: str, base: str, token: str, sample: Sample, scale: float, settings: Any,
            echo: Callable) -> dict[str, Any]:  # fmt: skip
    """One question's figures: alone and under 16 clients, ours and the neuPrint path. Each
    path is warmed first (Neo4j's JIT and the server need ~1,000 requests to settle); a path
    that fails (e.g. a query past the time box) is reported with its error, not timed."""
    alone = max(2, int(round(REPEATS[name][0] * scale)))
    per_client = max(1, int(round(REPEATS[name][1] * scale)))
    warm_up = max(1, alone // 2) if name != "mito_synapse_summary" else 1
    errors: dict[str, str] = {}

    def attempt(key: str, run: Callable[[], list[float]]) -> list[float] | None:
        if any(k.split(":")[0] == key.split(":")[0] for k in errors):
            return None  # this path failed already: do not wait for it again
        try:
            return run()
        except Exception as err:  # noqa: BLE001 - reported in the figures
            errors[key] = str(err)[:300]
            echo(f"{name} {key}: {errors[key]}")
            return None

    def run_async(ask: Callable, clients: int, each: int) -> list[float]:
        return asyncio.run(timed_async(ask, base, token, name, sample, clients, each))

    attempt("ours:warm", lambda: run_async(ask_graphql, 1, warm_up))
    ours = attempt("ours:alone", lambda: run_async(ask_graphql, 1, alone))
    ours16 = attempt("ours:16", lambda: run_async(ask_graphql, CLIENTS, per_client))
    attempt("neuprint:warm", lambda: run_async(ask_neuprint_http, 1, warm_up))
    theirs = attempt("neuprint:python", lambda: timed_neuprint_python(base, token, name,
                                                                      sample, alone))  # fmt: skip
    theirs_http = attempt("neuprint:http", lambda: run_async(ask_neuprint_http, 1, alone))
    theirs16 = attempt("neuprint:16", lambda: run_async(ask_neuprint_http, CLIENTS, per_client))
    bolt = attempt("bolt", lambda: timed_bolt(settings, name, sample, alone))

    def pct(ms: list[float] | None) -> tuple[float | None, float | None]:
        return percentiles(ms) if ms else (None, None)

    (p50, p99), (p50c, p99c) = pct(ours), pct(ours16)
    (n50, n99), (n50c, n99c) = pct(theirs), pct(theirs16)
    row = {
        "p50_ms": p50, "p99_ms": p99, "p50_ms_16_clients": p50c, "p99_ms_16_clients": p99c,
        "ratio_vs_neuprint_path": round(n50 / p50, 2) if n50 and p50 else None,
        "neuprint_p50_ms": n50, "neuprint_p99_ms": n99,
        "neuprint_http_p50_ms": pct(theirs_http)[0],
        "bolt_floor_p50_ms": pct(bolt)[0],
        "neuprint_p50_ms_16_clients": n50c, "neuprint_p99_ms_16_clients": n99c,
        "requests": [alone, CLIENTS * per_client], "warm_up_requests": warm_up,
    }  # fmt: skip
    if errors:
        row["errors"] = errors
    echo(f"{name}: {row}")
    return row


def table(results: dict[str, dict[str, Any]]) -> str:
    head = (f"{'query':<27}{'p50':>8}{'p99':>8}{'p50@16':>9}{'p99@16':>9}"
            f"{'nP p50':>9}{'nP p99':>9}{'nP@16 p50':>11}{'bolt p50':>10}{'ratio':>7}")  # fmt: skip
    lines = [head, "-" * len(head)]
    keys = ("p50_ms", "p99_ms", "p50_ms_16_clients", "p99_ms_16_clients", "neuprint_p50_ms",
            "neuprint_p99_ms", "neuprint_p50_ms_16_clients", "bolt_floor_p50_ms",
            "ratio_vs_neuprint_path")  # fmt: skip
    widths = (8, 8, 9, 9, 9, 9, 11, 10, 7)
    for name, r in results.items():
        cells = [f"{r[k]:>{w}.{2 if k.startswith('ratio') else 1}f}" if r[k] is not None
                 else f"{'error':>{w}}" for k, w in zip(keys, widths, strict=True)]  # fmt: skip
        lines.append(f"{name:<27}" + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--workdir", type=Path, default=Path.home() / ".cache" / "connectome" / "bench-latency"
    )
    p.add_argument("--neurons", type=int, default=Synthetic.neurons)
    p.add_argument("--synapses", type=int, default=Synthetic.synapses)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rebuild", action="store_true", help="build the database anew")
    p.add_argument("--heap", default="4g")
    p.add_argument("--pagecache", default="8g")
    p.add_argument("--build-only", action="store_true")
    p.add_argument(
        "--queries",
        default=",".join(QUERIES),
        help=f"comma-separated subset of {', '.join(QUERIES)}",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the number of requests per question (0.2 for a quick look)",
    )
    p.add_argument(
        "--query-timeout",
        type=float,
        default=None,
        help="the API's Neo4j query time box in s (default: the server's, 30)",
    )
    args = p.parse_args(argv)
    names = [q for q in args.queries.split(",") if q]
    unknown = sorted(set(names) - set(QUERIES))
    if unknown:
        p.error(f"unknown queries {unknown}; choose from {', '.join(QUERIES)}")
    s = Synthetic(neurons=args.neurons, synapses=args.synapses, seed=args.seed)
    args.workdir.mkdir(parents=True, exist_ok=True)
    server, settings, figures = build(args.workdir, s, args.rebuild, args.heap,
                                      args.pagecache, echo=print)  # fmt: skip
    api = None
    try:
        print(json.dumps({"build": figures}), flush=True)
        if args.build_only:
            return 0
        warm(settings, echo=print)
        sample = draw(settings, np.random.default_rng(args.seed), 1000)
        print(f"summary cell types: {sample.cell_types}", flush=True)
        api, base, token = serve(args.workdir, settings, echo=print,
                                 query_timeout_s=args.query_timeout)  # fmt: skip
        load_before = os.getloadavg()
        results = {name: measure(name, base, token, sample, args.scale, settings, echo=print)
                   for name in names}  # fmt: skip
        load_after = os.getloadavg()
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        server.stop(echo=print)
    cores = os.cpu_count()
    print(
        f"\nmachine: {platform.node()}, {cores} cores, {platform.python_version()}; "
        f"client (one asyncio process), API server (one uvicorn process, HTTPS) and Neo4j "
        f"(heap {args.heap}, page cache {args.pagecache}) share these {cores} cores; load "
        f"average {load_before[0]:.1f} before, {load_after[0]:.1f} after (other jobs count)"
    )
    print(
        "ours: GraphQL over HTTPS; nP: neuprint-python Client.fetch_custom (alone) and the "
        "same /api/custom/custom requests from the asyncio client (16 clients); bolt: the "
        "nP Cypher straight through the Bolt driver (no HTTP); ratio = nP p50 / ours p50 "
        "(alone)\n"
    )
    print(table(results))
    machine = {"cores": cores, "load_average": [round(load_before[0], 1),
                                                round(load_after[0], 1)]}  # fmt: skip
    print(json.dumps({**results, "build": figures, "machine": machine}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
