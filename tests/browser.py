"""Debian's headless Chromium, driven over the DevTools protocol on a pipe, with no network.

``--remote-debugging-pipe`` speaks the protocol on file descriptors 3 (to Chromium) and 4 (from
it): no port, no socket. Chromium runs under ``unshare --net`` (a network namespace of its own,
with not even a loopback up), so the page it renders can load nothing but ``file://``: a report
that needed the network would render broken, and the test says so.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

#: Seconds Chromium may take to start and open the report (a few here).
BROWSER_START = 60
#: Seconds one protocol call may take (a 4 MB single-file report renders in about a second).
BROWSER_CALL = 60
#: Seconds a page may take to show what the test waits for.
PAGE_SETTLED = 30
#: Seconds between two looks at a page that is still rendering (a bounded poll of the DOM,
#: which has no event for "the report's scripts are done").
PAGE_POLL = 0.25


def chromium_or_skip() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to run chromium without network")
    return found


class Browser:
    """One headless Chromium with one page; ``with Browser(tmp) as b: b.open(url)``."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000) -> None:
        chromium = chromium_or_skip()
        to_chrome_r, self._to_chrome = _high(os.pipe())
        self._from_chrome, from_chrome_w = _high(os.pipe())
        command = [
            "unshare",
            "--net",
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        profile.mkdir(parents=True, exist_ok=True)
        self.log = (profile / "chromium.log").open("wb")
        # bash (dash takes no fd above 9) puts the pipe ends on fds 3 and 4, where
        # --remote-debugging-pipe expects them.
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', "bash", *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            pass_fds=(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.session = ""

    def __enter__(self) -> Browser:
        try:
            self._attach()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _attach(self) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.call("Page.enable", session=True)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # already gone: waited for or killed below
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self.log.close()

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        until = time.monotonic() + BROWSER_CALL
        while time.monotonic() < until:
            reply = self._read_message(until)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise TimeoutError(f"chromium did not answer {method} within {BROWSER_CALL}s")

    def _read_message(self, until: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            ready, _, _ = select.select(
                [self._from_chrome], [], [], max(0.0, until - time.monotonic())
            )
            if not ready:
                raise TimeoutError("chromium sent nothing")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                log = Path(self.log.name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"chromium exited (status {self.process.poll()}):\n{log}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        loaded: dict[str, Any] = json.loads(raw)
        return loaded

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url}, session=True)

    def wait_for(self, expression: str, what: str) -> Any:
        """Poll ``expression`` until it is truthy, within ``PAGE_SETTLED``; its value."""
        until = time.monotonic() + PAGE_SETTLED
        value = None
        while time.monotonic() < until:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(PAGE_POLL)
        text = self.evaluate("document.body ? document.body.innerText : ''")
        pytest.fail(f"timed out after {PAGE_SETTLED}s waiting for {what}; page text:\n{text}")

    def next_frames(self) -> None:
        """Return once the page drew two more frames (a click's re-render is on screen)."""
        self.evaluate(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
        )

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The pipe's ends moved to fds 10 and up: the shell's ``3<&N 4>&M`` must not overwrite one
    end with the other (a pipe end could itself be fd 3 or 4)."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved[0], moved[1]
