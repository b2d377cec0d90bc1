/*
 * app.js - the artstore dashboard. No framework: the page is one list, one
 * chart and a few inputs.
 *
 * Data flow (the same as the C library's watch):
 *   1. GET /config: where the server's ws:// endpoints are, whether it
 *      wants a token.
 *   2. Over the request endpoint (nanomsg REQ/REP on ws://, the
 *      subprotocol rep.sp.nanomsg.org): the newest stories from
 *      ListStories, after a Ping that gives the seq to follow from; or,
 *      from a server without stories, the newest articles from a Query,
 *      with the seq of the snapshot that answered.
 *   3. The change feed (nanomsg PUB on ws://, subprotocol
 *      pub.sp.nanomsg.org) is the doorbell: every frame starts with a type
 *      byte and a big-endian seq (an event's, or a heartbeat's last seq).
 *      When it is ahead of the page, the page asks Changes for what came
 *      after its last seq, with its filter and its token. The server
 *      applies the filter, so tags are matched exactly as it normalizes
 *      them, and a feed that carries only positions (tokens on) works the
 *      same way.
 *   4. After a disconnect the page reconnects and asks Changes from its
 *      last seq again: nothing is missed and nothing is shown twice.
 *
 * Protobuf comes from protobufjs (its minimal runtime) and the code pbjs
 * generates from proto/artstore.proto at build time.
 */
