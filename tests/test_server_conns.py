#!/usr/bin/env python3
"""ltxpaged under many long-polls (each client VFS holds one per database):
  1. with default flags, 1500 /changes long-polls pending, a page request
     is still answered at once (the connection limit is not the
     libmicrohttpd default of ~1020, and long-polls do not take threads);
  2. long-polls whose clients went away are dropped within seconds (not
     kept until their wait ends), so they do not hold connections;
  3. with --max-connections 40, at most 3/4 of the connections wait in
     long-polls: the others are answered at once (no changes), and a page
     request still gets a connection and an answer."""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, jget  # noqa: E402

ck = H.Checker("test_server_conns")
N = 1500
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < N + 200:
    print(f"SKIP: RLIMIT_NOFILE hard limit {hard} < {N + 200}")
    ck.ok(True, "skipped")
    ck.done()
resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else N + 1000, hard))

srv = None
socks = []
rep = H.vec("block/main-4096/replica")
latest = "%016x" % max(int(s["txid"], 16) for s in H.manifest()["chains"][0]["states"])


def open_polls(port, n, wait=50):
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET /db/changes?since={latest}&wait={wait} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out.append(s)
    return out


def page_ok(base, timeout=3):
    t0 = time.time()
    try:
        st, _, b = H.http_get(base + "/db/pages/1", timeout=timeout)
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {e}", time.time() - t0
    return st == 200 and len(b) == 4096, st, time.time() - t0


def waiting(base):
    try:
        st, j = jget(base + "/admin/status")
    except Exception:  # noqa: BLE001 - a server out of connections times out
        return None
    return ((j or {}).get("server") or {}).get("long_polls_waiting")


def close_all():
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    socks.clear()


try:
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23"}
    srv = Server(["--db", "db=" + rep], env=env)
    ck.ok(srv.wait_ready(), "ready")
    socks += open_polls(srv.port, N)
    ok = srv.wait_for(lambda: (waiting(srv.base) or 0) >= N, 15, 0.2)
    ck.ok(ok, f"{N} long-polls waiting (seen {waiting(srv.base)})")
    good, st, dt = page_ok(srv.base)
    ck.ok(good, f"page answered with {N} long-polls pending: {st} in {dt:.2f}s")
    # the clients go away: their polls must not linger until the wait ends
    close_all()
    t0 = time.time()
    ok = srv.wait_for(lambda: waiting(srv.base) == 0, 5, 0.1)
    ck.ok(ok, f"abandoned long-polls dropped after {time.time() - t0:.2f}s (left: {waiting(srv.base)})")
    good, st, dt = page_ok(srv.base)
    ck.ok(good, f"page after the polls went away: {st}")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None

    # 3. a small connection limit: long-polls may not take every connection
    srv = Server(["--db", "db=" + rep, "--max-connections", "40"], env=env)
    ck.ok(srv.wait_ready(), "ready (--max-connections 40)")
    socks += open_polls(srv.port, 35)
    time.sleep(1.0)
    answered = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            if s.recv(4096):
                answered += 1
        except (socket.timeout, BlockingIOError):
            pass
    ck.eq(answered, 35 - 30, "polls beyond 3/4 of --max-connections answered at once")
    good, st, dt = page_ok(srv.base)
    ck.ok(good, f"page answered with 35 of 40 connections in long-polls: {st} in {dt:.2f}s")
    close_all()
    ck.eq(srv.stop(), 0, "clean exit (--max-connections)")
    srv = None
finally:
    close_all()
    if srv:
        srv.stop_showing_log()
ck.done()
