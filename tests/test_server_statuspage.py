#!/usr/bin/env python3
"""ltxpaged's status page for people at / (issue 13), rendered by the real
headless Chromium (Debian package chromium) with --dump-dom:

- four databases under one --replica root: two ok (one named with HTML
  metacharacters: database names are hostile input), one stalled (an L0
  gap nothing bridges), one waiting (no LTX files yet); the rendered DOM
  lists each with its state and TXID, the stalled one with its reason,
  and the hostile name only as text (no element made of it);
- the page shows the cache hit rate and the object store with its
  request rates, and has no script;
- non-browsers keep the JSON answer of / (curl, Accept: application/json),
  with Vary: Accept; Accept: text/html gets HTML with a CSP.
Skips (exit 77) only when chromium is not installed."""
import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    print("SKIP: chromium not installed (Debian package chromium; scripts/install-deps.sh installs it)")
    sys.exit(77)

ck = H.Checker("test_server_statuspage")
tmp = tempfile.mkdtemp(prefix="ltxpaged-page-")
HOSTILE = "<img src=x onerror=alert(1)>&amp;\"'.db"
srv = None


def dump_dom(url):
    """The DOM Chromium renders for url (its own profile, no network but url)."""
    prof = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={prof}", "--dump-dom", url]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    return p.returncode, out.decode("utf-8", "replace")


class Dom(html.parser.HTMLParser):
    """Rows of #databases (cells by class, text), elements seen, ids' text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.tags, self.ids = [], [], {}
        self.row = None
        self.cell = None
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "tr" and "db" in (a.get("class") or "").split():
            self.row = {"data-name": a.get("data-name"), "data-state": a.get("data-state"), "cells": {}}
            self.rows.append(self.row)
        if tag == "td" and self.row is not None:
            self.cell = (a.get("class") or "").split()
            for c in self.cell:
                self.row["cells"].setdefault(c, "")
        if a.get("id"):
            self.ids.setdefault(a["id"], "")
        self.stack.append((tag, a.get("id")))

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        if tag == "tr":
            self.row = None
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        if self.row is not None and self.cell:
            for c in self.cell:
                self.row["cells"][c] += data
        for _, i in self.stack:
            if i:
                self.ids[i] += data


try:
    c = chain("main-4096")
    root = os.path.join(tmp, "root")
    H.copy_replica(c["root"], os.path.join(root, "app.db"))
    H.copy_replica(c["root"], os.path.join(root, HOSTILE))
    gap = H.copy_replica(c["root"], os.path.join(root, "gap.db"))
    for lvl in ("1", "2", "9"):
        shutil.rmtree(os.path.join(gap, "ltx", lvl))
    os.remove(os.path.join(gap, "ltx", "0", "0000000000000005-0000000000000005.ltx"))
    os.makedirs(os.path.join(root, "empty.db", "ltx", "0"))
    srv = Server(["--replica", "file://" + root, "--poll-interval", "250ms"])
    want = {"app.db": "ok", HOSTILE: "ok", "gap.db": "stalled", "empty.db": "waiting"}

    def states():
        st, j = jget(srv.base + "/admin/status")
        return {d["name"]: d["state"] for d in (j or {}).get("databases", [])}

    got = srv.wait_for(lambda: states() == want and states(), timeout=20)
    ck.eq(got, want, "databases reached their states (JSON)")
    for i in range(5):
        curl(f"{srv.base}/app.db/pages/{1 + i % 2}")  # a miss, then hits

    # --- non-browsers: the JSON answer of /, as before
    st, h, body = curl(srv.base + "/")
    ck.eq(st, 200, "GET / (curl)")
    ck.ok(h.get("content-type", "").startswith("application/json"), "curl gets JSON")
    ck.eq(h.get("vary"), "Accept", "Vary: Accept")
    j = json.loads(body)
    ck.eq(sorted(j.get("databases", [])), sorted(want), "JSON index lists the databases")
    ck.ok(str(j.get("server", "")).startswith("ltxpaged "), "JSON index names the server")
    st, h, _ = curl(srv.base + "/", "-H", "Accept: application/json")
    ck.ok(h.get("content-type", "").startswith("application/json"), "Accept: application/json gets JSON")
    st, h, body = curl(srv.base + "/", "-H", "Accept: text/html")
    ck.ok(h.get("content-type", "").startswith("text/html"), "Accept: text/html gets HTML")
    ck.ok("default-src 'none'" in h.get("content-security-policy", ""), "the page has a CSP without scripts")
    ck.ok(b"<script" not in body.lower(), "no script in the page")
    ck.ok(HOSTILE.encode() not in body, "the hostile name never appears raw in the HTML")

    # --- what Chromium renders
    rc, dom = dump_dom(srv.base + "/")
    ck.eq(rc, 0, "chromium --dump-dom exit status")
    d = Dom()
    d.feed(dom)
    rows = {r["cells"].get("name"): r for r in d.rows}
    ck.eq(sorted(rows), sorted(want), "the rendered page lists every database (names as text)")
    for name, state in want.items():
        r = rows.get(name) or {"cells": {}}
        ck.eq(r["cells"].get("state"), state, f"{name[:20]}: state shown")
        ck.eq(r.get("data-name"), name, f"{name[:20]}: data-name attribute round-trips")
    for name in ("app.db", HOSTILE):
        ck.eq((rows.get(name) or {"cells": {}})["cells"].get("txid"), "0000000000000009", f"{name[:20]} TXID")
    ck.eq((rows.get("gap.db") or {"cells": {}})["cells"].get("txid"), "0000000000000004", "gap.db held at TXID 4")
    gap_problem = (rows.get("gap.db") or {"cells": {}})["cells"].get("problem", "")
    ck.ok("0000000000000005" in gap_problem, f"gap.db's problem names the missing TXID: {gap_problem!r}")
    ck.eq((rows.get("empty.db") or {"cells": {}})["cells"].get("txid"), "—", "empty.db has no TXID")
    ck.ok("s" in (rows.get("app.db") or {"cells": {}})["cells"].get("lag", ""), "lag shown")
    ck.ok("img" not in d.tags and "script" not in d.tags, f"no element made from a name (tags: {set(d.tags)})")
    ck.ok(d.ids.get("hit-rate", "").strip().endswith("%"), f"cache hit rate shown: {d.ids.get('hit-rate')!r}")
    stores = d.ids.get("stores", "")
    ck.ok(root in stores and "GET/s" in stores, "object store listed with its request rates")
    ck.ok("4 ok" not in d.ids.get("summary", "") and "2 ok" in d.ids.get("summary", ""),
          f"summary counts by state: {d.ids.get('summary')!r}")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
