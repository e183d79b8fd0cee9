"""Where a skeletoniser's cable differs from the phantom's planted lines, cell by cell.

    .venv/bin/python benchmarks/skeleton_errors.py --shape 64 512 512 --seed 1 --json

Skeletonises a phantom in one piece (``ingest.thinning.thin_cells`` or, with
``--skeletonizer teasar``, ``ingest.skeletons.skeletonize_cells``) and compares every cell
with its planted centre lines (:func:`ingest.phantom.truth.labelled_centre_lines_nm`, sampled
every 5 nm) under two readings of "the line runs through the cell":

- ``slack`` (the ground truth's ``cable_length_in_cell_nm``): the voxel nearest the sample or
  one of its 26 neighbours belongs to the cell;
- ``strict``: the nearest voxel belongs to the cell, or is background (a carved gap) with a
  neighbour of the cell's; a sample under another cell does not count.

For each reading it prints the share of cells over 10,000 voxels whose cable is within 10 % of
the truth, the median error and the total ratio (the baseline in the same run is the truth's
own cable, ratio 1). It also splits the difference: skeleton cable more than 60 nm from every
planted line of the cell (``far``), planted cable more than 60 nm from the skeleton
(``missed``), and the ends where another cell cuts a planted line (``cut_ends``, with the mean
distance from such an end to the nearest skeleton vertex). The last line with ``--json`` is
one JSON object of the same figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.phantom.build import build_scene  # noqa: E402
from ingest.phantom.truth import (  # noqa: E402
    labelled_centre_lines_nm,
    line_pieces_nm,
    near_cell,
)

STEP_NM = 5.0
NEAR_NM = 60.0


def samples(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints (nm, ``z, y, x``) of pieces of at most :data:`STEP_NM` and their lengths."""
    return line_pieces_nm(line, STEP_NM)


def own(lab: np.ndarray, label: int, points_nm: np.ndarray, voxel: np.ndarray) -> dict:
    """Per sample: inside the volume, and owned under the ``slack`` and ``strict`` readings."""
    inside, slack = near_cell(lab, label, points_nm, voxel)
    i = np.rint(points_nm[inside] / voxel).astype(np.int64)
    centre = lab[i[:, 0], i[:, 1], i[:, 2]]
    strict = np.zeros(len(points_nm), dtype=bool)
    strict[inside] = (centre == label) | ((centre == 0) & slack[inside])
    return {"inside": inside, "slack": slack, "strict": strict}


def skeletonise(scene: Any, skeletonizer: str) -> dict[int, Any]:
    ids = np.array([0] + [c.id for c in scene.cells], dtype=np.uint64)
    voxel = tuple(float(v) for v in scene.g.v)
    if skeletonizer == "teasar":
        from ingest.skeletons import skeletonize_cells

        return skeletonize_cells(scene.lab, ids, voxel)
    from ingest.thinning import thin_cells

    return thin_cells(scene.lab, ids, voxel)


def cut_ends(flags: dict) -> np.ndarray:
    """Indices of the last owned sample before each place where another cell (not the
    volume's border) cuts a line, under the ``slack`` reading."""
    owned = flags["slack"].astype(np.int8)
    change = np.flatnonzero(np.diff(owned) != 0)
    change = change[flags["inside"][change] & flags["inside"][change + 1]]
    return np.where(owned[change] == 1, change, change + 1)


