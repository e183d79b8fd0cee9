"""Ingest throughput: the registered stages end to end on a phantom, in MVx/h/core.

    .venv/bin/python benchmarks/ingest_throughput.py --shape 128 1024 1024 --json

Prints a table of stage times and, as its last line with --json, one JSON object with
``mvx_per_hour_per_core``, ``stages`` (seconds each), ``peak_rss_mb``, ``ratio_vs_syconn2``
(against SyConn2's published 34 MVx/h/core) and ``ratio_vs_read_floor`` (the stages' time
over the time to just read every layer from zarr, measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.phantom import make_phantom  # noqa: E402
from ingest.pipeline import run_stages  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from ingest.volume import open_volume  # noqa: E402

SYCONN2_MVX_PER_HOUR_PER_CORE = 34.0


def quality(tables: Path, phantom: Path) -> dict[str, float]:
    """The issue's quality bars on this phantom: mesh volume vs voxel volume per cell, skeleton
    cable vs the planted centre lines per cell, and compartment agreement of skeleton nodes."""
    import pandas as pd
    import zarr

    from graph import tables as contract
    from ingest.morphology import load_morphology

    truth = json.loads((phantom / "ground_truth.json").read_text())
    vox = np.array(truth["voxel_size_nm_zyx"])
    neurons = contract.read_table(tables, "neurons").set_index("body_id")
    meshed = neurons.dropna(subset=["mesh_volume_nm3"])
    mesh_err = (meshed["mesh_volume_nm3"] / (meshed["voxels"] * vox.prod()) - 1).abs()
    planted = pd.Series({np.uint64(int(c["id"])): c["cable_length_in_cell_nm"]
                         for c in truth["cells"]})  # fmt: skip
    skeleton = neurons["cable_length_nm"].dropna()
    both = skeleton.index.intersection(planted.index)
    cable_err = (skeleton[both] / planted[both] - 1).abs()
    comp = zarr.open(str(phantom / "truth" / "compartments" / "0"), mode="r")[...]
    from ingest.compartments import COARSE, NAMES
    from ingest.phantom.scene import COMPARTMENT_NAMES

    by_name = {name: code for code, name in COMPARTMENT_NAMES.items()}  # our codes -> planted
    planted_code = np.array([by_name.get(NAMES.get(int(c), ""), 0) for c in COARSE], np.uint8)
    agree = total = 0
    for vertices, _, attributes in load_morphology(tables / "morphology")[1].values():
        idx = np.clip(np.rint(vertices / vox[::-1]).astype(int)[:, ::-1], 0,
                      np.array(comp.shape) - 1)  # fmt: skip
        t = comp[idx[:, 0], idx[:, 1], idx[:, 2]]
        agree += int(np.sum((planted_code[attributes["compartment"]] == t) & (t > 0)))
        total += int(np.sum(t > 0))
    return {
        "cells_meshed": len(mesh_err),
        "mesh_volume_within_5pct": round(float((mesh_err <= 0.05).mean()), 4),
        "mesh_volume_worst_error": round(float(mesh_err.max()), 4),
        "cells_skeletonised": len(cable_err),
        "cable_within_10pct": round(float((cable_err <= 0.10).mean()), 4),
        "cable_median_error": round(float(cable_err.median()), 4),
        "cable_worst_error": round(float(cable_err.max()), 4),
        "cable_total_ratio": round(float(skeleton[both].sum() / planted[both].sum()), 4),
        "compartment_node_agreement": round(agree / max(total, 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[128, 1024, 1024])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the phantom is cached (default: a temporary folder)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--predictor",
        default="baseline",
        help="compartment predictor (default: baseline, no network inference)",
    )
    parser.add_argument(
        "--cell-types",
        action="store_true",
        help="also predict cell types with the point model (network inference, which the "
        "figure excludes by default)",
    )
    parser.add_argument(
        "--skeletonizer",
        default="thinning",
        choices=["thinning", "teasar"],
        help="skeletoniser of the morphology stage (default: thinning)",
    )
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    path = work / f"phantom-{args.seed}-{'x'.join(map(str, args.shape))}.zarr"
    if not (path / "ground_truth.json").exists():
        t = time.perf_counter()
        make_phantom(path, seed=args.seed, shape_zyx=tuple(args.shape))
        print(f"phantom written in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    volume = open_volume(path)
    t = time.perf_counter()
    for layer in volume.labels.values():
        np.asarray(layer[...])
    read_floor_s = time.perf_counter() - t

    # network inference excluded, as issue 3 asks: the point model's compartment votes and
    # cell types (the ingest's defaults) are timed by benchmarks/models.py; --predictor
    # pointnet and --cell-types add them
    settings = IngestSettings(data_dir=work / "data", compartment_predictor=args.predictor,
                              skeletonizer=args.skeletonizer,
                              cell_types=args.cell_types)  # fmt: skip
    t = time.perf_counter()
    tables = run_stages(volume, "bench", settings, progress=False, echo=lambda *_: None)
    total_s = time.perf_counter() - t
    meta = json.loads((tables / "meta.json").read_text())
    stages = meta["timings_s"]

    cores = len(os.sched_getaffinity(0))
    mvx = float(np.prod(args.shape)) / 1e6
    rate = mvx / (total_s / 3600) / cores
    # the largest of this process and any single worker process (ru_maxrss is in KiB)
    peak_mb = (
        max(
            resource.getrusage(who).ru_maxrss
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        / 1024
    )
    print(
        f"machine: {platform.node()} {platform.machine()}, {cores} cores, "
        f"python {platform.python_version()}"
    )
    print(f"volume: {args.shape} = {mvx:.1f} MVx")
    print(f"{'stage':<16}{'seconds':>10}")
    for name, sec in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"{name:<16}{sec:>10.2f}")
    print(f"{'read floor':<16}{read_floor_s:>10.2f}")
    print(
        f"{'end to end':<16}{total_s:>10.2f}  ({rate:,.0f} MVx/h/core, "
        f"{rate / SYCONN2_MVX_PER_HOUR_PER_CORE:.1f}x SyConn2, peak RSS {peak_mb:,.0f} MB)"
    )
    q = quality(tables, path)
    for key, value in q.items():
        print(f"{key:<28}{value:>10}")
    if args.json:
        print(
            json.dumps(
                {
                    "shape_zyx": args.shape,
                    "cores": cores,
                    "mvx_per_hour_per_core": round(rate, 1),
                    "stages": stages,
                    "end_to_end_s": round(total_s, 3),
                    "read_floor_s": round(read_floor_s, 3),
                    "ratio_vs_read_floor": round(total_s / read_floor_s, 2),
                    "peak_rss_mb": round(peak_mb, 1),
                    "ratio_vs_syconn2": round(rate / SYCONN2_MVX_PER_HOUR_PER_CORE, 2),
                    "quality": q,
                }
            )
        )


if __name__ == "__main__":
    main()
