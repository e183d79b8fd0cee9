"""A report as written: its numbers (``report.json``), its tables and figures, rendered to a
self-contained ``report.html`` (figures as SVG data URIs) and a ``report.pdf`` (matplotlib's
PdfPages: text pages with the tables, then one page per figure).

:func:`write_report` builds the three files in a temporary folder beside the target and moves
them in only when all three are complete, so a failure leaves no half-written report: a new
folder appears whole (one rename), an existing one has each file replaced by a complete one
(``report.json`` last).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import io
import json
import math
import os
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

FILES = ("report.html", "report.pdf", "report.json")
PDF_LINES_PER_PAGE = 58


@dataclass(frozen=True)
class Table:
    """A table of a report: a caption, the column names and rows of text."""

    caption: str
    header: list[str]
    rows: list[list[str]]

    def lines(self) -> list[str]:
        """The table as monospaced lines (columns padded to their widest cell).

        Examples
        --------
        >>> print("\\n".join(Table("T", ["a", "bb"], [["10", "2"]]).lines()))
        T
        a   bb
        10  2
        """
        widths = [max(len(c) for c in col) for col in zip(self.header, *self.rows, strict=True)]
        pad = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
               for r in [self.header, *self.rows]]  # fmt: skip
        return [self.caption, *pad]


@dataclass
class Report:
    """What a report kind produced: ``numbers`` go to ``report.json`` as they are (with the
    kind, title, data set and time added), ``notes`` are sentences shown above the tables."""

    kind: str
    title: str
    dataset: str
    numbers: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def document(self) -> dict[str, Any]:
        """The content of ``report.json``."""
        head = {"kind": self.kind, "title": self.title, "dataset": self.dataset,
                "created": self.created, "notes": self.notes}  # fmt: skip
        return finite({**head, **self.numbers})


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has neither), recursively.

    Examples
    --------
    >>> finite({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def number(value: float | None, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant digits, ``–`` when unknown.

    Examples
    --------
    >>> number(0.000012345), number(1234.5), number(None)
    ('1.23e-05', '1.23e+03', '–')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}"


def filters_table(filters: dict[str, Any]) -> Table:
    """The filters a report used, one row each (lists joined, ``None`` as "any").

    Examples
    --------
    >>> filters_table({"cell_types": ["A", "B"], "compartment": None, "min_weight": 2}).rows
    [['cell_types', 'A, B'], ['compartment', 'any'], ['min_weight', '2']]
    """

    def text(value: Any) -> str:
        if value is None:
            return "any"
        if isinstance(value, list | tuple):
            return ", ".join(map(str, value))
        return str(value)

    return Table("Filters", ["filter", "value"], [[k, text(v)] for k, v in filters.items()])


def svg_image(figure: Figure) -> str:
    """The figure as an ``<img>`` holding its SVG as a data URI: vector, self-contained, and
    each figure its own document (inline ``<svg>`` elements would share one id space)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/svg+xml;base64,{data}">'


def render_html(report: Report) -> str:
    """The self-contained HTML page: notes, tables, figures inline as SVG."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:.2em .6em;text-align:right}th{background:#eee}caption{text-align:left;"
        "font-weight:bold;padding:.3em 0}figure{margin:2em 0}figure img{max-width:100%}"
        "</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f"<p>Data set <b>{e(report.dataset)}</b>, made {e(report.created)}. Every number "
        'shown is in <a href="report.json">report.json</a>; the same report as '
        '<a href="report.pdf">PDF</a>.</p>',
    ]
    parts += [f"<p>{e(n)}</p>" for n in report.notes]
    for t in report.tables:
        head = "".join(f"<th>{e(h)}</th>" for h in t.header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in t.rows)
        parts.append(f"<table><caption>{e(t.caption)}</caption><tr>{head}</tr>{body}</table>")
    for caption, figure in report.figures:
        parts.append(f"<figure>{svg_image(figure)}<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _text_pages(report: Report) -> list[list[str]]:
    lines = [report.title, f"data set {report.dataset}, made {report.created}", ""]
    for note in report.notes:
        lines += _wrap(note, 110) + [""]
    for t in report.tables:
        lines += t.lines() + [""]
    for i, (caption, _) in enumerate(report.figures, 1):
        lines += _wrap(f"Figure {i} (page {i} after the text): {caption}", 110)
    return [lines[i : i + PDF_LINES_PER_PAGE] for i in range(0, len(lines), PDF_LINES_PER_PAGE)]


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width) or [""]


def write_pdf(report: Report, path: Path) -> None:
    """The PDF: text pages (notes, tables and the figure captions, monospaced), then one page
    per figure."""
    with PdfPages(path, metadata={"Title": report.title, "Subject": report.dataset}) as pdf:
        for lines in _text_pages(report):
            page = Figure(figsize=(8.27, 11.69))  # A4 portrait
            page.text(0.05, 0.97, "\n".join(lines), va="top", ha="left", family="monospace",
                      fontsize=7)  # fmt: skip
            pdf.savefig(page)
        for _, figure in report.figures:
            pdf.savefig(figure, bbox_inches="tight")


def write_report(report: Report, out: Path) -> list[Path]:
    """Write ``report.html``, ``report.pdf`` and ``report.json`` into ``out`` (made if
    missing), atomically (see the module); return the three paths."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; pick another --out")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        os.chmod(work, 0o755)  # mkdtemp's 0700 would stay with the renamed folder
        (work / "report.html").write_text(render_html(report), encoding="utf-8")
        write_pdf(report, work / "report.pdf")
        text = json.dumps(report.document(), indent=1, allow_nan=False)
        (work / "report.json").write_text(text + "\n", encoding="utf-8")
        if not out.exists():
            with contextlib.suppress(FileExistsError, OSError):
                os.rename(work, out)  # the whole folder at once
                return [out / f for f in FILES]
        for name in FILES:  # json last: its presence means the report is complete
            os.replace(work / name, out / name)
        return [out / f for f in FILES]
    finally:
        shutil.rmtree(work, ignore_errors=True)
