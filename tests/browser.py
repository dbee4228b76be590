"""A headless Chromium driven over the DevTools protocol on a pipe: enough for tests/test_web.py.

`--remote-debugging-pipe` makes Chromium read protocol commands from file
descriptor 3 and write replies and events to 4, each a JSON text ended by a NUL
byte, so no WebSocket client or extra package is needed.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time


def find_chromium():
    """The path of Chromium (Debian's `chromium`, or Google's), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, path, fake_camera=False, timeout=120.0):
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="kerasseg-chromium-")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        args = [path, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-dev-shm-usage", f"--user-data-dir={self._profile}",
                # WebGL in software: MediaPipe moves images through a WebGL canvas.
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                "--window-size=1100,1000"]
        if fake_camera:   # a generated video stream, and no permission prompt
            args += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
        args.append("about:blank")

        def child_fds():   # copies first: either end may itself be 3 or 4
            commands, replies = os.dup(commands_read), os.dup(replies_write)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        self._log = open(os.path.join(self._profile, "stderr.txt"), "wb")
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=self._log, preexec_fn=child_fds,
                                        close_fds=False)
        os.close(commands_read)
        os.close(replies_write)
        self._next_id = 0
        self._buffer = b""
        self.console = []   # the page's console messages, as text
        self.errors = []    # uncaught exceptions (the wasm runtime's logs go to console.error)
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Runtime.enable", session=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._write({"id": 0, "method": "Browser.close"})
        except OSError:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def stderr(self):
        with open(os.path.join(self._profile, "stderr.txt"), "rb") as f:
            return f.read().decode(errors="replace")

    def _write(self, message):
        os.write(self._commands, json.dumps(message).encode() + b"\0")

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise BrowserError(f"no reply from Chromium in {self.timeout:.0f} s")
            if self.process.poll() is not None:
                raise BrowserError(f"Chromium exited ({self.process.returncode}): "
                                   f"{self.stderr()[-2000:]}")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the pipe: {self.stderr()[-2000:]}")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(text)

    def send(self, method, session=False, timeout=None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._write(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _event(self, event):
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                         for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(details.get("exception", {}).get("description")
                               or details.get("text", ""))

    def goto(self, url):
        self.send("Page.navigate", session=True, url=url)

    def evaluate(self, expression, timeout=None):
        """The value of a JavaScript expression (awaited if a promise), or BrowserError."""
        result = self.send("Runtime.evaluate", session=True, timeout=timeout,
                           expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description")
                               or details.get("text") or str(details))
        return result["result"].get("value")

    def wait_for(self, expression, timeout=60.0):
        """Polls until `expression` is truthy in the page; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise BrowserError(f"{expression!r} did not hold in {timeout:.0f} s; console: "
                           f"{self.console[-10:]}")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", session=True, format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
