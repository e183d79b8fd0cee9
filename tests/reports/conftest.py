"""Helpers of the report tests: run `connectome report` for real, render PDFs with pdftoppm."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from connectome.cli import main as connectome_main


def report_cli(
    connectome_bin: str, env: dict[str, str], kind: str, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``connectome report KIND --dataset phantom --out OUT ARGS…`` (quiet), its result."""
    return subprocess.run(
        [connectome_bin, "report", kind, "--dataset", "phantom", "--out", str(out), "--quiet",
         *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def report_here(env: dict[str, str], kind: str, out: Path, *args: str) -> tuple[int, str]:
    """The same command in this process (no new interpreter to start, which costs seconds
    per run on a loaded machine): its exit status and what it wrote to stderr."""
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):  # fmt: skip
        for name in [n for n in os.environ if n.startswith("NEO4J_") and n not in env]:
            patch.delenv(name)  # as in a process started with env
        for name, value in env.items():
            patch.setenv(name, value)
        code = connectome_main(["report", kind, "--dataset", "phantom", "--out", str(out),
                                "--quiet", *args])  # fmt: skip
    return code, err.getvalue()


def written(out: Path) -> dict[str, Any]:
    """The report.json of a finished report in ``out``, after checking all three files."""
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.pdf"]
    return json.loads((out / "report.json").read_text())


def pdf_pages(pdf: Path, tmp: Path) -> list[np.ndarray]:
    """Every page of ``pdf`` rendered by poppler's pdftoppm (40 dpi) as a grey image."""
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp / "page")], check=True,
                   timeout=60)  # fmt: skip
    pages = sorted(tmp.glob("page-*.png"))
    return [np.asarray(Image.open(p).convert("L"), float) for p in pages]


def ink(page: np.ndarray) -> float:
    """The fraction of a page's pixels that are not (nearly) white."""
    return float(np.mean(page < 200))


def html_figures(page: str) -> list[str]:
    """The SVG documents of a report page's figures (``<img>`` data URIs), decoded."""
    found = re.findall(r'<img alt="figure" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)">',
                       page)  # fmt: skip
    return [base64.b64decode(f).decode() for f in found]
