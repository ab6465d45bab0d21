#!/usr/bin/env python3
"""deploy/nginx-cache.conf with the real nginx in front of the real ltxpaged
(file replica written by ltxctl), driven with the real curl.

Checks: latest URLs pass through uncached with Range, If-Range and
If-None-Match (206 with the right bytes, 304, 200 on a stale If-Range, every
request reaches ltxpaged); a cold range on a pinned /file URL is answered 206
with the right bytes after ltxpaged was asked for one 256 KiB slice (its own
/metrics and nginx's upstream log agree), not the whole file; repeating it is
a cache HIT with no upstream request; whole pinned files, HEAD, If-None-Match
and pinned pages come from the cache; errors (409) are not cached; /changes
passes through; /admin/* and /metrics are refused by nginx (ltxpaged never
sees them); nginx is stopped at the end (no process of it left).

Only deploy/nginx-cache.conf's cache path, upstream address and listen port
are rewritten (each must occur exactly once, so the test notices a changed
file); the http {} around it adds temp paths and a test access log that also
logs the slice subrequests."""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, curl  # noqa: E402
import nginxconf  # noqa: E402  (tests/lib is on sys.path via test_server_common)

SLICE = 256 * 1024
ck = H.Checker("deploy_nginx")
tmp = tempfile.mkdtemp(prefix="ltxdeploy-nginx-")
srv = None
ngx = None


def nginx_binary():
    for cand in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.path.exists(cand):
            return cand
    return None


def make_replica(root):
    """app.db: ~2 MB (several slices) at TXID 1, some pages changed at TXID 2.
    Returns (bytes at TXID 1, bytes at TXID 2) restored by ltxctl."""
    db = os.path.join(tmp, "app.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=wal")
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)")
    # deterministic, incompressible-ish content
    con.executemany("INSERT INTO t(b) VALUES (?)",
                    [(bytes((i * 31 + j * 7) % 251 for j in range(3000)),) for i in range(600)])
    con.commit()
    ltxctl = H.binary("ltxctl")
    rep = os.path.join(root, "app.db")
    r = subprocess.run([ltxctl, "snapshot", db, rep], capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"ltxctl snapshot ({r.stderr.strip()})")
    con.execute("UPDATE t SET b = zeroblob(3000) WHERE id % 50 = 0")
    con.commit()
    con.close()
    r = subprocess.run([ltxctl, "replicate", db, rep, "--once"], capture_output=True, text=True)
    ck.eq(r.returncode, 0, f"ltxctl replicate --once ({r.stderr.strip()})")
    out = []
    for t in ("1", "2"):
        o = os.path.join(tmp, f"restored-{t}.db")
        r = subprocess.run([ltxctl, "restore", rep, o, "--txid", t, "-q"], capture_output=True, text=True)
        ck.eq(r.returncode, 0, f"ltxctl restore --txid {t} ({r.stderr.strip()})")
        with open(o, "rb") as f:
            out.append(f.read())
    return out


def start_nginx(upstream_port):
    nginx = nginx_binary()
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(prefix, "tmp"))
    v = subprocess.run([nginx, "-V"], capture_output=True, text=True)
    ck.ok("--with-http_slice_module" in v.stderr + v.stdout, "nginx -V lists --with-http_slice_module")
    with open(os.path.join(H.SRC, "deploy", "nginx-cache.conf")) as f:
        conf = f.read()
    port = H.free_port()
    for a, b in (("/var/cache/nginx/ltxhttp", os.path.join(prefix, "cache")),
                 ("server 127.0.0.1:7070;", f"server 127.0.0.1:{upstream_port};"),
                 ("listen 8080;", f"listen 127.0.0.1:{port};")):
        ck.eq(conf.count(a), 1, f"nginx-cache.conf holds {a!r} once")
        conf = conf.replace(a, b)
    ck.ok(not re.search(r"^\s*listen\s+(?!127\.0\.0\.1:)", conf, re.M), "every listen is on 127.0.0.1 after templating")
    with open(os.path.join(prefix, "ltx-cache.conf"), "w") as f:
        f.write(conf)
    log = os.path.join(prefix, "access.log")
    cpath = nginxconf.write_conf(prefix, """  log_format ltxtest 'id=$http_x_test_id uri=$uri args=$args status=$status up=$upstream_status '
                     'upcr="$upstream_http_content_range" upbytes=$upstream_bytes_received '
                     'cache=$upstream_cache_status';
""" f"""  access_log {log} ltxtest;
  log_subrequest on;
""", f"  include {prefix}/ltx-cache.conf;\n")
    t = subprocess.run([nginx, "-t", "-c", cpath, "-p", prefix + "/"], capture_output=True, text=True)
    if not ck.eq(t.returncode, 0, f"nginx -t ({t.stderr.strip()[-400:]})"):
        return None
    p = H.Proc([nginx, "-c", cpath, "-p", prefix + "/"])
    H.wait_port(port, 15, p.p)
    p.url = f"http://127.0.0.1:{port}"
    p.access_log = log
    p.prefix = prefix
    return p


