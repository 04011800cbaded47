"""The App's panel in a real browser: Nautobot's own `runserver`, Debian's chromium headless driven over the
DevTools protocol (websocket-client, already a dependency of the kubernetes client), a logged-in session.

`screenshot()` starts both, logs in (a session made by Django's test client inside Nautobot, handed to the
browser as its cookie), opens a Job's page, waits for the panel, and saves a PNG of the panel (or the page).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harness
import websocket

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SESSION_PROBE = """
import json
from django.test import Client
from nautobot.users.models import User
client = Client()
client.force_login(User.objects.get(username={username!r}))
print("NBJOBS_PROBE_JSON=" + json.dumps({{"sessionid": client.cookies["sessionid"].value}}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait(url: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read() or b"null") if url.endswith("json") else response.status
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class DevTools:
    """A minimal Chrome DevTools Protocol client: one page, commands answered in order."""

    def __init__(self, ws_url: str) -> None:
        self.socket = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)

    def __call__(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        return self("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self.socket.close()


def _open(tools: DevTools, url: str, selector: str, seconds: float = 60) -> None:
    tools("Page.navigate", url=url)
    deadline = time.monotonic() + seconds
    while not tools.evaluate(f"!!document.querySelector({selector!r}) && document.readyState == 'complete'"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: {selector} did not appear ({tools.evaluate('document.title')!r})")
        time.sleep(0.5)


def screenshot(nautobot: harness.Nautobot, job_id: str, out: Path, username: str = "admin",
               element: str = "#nbjobs-panel") -> dict[str, Any]:  # fmt: skip
    """Save a PNG of `element` (its whole card) on the Job's page; returns what the browser saw."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    script = nautobot.root / "session_probe.py"
    script.write_text(SESSION_PROBE.format(username=username))
    session = nautobot.probe(script, {})["sessionid"]
    port, debug_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as profile, _process(
        [str(nautobot.bin / "nautobot-server"), "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
        nautobot.env, nautobot.root / "runserver.log",
    ), _process(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
         f"--remote-debugging-port={debug_port}", "--window-size=1400,1000", "about:blank"],
        dict(os.environ), nautobot.root / "chromium.log",
    ):  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/login/", 180)
        pages = _wait(f"http://127.0.0.1:{debug_port}/json", 60)
        tools = DevTools(next(p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page"))
        try:
            tools("Network.enable")
            tools("Network.setCookie", name="sessionid", value=session, domain="127.0.0.1", path="/")
            tools("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)
            tools("Page.enable")
            # Nautobot 3.2.7's web process imports the job code only when a form needs it, and its own Job page
            # fails (500) for a job with an overridden time limit until then: the edit form loads the code first.
            _open(tools, f"http://127.0.0.1:{port}/extras/jobs/{job_id}/edit/", "form")
            _open(tools, f"http://127.0.0.1:{port}/extras/jobs/{job_id}/", element)
            time.sleep(1.0)  # fonts and icons
            card = f"document.querySelector({element!r}).closest('.card')"
            tools.evaluate(f"{card}.scrollIntoView({{block: 'start'}}); window.scrollBy(0, -12)")
            box = tools.evaluate(f"(() => {{ const r = {card}.getBoundingClientRect(); return {{x: r.x, "
                                 "y: r.y + window.scrollY, width: r.width, height: r.height}; })()")  # fmt: skip
            margin = 12
            clip = {"x": max(box["x"] - margin, 0), "y": max(box["y"] - margin, 0), "width": box["width"] + 2 * margin,
                    "height": box["height"] + 2 * margin, "scale": 1}  # fmt: skip
            shot = tools("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
            out.write_bytes(base64.b64decode(shot["data"]))
            return {
                "title": tools.evaluate("document.title"),
                "panel_text": tools.evaluate(f"{card}.innerText"),
                "clip": clip,
                "bytes": out.stat().st_size,
            }
        finally:
            tools.close()
