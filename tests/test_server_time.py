#!/usr/bin/env python3
"""?time= (PRAGMA ltxhttp_time, GET /{db}?time=) on S3 without a bucket
listing per request: every level (one paged LIST of the database's
prefix, 10 LISTs before the store listed all levels at once) and a header
read per uncached file were fetched for every request, so any reader could drive object-store
cost. Now the listing (with its header timestamps) is reused for an
--l1-interval for targets before the time it was taken. Checks with the S3
fake: every "ts=" restore plan of the manifest resolves to its TXID, three
rounds of them list the bucket only in the first round (not once per request), and the
header reads happen once per file."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, MAN, Server, jget  # noqa: E402
from test_server_fakes3 import S3_ENV, FakeS3  # noqa: E402

ck = H.Checker("test_server_time")
tmp = tempfile.mkdtemp(prefix="ltxpaged-time-")
fake = srv = None
try:
    fake = FakeS3.start(tmp)
    srv = Server(fake.db_args("t.db") + ["--poll-interval", "200ms", "--l1-interval", "60s"], env=S3_ENV)
    ck.ok(srv.wait_ready(20), "ready")
    plans = [e for e in MAN["restore_plans"]
             if e["replica"] == "full" and e["target"].startswith("ts=") and "error" not in e]
    ck.ok(len(plans) >= 3, f"manifest has time targets ({len(plans)})")
    with fake.lock:
        full_before = sum(1 for p in fake.lists if p == "db/")
        gets_before = len(fake.gets)
    for rnd in range(3):
        for e in plans:
            st, j = jget(f"{srv.base}/t.db?time=2025-01-01T{e['target'][3:]}Z")
            ck.eq((st, j and j.get("txid")), (200, e["restored_txid"]), f"round {rnd} time {e['target']}")
        if rnd == 0:
            with fake.lock:
                gets_first = len(fake.gets) - gets_before
                full_first = sum(1 for p in fake.lists if p == "db/") - full_before
    with fake.lock:
        full = sum(1 for p in fake.lists if p == "db/") - full_before - full_first
        gets_later = len(fake.gets) - gets_before - gets_first
    n = 2 * len(plans)
    print(f"round 1: {full_first} listings (time + point-in-time index builds), {gets_first} GETs; "
          f"rounds 2-3 ({n} requests): {full} listings, {gets_later} GETs")
    ck.eq(full, 0, f"rounds 2-3 ({n} time requests, TXIDs already indexed) list nothing")
    ck.eq(gets_later, 0, "rounds 2 and 3 read no headers again")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv, fake)
ck.done()
