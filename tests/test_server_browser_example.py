#!/usr/bin/env python3
"""The browser example (examples/browser/, issue 13) in the real headless
Chromium: sql.js-httpvfs (fetched from npm at test time into a temporary
folder by examples/browser/vendor.sh, never committed) opens a database
served by a real ltxpaged through a pinned /{db}/file?txid=T&journal=delete
URL, T taken by the page from the status JSON, and runs a query; the
rows it writes into its DOM must equal sqlite3 on `ltxctl restore` at T.

The page is served by a tiny Python server on 127.0.0.1. When ltxpaged has
--cors-origin (the HTTP edge's CORS support), the page reads ltxpaged
cross-origin, as users would run it; without that flag (a tree before
CORS) the same Python server also proxies ltxpaged under /ltx/ so that
the page reads it same-origin, and the test says so. Either way
ltxpaged's own /metrics must show the page's range reads (206 on /file).

The page reports its DOM's result by POSTing it to the Python server
(?report=), so no DevTools protocol is needed. Skips (exit 77) only when
chromium or npm is missing or npm cannot reach its registry."""
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "examples", "browser")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NPM = shutil.which("npm")
SQL = ("select (select count(*) from users) as users, (select count(*) from posts) as posts, "
       "(select group_concat(name, ',') from (select name from tags order by id)) as tags, "
       "(select sum(length(bio)) from users) as bio_bytes, "
       "(select max(title) from posts) as last_title")


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


if not CHROMIUM:
    skip("chromium not installed (Debian package chromium; scripts/install-deps.sh installs it)")
if not NPM:
    skip("npm not installed (Debian package npm; scripts/install-deps.sh installs it)")
r = subprocess.run([NPM, "view", "sql.js-httpvfs@0.8.12", "version"], capture_output=True, text=True, timeout=120)
if r.returncode != 0 or "0.8.12" not in r.stdout:
    skip(f"npm cannot reach its registry: {(r.stderr or r.stdout).strip()[-300:]}")

ck = H.Checker("test_server_browser_example")
tmp = tempfile.mkdtemp(prefix="ltxpaged-browser-")
srv = web = chrome = None


class Web(http.server.ThreadingHTTPServer):
    """The page's files, /result (the page's report), and in proxy mode
    /ltx/... forwarded to ltxpaged."""

    daemon_threads = True

    def __init__(self, root, upstream_port):
        self.root, self.upstream_port = root, upstream_port
        self.report, self.got_report = None, threading.Event()
        self.proxied = []  # (method, path, range, status)
        super().__init__(("127.0.0.1", 0), WebHandler)


