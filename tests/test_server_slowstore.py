#!/usr/bin/env python3
"""A slow object store must not stall cached reads. Requests that have to
read the store (page misses, batches with misses, /file, ?time=) run on
loader threads (--io-threads) with their connection suspended; the HTTP
threads answer cached pages meanwhile. With --threads 2 and a store whose
ranged GETs take 2 s, 10 cold requests (3 of them /file answers whose
second window is read while they stream) are in flight while a cached page is
asked for: it must come back at once (before: after the cold requests, as
every HTTP thread waited on the store). The cold requests then return
exactly the manifest's bytes."""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl  # noqa: E402
from test_server_fakes3 import S3_ENV, FakeS3  # noqa: E402

ck = H.Checker("test_server_slowstore")
tmp = tempfile.mkdtemp(prefix="ltxpaged-slow-")
fake = srv = None
main = chain("main-4096")
latest = main["states"][-1]
try:
    fake = FakeS3.start(tmp)
    srv = Server(fake.db_args("s.db") + ["--threads", "2", "--cache-size", "1M"], env=S3_ENV)
    ck.ok(srv.wait_ready(20), "ready")
    st, _, whole = curl(f"{srv.base}/s.db/file")
    ck.eq((st, H.sha256_bytes(whole)), (200, latest["sha256"]), "latest bytes (reference for the pages)")
    # a second server starts with an empty cache for the slow part
    ck.eq(srv.stop(), 0, "clean exit")
    srv = Server(fake.db_args("s.db") + ["--threads", "2", "--cache-size", "1M"], env=S3_ENV)
    ck.ok(srv.wait_ready(20), "ready (cold)")
    st, _, p1 = curl(f"{srv.base}/s.db/pages/1")
    ck.eq((st, p1), (200, whole[:4096]), "page 1 cached")
    fake.delay = 2.0
    results = {}

    def get(key, path):
        results[key] = curl(f"{srv.base}{path}")

    cold = {f"p{p}": f"/s.db/pages/{p}" for p in (3, 9, 17, 30, 45, 60)}
    cold["batch"] = "/s.db/pages?n=70-77"
    for k in range(3):  # 77 pages: the second window is read while the answer streams
        cold[f"file{k}"] = "/s.db/file"
    ths = [threading.Thread(target=get, args=(k, v)) for k, v in cold.items()]
    for t in ths:
        t.start()
    # probe every 0.5 s while the cold requests run (the /file answers read
    # their second window while they stream)
    start = time.time()
    worst = 0.0
    while any(t.is_alive() for t in ths) and time.time() - start < 30:
        t0 = time.time()
        st, _, b = curl(f"{srv.base}/s.db/pages/1")
        dt = time.time() - t0
        worst = max(worst, dt)
        ck.eq((st, b), (200, p1), f"cached page answered at {t0 - start:.1f}s")
        time.sleep(0.5)
    print(f"cached page during {len(cold)} slow requests: slowest answer {worst:.3f}s")
    ck.ok(worst < 1.0, f"cached page never held up by the slow store (slowest {worst:.2f}s)")
    for t in ths:
        t.join(60)
    fake.delay = 0
    for p in (3, 9, 17, 30, 45, 60):
        st, _, b = results.get(f"p{p}", (0, {}, b""))
        ck.eq((st, b), (200, whole[(p - 1) * 4096:p * 4096]), f"cold page {p}")
    st, _, b = results.get("batch", (0, {}, b""))
    ck.eq((st, b), (200, whole[69 * 4096:77 * 4096]), "cold batch 70-77")
    for k in range(3):
        st, _, b = results.get(f"file{k}", (0, {}, b""))
        ck.eq((st, H.sha256_bytes(b)), (200, latest["sha256"]), f"cold /file {k}")
    ck.eq(srv.stop(), 0, "clean exit (cold)")
    srv = None
finally:
    H.cleanup(tmp, srv, fake)
ck.done()
