#!/usr/bin/env python3
"""check_dashboard.py - the dashboard end to end: a real artstored with
--http, a real headless chromium (Debian's) driven through the DevTools
protocol (cdp.py), the articles put with the artstore CLI.

Checks, each against what the page shows:
  1. articles that existed before the page opened;
  2. puts made while it is open, each at the top within a bound, marked
     new; the commit-to-screen latency is measured and printed (the time
     from the change's commit_time_ms to the frame that shows it, both on
     this machine's clock);
  3. a tag filter (all of / none of) applied by the server, live too;
  4. a server restart: puts made while the page could not reach the server
     show up after it reconnects, once each and in order, and the changes
     the page applied are gap-free (every seq once);
  5. with tokens on: nothing without a token, nothing with a wrong one,
     the articles with a read token;
  6. the chart of changes per minute counts the puts;
  7. with stories (a server that has them): a story that gains outlets
     updates its count in place.

usage: check_dashboard.py --artstored PATH --cli PATH [--screenshot PNG]
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser, Page  # noqa: E402

# Generous bounds: the machine may be busy (sanitizers, parallel tests).
SHOW_BOUND_S = 5.0
START_BOUND_S = 20.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """artstored on a temp dir and free loopback ports, stopped by PID."""

    def __init__(self, binary, cli, extra=()):
        self.binary, self.cli, self.extra = binary, cli, list(extra)
        self.dir = tempfile.mkdtemp(prefix="as-dash-")
        self.pick_ports()
        self.proc = None
        self.token = None

    def pick_ports(self):
        self.rpc = "tcp://127.0.0.1:%d" % free_port()
        self.feed = "tcp://127.0.0.1:%d" % free_port()
        self.http_port = free_port()
        self.ws_rpc = "ws://127.0.0.1:%d" % free_port()
        self.ws_feed = "ws://127.0.0.1:%d" % free_port()

    def start(self, http=True):
        # A port found free can be taken by another test before artstored
        # binds it; then artstored exits, and whoever holds the port may
        # even answer in its place. So the start is confirmed by the
        # server's own /config naming our ports, and retried on new ports
        # a bounded number of times.
        for _ in range(5):
            if self.start_once(http):
                return
            self.pick_ports()
        raise AssertionError("artstored could not get free ports: %s"
                             % self.log())

    def ours(self):
        """Whether the HTTP listener is this server's (its /config)."""
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/config" % self.http_port,
                    timeout=5) as r:
                cfg = json.loads(r.read())
        except (OSError, ValueError):
            return False
        return str(cfg.get("rpc", "")).endswith(
            ":%s" % self.ws_rpc.rsplit(":", 1)[1])

    def start_once(self, http):
        """Starts artstored; False when a port was taken under it."""
        args = [self.binary, "--data", os.path.join(self.dir, "data"),
                "--listen", self.rpc, "--feed", self.feed] + self.extra
        if http:
            args += ["--http", "127.0.0.1:%d" % self.http_port,
                     "--ws-listen", self.ws_rpc, "--ws-feed", self.ws_feed]
        log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + START_BOUND_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "in use" in self.log():
                    self.proc = None
                    return False
                raise AssertionError("artstored exited: %s" % self.log())
            if self.artstore("ping", check=False).returncode == 0:
                if http:
                    self.wait_http()
                    if not self.ours():
                        self.cleanup_proc()
                        return False
                return True
            time.sleep(0.05)
        raise AssertionError("artstored did not answer: %s" % self.log())

    def cleanup_proc(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def wait_http(self):
        deadline = time.monotonic() + START_BOUND_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.http_port),
                                              timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("no HTTP listener: %s" % self.log())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("artstored did not stop on SIGTERM")
            if rc != 0:
                raise AssertionError("artstored exited %d: %s"
                                     % (rc, self.log()))
        self.proc = None

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def log(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def artstore(self, *args, stdin=None, check=True):
        env = dict(os.environ, ARTSTORE_SERVER=self.rpc)
        if self.token:
            env["ARTSTORE_TOKEN"] = self.token
        r = subprocess.run([self.cli] + list(args), input=stdin, env=env,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("artstore %s: %s" % (" ".join(args),
                                                      r.stderr))
        return r

    def put(self, title, tags=("news",), source="Wire", published=None,
            body=None, url=None):
        """Puts an article; its body, unless given, is its own words (no
        two share enough to be near-duplicates or one story)."""
        if url is None:
            url = "https://news.example/%s" % "".join(
                c if c.isalnum() else "-" for c in title.lower())
        args = ["put", "--url", url, "--source", source]
        for t in tags:
            args += ["--tag", t]
        if published is not None:
            args += ["--published", published]
        if body is None:
            body = "Body of %s: %s." % (title, " ".join(
                random.choice(WORDS) + str(random.randrange(1000))
                for _ in range(14)))
        return int(self.artstore(*args, stdin=title + "\n\n" + body
                                 + "\n").stdout.split()[0])

    def url(self):
        return "http://127.0.0.1:%d/" % self.http_port


WORDS = ("harbour", "council", "minister", "river", "market", "season",
         "station", "bridge", "report", "village", "festival", "tower")

# A wire story that several outlets carry, word for word: near-duplicates,
# so one story with one more outlet each time.
WIRE_BODY = (
    "Rescue crews worked through the night to reach villages cut off by the "
    "landslide in the northern valley, officials said on Tuesday morning.\n"
    "The regional governor said that roads would stay closed for at least "
    "three more days while engineers inspect the damaged bridges there.\n"
    "Residents were asked to boil their water and to avoid the riverbanks "
    "until the authorities declare the whole area safe once again.\n")

# Varied puts, for a screenshot that shows what the page does.
HEADLINES = [
    ("Storm closes ports along the coast", ("news", "weather"), "Coastal Times"),
    ("Markets rally on rate hopes", ("news", "markets"), "Daily Ledger"),
    ("Rail strike called off after late talks", ("news", "transport"), "Wire"),
    ("Heat record broken for a third day", ("news", "weather"), "Metro Post"),
    ("Council approves new bike lanes", ("news", "city"), "Metro Post"),
]

# What the page shows, read from its DOM and its state object.
SHOWN = """JSON.stringify({
  state: window.artstoreDashboard ? artstoreDashboard.state : null,
  mode: window.artstoreDashboard ? artstoreDashboard.mode : null,
  applied: window.artstoreDashboard ? artstoreDashboard.applied : [],
  error: window.artstoreDashboard ? artstoreDashboard.error : "",
  tokenForm: !document.getElementById("token-form").hidden,
  items: [...document.querySelectorAll("#items li")].map(li => ({
    title: li.querySelector(".title").textContent,
    id: Number(li.dataset.id),
    isNew: li.classList.contains("new"),
    commitMs: li.dataset.commitMs ? Number(li.dataset.commitMs) : null,
    shownMs: li.dataset.shownMs ? Number(li.dataset.shownMs) : null,
  })),
})"""


def shown(page):
    return json.loads(page.eval(SHOWN))


def titles(page):
    return [i["title"] for i in shown(page)["items"]]


def wait_titles(page, want_prefix, what, timeout=SHOW_BOUND_S):
    """Waits until the list starts with the titles want_prefix."""
    deadline = time.monotonic() + timeout
    while True:
        got = titles(page)
        if got[:len(want_prefix)] == want_prefix:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: the page shows %s, expected it to "
                                 "start with %s" % (what, got[:8], want_prefix))
        time.sleep(0.02)


def wait_state(page, state, timeout=SHOW_BOUND_S):
    page.wait_for("window.artstoreDashboard && artstoreDashboard.state === %s"
                  % json.dumps(state), timeout, "state " + state)


def check_no_errors(page):
    errs = page.errors()
    if errs:
        raise AssertionError("the page reported errors: %s" % errs)


def test_main(browser, srv, screenshot):
    # 1. Articles put before the page opens, newest first.
    for i in range(1, 4):
        srv.put("Before %d" % i, tags=("news", "europe"),
                published="2026-01-0%dT09:00:00Z" % i)
    srv.put("Scores of the day", tags=("sports",),
            published="2026-01-04T09:00:00Z", source="Sports Desk")
    page = Page(browser, srv.url())
    wait_state(page, "live", START_BOUND_S)
    wait_titles(page, ["Scores of the day", "Before 3", "Before 2",
                       "Before 1"], "articles before open")
    mode = shown(page)["mode"]
    print("ok 1 - the page shows the 4 %s put before it opened" % mode)

    # 2. Puts while open: each on top, marked new, within the bound.
    latencies, put_to_screen, stages = [], [], []
    for i in range(1, 11):
        title = "Live %d: %s" % (i, HEADLINES[i % len(HEADLINES)][0])
        t0 = time.time() * 1000
        srv.put(title, tags=HEADLINES[i % len(HEADLINES)][1],
                source=HEADLINES[i % len(HEADLINES)][2])
        wait_titles(page, [title], "put while open")
        top = page.wait_for(
            "(() => { const li = document.querySelector('#items li');"
            " return li && li.dataset.shownMs ? {c: Number(li.dataset.commitMs),"
            " s: Number(li.dataset.shownMs), f: Number(li.dataset.frameMs),"
            " r: Number(li.dataset.replyMs), n: li.classList.contains('new')}"
            " : null; })()", SHOW_BOUND_S, "the frame that shows " + title)
        assert top["n"], "%s is not marked new" % title
        latencies.append(top["s"] - top["c"])
        # Stages: commit to the feed frame in the page, the frame to the
        # Changes answer, the answer to the frame on screen.
        stages.append((top["f"] - top["c"], top["r"] - top["f"],
                       top["s"] - top["r"]))
        put_to_screen.append(top["s"] - t0)
    lat = sorted(latencies)
    print("ok 2 - 10 puts while open each shown at the top, marked new; "
          "commit-to-screen latency ms: median %.0f, min %.0f, max %.0f "
          "(put-to-screen, CLI start included: median %.0f)"
          % (statistics.median(lat), lat[0], lat[-1],
             statistics.median(put_to_screen)))
    print("# stages, medians in ms: commit to feed frame %.0f, frame to "
          "Changes answer %.0f, answer to screen %.0f"
          % tuple(statistics.median(x[k] for x in stages) for k in range(3)))
    for v in lat:
        assert v < SHOW_BOUND_S * 1000, "latency %d ms over the bound" % v

    # 6. The chart counts what was put (14 changes in the last hour); it
    # is redrawn within seconds of new changes.
    total = page.wait_for(
        "Number(document.getElementById('chart').dataset.total) >= 14 &&"
        " document.getElementById('chart').dataset.total", 15,
        "the chart to count 14 changes")
    print("ok 6 - the chart of changes per minute counts the %s puts"
          % total)

    # 4. A restart. The page sees the server go; two articles are put while
    # it cannot reconnect (the server runs without --http), then the server
    # comes back with --http and the page catches up from its last seq.
    before = shown(page)
    srv.stop()
    wait_state(page, "disconnected", SHOW_BOUND_S)
    srv.start(http=False)
    away = ["Away 1", "Away 2", "Away 3"]
    for t in away:
        srv.put(t, tags=("news",))
    srv.stop()
    srv.start(http=True)
    srv.put("Back 1", tags=("news",))
    got = wait_titles(page, ["Back 1", "Away 3", "Away 2", "Away 1"],
                      "after the restart", timeout=START_BOUND_S)
    wait_state(page, "live", START_BOUND_S)
    after = shown(page)
    for t in away + ["Back 1"] + [i["title"] for i in before["items"]]:
        assert got.count(t) == 1, "%s shown %d times" % (t, got.count(t))
    seqs = after["applied"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), \
        "the page applied seqs %s: a gap or a duplicate" % seqs
    assert len(seqs) == 14, "applied %d changes, expected 14" % len(seqs)
    print("ok 4 - after a restart the 3 articles put while the page was "
          "away appear once each, in order; applied seqs %d..%d gap-free"
          % (seqs[0], seqs[-1]))

    # 3. A filter: all of news, none of europe. The server applies it, to
    # the Query and to the changes after it.
    filt = Page(browser, srv.url() + "#all=News&none=Europe")
    wait_state(filt, "live", START_BOUND_S)
    got = wait_titles(filt, ["Back 1", "Away 3"], "filtered list")
    assert not any(t.startswith("Before") for t in got), got
    assert "Scores of the day" not in got, got
    srv.put("Europe tonight", tags=("news", "europe"))
    srv.put("Plain news", tags=("News",))
    wait_titles(filt, ["Plain news", "Back 1"], "a matching put, filtered")
    wait_titles(page, ["Plain news", "Europe tonight", "Back 1"],
                "both puts, unfiltered")
    assert "Europe tonight" not in titles(filt)
    print("ok 3 - tag filter all of 'News', none of 'Europe': the list and "
          "live puts are filtered by the server")
    if after.get("mode") == "stories":
        test_story_outlets(page, srv)
    else:
        print("# the server has no stories: the page shows articles")
    if screenshot:
        page.eval("window.scrollTo(0, 0)")
        page.screenshot(screenshot)
        print("# screenshot: %s" % screenshot)
    check_no_errors(page)
    check_no_errors(filt)
    return statistics.median(lat), lat[-1]


def test_story_outlets(page, srv):
    """7. A story gains outlets: its count changes in place."""
    srv.put("Landslide cuts off valley villages", source="Mountain Herald",
            tags=("news", "weather"), body=WIRE_BODY,
            url="https://herald.example/landslide")
    wait_titles(page, ["Landslide cuts off valley villages"], "a new story")
    srv.put("Orchestra opens the autumn season", tags=("news", "culture"))
    wait_titles(page, ["Orchestra opens the autumn season",
                       "Landslide cuts off valley villages"], "another story")
    before = page.eval("document.querySelectorAll('#items li')[1].dataset.outlets")
    assert before == "1", "outlets %s" % before
    for n, src in enumerate(("Daily Ledger", "Coastal Times"), start=2):
        srv.put("Valley villages cut off (%s)" % src, source=src,
                body=WIRE_BODY, tags=("news",),
                url="https://%s.example/landslide"
                % src.lower().replace(" ", ""))
        page.wait_for("document.querySelectorAll('#items li')[1]"
                      ".dataset.outlets === '%d'" % n, SHOW_BOUND_S,
                      "the story's outlets to reach %d" % n)
    got = titles(page)
    assert got[:2] == ["Orchestra opens the autumn season",
                       "Landslide cuts off valley villages"], got
    assert got.count("Landslide cuts off valley villages") == 1, got
    print("ok 7 - a story that gains outlets (near-duplicates from two more "
          "sources) updates its count in place: 1, 2, 3 outlets, same row")


def test_tokens(browser, binary, cli):
    wtok, rtok = "w-" + os.urandom(12).hex(), "r-" + os.urandom(12).hex()
    srv = Server(binary, cli)
    try:
        path = os.path.join(srv.dir, "tokens")
        with open(path, "w") as f:
            f.write("write %s\nread %s\n" % (wtok, rtok))
        srv.extra = ["--auth-token-file", path]
        srv.token = wtok
        srv.start()
        srv.put("Secret one")
        srv.put("Secret two")
        page = Page(browser, srv.url())
        page.wait_for("!document.getElementById('token-form').hidden", 10,
                      "the token form")
        # Give it time to show anything it would show.
        time.sleep(1.5)
        s = shown(page)
        body = page.eval("document.body.innerText")
        assert s["items"] == [] and "Secret" not in body, s
        # A wrong token: still nothing.
        page.eval("document.getElementById('token').value = 'nope';"
                  "document.querySelector('#token-form button').click()")
        page.wait_for("artstoreDashboard.error.includes('UNAUTHENTICATED') &&"
                      " !document.getElementById('token-form').hidden", 10,
                      "the wrong token refused")
        time.sleep(0.5)
        assert "Secret" not in page.eval("document.body.innerText")
        # The read token: the articles, and live ones.
        page.eval("document.getElementById('token').value = %s;"
                  "document.querySelector('#token-form button').click()"
                  % json.dumps(rtok))
        wait_titles(page, ["Secret two", "Secret one"], "with a read token")
        srv.put("Secret three")
        wait_titles(page, ["Secret three"], "a put with a read token")
        kept = page.eval("sessionStorage.getItem('artstore.token')")
        assert kept == rtok, "token kept as %r" % kept
        print("ok 5 - with tokens on: nothing without a token or with a "
              "wrong one; the articles and live puts with a read token "
              "(kept in sessionStorage)")
        check_no_errors(page)
        srv.stop()
    except Exception:
        sys.stderr.write("server log (tokens):\n%s\n" % srv.log())
        raise
    finally:
        srv.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--artstored", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--screenshot")
    ap.add_argument("--chromium", default="chromium")
    a = ap.parse_args()
    browser = Browser(a.chromium)
    srv = Server(a.artstored, a.cli)
    try:
        try:
            srv.start()
            median, worst = test_main(browser, srv, a.screenshot)
            srv.stop()
        except Exception:
            sys.stderr.write("server log:\n%s\n" % srv.log())
            raise
        test_tokens(browser, a.artstored, a.cli)
    finally:
        srv.cleanup()
        browser.close()
    print("all dashboard checks passed; commit-to-screen latency median "
          "%.0f ms, max %.0f ms" % (median, worst))


if __name__ == "__main__":
    main()