class WebHandler(http.server.BaseHTTPRequestHandler):
    TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/ltx/") and self.server.upstream_port:
            return self.proxy(self.path[4:])
        rel = path.lstrip("/") or "index.html"
        full = os.path.realpath(os.path.join(self.server.root, rel))
        if not full.startswith(os.path.realpath(self.server.root) + os.sep) or not os.path.isfile(full):
            self.send_error(404)
            return
        with open(full, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", self.TYPES.get(os.path.splitext(full)[1], "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def proxy(self, target):
        c = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("range", "if-range", "if-none-match")}
        c.request(self.command, target, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        self.server.proxied.append((self.command, target, self.headers.get("Range"), r.status))
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        c.close()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        self.send_response(204)
        self.end_headers()
        if self.path.startswith("/result"):
            self.server.report = body.decode("utf-8", "replace")
            self.server.got_report.set()


def file_206(base):
    st, _, body = curl(base + "/metrics")
    m = re.search(r'^ltxpaged_http_requests_total\{route="file",code="206"\} (\d+)$', body.decode(), re.M)
    return int(m.group(1)) if m else 0


try:
    # the page and its vendored library (npm, into a temporary folder)
    site = os.path.join(tmp, "site")
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("vendor", "node_modules"))
    r = subprocess.run(["sh", os.path.join(EXAMPLE, "vendor.sh"), os.path.join(site, "vendor")],
                       capture_output=True, text=True, timeout=300)
    if not ck.eq(r.returncode, 0, f"vendor.sh fetched sql.js-httpvfs ({(r.stderr or r.stdout)[-400:]})"):
        raise SystemExit(ck.done())
    for f in ("index.js", "sqlite.worker.js", "sql-wasm.wasm"):
        ck.ok(os.path.getsize(os.path.join(site, "vendor", f)) > 1000, f"vendor/{f}")

    c = chain("main-4096")
    root = os.path.join(tmp, "root")
    H.copy_replica(c["root"], os.path.join(root, "app.db"))
    helptext = subprocess.run([H.binary("ltxpaged"), "--help"], capture_output=True, text=True).stdout
    cors = "--cors-origin" in helptext

    # the web server first: its port is the origin ltxpaged must allow
    web = Web(site, None)
    wport = web.server_address[1]
    threading.Thread(target=web.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{wport}"
    srv = Server(["--replica", "file://" + root] + (["--cors-origin", origin] if cors else []))
    ck.ok(srv.wait_ready(), "ltxpaged ready")
    if cors:
        server_param = srv.base
        print(f"mode: cross-origin (page on {origin}, ltxpaged on {srv.base} with --cors-origin)")
    else:
        web.upstream_port = srv.port
        server_param = origin + "/ltx"
        print("mode: same-origin through the test's proxy: this ltxpaged has no --cors-origin yet "
              "(the cross-origin run turns on by itself once the HTTP edge's CORS is merged)")
    st, status = jget(srv.base + "/app.db")
    T = status["txid"]
    before = file_206(srv.base)

    q = urllib.parse.urlencode({"server": server_param, "db": "app.db", "sql": SQL, "report": "/result"})
    url = f"{origin}/index.html?{q}"
    prof = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    clog = open(os.path.join(tmp, "chromium.log"), "wb")
    chrome = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", "--enable-logging=stderr", f"--user-data-dir={prof}", url],
                              stdout=clog, stderr=subprocess.STDOUT, start_new_session=True)
    got = web.got_report.wait(90)
    if not ck.ok(got, "the page reported its result within 90 s"):
        print(open(os.path.join(tmp, "chromium.log"), errors="replace").read()[-4000:])
    rep = json.loads(web.report or "{}")
    ck.eq(rep.get("state"), "done", f"the page ran the query ({rep.get('result', '')[:300]})")
    ck.eq(rep.get("txid"), T, "the page pinned the TXID of the status JSON")
    ck.ok((rep.get("url") or "").endswith(f"/app.db/file?txid={T}&journal=delete"), f"pinned URL {rep.get('url')}")

    # what sqlite3 says on a restore at T
    out_db = os.path.join(tmp, "restored.db")
    r = subprocess.run([H.binary("ltxctl"), "restore", os.path.join(root, "app.db"), out_db, "--txid", T, "-q"],
                       capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"ltxctl restore at {T} ({r.stderr[-300:]})")
    r = subprocess.run(["sqlite3", "-json", out_db, SQL], capture_output=True, text=True)
    want = json.loads(r.stdout or "[]")
    got_rows = json.loads(rep["result"]) if rep.get("state") == "done" else None
    ck.eq(got_rows, want, "rows in the page's DOM == sqlite3 on ltxctl restore at T")
    ck.ok(want and want[0].get("users", 0) > 0, f"the query found rows ({want})")
    ck.ok(file_206(srv.base) - before >= 1, "ltxpaged answered the page's range reads (206 on /file)")
    if not cors:
        heads = [p for p in web.proxied if p[0] == "HEAD" and "/app.db/file?txid=" in p[1]]
        ranges = [p for p in web.proxied if p[0] == "GET" and p[2] and p[3] == 206 and "journal=delete" in p[1]]
        ck.ok(heads and ranges, f"one HEAD, then ranges, of the pinned URL ({web.proxied[:6]})")
    ck.eq(srv.stop(), 0, "ltxpaged clean exit")
    srv = None
finally:
    if chrome and chrome.poll() is None:
        os.killpg(chrome.pid, signal.SIGTERM)
        try:
            chrome.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(chrome.pid, signal.SIGKILL)
            chrome.wait()
    if web:
        web.shutdown()
        web.server_close()
    if srv:
        srv.stop_showing_log()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
