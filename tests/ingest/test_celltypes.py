"""Cell types from the point model (ingest.celltypes) and the table the annotations read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connectome.train_points import QUICK_SEEDS, QUICK_SHAPE_ZYX, PhantomData, phantom_tables
from graph.annotations import read_annotations
from ingest import celltypes
from ingest.point_clouds import cells_from_tables


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> PhantomData:
    root = tmp_path_factory.getbasetemp() / "point-phantoms"
    return phantom_tables(QUICK_SEEDS[0], QUICK_SHAPE_ZYX, root=root)


def test_the_ingest_writes_predicted_types_that_the_annotation_reader_accepts(ingested):
    path = ingested.tables / celltypes.PREDICTED_TYPES
    rows = read_annotations(path)
    meshed = {c.body_id for c in cells_from_tables(ingested.tables)}
    assert {r["bodyId"] for r in rows} == meshed
    assert {r["type"] for r in rows} <= set(celltypes.TYPE_NAMES)
    assert pd.read_csv(path).columns.tolist() == ["bodyId", "type", "typeConfidence"]
    # the rows set on the neurons say a model set these types
    assert celltypes.predicted_annotations(ingested.tables) == [
        {**r, "typeSource": "model"} for r in rows
    ]


def test_type_confidence_is_the_fraction_of_samples_that_agree(ingested):
    got = celltypes.predict_types(ingested.tables, samples=5)
    assert len(got) and got["typeConfidence"].between(0.6, 1.0).all()  # a majority of 5
    assert np.allclose(got["typeConfidence"] * 5, np.round(got["typeConfidence"] * 5))
    p = got[[f"p_{n}" for n in celltypes.TYPE_NAMES]].to_numpy()
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-4)


def test_the_same_tables_give_the_same_types(ingested):
    a = celltypes.predict_types(ingested.tables, samples=3, seed=4)
    b = celltypes.predict_types(ingested.tables, samples=3, seed=4)
    pd.testing.assert_frame_equal(a, b)


def test_without_weights_nothing_is_written(ingested, tmp_path):
    assert celltypes.write_predicted_types(ingested.tables, tmp_path / "none.pt") is None
    assert celltypes.predicted_annotations(tmp_path) == []


def test_the_stage_predicts_no_types_when_the_settings_turn_cell_types_off(ingested, tmp_path):
    from types import SimpleNamespace

    from ingest.pipeline import STAGES
    from ingest.settings import IngestSettings

    tables = tmp_path / "tables"
    tables.mkdir()
    for f in ingested.tables.iterdir():  # the ingest's tables, without its predicted types
        if f.name != celltypes.PREDICTED_TYPES:
            (tables / f.name).symlink_to(f)
    off = SimpleNamespace(settings=IngestSettings(data_dir=tmp_path, cell_types=False))
    assert STAGES["celltypes"].func(off, tables) is None
    assert not (tables / celltypes.PREDICTED_TYPES).exists()
    on = SimpleNamespace(settings=IngestSettings(data_dir=tmp_path))
    assert STAGES["celltypes"].func(on, tables) is not None
    assert (tables / celltypes.PREDICTED_TYPES).exists()
