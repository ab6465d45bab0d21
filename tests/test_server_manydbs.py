#!/usr/bin/env python3
"""ltxpaged discovering many databases under one --replica root: the
lock-free database lookup table must not keep a copy of the whole list per
database added (that is n^2/2 pointers: 4000 databases = 64 MB, the
100000 a root may hold = 40 GB). Checks: all 4000 (empty) databases are
discovered, one of them with a real replica serves exact bytes, and the
server's resident memory stays well under what the quadratic copies take
(normal build only: ASan's shadow memory makes RSS meaningless)."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, rss_kib  # noqa: E402

ck = H.Checker("test_server_manydbs")
N = 4000
tmp = tempfile.mkdtemp(prefix="ltxpaged-manydbs-")
srv = None


try:
    for i in range(N):
        os.makedirs(os.path.join(tmp, "d%05d.db" % i, "ltx"))
    main = chain("main-4096")
    shutil.copytree(H.vec(main["root"]), os.path.join(tmp, "real.db"), dirs_exist_ok=True)
    srv = Server(["--replica", "file://" + tmp, "--cache-size", "1M", "--poll-interval", "5s",
                  "--poll-threads", "1"])
    ok = srv.wait_for(lambda: len((jget(srv.base + "/")[1] or {}).get("databases", [])) == N + 1, 30, 0.2)
    ck.ok(ok, f"{N + 1} databases discovered ({len((jget(srv.base + '/')[1] or {}).get('databases', []))})")
    ck.ok(srv.wait_ready(60), "ready (every database had its first index attempt)")
    st, _, b = curl(f"{srv.base}/real.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, main["states"][-1]["sha256"]), "the real database serves exact bytes")
    st, _, b = curl(f"{srv.base}/d{N - 1:05d}.db")
    js = json.loads(b.decode() or "null") if b else {}
    ck.eq((st, (js or {}).get("state"), (js or {}).get("code")), (503, "waiting", "unavailable"),
          "the last empty database has a status: waiting, answered 503 unavailable (no LTX files yet)")
    st, _, _ = curl(f"{srv.base}/d{N:05d}.db")
    ck.eq(st, 404, "a database that does not exist: 404")
    if os.environ.get("LTXHTTP_SANITIZE") == "1":
        print("SKIP RSS check: ASan build (shadow memory)")
    else:
        rss = rss_kib(srv.p.pid)
        quadratic = N * N // 2 * 8 // 1024
        print(f"RSS {rss} KiB with {N} databases")
        ck.ok(0 < rss < quadratic // 2, f"RSS {rss} KiB with {N} databases (n^2/2 pointers alone: {quadratic} KiB)")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
