"""Fixtures of the web client tests: the real app on loopback (with the standalone
Neuroglancer client and the phantom's precomputed files) and one headless Chromium per module,
driven by Selenium through Debian's chromedriver (nothing is downloaded)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from selenium.webdriver.common.by import By

from api.app import create_app
from api.neuroglancer import client_dir, install_client, npm_client_dir
from api.settings import ApiSettings
from tests.api.conftest import serving
from tests.conftest import PHANTOM_DATASET

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
    # WebGL in software (SwiftShader), which Neuroglancer needs
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--window-size=1400,900",
)  # fmt: skip


@pytest.fixture(scope="session")
def client_install() -> str | None:
    """Install the standalone Neuroglancer client once into ~/.cache/connectome (npm pack)
    when it is not there; why not, when it cannot be."""
    try:
        install_client()
    except RuntimeError as err:
        return str(err)
    return None


@pytest.fixture(scope="session")
def neuroglancer_client(client_install, web_url) -> Path:
    """The standalone Neuroglancer client that ``web_url`` serves (the viewer tests need it;
    the PyPI wheel's client does not run outside Neuroglancer's Python server)."""
    if client_dir() != npm_client_dir():
        pytest.skip(f"the standalone Neuroglancer client is not installed: {client_install}")
    return npm_client_dir()


@pytest.fixture(scope="session")
def exported(typed, cli_env, connectome_bin, neo4j_server) -> dict:
    """The typed phantom with its precomputed files where the app serves them."""
    subprocess.run(
        [connectome_bin, "export", "precomputed", PHANTOM_DATASET],
        env=cli_env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    assert (neo4j_server.settings.data_dir / "precomputed" / PHANTOM_DATASET).is_dir()
    return typed


@pytest.fixture(scope="session")
def web_url(client_install, neo4j_server, neo4j_settings) -> Iterator[str]:
    """The real app on a free loopback port, built after the Neuroglancer client is in place
    (the app picks its client when it is created)."""
    settings = ApiSettings(data_dir=neo4j_server.settings.data_dir)
    with serving(create_app(settings, neo4j_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's tests (a fresh profile, removed afterwards)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (./run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as err:  # not there yet: the page is still rendering
            last_error = err
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}: {last_error}")


def open_page(driver: Any, url: str) -> None:
    """Load ``url`` afresh (not as a fragment change of the page already shown) and wait
    until the client has rendered it."""
    driver.get("about:blank")
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.body.dataset.rendered"),
             what=f"{url} to render")  # fmt: skip


def graphql(url: str, query: str, **variables: Any) -> dict:
    r = httpx.post(url + "/graphql", json={"query": query, "variables": variables}, timeout=60)
    body = r.json()
    assert "errors" not in body, body
    return dict(body["data"])


# Scripts for the Neuroglancer frame, its viewer as `v`: the 3D view without cross-sections
# (with no cell selected they colour every cell), then no cell selected (so no mesh).
SLICES_OFF = "const s = v.state.toJSON(); s.showSlices = false; v.state.restoreState(s);"
DESELECT = (
    "const s = v.state.toJSON(); s.layers.find(l => l.type === 'segmentation').segments = [];"
    " v.state.restoreState(s);"
)


def coloured(pixels: np.ndarray) -> int:
    """How many pixels are neither black nor grey: the EM and the empty 3D view are grey or
    black, a mesh is drawn in its segment's colour."""
    rgb = pixels.astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 40).sum())


def table(driver: Any, table_id: str) -> list[list[str]]:
    """The texts of the cells of a table's body, row by row."""
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def column(driver: Any, table_id: str, index: int) -> list[str]:
    """The texts of one column (``index`` from 0) of a table's body."""
    return [row[index] for row in table(driver, table_id)]