_ids = [0]


def req(path, *args, base=None):
    """curl through nginx with a fresh X-Test-Id; returns (status, headers,
    body, log lines of that request and its slice subrequests)."""
    _ids[0] += 1
    rid = str(_ids[0])
    st, h, b = curl((base or ngx.url) + path, "-H", f"X-Test-Id: {rid}", *args)
    return st, h, b, log_lines(rid)


def log_lines(rid, settle=0.3):
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline:
        with open(ngx.access_log, errors="replace") as f:
            lines = [ln for ln in f if ln.startswith(f"id={rid} ")]
        if lines:
            time.sleep(settle)  # the main request is logged after its subrequests
            with open(ngx.access_log, errors="replace") as f:
                return [ln.rstrip("\n") for ln in f if ln.startswith(f"id={rid} ")]
        time.sleep(0.05)
    return lines


def upstream(lines):
    """Log lines of (sub)requests that went to ltxpaged: [(status, content-range, bytes)]."""
    out = []
    for ln in lines:
        m = re.search(r' up=(\S+) upcr="([^"]*)" upbytes=(\S+)', ln)
        if m and m.group(1) != "-":
            out.append((m.group(1), m.group(2), int(m.group(3)) if m.group(3).isdigit() else 0))
    return out


def file_counts():
    """ltxpaged's own count of answered /file requests by status (its /metrics,
    read directly, not through nginx)."""
    st, _, body = curl(srv.base + "/metrics")
    counts = {}
    for ln in body.decode(errors="replace").splitlines():
        if ln.startswith("ltxpaged_http_requests_total{") and 'route="file"' in ln:
            m = re.search(r'code="(\d+)"', ln)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + int(float(ln.split()[-1]))
    return counts


def delta(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after) if after.get(k, 0) != before.get(k, 0)}


