"""cdp.py - drives Debian's chromium, headless, through the Chrome DevTools
Protocol over --remote-debugging-pipe: no npm package, no WebSocket, only
the Python 3 standard library.

With --remote-debugging-pipe, chromium reads commands from its fd 3 and
writes answers and events to its fd 4, each a JSON object ended by a NUL
byte. Page commands go to a session (Target.attachToTarget with flatten).
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--window-size=1000,760",
]


class CdpError(Exception):
    pass


class Browser:
    """One chromium process with a fresh profile, stopped by close()."""

    def __init__(self, binary="chromium"):
        self.profile = tempfile.mkdtemp(prefix="as-chromium-")
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()

        def child_fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [binary] + FLAGS + ["--user-data-dir=" + self.profile,
                                "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.wfd, self.rfd = to_child_w, from_child_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        # The browser answers its first command once it is up.
        self.call("Browser.getVersion", timeout=30)

    def _send(self, method, params, session):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]
        return self.next_id

    def _recv(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.rfd], [], [], left)
            if ready:
                chunk = os.read(self.rfd, 1 << 16)
                if not chunk:
                    raise CdpError("chromium closed its pipe (exit %s)"
                                   % self.proc.poll())
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=15):
        """Sends a command and returns its result; events that arrive
        meanwhile are kept in self.events."""
        mid = self._send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._recv(deadline)
            if msg is None:
                raise CdpError("%s: no answer in %s s" % (method, timeout))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CdpError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)

    def pump(self):
        """Reads the events that are waiting, without blocking."""
        while True:
            msg = self._recv(time.monotonic())
            if msg is None:
                return
            self.events.append(msg)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.wfd)
        os.close(self.rfd)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """A tab in its own browser context (its own storage)."""

    def __init__(self, browser, url):
        self.b = browser
        ctx = browser.call("Target.createBrowserContext")["browserContextId"]
        target = browser.call("Target.createTarget", {
            "url": "about:blank", "browserContextId": ctx})["targetId"]
        self.session = browser.call("Target.attachToTarget", {
            "targetId": target, "flatten": True})["sessionId"]
        self.call("Runtime.enable")
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})

    def call(self, method, params=None, timeout=15):
        return self.b.call(method, params, self.session, timeout)

    def eval(self, expr, timeout=15):
        """Evaluates a JavaScript expression (promises awaited) and returns
        its value as JSON would carry it."""
        r = self.call("Runtime.evaluate", {
            "expression": expr, "returnByValue": True,
            "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise CdpError("page: %s" % json.dumps(r["exceptionDetails"])[:800])
        return r["result"].get("value")

    def wait_for(self, expr, timeout, what, interval=0.02):
        """Evaluates expr until it is truthy; returns that value, or raises
        with `what` when timeout seconds pass."""
        deadline = time.monotonic() + timeout
        # Until the page has loaded, its elements may not exist yet.
        guarded = "(() => { try { return (%s); } catch (e) { return null; } })()" % expr
        while True:
            v = self.eval(guarded)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %s s waiting for %s"
                                     % (timeout, what))
            time.sleep(interval)

    def errors(self):
        """Uncaught exceptions and console errors of this page so far."""
        self.b.pump()
        out = []
        for m in self.b.events:
            if m.get("sessionId") != self.session:
                continue
            p = m.get("params", {})
            if m.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails"))[:800])
            elif (m.get("method") == "Runtime.consoleAPICalled" and
                  p.get("type") == "error"):
                out.append(json.dumps(p.get("args"))[:800])
        return out

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