def compare(scene: Any, skeletons: dict[int, Any], min_voxels: int) -> dict[str, Any]:
    voxel = np.asarray(scene.g.v, dtype=np.float64)
    counts = np.bincount(scene.lab.ravel(), minlength=len(scene.cells) + 1)
    errors: dict[str, list[float]] = {"slack": [], "strict": []}
    totals = {"skeleton": 0.0, "slack": 0.0, "strict": 0.0, "far": 0.0, "missed": 0.0}
    gaps: list[float] = []
    for cell in scene.cells:
        if counts[cell.label] < min_voxels:
            continue
        lines = [samples(line) for _, line in labelled_centre_lines_nm(cell, scene.g)]
        flags = [own(scene.lab, cell.label, p, voxel) for p, _ in lines]
        points = np.concatenate([p for p, _ in lines])
        w = np.concatenate([q for _, q in lines])
        slack = np.concatenate([f["slack"] for f in flags])
        strict = np.concatenate([f["strict"] for f in flags])
        sk = skeletons.get(int(cell.id))
        length = 0.0
        if sk is not None and len(sk.edges):
            v = np.asarray(sk.vertices_nm_xyz, dtype=np.float64)[:, ::-1]
            e = np.asarray(sk.edges, dtype=np.int64)
            seg = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
            mid = cKDTree(0.5 * (v[e[:, 0]] + v[e[:, 1]]))
            length = float(seg.sum())
            totals["far"] += float(seg[cKDTree(points).query(mid.data)[0] > NEAR_NM].sum())
            totals["missed"] += float(w[slack][mid.query(points[slack])[0] > NEAR_NM].sum())
            for (p, _), f in zip(lines, flags, strict=True):
                ends = cut_ends(f)
                if len(ends):
                    gaps.extend(mid.query(p[ends])[0].tolist())
        totals["skeleton"] += length
        for reading, mask in (("slack", slack), ("strict", strict)):
            truth = float(w[mask].sum())
            totals[reading] += truth
            if truth > 0:
                errors[reading].append(length / truth - 1.0)
    out: dict[str, Any] = {"cells": len(errors["slack"])}
    for reading in ("slack", "strict"):
        e = np.abs(np.array(errors[reading]))
        out[reading] = {
            "within_10pct": round(float(np.mean(e <= 0.10)), 4) if len(e) else None,
            "median_error": round(float(np.median(e)), 4) if len(e) else None,
            "total_ratio": round(totals["skeleton"] / max(totals[reading], 1e-9), 4),
        }
    out["strict_vs_slack_truth"] = round(totals["strict"] / max(totals["slack"], 1e-9), 4)
    out["far_share"] = round(totals["far"] / max(totals["skeleton"], 1e-9), 4)
    out["missed_share"] = round(totals["missed"] / max(totals["slack"], 1e-9), 4)
    out["cut_ends"] = len(gaps)
    out["cut_end_mean_gap_nm"] = round(float(np.mean(gaps)), 1) if gaps else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", type=int, nargs=3, default=[64, 512, 512])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skeletonizer", choices=["thinning", "teasar"], default="thinning")
    ap.add_argument("--min-voxels", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t = time.perf_counter()
    scene = build_scene(args.seed, tuple(args.shape), (20.0, 10.0, 10.0))
    built = time.perf_counter() - t
    t = time.perf_counter()
    skeletons = skeletonise(scene, args.skeletonizer)
    traced = time.perf_counter() - t
    result = compare(scene, skeletons, args.min_voxels)
    result.update(seed=args.seed, shape_zyx=args.shape, skeletonizer=args.skeletonizer,
                  seconds={"phantom": round(built, 1), "skeletons": round(traced, 1)})  # fmt: skip
    print(f"machine: {platform.node()}, python {platform.python_version()}")
    print(f"phantom seed {args.seed}, {args.shape}, {result['cells']} cells over "
          f"{args.min_voxels:,} voxels, {args.skeletonizer}")  # fmt: skip
    print(f"{'truth reading':<16}{'within 10 %':>12}{'median err':>12}{'skeleton/truth':>16}")
    for reading in ("slack", "strict"):
        r = result[reading]
        print(f"{reading:<16}{r['within_10pct']:>12}{r['median_error']:>12}"
              f"{r['total_ratio']:>16}")  # fmt: skip
    print(f"strict truth / slack truth: {result['strict_vs_slack_truth']}")
    print(f"skeleton cable > {NEAR_NM:.0f} nm from every planted line: {result['far_share']:.1%}")
    print(f"planted cable > {NEAR_NM:.0f} nm from the skeleton: {result['missed_share']:.1%}")
    print(f"cut ends: {result['cut_ends']}, mean distance to the skeleton "
          f"{result['cut_end_mean_gap_nm']} nm")  # fmt: skip
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
