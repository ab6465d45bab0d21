#!/usr/bin/env python3
"""Slow and odd clients at ltxpaged's HTTP edge (issue 10 cases 5, 10;
issue 13), with the real binary and raw sockets:
  1. a second ltxpaged on the same --listen exits 1 with "address in use"
     and the first keeps answering alone (before: SO_REUSEPORT, both
     started and the kernel split the traffic);
  2. a NUL byte anywhere in the request line or headers is 400 (before:
     cut off silently, 200); HTTP/1.1 without Host, two Hosts and folded
     headers are 400; bare-LF requests still work;
  3. POST/PUT/DELETE with a Content-Length or Expect: 100-continue get
     405 at once, without 100 Continue and without waiting for a body;
  4. a database whose index is not ready answers 503 with Retry-After: 1;
  5. --max-connections 64: 80 slow-loris connections (a header byte every
     0.3 s) do not block new requests: another client address is served
     at once (per-client cap), and after --header-timeout the slow ones
     are disconnected, so the same address is served again;
  6. NOTIFY_SOCKET gets READY=1 once the port listens and STOPPING=1 at
     SIGTERM."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, curl  # noqa: E402

ck = H.Checker("test_server_edge")
tmp = tempfile.mkdtemp(prefix="ltxpaged-edge-")
rep = H.vec("block/main-4096/replica")
srv = None
socks = []


def raw(port, data, timeout=5, src=None):
    """Send data on a new connection; (first line, headers, body, seconds)."""
    t0 = time.time()
    s = socket.socket()
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    out = b""
    try:
        while b"\r\n\r\n" not in out or len(out.split(b"\r\n\r\n", 1)[1]) < want_len(out):
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass  # a refused connection (per-client cap) reads as nothing
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return lines[0], hdrs, body, time.time() - t0


def want_len(out):
    head = out.split(b"\r\n\r\n", 1)[0].decode("latin1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":")[1])
    return 0


def one_server_per_address():
    global srv
    srv = Server(["--db", "db=" + rep])
    ck.ok(srv.wait_ready(), "first server ready")
    second = H.Proc([H.binary("ltxpaged"), "--db", "db=" + rep, "--listen", f"127.0.0.1:{srv.port}"])
    try:
        rc = second.p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None  # it started: the bug
    out = second.output()
    second.stop()
    ck.eq(rc, 1, "a second server on the same address exits 1")
    ck.ok("address in use" in out, "and says 'address in use'")
    ok = all(raw(srv.port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")[0].endswith("200 OK") for _ in range(20))
    ck.ok(ok, "the first server still answers every connection")


def odd_requests():
    port = srv.port
    good = raw(port, b"GET /db/pages/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    ck.ok(good[0].endswith("200 OK") and len(good[2]) == 4096, "a plain request: 200")
    bad = {
        "NUL in the target": b"GET /db/pages/1\x00x HTTP/1.1\r\nHost: a\r\n\r\n",
        "NUL in the query": b"GET /db/pages/1?txid=1\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
        "NUL in the method": b"GE\x00T /db/pages/1 HTTP/1.1\r\nHost: a\r\n\r\n",
        "NUL inside a header value": b"GET /db/pages/1 HTTP/1.1\r\nHost: a\x00b\r\nX: y\r\n\r\n",
        "NUL ending a header value": b"GET /db/pages/1 HTTP/1.1\r\nHost: a\x00\r\nX: y\r\n\r\n",
        "NUL in the last header": b"GET /db/pages/1 HTTP/1.1\r\nX: y\r\nHost: a\x00\r\n\r\n",
        "NUL in a header name": b"GET /db/pages/1 HTTP/1.1\r\nHost: a\r\nX-\x00A: y\r\n\r\n",
        "HTTP/1.1 without Host": b"GET /db/pages/1 HTTP/1.1\r\nX: y\r\n\r\n",
        "two Host headers": b"GET /db/pages/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "a folded header": b"GET /db/pages/1 HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    }
    for what, req in bad.items():
        line, h, body, _ = raw(port, req)
        ck.ok(line.startswith("HTTP/1.1 400"), f"{what}: 400 ({line})")
        if "name" not in what:  # libmicrohttpd refuses that line itself (HTML, see docs/server.md)
            ck.ok(h.get("content-type") == "application/json" and b'"bad_request"' in body,
                  f"{what}: JSON bad_request ({body[:80]!r})")
    for what, req in {"HTTP/1.0 without Host": b"GET /db/pages/1 HTTP/1.0\r\n\r\n",
                      "bare LF line ends": b"GET /db/pages/1 HTTP/1.1\nHost: a\nConnection: close\n\n",
                      "spaces around a value, an empty header":
                          b"GET /db/pages/1 HTTP/1.1\r\nHost:  a  \r\nX-Empty:\r\nConnection: close\r\n\r\n"}.items():
        line, _, body, _ = raw(port, req)
        ck.ok(line.endswith("200 OK") and len(body) == 4096, f"{what}: 200 ({line})")
    # methods that cannot succeed: 405 at once, no 100 Continue, no wait for the body
    for what, req in {
        "POST with Content-Length": b"POST /db/pages/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
        "PUT with Expect": b"PUT /db/file HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
        "DELETE chunked": b"DELETE /db HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    }.items():
        line, h, body, dt = raw(port, req, timeout=5)
        ck.ok(line.startswith("HTTP/1.1 405"), f"{what}: 405 ({line})")
        ck.ok(dt < 2.0, f"{what}: answered at once ({dt:.2f}s)")
        ck.ok(b"method_not_allowed" in body and h.get("allow") == "GET, HEAD", f"{what}: JSON and Allow")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST /db/pages/1 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n")
    first = s.recv(64)
    s.close()
    ck.ok(first.startswith(b"HTTP/1.1 405") and b"100 Continue" not in first, f"no 100 Continue first ({first!r})")


def not_ready():
    global srv
    srv.stop()
    empty = os.path.join(tmp, "empty.db")
    os.makedirs(empty)
    srv = Server(["--db", "empty.db=" + empty, "--db", "db=" + rep])
    for route in ("/empty.db/pages/1", "/empty.db/file", "/empty.db/pages?n=1"):
        st, h, b = curl(srv.base + route)
        ck.eq(st, 503, f"{route} while not ready")
        ck.eq(h.get("retry-after"), "1", f"{route}: Retry-After: 1")
    st, h, b = curl(srv.base + "/db/pages/1?txid=ff")
    ck.ok(st == 409 and "retry-after" not in h, "a 409 has no Retry-After")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None


def slowloris():
    global srv
    srv = Server(["--db", "db=" + rep, "--max-connections", "64", "--header-timeout", "2s"])
    ck.ok(srv.wait_ready(), "ready (--max-connections 64 --header-timeout 2s)")
    stop = threading.Event()
    for _ in range(80):
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
            s.sendall(b"GET /db/pages/1 HTTP/1.1\r\n")
            socks.append(s)
        except OSError:
            break
    closed = []

    def trickle():
        while not stop.is_set():
            for s in list(socks):
                try:
                    s.sendall(b"X")
                except OSError:
                    socks.remove(s)
                    closed.append(s)
            time.sleep(0.3)

    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    time.sleep(0.5)
    line, _, body, dt = raw(srv.port, b"GET /db/pages/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                            timeout=1.5, src="127.0.0.2")
    ck.ok(line.endswith("200 OK") and dt < 1.0, f"another address is served while 80 slow clients hold on "
          f"({line!r}, {dt:.2f}s)")
    t0 = time.time()
    served = False
    while time.time() - t0 < 6 and not served:
        line, _, body, dt = raw(srv.port, b"GET /db/pages/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                timeout=0.5)
        served = line.endswith("200 OK") and len(body) == 4096
        if not served:
            time.sleep(0.2)
    ck.ok(served, f"the slow clients' own address is served again after {time.time() - t0:.1f}s")
    ck.ok(srv.wait_for(lambda: len(closed) >= 76, 5, 0.2),
          f"slow header senders were disconnected ({len(closed)} of 80) although they kept sending")
    stop.set()
    th.join()
    ck.ok("event=header_timeout" in srv.output(), "header_timeout logged")
    for s in socks:
        s.close()
    socks.clear()
    # an idle keep-alive connection is also let go after the header timeout
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=6)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    first = s.recv(4096)
    t0 = time.time()
    try:
        rest = s.recv(4096)
    except socket.timeout:
        rest = b"timeout"
    s.close()
    ck.ok(first.startswith(b"HTTP/1.1 200") and rest == b"" and 1.5 < time.time() - t0 < 4.5,
          f"idle keep-alive closed after about 2 s ({rest!r}, {time.time() - t0:.1f}s)")
    ck.eq(srv.stop(), 0, "clean exit (slowloris)")
    srv = None


def sd_notify():
    global srv
    path = os.path.join(tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(15)
    srv = Server(["--db", "db=" + rep], env={"NOTIFY_SOCKET": path})
    msg = ns.recv(4096).decode()
    ck.ok("READY=1" in msg.split("\n"), f"READY=1 sent ({msg!r})")
    st, _, _ = curl(srv.base + "/healthz")
    ck.eq(st, 200, "listening when READY=1 arrived")
    srv.p.send_signal(15)
    msg = ns.recv(4096).decode()
    ck.ok("STOPPING=1" in msg, f"STOPPING=1 at SIGTERM ({msg!r})")
    ck.eq(srv.p.wait(timeout=10), 0, "clean exit (sd_notify)")
    srv.stop()
    srv = None
    ns.close()


try:
    one_server_per_address()
    odd_requests()
    not_ready()
    slowloris()
    sd_notify()
finally:
    for s in socks:
        s.close()
    if srv:
        srv.stop_showing_log()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
