"""Models benchmark: voxel U-Nets on held-out phantoms, plus the other model families' figures.

    .venv/bin/python benchmarks/models.py --json

For the shipped 3D and 2D-slice U-Nets (``models/weights/unet3d.pt``, ``unet2d.pt``): F1 per
class on phantom volumes that no trainer saw (seeds :data:`EVAL_SEEDS`), in the capstone
poster's table form beside the poster's figures, and inference speed on this machine
(voxels per second through :func:`models.inference.predict_volume`: blocks of
32 x 256 x 256 with their default halo, each predicted as one patch, Dask's synchronous
scheduler, one torch thread; the 3D net needs 8 slices of z halo, the 2D net 3), both measured
in the same run, so the 2D/3D ratio tests the claim that 2D slices are "almost twice as fast".
The 2D net is also scored without its slice linking, to show what linking does, and both
nets are scored again with ``--views`` test-time views averaged (default 8:
:data:`models.inference.VIEWS`), under ``views`` in each net's entry, with their speed.
Each scoring says under ``goals`` whether it meets :data:`GOALS`, and which classes miss.

Then, when their modules are there, the figures of the other model benchmarks are merged in:
``benchmarks/fib25_segmentation.py`` (``fib25``: boundary F1, VOI and ARAND on FIB-25, and
the raw-only ingest synapse recall) and ``benchmarks/point_models.py`` (compartment F1,
cell-type accuracy, synapse forest F1). The last line with ``--json`` is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EVAL_SEEDS = (3001, 3002)
"""Phantom seeds of the evaluation volumes (training uses 1001-1002, validation 2001)."""
POSTER_F1 = {"cytosol": 0.955, "membrane": 0.878, "mitochondria": 0.922,
             "synaptic_junction": 0.666}  # fmt: skip
"""The capstone poster's 3D U-Net F1 per class (weighted over classes: 0.922)."""
GOALS = {"cytosol": 0.95, "membrane": 0.95, "mitochondria": 0.95, "synaptic_junction": 0.85}
MERGED = ("benchmarks.fib25_segmentation", "benchmarks.point_models")
PATCH_ZYX = {"unet3d": (48, 256, 256), "unet2d": (8, 256, 256)}
"""3D: one patch per block (a 32 x 256 x 256 block plus its halo), so it pays for no tiling;
2D: batches of 8 whole slices (the faster batch here)."""


def goals_met(f1: dict[str, float]) -> dict[str, Any]:
    """Whether per-class F1 scores meet :data:`GOALS`, and the classes that miss.

    >>> goals_met({"cytosol": 0.99, "membrane": 0.948, "mitochondria": 0.99,
    ...            "vesicle_cloud": 0.88, "synaptic_junction": 0.95})
    {'met': False, 'missed': {'membrane': 0.948}}
    """
    missed = {c: f1[c] for c, goal in GOALS.items() if f1[c] < goal}
    return {"met": not missed, "missed": missed}


