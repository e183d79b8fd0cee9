"""A minimal WebDriver BiDi session with a headless Firefox (Debian's firefox-esr speaks the
protocol itself, so no geckodriver is needed): navigate, evaluate JavaScript, take a
screenshot."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

import websockets

from tests.conftest import free_port

# WebGL without a GPU (Neuroglancer needs it): allowed, in software, in the content process
PREFS = {"webgl.force-enabled": True, "webgl.disabled": False, "gfx.webrender.software": True,
         "webgl.out-of-process": False}  # fmt: skip


class Firefox:
    """``async with Firefox() as ff: await ff.go(url); await ff.js("1 + 1")``."""

    def __init__(self, binary: str = "firefox-esr", width: int = 1400, height: int = 900):
        self.binary, self.size = binary, (width, height)
        self.next_id = 0

    async def __aenter__(self) -> Firefox:
        self.profile = tempfile.mkdtemp(prefix="firefox-")
        with open(f"{self.profile}/user.js", "w") as prefs:
            prefs.write("".join(f'user_pref("{k}", {json.dumps(v)});\n' for k, v in PREFS.items()))
        port = free_port()
        self.process = subprocess.Popen(
            [self.binary, "--headless", "--no-remote", "--profile", self.profile,
             "--remote-debugging-port", str(port),
             "--width", str(self.size[0]), "--height", str(self.size[1])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # WebGL through EGL and Mesa's llvmpipe (without EGL headless Firefox has none)
            env={**os.environ, "MOZ_WEBGL_FORCE_EGL": "1", "LIBGL_ALWAYS_SOFTWARE": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                self.socket = await websockets.connect(f"ws://127.0.0.1:{port}/session",
                                                       max_size=None)  # fmt: skip
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self._stop()
                    raise RuntimeError("Firefox did not open its WebDriver BiDi port") from None
                await asyncio.sleep(0.2)
        await self.send("session.new", capabilities={})
        tree = await self.send("browsingContext.getTree")
        self.context = tree["contexts"][0]["context"]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.send("session.end")
            await self.socket.close()
        finally:
            self._stop()

    def _stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One command; its result (an error answer raises)."""
        self.next_id += 1
        await self.socket.send(json.dumps({"id": self.next_id, "method": method,
                                           "params": params}))  # fmt: skip
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == self.next_id:
                if message.get("type") == "error":
                    raise RuntimeError(f"{method}: {message.get('message')}")
                return dict(message["result"])

    async def go(self, url: str) -> None:
        await self.send("browsingContext.navigate", context=self.context, url=url, wait="complete")

    async def js(self, expression: str) -> Any:
        """The value of ``expression`` (promises awaited), as plain JSON-like data."""
        answer = await self.send("script.evaluate", expression=expression, awaitPromise=True,
                                 target={"context": self.context})  # fmt: skip
        if answer.get("type") == "exception":
            raise RuntimeError(answer["exceptionDetails"].get("text"))
        return _value(answer["result"])

    async def until(self, expression: str, timeout: float = 30.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.js(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.2)

    async def screenshot(self) -> bytes:
        """The viewport as PNG."""
        shot = await self.send("browsingContext.captureScreenshot", context=self.context)
        return base64.b64decode(shot["data"])


def _value(remote: dict[str, Any]) -> Any:
    """A BiDi remote value as Python data (numbers, strings, booleans, arrays, objects)."""
    kind, value = remote.get("type"), remote.get("value")
    if kind == "array":
        return [_value(v) for v in value or []]
    if kind == "object":
        return {k if isinstance(k, str) else _value(k): _value(v) for k, v in value or []}
    if kind in ("null", "undefined"):
        return None
    return value
