"""`connectome annotate`: a table of neuron types reaches the graph; a bad table is one line."""

from __future__ import annotations

import subprocess

import pandas as pd

from graph.ids import from_neo4j
from graph.load import connect
from tests.conftest import PHANTOM_DATASET as DS


def run(connectome_bin, cli_env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([connectome_bin, *args], env=cli_env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_annotate_sets_types_from_a_table(
    phantom, typed, neo4j_settings, cli_env, connectome_bin, tmp_path
):
    cells = pd.DataFrame(phantom["cells"])
    table = tmp_path / "types.csv"
    pd.DataFrame({"bodyId": cells["id"].astype(str).tolist() + ["999999999999"],
                  "type": cells["type"].tolist() + ["Ghost"], "status": "Proofread"}
                 ).to_csv(table, index=False)  # fmt: skip
    proc = run(connectome_bin, cli_env, "annotate", DS, str(table))
    assert proc.returncode == 0, proc.stderr
    assert f"annotated {len(cells)} of {len(cells) + 1} neurons" in proc.stdout
    with connect(neo4j_settings) as driver:
        rows = driver.execute_query(
            f"MATCH (n:{DS}_Segment) WHERE n.status = 'Proofread' RETURN n.bodyId AS b, n.type AS t"
        ).records
    assert {from_neo4j(r["b"]): r["t"] for r in rows} == dict(
        zip(cells["id"].astype(int), cells["type"], strict=True)
    )


def test_a_bad_annotation_table_is_one_clear_line(cli_env, connectome_bin, tmp_path):
    table = tmp_path / "bad.csv"
    table.write_text("cell,type\n1,KC\n")
    proc = run(connectome_bin, cli_env, "annotate", DS, str(table))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"connectome annotate: {table} has no bodyId column; expected bodyId and any of "
        "['type', 'typeConfidence', 'typeSource', 'instance', 'status']"
    ]
