#!/usr/bin/env python3
"""Deadlines at ltxpaged's HTTP edge (issue 10 case 9), with the S3 fake:
  1. a /file answer whose second window cannot be read any more (the
     objects were deleted after its 200 headers went out) is cut off:
     the connection closes before Content-Length bytes, never a clean
     short body, and every byte that did arrive is right;
  2. SIGTERM while requests wait on a store that stalls (every ranged GET
     sleeps 120 s): the process is gone within a few seconds, not after
     the store's timeouts and retries."""
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl  # noqa: E402
from test_server_fakes3 import S3_ENV, FakeS3  # noqa: E402

ck = H.Checker("test_server_deadline")
tmp = tempfile.mkdtemp(prefix="ltxpaged-deadline-")
fake = srv = None
latest = chain("main-4096")["states"][-1]


def reference():
    """The latest bytes, from a server on the file replica."""
    ref = Server(["--db", "db=" + H.vec("block/main-4096/replica")])
    ref.wait_ready()
    st, _, whole = curl(f"{ref.base}/db/file")
    ref.stop()
    ck.eq((st, H.sha256_bytes(whole)), (200, latest["sha256"]), "reference bytes")
    return whole


def read_headers(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return lines[0], hdrs, rest


def cut_mid_stream(whole):
    global srv
    srv = Server(fake.db_args("s.db") + ["--cache-size", "64K", "--threads", "2"], env=S3_ENV)
    ck.ok(srv.wait_ready(20), "ready (cold, 16-page cache)")
    # every ranged GET now waits 1 s before reading its object, so a read of
    # the second window, however early the server starts it, looks for its
    # object after the rmtree below (no race with the server's send buffer)
    fake.delay = 1.0
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /s.db/file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    line, h, body = read_headers(s)
    # the first window (pages 1-64) was read before the headers; pages 65-77
    # are not cached (16-page cache) and must come from the store, now gone
    shutil.rmtree(os.path.join(fake.root, "db"))
    ck.ok(line.endswith("200 OK"), f"200 headers first ({line})")
    want = int(h.get("content-length", "-1"))
    ck.eq(want, len(whole), "Content-Length is the whole file")
    ck.ok("chunked" not in h.get("transfer-encoding", ""), "not chunked: a cut is visible to any client")
    t0 = time.time()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            body += d
    except (ConnectionResetError, socket.timeout) as e:
        print(f"read ended: {type(e).__name__}")
    s.close()
    print(f"/file cut after {len(body)} of {want} bytes in {time.time() - t0:.1f}s")
    ck.ok(len(body) < want, f"the answer ends short of Content-Length ({len(body)} < {want}): cut, not completed")
    ck.ok(body == whole[:len(body)], "every byte that arrived is right")
    ck.ok("route=file" in srv.output() and "request_error" in srv.output(), "the cut is logged")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None


def sigterm_under_stall():
    global srv
    shutil.copytree(H.vec("block/main-4096/replica-s3"), fake.root, dirs_exist_ok=True)
    srv = Server(fake.db_args("s.db") + ["--cache-size", "64K", "--threads", "2"], env=S3_ENV)
    ck.ok(srv.wait_ready(20), "ready (second server)")
    fake.delay = 120.0
    ths = [threading.Thread(target=curl, args=(f"{srv.base}{p}",), daemon=True)
           for p in ("/s.db/file", "/s.db/pages/70", "/s.db/pages?n=40-50")]
    for t in ths:
        t.start()
    time.sleep(1.0)
    t0 = time.time()
    srv.p.send_signal(signal.SIGTERM)
    try:
        rc = srv.p.wait(timeout=30)
    except Exception:  # noqa: BLE001
        rc = None
    dt = time.time() - t0
    print(f"SIGTERM with 3 requests on a stalled store: exit {rc} after {dt:.1f}s")
    ck.ok(rc is not None and dt < 8.0, f"exits within a few seconds of SIGTERM ({dt:.1f}s)")
    ck.eq(rc, 0, "exit status 0")
    srv.stop()
    srv = None
    fake.delay = 0


try:
    whole = reference()
    fake = FakeS3.start(tmp)
    cut_mid_stream(whole)
    sigterm_under_stall()
finally:
    H.cleanup(tmp, srv, fake)
ck.done()
