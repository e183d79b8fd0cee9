"""Touching mitochondria are split by the watershed, whole ones are left alone, also when
they cross chunk borders."""

from __future__ import annotations

import numpy as np

from graph import tables
from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume
from tests.volumes import write_volume

A = 2**55 + 3


def test_touching_mitochondria_split_and_a_rod_stays_whole(tmp_path):
    shape = (16, 40, 64)
    cells = np.zeros(shape, np.uint64)
    cells[:, 1:39, 1:63] = A
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    vz, vy = 20.0, 10.0  # nm; balls of radius 70 nm joined by a 20 nm neck, across x = 32

    def ball(cx: int) -> np.ndarray:
        return ((zz - 8) * vz) ** 2 + ((yy - 12) * vy) ** 2 + ((xx - cx) * vy) ** 2

    pair = (ball(26) <= 70**2) | (ball(40) <= 70**2)
    pair |= (abs(zz - 8) * vz <= 20) & (abs(yy - 12) * vy <= 10) & (xx > 26) & (xx < 40)
    rod = ((zz - 8) * vz / 40) ** 2 + ((yy - 30) * vy / 40) ** 2 + ((xx - 32) * vy / 250) ** 2
    mito = (pair | (rod <= 1)).astype(np.uint8)
    path = write_volume(tmp_path / "v.zarr", None, {"cells": cells, "mitochondria": mito})
    out = run_stages(open_volume(path), "split",
                     IngestSettings(data_dir=tmp_path, chunk_zyx=(8, 20, 32), workers=1),
                     progress=False, echo=lambda *_: None)  # fmt: skip
    elements = tables.read_table(out, "elements")
    assert len(elements) == 3
    assert set(elements["body_id"].astype(int)) == {A}
    assert int(elements["voxels"].sum()) == int(mito.sum())
    by_y = elements.sort_values("x")
    rod_row = elements.loc[(elements["y"] - 30).abs().idxmin()]
    assert int(rod_row["voxels"]) == int((rod <= 1).sum())
    halves = by_y[by_y["y"] < 20]
    assert len(halves) == 2 and abs(int(halves["voxels"].diff().iloc[-1])) < 0.2 * mito.sum()
