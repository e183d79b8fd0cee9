"""The web client in a real headless Firefox (Debian's firefox-esr over WebDriver BiDi, WebGL
in software through Mesa): the pages render and the embedded Neuroglancer draws the mesh."""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PHANTOM_DATASET as DS
from tests.web.bidi import Firefox
from tests.web.conftest import DESELECT, SLICES_OFF, coloured, graphql


@pytest.fixture(scope="module")
def firefox() -> Iterator[tuple[Firefox, asyncio.AbstractEventLoop]]:
    """One headless Firefox for the module, with the event loop its session lives on."""
    if shutil.which("firefox-esr") is None:
        pytest.skip("Debian's firefox-esr is not installed (./run installs it)")
    loop = asyncio.new_event_loop()
    ff = loop.run_until_complete(Firefox().__aenter__())
    try:
        yield ff, loop
    finally:
        loop.run_until_complete(ff.__aexit__(None, None, None))
        loop.close()


def run(firefox: tuple[Firefox, asyncio.AbstractEventLoop], work: Any) -> Any:
    ff, loop = firefox
    return loop.run_until_complete(work(ff))


def test_firefox_shows_the_browser_and_the_neuron_page_with_partners(firefox, web_url, exported):
    body = str(exported["cells"][0]["id"])
    query = """query($ds: String!, $id: BodyId!) {
        neuron(dataset: $ds, bodyId: $id) { upstream { bodyId } } }"""
    upstream = graphql(web_url, query, ds=DS, id=body)["neuron"]["upstream"]

    async def work(ff: Firefox) -> tuple[list[str], list[str]]:
        await ff.go(f"{web_url}/#/neurons/{DS}")
        await ff.until("document.querySelectorAll('#neuron-table tbody tr').length")
        ids = await ff.js("[...document.querySelectorAll('#neuron-table tbody tr td:first-child')]"
                          ".map(td => td.textContent)")  # fmt: skip
        await ff.go(f"{web_url}/#/neuron/{DS}/{body}")
        await ff.until("document.querySelectorAll('#upstream tbody tr').length")
        partners = await ff.js("[...document.querySelectorAll('#upstream a.partner')]"
                               ".map(a => a.textContent)")  # fmt: skip
        return ids, partners

    ids, partners = run(firefox, work)
    assert sorted(ids) == sorted(str(c["id"]) for c in exported["cells"])
    assert partners == [p["bodyId"] for p in upstream]


def test_firefox_draws_the_analysis_plots(firefox, web_url, exported):
    async def work(ff: Firefox) -> list[int]:
        await ff.go(f"{web_url}/#/analysis/{DS}?types=TypeA,TypeB")
        await ff.until("document.querySelectorAll('#analysis-table tbody tr').length")
        return list(await ff.js("[...document.querySelectorAll('figure.analysis-type')]"
                                ".map(f => f.querySelectorAll('path.cdf').length)"))  # fmt: skip

    assert run(firefox, work) == [3, 3]


def test_firefox_runs_the_embedded_neuroglancer_and_draws_the_mesh(
    firefox, web_url, neuroglancer_client, exported
):
    body = str(exported["cells"][0]["id"])
    frame = "document.getElementById('ng').contentWindow"

    async def panel(ff: Firefox) -> np.ndarray:
        """The 3D panel (third of the four) once two screenshots agree."""
        last = None
        for _ in range(60):
            rect = await ff.js(f"""(() => {{ const f = document.getElementById('ng')
                .getBoundingClientRect(); const p = {frame}.document.querySelectorAll(
                '.neuroglancer-rendered-data-panel')[2].getBoundingClientRect();
                return [f.left + p.left, f.top + p.top, p.width, p.height]; }})()""")
            shot = np.asarray(Image.open(io.BytesIO(await ff.screenshot())).convert("RGB"))
            left, top, width, height = (round(v) for v in rect)
            now = shot[top : top + height, left : left + width].astype(int)
            if last is not None and np.abs(now - last).mean() < 0.5:
                return now
            last = now
            await asyncio.sleep(0.5)
        raise AssertionError("the viewer did not settle")

    async def work(ff: Firefox) -> tuple[np.ndarray, np.ndarray]:
        await ff.go(f"{web_url}/#/neuron/{DS}/{body}")
        await ff.until("document.getElementById('open-neuroglancer')")
        await ff.js("document.getElementById('open-neuroglancer').click()")
        await ff.until(f"!!{frame}.viewer && {frame}.viewer.display.isReady()", timeout=60)
        await ff.js(f"(() => {{ const v = {frame}.viewer; {SLICES_OFF} }})()")
        with_mesh = await panel(ff)
        await ff.js(f"(() => {{ const v = {frame}.viewer; {DESELECT} }})()")
        return with_mesh, await panel(ff)

    with_mesh, without = run(firefox, work)
    assert coloured(with_mesh) > 1500 + 3 * coloured(without), (
        coloured(with_mesh),
        coloured(without),
    )