try:
    nginx = nginx_binary()
    if not ck.ok(nginx is not None, "nginx installed (scripts/install-deps.sh installs nginx-light)"):
        raise SystemExit
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    v1, v2 = make_replica(root)
    ck.ok(len(v1) > 4 * SLICE and v1 != v2, f"test database spans several slices ({len(v1)} bytes) and changed")
    srv = Server(["--replica", "file://" + root, "--poll-interval", "250ms", "--cache-size", "16M"])
    ck.ok(srv.wait_ready(), "ltxpaged ready")
    st, h, direct = curl(srv.base + "/app.db/file")
    ck.eq((st, h.get("ltx-txid")), (200, "0000000000000002"), "ltxpaged serves TXID 2 as latest")
    ck.ok(direct == v2, "ltxpaged /file (direct) equals ltxctl restore")
    ngx = start_nginx(srv.port)
    if ngx is None:
        raise SystemExit

    # ---------------------------------------------------------------- latest
    f0 = file_counts()
    st, h, b, lines = req("/app.db/file", "-r", "1000-1999")
    ck.eq(st, 206, "latest range: 206 through nginx")
    ck.ok(b == v2[1000:2000], "latest range: the right 1000 bytes")
    ck.eq(h.get("content-range"), f"bytes 1000-1999/{len(v2)}", "latest range: Content-Range")
    ck.ok(h.get("x-cache-status", "") in ("", "BYPASS"), f"latest range: not served by the cache ({h.get('x-cache-status')})")
    up = upstream(lines)
    ck.eq([(s, cr) for s, cr, _ in up], [("206", f"bytes 1000-1999/{len(v2)}")],
          "latest range: ltxpaged got the client's Range and answered 206 itself")
    etag = h.get("etag")
    ck.ok(bool(etag), f"latest answer has an ETag ({etag})")

    st, h, b, lines = req("/app.db/file", "-r", "1000-1999")
    ck.eq((st, len(upstream(lines))), (206, 1), "latest range again: not cached, ltxpaged asked again")
    ck.eq(delta(f0, file_counts()), {"206": 2}, "ltxpaged counted two 206 /file answers for the latest ranges")

    st, h, b, lines = req("/app.db/file", "-H", f"If-None-Match: {etag}")
    ck.eq((st, len(b)), (304, 0), "latest If-None-Match: 304, no body")
    ck.eq([s for s, _, _ in upstream(lines)], ["304"], "latest If-None-Match: ltxpaged answered the 304")
    st, h, b, lines = req("/app.db/file", "-H", 'If-None-Match: "0000000000000001-fw"')
    ck.ok(st == 200 and b == v2, "latest If-None-Match with an old ETag: 200 and the whole file")

    st, h, b, lines = req("/app.db/file", "-r", "5000-5099", "-H", f"If-Range: {etag}")
    ck.ok(st == 206 and b == v2[5000:5100], f"latest If-Range (current ETag): 206 and the range ({st})")
    st, h, b, lines = req("/app.db/file", "-r", "5000-5099", "-H", 'If-Range: "0000000000000001-fw"')
    ck.ok(st == 200 and b == v2, f"latest If-Range (stale ETag): 200 and the whole file ({st}, {len(b)} bytes)")

    st, h, b, lines = req("/app.db/pages/1")
    pe = h.get("etag")
    st, h, b, lines = req("/app.db/pages/1", "-H", f"If-None-Match: {pe}")
    ck.eq(st, 304, "latest page If-None-Match: 304")

    # ---------------------------------------------------------------- pinned
    total = len(v1)
    a, z = 2 * SLICE + 1000, 2 * SLICE + 1099           # inside slice 2
    f0 = file_counts()
    st, h, b, lines = req("/app.db/file?txid=1", "-r", f"{a}-{z}")
    ck.eq(st, 206, "pinned cold range: 206")
    ck.ok(b == v1[a:z + 1], "pinned cold range: the right bytes (TXID 1)")
    ck.eq(h.get("content-range"), f"bytes {a}-{z}/{total}", "pinned cold range: Content-Range")
    ck.eq(h.get("x-cache-status"), "MISS", "pinned cold range: X-Cache-Status MISS")
    up = upstream(lines)
    want = f"bytes {2 * SLICE}-{3 * SLICE - 1}/{total}"
    ck.eq([(s, cr) for s, cr, _ in up], [("206", want)], "pinned cold range: ltxpaged was asked for exactly one slice")
    ck.ok(up and up[0][2] < SLICE + 4096, f"pinned cold range: {up[0][2] if up else '?'} bytes from upstream, not the whole file ({total})")
    ck.eq(delta(f0, file_counts()), {"206": 1}, "ltxpaged's /metrics: one 206 /file answer, no whole-file 200")

    f0 = file_counts()
    st, h, b, lines = req("/app.db/file?txid=1", "-r", f"{a}-{z}")
    ck.ok(st == 206 and b == v1[a:z + 1], "pinned range again: 206, same bytes")
    ck.eq(h.get("x-cache-status"), "HIT", "pinned range again: X-Cache-Status HIT")
    ck.eq(upstream(lines), [], "pinned range again: no upstream request")
    st, h, b, lines = req("/app.db/file?txid=1", "-r", f"{2 * SLICE}-{2 * SLICE + 99}")
    ck.ok(st == 206 and b == v1[2 * SLICE:2 * SLICE + 100] and h.get("x-cache-status") == "HIT" and not upstream(lines),
          "another range of the cached slice: HIT, right bytes, no upstream request")
    ck.eq(delta(f0, file_counts()), {}, "ltxpaged saw no /file request for the cached slice")

    # a range across slices 2|3: only slice 3 is fetched
    a, z = 3 * SLICE - 50, 3 * SLICE + 49
    st, h, b, lines = req("/app.db/file?txid=1", "-r", f"{a}-{z}")
    ck.ok(st == 206 and b == v1[a:z + 1], "range across two slices: 206 and the right bytes")
    ck.eq([cr for _, cr, _ in upstream(lines)], [f"bytes {3 * SLICE}-{4 * SLICE - 1}/{total}"],
          "range across two slices: only the missing slice fetched")

    # the whole pinned file: the remaining slices, then all from the cache
    nslices = (total + SLICE - 1) // SLICE
    f0 = file_counts()
    st, h, b, lines = req("/app.db/file?txid=1")
    ck.ok(st == 200 and b == v1, f"whole pinned file: 200 and byte-identical to the TXID 1 restore ({st}, {len(b)})")
    ck.eq(len(upstream(lines)), nslices - 2, "whole pinned file: only the slices not cached yet were fetched")
    ck.eq(delta(f0, file_counts()), {"206": nslices - 2}, "ltxpaged's /metrics: one 206 per missing slice")
    st, h, b, lines = req("/app.db/file?txid=1")
    ck.ok(st == 200 and b == v1 and not upstream(lines), "whole pinned file again: from the cache only")
    ck.eq(h.get("x-cache-status"), "HIT", "whole pinned file again: HIT")
    pin_etag = h.get("etag")

    st, h, b, lines = req("/app.db/file?txid=1", "-I")
    ck.eq((st, h.get("content-length")), (200, str(total)), "HEAD of a pinned file: 200 with the whole length")
    st, h, b, lines = req("/app.db/file?txid=1", "-H", f"If-None-Match: {pin_etag}")
    ck.ok(st == 304 and not upstream(lines), f"pinned If-None-Match: 304 from the cache ({st})")
    st, h, b, lines = req("/app.db/file?txid=1", "-r", "10-19", "-H", f"If-Range: {pin_etag}")
    ck.ok(st == 206 and b == v1[10:20], f"pinned If-Range (its ETag): 206 from the cache ({st})")

    # pinned pages: cached whole (ltxpaged answers a page with 200)
    ps = 4096
    st, h, b, lines = req("/app.db/pages/3?txid=1")
    ck.ok(st == 200 and b == v1[2 * ps:3 * ps], f"pinned page: 200 and the right page ({st}, {len(b)})")
    st, h, b, lines = req("/app.db/pages/3?txid=1")
    ck.ok(st == 200 and b == v1[2 * ps:3 * ps] and h.get("x-cache-status") == "HIT" and not upstream(lines),
          "pinned page again: HIT, no upstream request")
    st, h, b, lines = req("/app.db/pages?n=1,3&txid=2")
    ck.ok(st == 200 and b == v2[0:ps] + v2[2 * ps:3 * ps], f"pinned batch: the right pages ({st})")

    # errors are not cached
    for i in range(2):
        st, h, b, lines = req("/app.db/file?txid=ff", "-r", "0-9")
        ck.eq(st, 409, f"TXID ahead: 409 (try {i + 1})")
        ck.eq(len(upstream(lines)), 1, f"TXID ahead: asked upstream each time, not cached (try {i + 1})")

    # /changes passes through
    st, h, b, lines = req("/app.db/changes?since=1")
    ck.ok(st == 200 and b'"txid":"0000000000000002"' in b, f"/changes through nginx ({st} {b[:80]!r})")

    # ---------------------------------------------------------------- admin
    st, _, _ = curl(srv.base + "/admin/status")
    ck.eq(st, 200, "ltxpaged itself answers /admin/status (the route exists)")
    for path in ("/admin/status", "/admin/dbs", "/admin", "/metrics", "/metrics?x=1", "/%61dmin/status",
                 "//metrics", "/app.db/../admin/status", "/./metrics"):
        st, h, b, lines = req(path, "--path-as-is")
        ck.eq(st, 403, f"{path} through nginx: refused")
        ck.eq(upstream(lines), [], f"{path}: never reached ltxpaged")
    st, h, b, lines = req("/admin/status", "-X", "POST")
    ck.eq(st, 403, "POST /admin/status through nginx: refused")
    st, h, b, lines = req("/healthz")
    ck.eq(st, 200, "/healthz through nginx: 200")

    # ---------------------------------------------------------------- stop nginx
    err = ngx.prefix + "/error.log"
    with open(err, errors="replace") as f:
        alerts = [ln for ln in f if re.search(r"\[(alert|emerg|crit)\]", ln)]
    ck.eq(alerts, [], "nginx error log has no alert/crit/emerg")
    pgid = ngx.p.pid
    rc = ngx.stop()
    ck.eq(rc, 0, "nginx exits 0 on SIGTERM")
    gone = False
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            gone = True
            break
        time.sleep(0.05)
    ck.ok(gone, "no nginx process left")
    ck.ok(not os.path.exists(ngx.prefix + "/nginx.pid"), "nginx removed its pid file")
    ngx = None
    ck.eq(srv.stop(), 0, "ltxpaged exits 0")
    srv = None
except SystemExit:
    pass
finally:
    if ngx is not None:
        if ngx.poll() is None:
            ngx.stop()
        try:
            os.killpg(ngx.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        with open(ngx.prefix + "/error.log", errors="replace") as f:
            print("nginx error.log (end):", f.read()[-2000:])
    if srv is not None:
        srv.stop_showing_log()
    if os.environ.get("LTXTEST_KEEP"):
        print("kept", tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
ck.done()