def voxel_nets(
    seeds: tuple[int, ...] = EVAL_SEEDS,
    shape_zyx: tuple[int, int, int] = (64, 256, 256),
    weights: Path | None = None,
    views: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """F1 per class and voxels per second of both shipped U-Nets on held-out phantoms, with
    one view and (unless ``views`` is 1) with ``views`` test-time views."""
    import torch
    import zarr

    from connectome.train import default_out
    from connectome.train_voxel import phantom_volume
    from models.inference import predict_volume
    from models.metrics import class_f1
    from models.unet import load_checkpoint

    torch.set_num_threads(1)
    nets = {}
    for name in ("unet3d", "unet2d"):
        path = (weights / f"{name}.pt") if weights else default_out(name)
        nets[name] = (path, *load_checkpoint(path)[:2])
    runs = [(name, None, 1) for name in nets] + [("unet2d", (), 1)]
    runs += [(name, None, views) for name in nets if views > 1]
    preds: dict[tuple[str, Any, int], list[np.ndarray]] = {run: [] for run in runs}
    seconds = {(name, n): 0.0 for name, _, n in runs}
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        volumes = [phantom_volume(Path(tmp), s, shape_zyx) for s in seeds]
        for i, (raw, _) in enumerate(volumes):  # the nets take turns on each volume
            for name, link, n in runs:
                _, model, config = nets[name]
                out = zarr.open(
                    f"{tmp}/{name}-{link}-{n}-{i}.zarr",
                    mode="w",
                    shape=(config.n_classes, *raw.shape),
                    chunks=(config.n_classes, 32, 256, 256),
                    dtype="u1",
                )
                start = time.perf_counter()
                predict_volume(model, raw, out, scheduler="sync", link_classes=link,
                               patch_zyx=PATCH_ZYX[name], views=n, progress=progress)  # fmt: skip
                if link is None:
                    seconds[(name, n)] += time.perf_counter() - start
                preds[(name, link, n)].append(out[...] >= 128)
        truth = np.concatenate([t > 0 for _, t in volumes], axis=1)
        total = sum(raw.size for raw, _ in volumes)
    result: dict[str, Any] = {}
    for name, (path, _, config) in nets.items():
        entry: dict[str, Any] = {}
        for run in (r for r in runs if r[0] == name):
            _, link, n = run
            scores = class_f1(np.concatenate(preds.pop(run), axis=1), truth, config.classes)
            if link is not None:
                entry["f1_unlinked"] = {c: round(v["f1"], 4) for c, v in scores.items()}
                continue
            part = entry if n == 1 else entry.setdefault("views", {"n": n})
            for key in ("f1", "precision", "recall"):
                part[key] = {c: round(v[key], 4) for c, v in scores.items()}
            part["goals"] = goals_met(part["f1"])
            part["voxels_per_s"] = round(total / seconds[(name, n)])
            part["seconds"] = round(seconds[(name, n)], 1)
        entry["weights"] = str(path)
        result[name] = entry
    result["unet2d_over_unet3d_speed"] = round(
        result["unet2d"]["voxels_per_s"] / result["unet3d"]["voxels_per_s"], 2
    )
    result["voxel_eval"] = {
        "seeds": list(seeds),
        "shape_zyx": list(shape_zyx),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
        f"torch threads 1, load {os.getloadavg()[0]:.1f}".replace("  ", " "),
    }
    return result


def merge_others(result: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Add the dicts of the other benchmark modules that exist (a clashing key is prefixed)."""
    root = Path(__file__).resolve().parent.parent
    for module_name in MERGED:
        if not (root / (module_name.replace(".", "/") + ".py")).exists():
            continue
        evaluate = importlib.import_module(module_name).evaluate
        kwargs = (
            {"progress": progress} if "progress" in inspect.signature(evaluate).parameters else {}
        )
        for key, value in evaluate(**kwargs).items():
            result[key if key not in result else f"{module_name.split('.')[-1]}.{key}"] = value
    return result


def table(result: dict[str, Any]) -> str:
    """The poster's table: F1 per class, poster 3D vs our 3D and 2D, then speeds."""
    lines = [f"{'class':20s} {'poster 3D':>10s} {'goal':>6s} {'unet3d':>8s} {'unet2d':>8s} "
             f"{'2d unlinked':>12s}"]  # fmt: skip
    for c in result["unet3d"]["f1"]:
        poster = f"{POSTER_F1[c]:.3f}" if c in POSTER_F1 else "-"
        goal = f"{GOALS[c]:.2f}" if c in GOALS else "-"
        lines.append(
            f"{c:20s} {poster:>10s} {goal:>6s} {result['unet3d']['f1'][c]:8.4f} "
            f"{result['unet2d']['f1'][c]:8.4f} {result['unet2d']['f1_unlinked'][c]:12.4f}"
        )
    for name in ("unet3d", "unet2d"):
        lines.append(f"{name} inference: {result[name]['voxels_per_s'] / 1e6:.3f} MVx/s")
    lines.append(f"2D / 3D speed: {result['unet2d_over_unet3d_speed']:.2f}x "
                 "(blog: 'almost twice as fast')")  # fmt: skip
    if "views" in result["unet3d"]:
        n = result["unet3d"]["views"]["n"]
        lines.append(f"with {n} test-time views averaged:")
        for c in result["unet3d"]["f1"]:
            goal = f"{GOALS[c]:.2f}" if c in GOALS else "-"
            lines.append(f"{c:20s} {'':>10s} {goal:>6s} {result['unet3d']['views']['f1'][c]:8.4f} "
                         f"{result['unet2d']['views']['f1'][c]:8.4f}")  # fmt: skip
        for name in ("unet3d", "unet2d"):
            speed = result[name]["views"]["voxels_per_s"] / 1e6
            lines.append(f"{name} inference, {n} views: {speed:.3f} MVx/s")
    lines.append("goals (F1 >= 0.95 cytosol, membrane, mitochondria; >= 0.85 junction):")
    for name in ("unet3d", "unet2d"):
        parts = [(1, result[name])]
        if "views" in result[name]:
            parts.append((result[name]["views"]["n"], result[name]["views"]))
        said = [f"{n} view{'s' if n > 1 else ''} " + ("met" if part["goals"]["met"] else
                "missed " + ", ".join(f"{c} {v:.4f}" for c, v in part["goals"]["missed"].items()))
                for n, part in parts]  # fmt: skip
        lines.append(f"  {name}: " + "; ".join(said))
    lines.append(f"machine: {result['voxel_eval']['machine']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the JSON object last")
    parser.add_argument("--weights", type=Path, default=None, help="folder of unet*.pt")
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 256, 256])
    parser.add_argument(
        "--views", type=int, default=8, help="also score both nets with this many views (1: not)"
    )
    parser.add_argument(
        "--voxel-only",
        action="store_true",
        help="only the voxel U-Nets (no FIB-25, raw-only ingest, point models)",
    )
    args = parser.parse_args()
    result = voxel_nets(shape_zyx=tuple(args.shape), weights=args.weights, views=args.views,
                        progress=not args.json)  # fmt: skip
    print(table(result))
    if not args.voxel_only:
        result = merge_others(result, progress=not args.json)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
