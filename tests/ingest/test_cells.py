"""Cell properties on phantom cells: counts and boxes exact, inner points inside."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.cells import cell_table, relabel
from ingest.phantom import make_phantom
from ingest.volume import open_volume


@pytest.fixture(scope="module")
def phantom_cells(tmp_path_factory):
    path = tmp_path_factory.mktemp("cells") / "p.zarr"
    truth = make_phantom(path, seed=2, shape_zyx=(32, 128, 128))
    volume = open_volume(path)
    cells = np.asarray(volume.labels["cells"][...])
    return truth, cells, cell_table(relabel(cells), volume.voxel_size_nm_zyx)


def test_voxel_counts_equal_the_truth(phantom_cells):
    truth, _, table = phantom_cells
    assert dict(zip(table["body_id"].map(str), table["voxels"], strict=True)) == {
        c["id"]: c["voxels"] for c in truth["cells"]
    }


def test_representative_voxel_lies_inside_its_cell_and_box(phantom_cells):
    _, cells, table = phantom_cells
    for r in table.itertuples():
        assert cells[r.z, r.y, r.x] == r.body_id
        assert r.bbox_min_x <= r.x < r.bbox_max_x and r.bbox_min_z <= r.z < r.bbox_max_z
        zz, yy, xx = np.nonzero(cells == r.body_id)
        assert (zz.min(), yy.min(), xx.min()) == (r.bbox_min_z, r.bbox_min_y, r.bbox_min_x)
        assert (zz.max() + 1, yy.max() + 1, xx.max() + 1) == (
            r.bbox_max_z,
            r.bbox_max_y,
            r.bbox_max_x,
        )


def test_a_cell_too_thin_for_the_search_grid_still_gets_an_inner_voxel():
    cells = np.zeros((10, 40, 40), np.uint64)
    cells[2:8, 5:35, 5:35] = 5
    cells[5, 1, 1:3] = 2**63 + 9  # two voxels, off the 40 nm grid
    table = cell_table(relabel(cells), (20.0, 10.0, 10.0))
    (thin,) = table[table["body_id"] == np.uint64(2**63 + 9)].itertuples()
    assert cells[thin.z, thin.y, thin.x] == 2**63 + 9
