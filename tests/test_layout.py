"""The floors of DESIGN.md: imports only ever point down a floor (or sideways inside one
package), the notebook client imports nothing of ours, and the Dockerfile ships every
package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"connectome", "ingest", "api", "reports", "graph", "models"}
ALLOWED = {
    "graph": set(),
    "models": set(),
    "ingest": {"graph", "models"},
    "api": {"graph"},
    "reports": {"graph"},
    "connectome": OURS,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_only_down_the_floors(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imports(path) - ALLOWED[package] - {package}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_notebook_client_imports_nothing_of_ours():
    assert _imports(ROOT / "connectome" / "client.py") == set()


def test_the_layout_of_design_md_is_there():
    for name in (
        "ingest",
        "graph",
        "api",
        "reports",
        "models",
        "web",
        "connectome",
        "tests",
        "benchmarks",
        "docker-compose.yml",
        "Dockerfile",
        "README.md",
        "pyproject.toml",
    ):
        assert (ROOT / name).exists(), name


def test_the_dockerfile_copies_every_package_and_pins_the_served_neuroglancer():
    from api.neuroglancer import NPM_PACKAGE, NPM_VERSION

    text = (ROOT / "Dockerfile").read_text()
    for package in sorted(OURS | {"web"}):
        assert f"COPY {package} ./{package}" in text, package
    assert f"npm pack {NPM_PACKAGE}@{NPM_VERSION}" in text
