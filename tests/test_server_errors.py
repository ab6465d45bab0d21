#!/usr/bin/env python3
"""ltxpaged: bearer tokens (read/admin, 401 + WWW-Authenticate, open
health checks), every bad input gets its status and a JSON error with the
right code while the server stays up, admin JSON and Prometheus metrics
report per-database TXID/lag/state, cache and object-store counters,
concurrent misses of one page make one object-store read, keep-alive
works, configuration from LTXPAGED_* env, --help and usage errors."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget  # noqa: E402

ck = H.Checker("test_server_errors")
tmp = tempfile.mkdtemp(prefix="ltxpaged-err-")
srv = None
RT, AT = "read-secret-1", "admin-secret-2"
R = ["-H", f"Authorization: Bearer {RT}"]
A = ["-H", f"Authorization: Bearer {AT}"]


def err(path, want_status, want_code, *extra, auth=None):
    st, h, b = curl(srv.base + path, *((auth or R) + list(extra)))
    try:
        j = json.loads(b)
    except ValueError:
        j = {}
    ck.eq((st, j.get("code")), (want_status, want_code), f"{' '.join(extra)} {path[:80]}")
    ck.ok(isinstance(j.get("error"), str) and j["error"], f"JSON error text for {path[:60]}")
    return h


try:
    c = chain("main-4096")
    db_dir = H.copy_replica(c["root"], os.path.join(tmp, "app.db"))
    # LTXPAGED_WARM=0: verification does not warm the cache, so the cold-read
    # checks below (single-flight, coalesced batch reads) still see misses
    srv = Server(["--db", "app.db=" + db_dir, "--read-token", RT, "--admin-token", AT, "--threads", "4"],
                 env={"LTXPAGED_WARM": "0"})
    ck.ok(srv.wait_ready(), "ready")
    b = srv.base

    # --- tokens
    ck.eq(curl(b + "/healthz")[0], 200, "healthz open")
    ck.eq(curl(b + "/readyz")[0], 200, "readyz open")
    st, h, _ = curl(b + "/app.db/pages/1")
    ck.eq(st, 401, "no token -> 401")
    ck.ok(h.get("www-authenticate", "").startswith("Bearer"), "WWW-Authenticate: Bearer")
    ck.eq(curl(b + "/app.db/pages/1", "-H", "Authorization: Bearer wrong")[0], 401, "wrong token -> 401")
    ck.eq(curl(b + "/app.db/pages/1", *A)[0], 401, "admin token is not a read token")
    ck.eq(curl(b + "/nosuch.db/pages/1")[0], 401, "unknown db without token -> 401 (no existence leak)")
    ck.eq(curl(b + "/app.db/pages/1", *R)[0], 200, "read token -> 200")
    st, h, _ = curl(b + "/app.db/pages/1?txid=9", *R)
    ck.eq(h.get("cache-control"), "private, max-age=31536000, immutable",
          "with a read token, immutable answers are private (no shared caching of authenticated bytes)")
    ck.eq(curl(b + "/metrics")[0], 401, "metrics needs the admin token")
    ck.eq(curl(b + "/admin/status", *R)[0], 401, "admin needs the admin token")
    ck.eq(curl(b + "/admin/status", *A)[0], 200, "admin token -> 200")

    # --- bad input
    err("/app.db/pages/abc", 400, "bad_page")
    err("/app.db/pages/0", 400, "bad_page")
    err("/app.db/pages/-1", 400, "bad_page")
    err("/app.db/pages/1e3", 400, "bad_page")
    err("/app.db/pages/99999999999", 400, "bad_page")
    err("/app.db/pages/78", 404, "page_out_of_range")
    err("/nosuch.db/pages/1", 404, "no_such_db")
    err("/nosuch.db", 404, "no_such_db")
    err("/../etc/passwd", 400, "bad_name", "--path-as-is")
    err("/app.db/../app.db/pages/1", 400, "bad_name", "--path-as-is")
    err("/%2e%2e/pages/1", 400, "bad_name", "--path-as-is")
    err("/a%2fb/pages/1", 400, "bad_name")
    err("/app.db%2Fpages/1", 400, "bad_name")
    err("/app.db%00/pages/1", 400, "bad_name")
    err("/.hidden/pages/1", 400, "bad_name")
    err("/" + "x" * 201 + "/pages/1", 400, "bad_name")
    err("/admin/pages/1", 400, "bad_name")
    err("/metrics/file", 400, "bad_name")
    err("/app.db/pages/1?txid=xyz", 400, "bad_txid")
    err("/app.db/pages/1?txid=0", 400, "bad_txid")
    err("/app.db/pages/1?txid=00000000000000001", 400, "bad_txid")
    err("/app.db/pages/1?txid=", 400, "bad_txid")
    err("/app.db/pages/1?txid=ff", 409, "txid_ahead")
    err("/app.db/pages?n=1&txid=xyz", 400, "bad_txid")
    err("/app.db/file?txid=xyz", 400, "bad_txid")
    err("/app.db?txid=xyz", 400, "bad_txid")
    err("/app.db?txid=ff", 409, "txid_ahead")
    err("/app.db/pages?n=1-2000", 413, "batch_too_large")
    err("/app.db/pages?n=1-600,1-600", 413, "batch_too_large")
    err("/app.db/pages?n=1,,2", 400, "bad_page")
    err("/app.db/pages?n=0", 400, "bad_page")
    err("/app.db/pages?n=5-3", 400, "bad_page")
    err("/app.db/pages", 400, "bad_page")
    err("/app.db/pages?n=1,78", 404, "page_out_of_range")
    err("/app.db/foo", 404, "not_found")
    err("/app.db/pages/1/x", 404, "not_found")
    err("/admin/nope", 404, "not_found", auth=A)
    err("/app.db/changes", 400, "bad_txid")
    err("/app.db/changes?since=zz", 400, "bad_txid")
    err("/app.db/changes?since=9&wait=abc", 400, "bad_request")
    err("/app.db/changes?since=a", 409, "txid_ahead")
    err("/app.db?time=yesterday", 400, "bad_request")
    err("/app.db?time=2000-01-01T00:00:00Z", 410, "txid_gone")
    err("/app.db/file?journal=maybe", 400, "bad_request")
    h = err("/app.db/pages/1", 405, "method_not_allowed", "-X", "POST", "-d", "x=1")
    ck.ok("GET" in h.get("allow", ""), "405 has Allow")
    err("/app.db/pages/1", 405, "method_not_allowed", "-X", "DELETE")
    err("/app.db/file", 405, "method_not_allowed", "-X", "PUT", "-d", "zzz")
    err("/app.db/pages/1?pad=" + "a" * 3000, 414, "uri_too_long")
    # raw garbage on a socket does not kill it
    import socket
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"\x00\x01garbage\r\n\r\n")
    s.settimeout(2)
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    # random request targets (seeded): every answer is a well-formed HTTP status, never a crash
    import random
    rnd = random.Random(1234)
    alphabet = "abc./%2fF0e-_,?=&xyz19~!$'()*+;:@\\"
    statuses = set()
    for i in range(300):
        parts = ["", "app.db", "nosuch", "pages", "file", "changes", "admin", "metrics", ".."]
        path = "/" + "/".join(rnd.choice(parts) if rnd.random() < 0.6 else
                              "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
                              for _ in range(rnd.randint(1, 4)))
        if rnd.random() < 0.5:
            path += "?" + "&".join(rnd.choice(["txid", "n", "since", "wait", "time", "journal", "x"]) + "=" +
                                   "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 10)))
                                   for _ in range(rnd.randint(1, 3)))
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {RT}\r\nConnection: close\r\n\r\n"
                      .encode("latin1", "replace"))
            resp = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
            s.close()
            statuses.add(int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else -1)
        except OSError as e:
            statuses.add(-2)
    print(f"random targets: statuses {sorted(statuses)}")
    ck.ok(-1 not in statuses and -2 not in statuses and all(100 <= x < 600 for x in statuses),
          f"300 random targets answered with statuses {sorted(statuses)}")
    ck.ok(not any(x >= 500 for x in statuses if x != 503), f"no 5xx for random input: {sorted(statuses)}")
    ck.eq(curl(b + "/healthz")[0], 200, "still up after bad input")
    ck.ok(srv.poll() is None, "process alive")

    # --- single-flight: 16 concurrent cold misses of one page -> one read
    st, j0 = jget(b + "/admin/status", {"Authorization": f"Bearer {AT}"})
    gets0 = j0["object_stores"][0]["gets"]
    miss0 = j0["cache"]["misses"]
    out = []

    def get():
        out.append(H.http_get(b + "/app.db/pages/60?txid=9", {"Authorization": f"Bearer {RT}"}))

    ths = [threading.Thread(target=get) for _ in range(16)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    ck.ok(all(o[0] == 200 for o in out) and len({o[2] for o in out}) == 1, "16 concurrent answers agree")
    st, j1 = jget(b + "/admin/status", {"Authorization": f"Bearer {AT}"})
    ck.eq(j1["object_stores"][0]["gets"] - gets0, 1, "one object-store read for 16 concurrent misses")
    ck.eq(j1["cache"]["misses"] - miss0, 1, "one cache miss")

    # --- a cold batch reads each file's frames with one ranged read per run
    gets0 = j1["object_stores"][0]["gets"]
    st, _, body = H.http_get(b + "/app.db/pages?n=1-77&txid=9", {"Authorization": f"Bearer {RT}"})
    ck.eq((st, H.sha256_bytes(body)), (200, c["states"][-1]["sha256"]), "cold batch of every page")
    st, j2 = jget(b + "/admin/status", {"Authorization": f"Bearer {AT}"})
    dg = j2["object_stores"][0]["gets"] - gets0
    ck.ok(1 <= dg <= 4, f"77-page cold batch took {dg} object-store reads (frames coalesced per file)")

    # --- keep-alive: several requests on one connection
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    socks = set()
    for p in (1, 2, 3):
        conn.request("GET", f"/app.db/pages/{p}", headers={"Authorization": f"Bearer {RT}"})
        r = conn.getresponse()
        r.read()
        socks.add(id(conn.sock))
        ck.ok(r.status == 200 and (r.getheader("Connection") or "").lower() != "close", f"keep-alive request {p}")
    ck.eq(len(socks), 1, "one connection reused")
    conn.close()

    # --- admin JSON
    st, j = jget(b + "/admin/status", {"Authorization": f"Bearer {AT}"})
    d = (j or {}).get("databases", [{}])[0]
    ck.eq((d.get("name"), d.get("state"), d.get("txid"), d.get("commit")), ("app.db", "ok", "0000000000000009", 77),
          "admin database entry")
    ck.ok(isinstance(d.get("lag_seconds"), float) and 0 <= d["lag_seconds"] < 5, f"lag_seconds {d.get('lag_seconds')}")
    ck.ok(j["cache"]["hits"] >= 15 and j["cache"]["max_bytes"] == 256 << 20, f"cache counters {j['cache']}")
    ck.ok(j["object_stores"][0]["lists"] > 0, "object-store list counter")
    ck.eq(j["server"]["read_token_required"], True, "server says tokens are on")
    st, j = jget(b + "/admin/dbs", {"Authorization": f"Bearer {AT}"})
    ck.eq([x["name"] for x in j["databases"]], ["app.db"], "/admin/dbs")
    ck.ok("cache" in j and "object_stores" in j and "server" in j, "/admin/dbs has server, cache, store counters")

    # --- metrics
    st, h, body = curl(b + "/metrics", *A)
    m = body.decode()
    ck.eq(st, 200, "metrics status")
    ck.ok(h.get("content-type", "").startswith("text/plain"), "metrics content type")
    ck.ok(re.search(r'^ltxpaged_db_txid\{db="app.db"\} 9$', m, re.M) is not None, "metric db txid")
    ck.ok(re.search(r'^ltxpaged_db_lag_seconds\{db="app.db"\} [0-9.]+$', m, re.M) is not None, "metric lag")
    ck.ok(re.search(r'^ltxpaged_db_state\{db="app.db",state="ok"\} 1$', m, re.M) is not None, "metric state")
    hits = re.search(r"^ltxpaged_cache_hits_total (\d+)$", m, re.M)
    ck.ok(hits and int(hits.group(1)) >= 15, "metric cache hits")
    ck.ok(re.search(r"^ltxpaged_cache_evictions_total \d+$", m, re.M) is not None, "metric evictions")
    ck.ok(re.search(r'^ltxpaged_objstore_gets_total\{store="[^"]+"\} [1-9]\d*$', m, re.M) is not None, "metric gets")
    ck.ok(re.search(r'^ltxpaged_objstore_lists_total\{store="[^"]+"\} [1-9]\d*$', m, re.M) is not None, "metric lists")
    n400 = re.search(r'^ltxpaged_http_requests_total\{route="page",code="400"\} (\d+)$', m, re.M)
    ck.ok(n400 and int(n400.group(1)) >= 5, "metric http requests by route/status")

    rc = srv.stop()
    ck.eq(rc, 0, "clean exit")
    log = open(srv.log_path, errors="replace").read()
    ck.ok("event=request_error" in log and "status=400" in log, "request errors logged")
    ck.ok("auth_open" not in log, "no 'open' warning when tokens are set")
    srv = None

    # --- env configuration; no tokens -> open, and the log says so
    srv = Server([], env={"LTXPAGED_DB": "env.db=" + db_dir, "LTXPAGED_POLL_INTERVAL": "250ms",
                          "LTXPAGED_CACHE_SIZE": "1M"})
    ck.ok(srv.wait_ready(), "env-configured server ready")
    st, h, body = curl(srv.base + "/env.db/pages/1")
    ck.eq(st, 200, "LTXPAGED_DB serves env.db without a token")
    st, j = jget(srv.base + "/admin/status")
    ck.eq((j or {}).get("cache", {}).get("max_bytes"), 1 << 20, "LTXPAGED_CACHE_SIZE=1M")
    ck.eq((j or {}).get("server", {}).get("poll_interval_ms"), 250, "LTXPAGED_POLL_INTERVAL=250ms")
    # SIGINT while a long-poll waits: the poll is answered, the exit is clean
    lp = {}

    def longpoll():
        t0 = time.time()
        lp["r"] = jget(srv.base + "/env.db/changes?since=9&wait=30")
        lp["dt"] = time.time() - t0

    th = threading.Thread(target=longpoll)
    th.start()
    ck.ok(srv.wait_for(lambda: (jget(srv.base + "/admin/status")[1] or {}).get("server", {})
                       .get("long_polls_waiting") == 1, 5), "long-poll registered")
    t0 = time.time()
    srv.p.send_signal(signal.SIGINT)
    th.join(10)
    rc = srv.stop()
    ck.eq(rc, 0, "clean exit on SIGINT")
    ck.ok(time.time() - t0 < 5, f"shutdown took {time.time() - t0:.2f}s with a long-poll pending")
    ck.eq((lp.get("r") or (0, None))[0], 200, "pending long-poll answered at shutdown")
    log = open(srv.log_path, errors="replace").read()
    ck.ok("event=auth_open" in log, "open server says so in the log")
    srv = None

    exe = H.binary("ltxpaged")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    ck.ok(r.returncode == 0 and "--poll-interval" in r.stdout and "LTXPAGED_" in r.stdout, "--help")
    r = subprocess.run([exe, "--bogus"], capture_output=True, text=True)
    ck.ok(r.returncode == 2 and "unknown flag" in r.stderr, "unknown flag -> exit 2")
    r = subprocess.run([exe], capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                   if not k.startswith("LTXPAGED_")})
    ck.ok(r.returncode == 2 and "nothing to serve" in r.stderr, "no sources -> exit 2")
    r = subprocess.run([exe, "--db", "x=" + db_dir, "--cache-size", "lots"], capture_output=True, text=True)
    ck.ok(r.returncode == 2 and "cache-size" in r.stderr, "bad size -> exit 2")
    r = subprocess.run([exe, "--db", "admin=" + db_dir, "--listen", "127.0.0.1:%d" % H.free_port()],
                       capture_output=True, text=True, timeout=10)
    ck.ok(r.returncode != 0 and "reserved" in r.stderr, "reserved --db name refused")
    for args, names in ((["--db", "x=ftp://nope"], "db=x"), (["--replica", "ftp://nope/"], "url=ftp://nope/")):
        r = subprocess.run([exe] + args + ["--listen", "127.0.0.1:%d" % H.free_port()],
                           capture_output=True, text=True, timeout=10)
        ck.ok(r.returncode == 1 and f"event=startup_error {names} error=" in r.stderr
              and "unsupported store URL scheme" in r.stderr, f"{args}: startup error names it: {r.stderr.strip()}")
finally:
    H.cleanup(tmp, srv, tail=4000)
ck.done()
