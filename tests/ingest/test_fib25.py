"""The real FIB-25 sample (CC-BY, Janelia FlyEM) through the reader registry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ingest.volume import open_volume

# the shared data folder sits beside the checkout (../shared); a clone elsewhere finds it
# through CONNECTOME_SHARED_DIR or at the workplace's usual place
_CANDIDATES = (
    [Path(os.environ["CONNECTOME_SHARED_DIR"])]
    if "CONNECTOME_SHARED_DIR" in os.environ
    else [Path(__file__).resolve().parents[3] / "shared", Path("/work/shared")]
)
SAMPLE = next((c / "data/fib25/training_sample2" for c in _CANDIDATES
               if (c / "data/fib25/training_sample2").exists()),
              _CANDIDATES[0] / "data/fib25/training_sample2")  # fmt: skip
pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason=f"{SAMPLE} is not on this machine")


def test_fib25_opens_in_the_input_contract_with_its_525_bodies():
    volume = open_volume(SAMPLE)
    assert volume.format == "fib25"
    assert volume.shape_zyx == (250, 250, 250) and volume.voxel_size_nm_zyx == (10.0, 10.0, 10.0)
    cells = np.asarray(volume.labels["cells"][...])
    ids, counts = np.unique(cells[cells > 0], return_counts=True)
    assert len(ids) == 525
    assert int((counts > 10_000).sum()) == 93
    raw = np.asarray(volume.raw[...])
    assert raw.dtype == np.uint8 and raw.shape == (250, 250, 250) and raw.std() > 10


def test_fib25_ingest_finds_every_body(tmp_path):
    from graph import tables
    from ingest.pipeline import run_stages
    from ingest.settings import IngestSettings

    out = run_stages(open_volume(SAMPLE), "fib25", IngestSettings(data_dir=tmp_path),
                     progress=False, echo=lambda *_: None)  # fmt: skip
    neurons = tables.read_table(out, "neurons")
    assert len(neurons) == 525 and int((neurons["voxels"] > 10_000).sum()) == 93
    big = neurons[neurons["voxels"] >= 10_000]
    # every body over 10,000 voxels has a mesh and a skeleton; smaller ones have none
    assert big["mesh_volume_nm3"].notna().all() and big["cable_length_nm"].notna().all()
    assert neurons.loc[neurons["voxels"] < 10_000, "mesh_volume_nm3"].isna().all()
    saved = [f for f in (out / "morphology").glob("*.npz") if f.stem.isdigit()]
    assert len(saved) == len(big)  # beside <body>.compartments.npz
    assert tables.read_table(out, "synapses").empty