"use strict";
(function () {
  const v1 = protobuf.roots["default"].artstore.v1;
  const PREFIX = "/artstore.v1.ArticleStore/";
  const SHOWN = 50;              /* items fetched on open */
  const KEEP = 300;              /* items kept on the page */
  const CHANGES_LIMIT = 500;     /* events per Changes call */
  const CALL_MS = 10000;         /* timeout of one call */
  const QUIET_MS = 3500;         /* no feed frame for this long: reconnect */
  const NEW_MS = 60000;          /* how long an item stays marked new */
  const APPLIED_KEEP = 10000;    /* seqs kept in artstoreDashboard.applied */
  const REFRESH_MAX = 50;        /* stories refreshed per batch of changes */
  const RETRY_MIN_MS = 500, RETRY_MAX_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    state: $("state"), seq: $("seq"), items: $("items"), what: $("what"),
    tokenForm: $("token-form"), token: $("token"),
    tokenError: $("token-error"), filterForm: $("filter"),
    fAll: $("f-all"), fAny: $("f-any"), fNone: $("f-none"),
    filterError: $("filter-error"), chart: $("chart"), version: $("version"),
  };

  /* What tests and curious users can read from the console. */
  const dash = window.artstoreDashboard = {
    state: "disconnected",
    lastSeq: null,       /* every change up to this seq has been applied */
    applied: [],         /* seqs of the events applied, in order */
    reloads: 0,
    error: "",
  };

  class RpcError extends Error {
    constructor(code, message) {
      super(code + ": " + message);
      this.code = code;
    }
  }

  /* ---------------------------------------------------------- requests */

  /* A REQ peer of the server's REP socket over a WebSocket. Each request
   * is sent as nanomsg's REQ socket would: a 4-byte request id with its
   * top bit set, then the packed Request envelope; the reply comes back
   * behind the same id. Several calls may be in flight at once. */
  class Rpc {
    constructor(url) {
      this.url = url;
      this.ws = null;
      this.opening = null;
      this.nextId = 1;
      this.pending = new Map();
    }

    open() {
      if (this.ws !== null && this.ws.readyState === WebSocket.OPEN)
        return Promise.resolve();
      if (this.opening !== null)
        return this.opening;
      this.opening = new Promise((resolve, reject) => {
        const ws = new WebSocket(this.url, "rep.sp.nanomsg.org");
        ws.binaryType = "arraybuffer";
        ws.onopen = () => {
          this.ws = ws;
          this.opening = null;
          resolve();
        };
        ws.onclose = () => {
          if (this.ws === ws)
            this.ws = null;
          if (this.opening !== null) {
            this.opening = null;
            reject(new RpcError("UNAVAILABLE", "cannot reach " + this.url));
          }
          this.failAll("connection to " + this.url + " closed");
        };
        ws.onmessage = (e) => this.receive(new Uint8Array(e.data));
      });
      return this.opening;
    }

    failAll(why) {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new RpcError("UNAVAILABLE", why));
      }
      this.pending.clear();
    }

    receive(b) {
      if (b.length < 4)
        return;
      const id = (((b[0] & 0x7f) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
      const p = this.pending.get(id);
      if (p === undefined)
        return;      /* timed out already */
      this.pending.delete(id);
      clearTimeout(p.timer);
      try {
        const reply = v1.Reply.decode(b.subarray(4));
        const code = reply.status ? reply.status.code : 0;
        if (code !== 0) {
          p.reject(new RpcError(v1.Code[code] || String(code),
                                reply.status.message || ""));
          return;
        }
        p.resolve(p.type.decode(reply.payload || new Uint8Array(0)));
      } catch (e) {
        p.reject(new RpcError("INTERNAL", "undecodable reply: " + e.message));
      }
    }

    /* Calls method with req (an object of reqType's fields); resolves to
     * the decoded respType, or rejects with an RpcError. */
    async call(method, reqType, respType, req) {
      await this.open();
      const id = this.nextId;
      this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
      const env = {
        method: PREFIX + method,
        call_id: id,
        timeout_ms: CALL_MS,
        payload: reqType.encode(req).finish(),
      };
      if (token !== "")
        env.auth_token = token;
      const body = v1.Request.encode(env).finish();
      const msg = new Uint8Array(4 + body.length);
      msg[0] = 0x80 | ((id >>> 24) & 0x7f);
      msg[1] = (id >>> 16) & 0xff;
      msg[2] = (id >>> 8) & 0xff;
      msg[3] = id & 0xff;
      msg.set(body, 4);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RpcError("DEADLINE_EXCEEDED", method + " timed out"));
        }, CALL_MS + 1000);
        this.pending.set(id, { resolve, reject, type: respType, timer });
        this.ws.send(msg);
      });
    }
  }

  /* ---------------------------------------------------------- state */

  let cfg = null, rpc = null;
  /* Stories when the protocol has them; a server that answers
   * UNIMPLEMENTED switches the page to articles. */
  let mode = v1.ListStoriesRequest && v1.GetStoryRequest ? "stories"
                                                         : "articles";
  dash.mode = mode;
  let token = sessionStorage.getItem("artstore.token") || "";
  let filter = { all_of: [], any_of: [], none_of: [] };
  let feed = null, feedTimer = null, quietTimer = null;
  let retryMs = RETRY_MIN_MS;
  let pulling = false, pullAgain = false, pullTimer = null;
  /* When the last feed frame and the last Changes answer arrived: kept on
   * each new item (data-frame-ms, data-reply-ms) with its commit time and
   * the time it was shown, so the stages of the latency can be read. */
  let lastFrameMs = 0, lastReplyMs = 0;
  let generation = 0;    /* bumped by reload: older Query answers are dropped */
  const rows = new Map();  /* article id -> li */

  function setState(s) {
    dash.state = s;
    ui.state.dataset.state = s;
    ui.state.textContent = s.replace("-", " ");
  }

  function setSeq(seq) {
    dash.lastSeq = seq;
    ui.seq.textContent = "seq " + seq;
  }

  /* The address the page uses for an endpoint from /config: a wildcard
   * host (the server bound every interface) is the host the page came
   * from. */
  function wsUrl(ep) {
    const u = new URL(ep.replace(/^ws:/, "http:"));
    if (["0.0.0.0", "[::]", "*", ""].includes(u.hostname))
      u.hostname = location.hostname;
    return "ws://" + u.host + "/";
  }

  /* ---------------------------------------------------------- rendering */

  function fmtTime(sec) {
    if (!sec)
      return "";
    const d = new Date(sec * 1000);
    return d.toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, " UTC");
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls)
      e.className = cls;
    if (text !== undefined)
      e.textContent = text;
    return e;
  }

  /* The tags and source of an article or change event as written
   * (tag_forms, source_form), not as the folded keys filters match. */
  function shownTags(a) {
    const f = a.tag_forms || [];
    return f.length && f.length === (a.tags || []).length ? f : a.tags;
  }
  function shownSource(a) {
    return a.source_form || a.source;
  }

  /* Fills li with an article: title (a link when it has a URL), source,
   * tags and time. */
  function fill(li, a) {
    li.textContent = "";
    if (li.classList.contains("new"))
      li.append(el("span", "badge", li.dataset.updated ? "updated" : "new"));
    const title = el(a.url ? "a" : "span", "title", a.title || "(untitled)");
    if (a.url && /^https?:\/\//i.test(a.url)) {
      title.href = a.url;
      title.rel = "noopener noreferrer";
      title.target = "_blank";
    }
    li.append(title);
    const meta = el("div", "meta");
    if (a.source)
      meta.append(el("span", "source", shownSource(a)), " \u00b7 ");
    const when = a.published_at ? fmtTime(a.published_at)
                                : fmtTime(a.ingested_at);
    if (when)
      meta.append(el("time", "", when), " ");
    for (const t of shownTags(a) || [])
      meta.append(el("span", "tag", t));
    li.append(meta);
  }

  /* Fills li with a story: its title, outlets (distinct sources), its
   * articles, tags and the time it was last seen. */
  function fillStory(li, st) {
    li.textContent = "";
    if (li.classList.contains("new"))
      li.append(el("span", "badge", li.dataset.updated ? "updated" : "new"));
    li.append(el("span", "title", st.title || "(untitled)"));
    const meta = el("div", "meta");
    const n = (st.sources || []).length || 1;
    const outlets = el("span", "outlets", n + (n === 1 ? " outlet" : " outlets"));
    li.dataset.outlets = String(n);
    meta.append(outlets, " \u00b7 ");
    const arts = Number(st.articles || 1);
    meta.append(el("span", "articles", arts + (arts === 1 ? " article" : " articles")));
    if ((st.sources || []).length)
      meta.append(" \u00b7 ", el("span", "source", st.sources.slice(0, 6).join(", ")));
    const when = fmtTime(st.last_seen);
    if (when)
      meta.append(" \u00b7 ", el("time", "", when), " ");
    for (const t of (st.tags || []).slice(0, 8))
      meta.append(el("span", "tag", t));
    li.append(meta);
  }

  function trim() {
    while (ui.items.children.length > KEEP) {
      const last = ui.items.lastElementChild;
      rows.delete(Number(last.dataset.id));
      last.remove();
    }
  }

  /* Marks li as on screen: the time of the frame that shows it. */
  function stampShown(li) {
    li.dataset.frameMs = String(lastFrameMs);
    li.dataset.replyMs = String(lastReplyMs);
    requestAnimationFrame(() => { li.dataset.shownMs = String(Date.now()); });
    setTimeout(() => li.classList.add("seen"), NEW_MS);
  }

  /* Applies one change event from Changes. */
  function noteApplied(seq) {
    dash.applied.push(seq);
    if (dash.applied.length > 2 * APPLIED_KEEP)
      dash.applied.splice(0, APPLIED_KEEP);
  }

  function apply(ev) {
    noteApplied(ev.seq);
    const id = ev.id;
    const old = rows.get(id);
    if (ev.type === v1.ChangeType.CHANGE_DELETE) {
      if (old !== undefined) {
        old.remove();
        rows.delete(id);
      }
      return;
    }
    const a = {
      id, title: ev.title, source: shownSource(ev), tags: shownTags(ev),
      published_at: ev.published_at, url: ev.url,
      ingested_at: Math.floor(ev.commit_time_ms / 1000),
    };
    const li = old !== undefined ? old : el("li", "item");
    li.dataset.id = String(id);
    li.dataset.seq = String(ev.seq);
    li.dataset.commitMs = String(ev.commit_time_ms);
    li.classList.add("new");
    li.classList.remove("seen");
    if (old !== undefined)
      li.dataset.updated = "1";
    fill(li, a);
    ui.items.prepend(li);   /* moves an updated item to the top */
    rows.set(id, li);
    stampShown(li);
  }

  /* Applies a batch of change events to the list of stories. A create
   * that starts a story adds it at the top; any other change to a story
   * refreshes it from GetStory (its outlet count changes in place), and a
   * story not on the list comes to the top, marked updated. */
  async function applyStories(events) {
    const touched = new Map();   /* story id -> commit_time_ms */
    for (const ev of events) {
      noteApplied(ev.seq);
      const sid = ev.story_id;
      if (!sid)
        continue;
      if (ev.type === v1.ChangeType.CHANGE_CREATE && ev.new_story &&
          !rows.has(sid)) {
        const li = el("li", "item new");
        li.dataset.id = String(sid);
        li.dataset.seq = String(ev.seq);
        li.dataset.commitMs = String(ev.commit_time_ms);
        fillStory(li, {
          title: ev.title, sources: ev.source ? [shownSource(ev)] : [],
          articles: 1, tags: shownTags(ev),
          last_seen: ev.published_at || Math.floor(ev.commit_time_ms / 1000),
        });
        ui.items.prepend(li);
        rows.set(sid, li);
        stampShown(li);
        continue;
      }
      /* Stories on the page first; under a flood of changes, stories
       * that are not shown wait for their next change. */
      if (rows.has(sid) || touched.size < REFRESH_MAX)
        touched.set(sid, ev);
    }
    for (const [sid, ev] of touched) {
      let st;
      try {
        st = (await rpc.call("GetStory", v1.GetStoryRequest,
                             v1.GetStoryResponse,
                             { id: sid, omit_body: true, limit: 1 })).story;
      } catch (e) {
        if (e.code !== "NOT_FOUND")
          throw e;
        st = null;
      }
      const old = rows.get(sid);
      if (st === null || st === undefined) {
        if (old !== undefined) {
          old.remove();
          rows.delete(sid);
        }
        continue;
      }
      if (old !== undefined) {
        const wasNew = old.classList.contains("new");
        fillStory(old, st);
        if (!wasNew) {
          old.classList.add("grew");
          setTimeout(() => old.classList.remove("grew"), 3000);
        }
        continue;
      }
      const li = el("li", "item new");
      li.dataset.id = String(sid);
      li.dataset.seq = String(ev.seq);
      li.dataset.commitMs = String(ev.commit_time_ms);
      li.dataset.updated = "1";
      fillStory(li, st);
      ui.items.prepend(li);
      rows.set(sid, li);
      stampShown(li);
    }
  }

  /* ---------------------------------------------------------- calls */

  function handleError(e) {
    dash.error = e.message;
    if (e.code === "UNAUTHENTICATED" || e.code === "PERMISSION_DENIED") {
      token = "";
      sessionStorage.removeItem("artstore.token");
      askToken(e.message);
      return true;
    }
    if (e.code === "INVALID_ARGUMENT") {
      ui.filterError.textContent = e.message;
      return true;
    }
    return false;
  }

  /* Shows the newest articles that match the filter, from a Query, and
   * follows the changes after its snapshot. */
  async function reload() {
    const gen = ++generation;
    dash.reloads++;
    dash.lastSeq = null;    /* no pull until the new snapshot is shown */
    setState("catching-up");
    let resp, seq0 = 0;
    try {
      if (mode === "stories") {
        /* ListStories has no snapshot seq: follow from a seq read just
         * before it. Changes in between may come again; they are applied
         * idempotently (a story is refreshed, never added twice). */
        seq0 = (await rpc.call("Ping", v1.PingRequest, v1.PingResponse,
                               {})).last_seq;
        resp = await rpc.call("ListStories", v1.ListStoriesRequest,
                              v1.ListStoriesResponse,
                              { filter: filter, limit: SHOWN });
      } else {
        resp = await rpc.call("Query", v1.QueryRequest, v1.QueryResponse, {
          filter: filter, limit: SHOWN, omit_body: true,
        });
      }
    } catch (e) {
      if (gen !== generation)
        return;
      if (e.code === "UNIMPLEMENTED" && mode === "stories") {
        mode = dash.mode = "articles";
        readFilter();
        reload();
        return;
      }
      if (!handleError(e)) {
        setState("disconnected");
        setTimeout(() => { if (gen === generation) reload(); }, retryMs);
      }
      return;
    }
    if (gen !== generation)
      return;
    ui.filterError.textContent = "";
    ui.items.textContent = "";
    rows.clear();
    dash.applied = [];
    if (mode === "stories") {
      for (const st of resp.stories) {
        const li = el("li", "item");
        li.dataset.id = String(st.id);
        fillStory(li, st);
        ui.items.append(li);
        rows.set(st.id, li);
      }
      setSeq(seq0);
    } else {
      for (const a of resp.articles) {
        const li = el("li", "item");
        li.dataset.id = String(a.id);
        li.dataset.seq = String(a.revision);
        fill(li, a);
        ui.items.append(li);
        rows.set(a.id, li);
      }
      setSeq(resp.seq);
    }
    connectFeed();
    pull();
  }

  /* Asks Changes for everything after lastSeq, as often as needed to reach
   * the newest commit. One call at a time; a doorbell while one is out
   * makes another after it. An answer to a position the page has left (a
   * reload started meanwhile) is dropped. */
  async function pull() {
    if (pulling) {
      pullAgain = true;
      return;
    }
    pulling = true;
    clearTimeout(pullTimer);
    try {
      do {
        pullAgain = false;
        const since = dash.lastSeq;
        if (since === null)
          break;            /* a reload is under way; it pulls after */
        const resp = await rpc.call("Changes", v1.ChangesRequest,
                                    v1.ChangesResponse, {
          since: since, filter: filter, limit: CHANGES_LIMIT,
        });
        if (dash.lastSeq !== since) {
          pullAgain = true;
          continue;
        }
        lastReplyMs = Date.now();
        if (mode === "stories") {
          await applyStories(resp.events);
          if (dash.lastSeq !== since) {
            pullAgain = true;
            continue;
          }
        } else {
          for (const ev of resp.events)
            apply(ev);
        }
        trim();
        if (resp.events.length > 0)
          chartSoon();
        setSeq(resp.next_since);
        if (resp.next_since < resp.last_seq) {
          setState("catching-up");
          pullAgain = true;
        } else {
          setState(feedOpen() ? "live" : "disconnected");
        }
      } while (pullAgain);
      retryMs = RETRY_MIN_MS;
    } catch (e) {
      if (e.code === "OUT_OF_RANGE") {
        /* The changelog no longer holds lastSeq: start over. */
        setTimeout(reload, 0);
      } else if (!handleError(e)) {
        setState("disconnected");
        pullTimer = setTimeout(pull, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    } finally {
      pulling = false;
    }
  }

  /* ---------------------------------------------------------- feed */

  function feedOpen() {
    return feed !== null && feed.readyState === WebSocket.OPEN;
  }

  function connectFeed() {
    if (feed !== null)
      return;
    clearTimeout(feedTimer);
    const ws = new WebSocket(wsUrl(cfg.feed), "pub.sp.nanomsg.org");
    ws.binaryType = "arraybuffer";
    feed = ws;
    const quiet = () => {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => ws.close(), QUIET_MS);
    };
    ws.onopen = () => {
      quiet();
      setState("catching-up");
      pull();
    };
    ws.onmessage = (e) => {
      quiet();
      lastFrameMs = Date.now();
      const b = new Uint8Array(e.data);
      if (b.length < 9)
        return;
      /* 'E' seq ... or 'H' last_seq ...: either way a position. */
      let seq = 0;
      for (let i = 1; i < 9; i++)
        seq = seq * 256 + b[i];
      if (dash.lastSeq !== null && seq > dash.lastSeq)
        pull();
      else if (dash.state !== "live" && !pulling && ui.tokenForm.hidden &&
               dash.lastSeq !== null)
        setState("live");
    };
    ws.onclose = () => {
      clearTimeout(quietTimer);
      if (feed !== ws)
        return;
      feed = null;
      setState("disconnected");
      if (rpc.ws !== null)
        rpc.ws.close();   /* the server is likely gone: reconnect both */
      feedTimer = setTimeout(connectFeed, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  }

  /* ---------------------------------------------------------- chart */

  let chartTimer = null, chartAt = 0;

  /* Redraws the chart after new changes, at most every 2 s. */
  function chartSoon() {
    if (chartTimer !== null)
      return;
    const wait = Math.max(0, chartAt + 2000 - Date.now());
    chartTimer = setTimeout(() => {
      chartTimer = null;
      drawChart();
    }, wait);
  }

  async function drawChart() {
    chartAt = Date.now();
    let data;
    try {
      const r = await fetch("/ingest", { cache: "no-store" });
      if (!r.ok)
        return;
      data = await r.json();
    } catch (e) {
      return;
    }
    const c = ui.chart, g = c.getContext("2d");
    const w = c.width, h = c.height, pad = 18;
    const n = data.counts.length, max = Math.max(1, ...data.counts);
    g.clearRect(0, 0, w, h);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#666";
    g.fillText(String(max), 2, 11);
    g.fillText("-60 min", 2, h - 3);
    g.fillText("now", w - 24, h - 3);
    const bw = (w - 40) / n;
    g.fillStyle = "#3b6fb6";
    data.counts.forEach((v, i) => {
      const bh = (h - 2 * pad) * v / max;
      g.fillRect(36 + i * bw, h - pad - bh, Math.max(1, bw - 2), bh);
    });
    c.title = data.counts[n - 1] + " this minute, " +
              data.counts.reduce((s, v) => s + v, 0) + " in the hour";
    c.dataset.total = String(data.counts.reduce((s, v) => s + v, 0));
  }

  /* ---------------------------------------------------------- inputs */

  function askToken(why) {
    setState("disconnected");
    ui.items.textContent = "";
    rows.clear();
    ui.tokenError.textContent = why;
    ui.tokenForm.hidden = false;
    ui.token.focus();
  }

  ui.tokenForm.addEventListener("submit", (e) => {
    e.preventDefault();
    token = ui.token.value.trim();
    ui.token.value = "";
    if (token === "")
      return;
    sessionStorage.setItem("artstore.token", token);
    ui.tokenForm.hidden = true;
    reload();
  });

  function tags(s) {
    return s.split(",").map((t) => t.trim()).filter((t) => t !== "");
  }

  function readFilter() {
    filter = { all_of: tags(ui.fAll.value), any_of: tags(ui.fAny.value),
               none_of: tags(ui.fNone.value) };
    const parts = [];
    if (filter.all_of.length) parts.push("all of " + filter.all_of.join(", "));
    if (filter.any_of.length) parts.push("any of " + filter.any_of.join(", "));
    if (filter.none_of.length) parts.push("none of " + filter.none_of.join(", "));
    ui.what.textContent = "newest " + mode +
                          (parts.length ? ": " + parts.join("; ") : "");
  }

  ui.filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    readFilter();
    const q = new URLSearchParams();
    if (ui.fAll.value) q.set("all", ui.fAll.value);
    if (ui.fAny.value) q.set("any", ui.fAny.value);
    if (ui.fNone.value) q.set("none", ui.fNone.value);
    history.replaceState(null, "", q.toString() ? "#" + q : location.pathname);
    if (ui.tokenForm.hidden)
      reload();
  });

  /* ---------------------------------------------------------- start */

  async function start() {
    const q = new URLSearchParams(location.hash.slice(1));
    ui.fAll.value = q.get("all") || "";
    ui.fAny.value = q.get("any") || "";
    ui.fNone.value = q.get("none") || "";
    readFilter();
    try {
      const r = await fetch("/config", { cache: "no-store" });
      cfg = await r.json();
    } catch (e) {
      dash.error = "cannot read /config: " + e.message;
      setTimeout(start, RETRY_MAX_MS);
      return;
    }
    ui.version.textContent = "artstored " + cfg.version;
    rpc = new Rpc(wsUrl(cfg.rpc));
    drawChart();
    setInterval(drawChart, 10000);
    if (cfg.auth && token === "") {
      askToken("");
      return;
    }
    reload();
  }

  start();
})();
