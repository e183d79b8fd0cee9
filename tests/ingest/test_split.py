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


def test_a_split_part_belongs_to_the_cell_holding_most_of_it_as_whole_objects_do():
    import pandas as pd

    from ingest.split import apply_splits

    table = pd.DataFrame({"element_id": [1, 2], "type": "mitochondrion",
                          "body_id": np.array([7, 7], np.uint64), "voxels": [10, 10],
                          "overlap": np.float32(1.0), "x": 0, "y": 0, "z": 0})  # fmt: skip
    surface = pd.DataFrame({"element_id": [1, 2], "body_id": np.array([7, 7], np.uint64),
                            "z": 0, "y": 0, "x": [0, 5]})  # fmt: skip
    # object 2 splits in two parts: part 1 is 6 voxels of background and 4 of cell 7 (kept,
    # for cell 7, overlap 0.4, as objects.aggregate would keep a whole such object); part 2
    # lies wholly in background (dropped)
    body = [0] * 6 + [7] * 4 + [0] * 5
    parts = pd.DataFrame({"element_id": 2, "part": [1] * 10 + [2] * 5,
                          "body_id": np.array(body, np.uint64), "z": 0, "y": 0,
                          "x": np.arange(15)})  # fmt: skip
    merged, new_surface = apply_splits(table, surface, parts)
    assert merged["element_id"].tolist() == [1, 2]
    row = merged.iloc[1]
    assert row["body_id"] == 7 and row["voxels"] == 10
    assert row["overlap"] == np.float32(0.4)
    assert set(new_surface["element_id"]) == {1, 2}
    assert (new_surface["body_id"] == 7).all()
