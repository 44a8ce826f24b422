"""A real headless Chromium, driven over the Chrome DevTools Protocol, that checks the plotly figures of an HTML page."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websocket

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

# Runs in the page: one entry per plotly div. A div "drew" when plotly built its figure there (a `.main-svg` with a
# nonzero box) and at least one data mark has a nonzero box: an SVG trace group (`.trace`: scatter, bar, pie, box, ...),
# a heatmap's or image trace's <image>, or a WebGL trace's canvas (present only for gl traces; its pixels are not read).
# A trace group that plotted nothing has an empty box, so it does not count; a div where plotly never ran (a script
# error before Plotly.newPlot) has no `.main-svg` at all.
PLOTS_JS = """
(() => {
  const MARKS = '.trace, .hm image, .im image, canvas.gl-canvas';
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const drawn = el => { const r = el.getBoundingClientRect(); return r.width + r.height > 0; };
  return [...document.querySelectorAll('.plotly-graph-div')].map(div => {
    const title = div.layout && div.layout.title;
    const text = (typeof title === 'string' ? title : title && title.text) || div.querySelector('.gtitle')?.textContent || '';
    const svg = div.querySelector('svg.main-svg');
    return {id: div.id, title: text, drew: Boolean(svg && shown(svg) && [...div.querySelectorAll(MARKS)].some(drawn))};
  });
})()
"""


@dataclass(frozen=True)
class Plot:
    """One `.plotly-graph-div` of the page: its id, its title (empty when none) and whether its figure drew."""

    id: str
    title: str
    drew: bool


@dataclass(frozen=True)
class PageCheck:
    """What loading a page showed: its plotly divs and every JavaScript error (exceptions, console and log errors)."""

    plots: list[Plot]
    errors: list[str]


class DevTools:
    """A CDP session attached to one tab; events received while waiting for replies are kept in `events`."""

    def __init__(self, socket: websocket.WebSocket) -> None:
        self.socket = socket
        self.session_id: str | None = None
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command (to the attached tab, once there is one) and return its result; raise on a CDP error."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session_id is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session_id
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event: str, timeout: float) -> dict[str, Any]:
        """Wait for the next `event` not yet seen (it is kept in `events` too) and return its parameters."""
        seen = len(self.events)
        deadline = time.monotonic() + timeout
        while not any(e["method"] == event for e in self.events[seen:]):
            reply = self._receive(deadline, event)
            if "method" in reply:
                self.events.append(reply)
        return next(e for e in self.events[seen:] if e["method"] == event)["params"]

    def _receive(self, deadline: float, awaited: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"Chromium did not answer {awaited} in time")
        self.socket.settimeout(left)
        try:
            return json.loads(self.socket.recv())
        except websocket.WebSocketTimeoutException as e:
            raise TimeoutError(f"Chromium did not answer {awaited} in time") from e


def find_chromium() -> str | None:
    """The Chromium to use: $MERAUTO_CHROMIUM if set, else the first of BROWSERS on PATH; None when there is none."""
    return os.environ.get("MERAUTO_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)


@contextmanager
def headless_chromium(executable: str, startup_timeout: float = 30.0) -> Iterator[DevTools]:
    """Start `executable` headless on 127.0.0.1 with a private temporary profile and yield a session attached to a blank
    tab; on exit close the browser, kill whatever of it is left and delete the profile."""
    home = Path(tempfile.mkdtemp(prefix="merauto-chromium-"))
    profile, log = home / "profile", home / "chromium.log"
    args = [
        executable,
        "--headless",
        "--no-sandbox",  # tests run as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--window-size=1280,1000",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    socket: websocket.WebSocket | None = None
    try:
        port, path = _devtools_address(profile / "DevToolsActivePort", process, log, startup_timeout)
        socket = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=startup_timeout, suppress_origin=True)
        devtools = DevTools(socket)
        target = devtools.send("Target.createTarget", url="about:blank")["targetId"]
        devtools.session_id = devtools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        yield devtools
    finally:
        if socket is not None:
            try:
                DevTools(socket).send("Browser.close", timeout=5)
            except (OSError, RuntimeError, TimeoutError, websocket.WebSocketException):
                pass  # killed below
            socket.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group: the browser and every helper it forked
        except ProcessLookupError:
            pass
        process.wait()
        shutil.rmtree(home, ignore_errors=True)


def _devtools_address(active_port: Path, process: subprocess.Popen, log: Path, timeout: float) -> tuple[int, str]:
    """The port and browser websocket path Chromium writes to DevToolsActivePort once it listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = active_port.read_text().splitlines() if active_port.exists() else []
        if len(lines) >= 2 and lines[0].isdigit() and lines[1].startswith("/"):
            return int(lines[0]), lines[1]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"Chromium did not start (exit code {process.poll()}):\n{log.read_text(errors='replace')[-3000:]}")


def check_plotly_page(devtools: DevTools, page: Path, screenshot: Path, timeout: float = 30.0) -> PageCheck:
    """Load `page` (a file), wait up to `timeout` seconds for every plotly div to draw, save a full-page PNG to
    `screenshot` and report each div and every JavaScript error seen. Waiting for every div to draw, rather than for its
    `.main-svg` only, leaves plotly no half-drawn figure to race with; a div that never draws costs the whole timeout."""
    for domain in ("Runtime", "Page", "Log"):
        devtools.send(f"{domain}.enable")
    seen = len(devtools.events)
    devtools.send("Page.navigate", url=page.resolve().as_uri())
    devtools.wait_for("Page.loadEventFired", timeout)
    deadline = time.monotonic() + timeout
    while True:
        plots = [Plot(**p) for p in devtools.send("Runtime.evaluate", expression=PLOTS_JS, returnByValue=True)["result"]["value"]]
        if all(p.drew for p in plots) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    size = devtools.send("Page.getLayoutMetrics")["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    image = devtools.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(image))
    return PageCheck(plots, [e for e in map(_error, devtools.events[seen:]) if e is not None])


def _error(event: dict[str, Any]) -> str | None:
    """The text of a JavaScript error event: an uncaught exception, a console.error or an error log entry."""
    params = event["params"]
    if event["method"] == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return details.get("exception", {}).get("description") or details["text"]
    if event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        return "console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
    if event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
        return f"log ({params['entry']['source']}): {params['entry']['text']}"
    return None
