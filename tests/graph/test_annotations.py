"""Annotations (graph.annotations): who set a type decides whether a reload keeps it."""

from __future__ import annotations

import pytest

from graph.annotations import AnnotationTableError, annotate, read_annotations, saved_annotations
from graph.load import connect


def _bodies(settings, dataset: str) -> list[int]:
    with connect(settings) as driver:
        rows = driver.execute_query(
            f"MATCH (n:{dataset}_Segment) RETURN n.bodyId AS b ORDER BY b"
        ).records
    return [int(r["b"]) for r in rows]


def test_a_reload_keeps_a_persons_type_and_drops_a_models(tiny_dataset, neo4j_settings):
    person, model = _bodies(neo4j_settings, tiny_dataset)[:2]
    rows = [
        {"bodyId": person, "type": "KC", "typeConfidence": 0.9},
        {"bodyId": model, "type": "MBON", "typeConfidence": 0.7, "typeSource": "model",
         "instance": "MBON_left"},
    ]  # fmt: skip
    try:
        assert annotate(neo4j_settings, tiny_dataset, rows) == 2
        kept = {r["bodyId"]: r for r in saved_annotations(neo4j_settings, tiny_dataset)}
        assert kept[person] == {"bodyId": person, "type": "KC", "typeConfidence": 0.9,
                                "typeSource": "annotation", "status": "Traced"}  # fmt: skip
        # the model's type goes; the instance a person may have set stays
        assert kept[model] == {"bodyId": model, "instance": "MBON_left", "status": "Traced"}
    finally:
        with connect(neo4j_settings) as driver:
            driver.execute_query(
                f"MATCH (n:{tiny_dataset}_Segment) "
                "REMOVE n.type, n.typeConfidence, n.typeSource, n.instance"
            )


def test_an_unknown_type_source_is_one_sentence(tmp_path):
    table = tmp_path / "types.csv"
    table.write_text("bodyId,type,typeSource\n12,KC,guess\n")
    with pytest.raises(AnnotationTableError) as err:
        read_annotations(table)
    assert str(err.value) == (
        f"{table}, row 2: typeSource 'guess' is not one of ['annotation', 'model']"
    )
