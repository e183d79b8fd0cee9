"""Neuron segmentation on real EM (FIB-25) from boundary U-Nets, 3D against 2D, and the synapse
recall of raw-only ingest against ingest with the given labels (the phantom).

FIB-25 (``connectome.train_fib25``): each shipped boundary net (``fib25_unet3d``,
``fib25_unet2d``, trained on ``z < 150``) predicts the tuning block ``z < 150`` and the test
block ``z >= 150`` of the sample separately (no context crosses ``z = 150``). On the test
block: voxel-wise **boundary F1** at probability 0.5 against
:func:`connectome.train_fib25.boundary_target`; then :func:`models.segmentation.segment`
(watershed + mean-boundary agglomeration) with the merge threshold that gives the lowest
variation of information on the *tuning* block, scored by **VOI split / merge** (bits) and
**adapted Rand error** (:mod:`models.metrics`; ground-truth label 0 ignored). The baseline in
the same run is the same segmentation of the ground truth's own boundary map (``oracle``):
the floor of watershed and agglomeration at this resolution.

Phantom (``raw_only_synapse_recall_ratio``): a phantom not used in any training is ingested
twice without Neo4j, once as made and once with its label layers removed (raw-only: layers
predicted by ``models/weights/unet3d.pt``, cells by watershed + agglomeration); each
ingest's synapses are matched one to one to the planted ones by position (within 250 nm);
the figure is recall(raw-only) / recall(given labels). The issue's goal is at least 0.9.

Run: ``.venv/bin/python benchmarks/fib25_segmentation.py --json`` (also merged into
``benchmarks/models.py``). Torch runs on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# Seeds and smoothing chosen on the tuning block only (z 60-150, the 3D net's prediction;
# lowest VOI among smoothing 0/1 voxel, seed threshold 0.3/0.5, seed radius 3/5 voxels).
SEGMENTATION = {"smooth_sigma": 1.0, "seed_threshold": 0.5, "seed_radius": 5.0}
PHANTOM_SEED = 4242
PHANTOM_SHAPE_ZYX = (32, 192, 192)
MATCH_NM = 250.0


def _segmentation_scores(labels: np.ndarray, bodies: np.ndarray) -> dict[str, float]:
    from models.metrics import adapted_rand_error, variation_of_information

    voi = variation_of_information(labels, bodies)
    return {"voi_split": round(voi["voi_split"], 4), "voi_merge": round(voi["voi_merge"], 4),
            "arand": round(adapted_rand_error(labels, bodies)["arand"], 4)}  # fmt: skip


def segment_and_score(
    tune_prob: np.ndarray, tune_bodies: np.ndarray, test_prob: np.ndarray, test_bodies: np.ndarray
) -> dict[str, Any]:
    """Pick the merge threshold on the tuning block (lowest VOI), then segment and score the
    test block with it."""
    from models.metrics import variation_of_information
    from models.segmentation import SegmentationConfig, agglomerate, watershed_fragments

    config = SegmentationConfig(**SEGMENTATION)  # type: ignore[arg-type]
    fragments = watershed_fragments(tune_prob, config)
    tuned = agglomerate(fragments, tune_prob, THRESHOLDS, config.min_size)
    vois = [variation_of_information(s, tune_bodies)["voi"] for s in tuned]
    best = THRESHOLDS[int(np.argmin(vois))]
    t0 = time.perf_counter()
    fragments = watershed_fragments(test_prob, config)
    labels = agglomerate(fragments, test_prob, [best], config.min_size)[0]
    seconds = time.perf_counter() - t0
    return {**_segmentation_scores(labels, test_bodies), "merge_threshold": best,
            "tuning_voi": {str(t): round(v, 4) for t, v in zip(THRESHOLDS, vois, strict=True)},
            "segments": int(len(np.unique(labels))), "bodies": int(len(np.unique(test_bodies))),
            "segmentation_seconds": round(seconds, 1)}  # fmt: skip


def evaluate_fib25(progress: bool = True) -> dict[str, Any]:
    """Boundary F1, VOI and ARAND of both boundary nets on FIB-25 ``z >= 150``."""
    from connectome.train import default_out
    from connectome.train_fib25 import TEST_Z_FROM, boundary_target, load_sample
    from models.inference import predict_array
    from models.metrics import binary_scores
    from models.unet import load_checkpoint

    raw, bodies = load_sample()
    tune, test = slice(0, TEST_Z_FROM), slice(TEST_Z_FROM, None)
    truth = {"tune": boundary_target(bodies[tune])[0], "test": boundary_target(bodies[test])[0]}
    result: dict[str, Any] = {}
    for short in ("unet3d", "unet2d"):
        path = default_out(f"fib25_{short}")
        model, _, meta = load_checkpoint(path)
        t0 = time.perf_counter()
        prob_test = predict_array(model, raw[test])[0]
        seconds = time.perf_counter() - t0
        prob_tune = predict_array(model, raw[tune])[0]
        if progress:
            print(f"fib25 {short}: predicted in {seconds:.1f} s, segmenting", file=sys.stderr)
        entry: dict[str, Any] = {
            "boundary_f1": round(binary_scores(prob_test >= 0.5, truth["test"])["f1"], 4)
        }
        entry.update(segment_and_score(prob_tune, bodies[tune], prob_test, bodies[test]))
        entry["voxels_per_s"] = round(prob_test.size / seconds)
        entry["weights"] = str(path)
        entry["training_seconds"] = meta["metrics"].get("seconds")
        result[short] = entry
    oracle = segment_and_score(truth["tune"].astype(np.float32), bodies[tune],
                               truth["test"].astype(np.float32), bodies[test])  # fmt: skip
    result["oracle"] = {"boundary_f1": 1.0, **oracle}
    result["test_block_zyx"] = [list(test.indices(raw.shape[0]))[:2], [0, raw.shape[1]],
                                [0, raw.shape[2]]]  # fmt: skip
    return result


def synapse_recall(found_xyz_vx: np.ndarray, truth: dict[str, Any], max_nm: float = MATCH_NM
                   ) -> float:  # fmt: skip
    """Share of the planted synapses (``truth["synapses"][].position_xyz_vx``) matched one to
    one, nearest pairs first, by a found synapse position within ``max_nm``.

    Examples
    --------
    >>> truth = {"voxel_size_nm_zyx": [20, 10, 10],
    ...          "synapses": [{"position_xyz_vx": [0, 0, 0]}, {"position_xyz_vx": [90, 0, 0]}]}
    >>> synapse_recall(np.array([[3.0, 4.0, 0.0], [5.0, 0.0, 0.0]]), truth)
    0.5
    """
    n = len(truth["synapses"])
    return synapse_matches(found_xyz_vx, truth, max_nm) / n if n else 1.0


def synapse_matches(found_xyz_vx: np.ndarray, truth: dict[str, Any], max_nm: float = MATCH_NM
                    ) -> int:  # fmt: skip
    """How many planted synapses :func:`synapse_recall` matches."""
    planted = np.array([s["position_xyz_vx"] for s in truth["synapses"]], dtype=float)
    found = np.asarray(found_xyz_vx, dtype=float).reshape(-1, 3)
    if planted.size == 0 or found.size == 0:
        return 0
    vox = np.array(truth["voxel_size_nm_zyx"], dtype=float)[::-1]
    dist = np.linalg.norm((planted[:, None, :] - found[None, :, :]) * vox, axis=2)
    matched, used_p, used_f = 0, set(), set()
    for i, j in zip(*np.unravel_index(np.argsort(dist, axis=None), dist.shape), strict=True):
        if dist[i, j] > max_nm:
            break
        if i not in used_p and j not in used_f:
            used_p.add(i)
            used_f.add(j)
            matched += 1
    return matched


def strip_labels(container: Path, out: Path) -> Path:
    """A copy of ``container`` with only its raw image (labels, truth and JSON left out)."""
    shutil.copytree(container, out, ignore=shutil.ignore_patterns("labels", "truth", "*.json"))
    return out


def ingest_synapses(path: Path, data_dir: Path, dataset: str, progress: bool = False
                    ) -> np.ndarray:  # fmt: skip
    """Ingest ``path`` (raw-only: predicted first) without Neo4j; synapse positions (x, y, z)
    in voxels."""
    from graph import tables
    from ingest.pipeline import run_stages
    from ingest.predict import prepare
    from ingest.settings import IngestSettings
    from ingest.volume import open_volume

    settings = IngestSettings(data_dir=data_dir, workers=1)
    volume = open_volume(prepare(path, data_dir, progress=progress, echo=lambda _: None))
    folder = run_stages(volume, dataset, settings, progress=progress, echo=lambda _: None)
    return tables.read_table(folder, "synapses")[["x", "y", "z"]].to_numpy()


def evaluate_raw_only(progress: bool = True) -> dict[str, Any]:
    """Synapse recall of raw-only ingest over recall with the given labels, on one phantom."""
    from ingest.phantom import make_phantom

    with tempfile.TemporaryDirectory(prefix="raw-only-") as tmp:
        folder = Path(tmp)
        given = folder / "phantom.zarr"
        truth = make_phantom(given, seed=PHANTOM_SEED, shape_zyx=PHANTOM_SHAPE_ZYX)
        raw_only = strip_labels(given, folder / "raw-only.zarr")
        t0 = time.perf_counter()
        given_found = ingest_synapses(given, folder / "data", "given")
        t1 = time.perf_counter()
        raw_found = ingest_synapses(raw_only, folder / "data", "raw", progress)
        t2 = time.perf_counter()
        cells = _predicted_cells_scores(given, folder / "data")
    planted = len(truth["synapses"])
    with_labels, predicted = (synapse_matches(f, truth) for f in (given_found, raw_found))
    return {"raw_only_synapse_recall_ratio": round(predicted / with_labels, 4),
            "raw_only": {"recall_given_labels": round(with_labels / planted, 4),
                         "recall_raw_only": round(predicted / planted, 4),
                         "precision_given_labels": round(with_labels / max(len(given_found), 1), 4),
                         "precision_raw_only": round(predicted / max(len(raw_found), 1), 4),
                         "planted_synapses": planted,
                         "phantom_seed": PHANTOM_SEED, "shape_zyx": list(PHANTOM_SHAPE_ZYX),
                         "seconds_given_labels": round(t1 - t0, 1),
                         "seconds_raw_only": round(t2 - t1, 1),
                         "cells": cells}}  # fmt: skip


def _predicted_cells_scores(given: Path, data_dir: Path) -> dict[str, float]:
    """VOI and ARAND of the raw-only cells against the phantom's cells (background ignored)."""
    import zarr

    (predicted,) = (data_dir / "predicted").glob("*.zarr")
    ours = zarr.open(str(predicted / "labels" / "cells" / "0"), mode="r")[...]
    truth = zarr.open(str(given / "labels" / "cells" / "0"), mode="r")[...]
    return _segmentation_scores(ours, truth)


def evaluate(progress: bool = True) -> dict[str, Any]:
    """``{"fib25": {"unet3d": {...}, "unet2d": {...}, "oracle": {...}},
    "raw_only_synapse_recall_ratio": r, "raw_only": {...}}`` (see the module docstring)."""
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    fib25 = evaluate_fib25(progress)
    fib25["machine"] = (f"{platform.machine()} {os.cpu_count()} cpus, torch threads 1, "
                        f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    fib25["seconds"] = round(time.perf_counter() - t0, 1)
    return {"fib25": fib25, **evaluate_raw_only(progress)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--part", choices=["fib25", "raw-only", "all"], default="all")
    args = parser.parse_args(argv)
    if args.part == "fib25":
        import torch

        torch.set_num_threads(1)
        result: dict[str, Any] = {"fib25": evaluate_fib25()}
    elif args.part == "raw-only":
        import torch

        torch.set_num_threads(1)
        result = evaluate_raw_only()
    else:
        result = evaluate()
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
