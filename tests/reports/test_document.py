"""Writing a report: three complete files or none, HTML with the figures inline, JSON without
NaN. No graph needed: a small report made by hand."""

from __future__ import annotations

import json

import pytest
from matplotlib.figure import Figure

from reports.document import Report, Table, write_report
from tests.reports.conftest import html_figures, ink, pdf_pages


class BrokenFigure(Figure):
    """A figure that fails when drawn for the PDF, after the HTML was made."""

    def savefig(self, fname, *args, **kwargs):  # type: ignore[override]
        if kwargs.get("format") == "pdf":
            raise RuntimeError("disk full")
        return super().savefig(fname, *args, **kwargs)


def small_report(figure: Figure | None = None) -> Report:
    if figure is None:
        figure = Figure(figsize=(3, 2))
    ax = figure.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    return Report(kind="test", title="A small report", dataset="tiny",
                  numbers={"values": [1.0, float("nan")], "answer": 42},
                  tables=[Table("Numbers", ["name", "value"], [["answer", "42"]])],
                  figures=[("a parabola", figure)], notes=["Made by hand."])  # fmt: skip


def test_a_report_is_three_complete_files_in_a_new_folder(tmp_path):
    out = tmp_path / "a" / "report"
    paths = write_report(small_report(), out)
    assert paths == [out / "report.html", out / "report.pdf", out / "report.json"]
    doc = json.loads((out / "report.json").read_text())
    assert doc["values"] == [1.0, None] and doc["answer"] == 42 and doc["dataset"] == "tiny"
    page = (out / "report.html").read_text()
    assert len(html_figures(page)) == 1 and "<figcaption>a parabola</figcaption>" in page
    pages = pdf_pages(out / "report.pdf", tmp_path)
    assert len(pages) == 2 and all(ink(p) > 0.002 for p in pages)
    assert sorted(p.name for p in out.parent.iterdir()) == ["report"]


def test_a_failure_while_writing_leaves_the_old_report_and_no_debris(tmp_path):
    out = tmp_path / "report"
    write_report(small_report(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = small_report(BrokenFigure(figsize=(3, 2)))
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(broken, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(broken, tmp_path / "new")
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_file_in_the_way_is_one_sentence(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(FileExistsError, match=r"taken exists and is not a folder; pick another"):
        write_report(small_report(), tmp_path / "taken")


def test_tables_are_escaped_in_html(tmp_path):
    report = small_report()
    report.tables = [Table("<b>caption</b>", ["a"], [["<script>x</script>"]])]
    write_report(report, tmp_path / "r")
    page = (tmp_path / "r" / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
