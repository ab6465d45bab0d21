#!/usr/bin/env python3
"""ltxpaged building a point-in-time index while retention deletes files.

A small S3-compatible fake (ListObjectsV2, ranged GET, HEAD) serves the
main-4096 vectors from a local folder. It can make one object vanish the
moment the server first reads it (deleted between the server's LIST and
its GET — what Litestream's retention does). The server must then list
again and plan again:
  - TXID 5 stays restorable from other files (L0 1..5) after L1 1-5
    vanishes: 200 with exactly the manifest's bytes (not a 502);
  - TXID 3 needs L0 2; when it vanishes TXID 3 is no longer restorable:
    410 (not a 502).
Also checks that a latest read keeps working during both."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, states_by_txid  # noqa: E402
from test_server_fakes3 import S3_ENV, FakeS3  # noqa: E402

ck = H.Checker("test_server_retention")


tmp = tempfile.mkdtemp(prefix="ltxpaged-retention-")
fake = srv = None
main = chain("main-4096")
states = states_by_txid(main)
try:
    fake = FakeS3.start(tmp)
    srv = Server(fake.db_args("r.db") + ["--poll-interval", "200ms"], env=S3_ENV)
    ck.ok(srv.wait_ready(20), "ready")
    ck.eq((srv.status("r.db") or {}).get("txid"), "%016x" % max(states), "latest indexed")

    # 1. the compaction a historical plan uses vanishes; other files still reach the TXID
    l1 = "db/0001/0000000000000001-0000000000000005.ltx"
    with fake.lock:
        fake.vanish.add(l1)
    st, h, b = curl(f"{srv.base}/r.db/file?txid=5")
    ck.eq(fake.vanished, [l1], "the plan for TXID 5 read L1 1-5, which vanished at that read")
    ck.eq((st, h.get("ltx-txid"), H.sha256_bytes(b)), (200, "%016x" % 5, states[5]["sha256"]),
          "TXID 5 built again from the files still there (exact bytes)")

    # 2. a file only this TXID's chain has vanishes: the TXID is gone -> 410
    l0 = "db/0000/0000000000000002-0000000000000002.ltx"
    with fake.lock:
        fake.vanish.add(l0)
    st, h, b = curl(f"{srv.base}/r.db/file?txid=3")
    ck.eq(fake.vanished[-1:], [l0], "the plan for TXID 3 read L0 2, which vanished at that read")
    ck.eq(st, 410, f"TXID 3 no longer restorable -> 410 ({b[:200]!r})")

    st, h, b = curl(f"{srv.base}/r.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, states[max(states)]["sha256"]), "latest still served")
    for t in (7, 8):
        st, h, b = curl(f"{srv.base}/r.db/file?txid={t}")
        ck.eq((st, H.sha256_bytes(b)), (200, states[t]["sha256"]), f"TXID {t} (L9/L2) served exactly")
    # L1 1-5 and L0 2 are gone: TXID 4 has no chain left
    st, h, b = curl(f"{srv.base}/r.db/file?txid=4")
    ck.eq(st, 410, "TXID 4 (needs L0 2 or L1 1-5) -> 410")
    ck.eq(srv.stop(), 0, "clean exit")
finally:
    if srv:
        srv.stop()
        if srv.returncode not in (0, None):
            print(srv.output()[-4000:])
    if fake:
        fake.stop()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
