#!/usr/bin/env python3
"""Batch answers (/pages?n=) point at the shared cache's pages instead of
copying them into a buffer per request: 40 clients that ask for a
1001-page batch (about 4 MB each) and do not read the answer must not make
the server hold 40 copies (160 MB). Checks the bytes of one such batch
(the pages in the order asked, as /file has them) and the growth of the
server's resident memory while the 40 answers are pending (normal build
only: ASan's shadow memory makes RSS meaningless)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, rss_kib  # noqa: E402

ck = H.Checker("test_server_batchmem")
main = chain("main-4096")
srv = None
socks = []


try:
    srv = Server(["--db", "m.db=" + H.vec(main["root"])])
    ck.ok(srv.wait_ready(), "ready")
    st, _, whole = curl(f"{srv.base}/m.db/file")
    ck.eq(st, 200, "file")
    ps = 4096
    commit = len(whole) // ps
    reps = 1001 // commit
    spec = ",".join([f"1-{commit}"] * reps)
    st, h, b = curl(f"{srv.base}/m.db/pages?n={spec}")
    ck.eq((st, len(b)), (200, reps * commit * ps), f"batch of {reps * commit} pages")
    ck.ok(b == whole * reps, "batch bytes = the pages in the order asked")
    base = rss_kib(srv.p.pid)
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET /m.db/pages?n={spec} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        socks.append(s)
    time.sleep(1.5)
    grown = rss_kib(srv.p.pid) - base
    print(f"RSS {base} KiB before, +{grown} KiB with 40 unread {len(b) >> 20} MiB batch answers")
    if os.environ.get("LTXHTTP_SANITIZE") == "1":
        print("SKIP RSS check: ASan build (shadow memory)")
    else:
        ck.ok(grown < 40 * len(b) // 1024 // 4, f"RSS grew {grown} KiB (40 copies: {40 * len(b) // 1024} KiB)")
    for s in socks:
        s.close()
    socks.clear()
    st, _, b2 = curl(f"{srv.base}/m.db/pages?n=1-{commit}")
    ck.eq((st, b2), (200, whole), "still serving after the clients went away")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    for s in socks:
        s.close()
    if srv:
        srv.stop_showing_log()
ck.done()
