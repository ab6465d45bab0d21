#!/usr/bin/env python3
"""Object-store economy of ltxpaged's polling: a steady database (nothing
new) costs one L0 LIST per poll plus, every --l1-interval, a check of the
other levels. That check lists L0 and L1 (2 LISTs), and every level only
every 6th time (and whenever the short listing shows anything unusual),
instead of all 10 levels every time. Counted with the store's own LIST
counter over many polls; then the levels it skips still work: a TXID that
only L1 reaches (L0 deleted) is caught up, and a replica that went back is
noticed."""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, jget  # noqa: E402

ck = H.Checker("test_server_lists")
tmp = tempfile.mkdtemp(prefix="ltxpaged-lists-")
srv = None
main = chain("main-4096")


def counters():
    st, j = jget(srv.base + "/admin/status")
    lists = sum(o.get("lists", 0) for o in (j or {}).get("object_stores", []))
    dbs = (j or {}).get("databases") or []
    polls = sum(d.get("counters", {}).get("polls", 0) for d in dbs)
    return lists, polls


try:
    db = os.path.join(tmp, "e.db")
    H.copy_replica(main["root"], db)
    srv = Server(["--db", "e.db=" + db, "--poll-interval", "50ms", "--l1-interval", "50ms"])
    ck.ok(srv.wait_ready(), "ready")
    time.sleep(0.3)
    l0, p0 = counters()
    time.sleep(3.0)
    l1, p1 = counters()
    polls = p1 - p0
    per = (l1 - l0) / max(polls, 1)
    print(f"{l1 - l0} LISTs over {polls} polls: {per:.2f} per poll (each poll also checks the levels)")
    ck.ok(polls >= 20, f"polled often enough to count ({polls})")
    # 1 (L0) + (5 x 2 + 10) / 6 = 4.33 per poll; listing all levels each time is 11
    ck.ok(per < 5.5, f"LISTs per poll+level check {per:.2f} < 5.5 (all levels every time: 11)")

    # a replica that goes back is still noticed
    st0 = srv.status("e.db") or {}
    for lvl in os.listdir(os.path.join(db, "ltx")):
        for fn in os.listdir(os.path.join(db, "ltx", lvl)):
            if int(fn.split("-")[1][:16], 16) > 5:
                os.unlink(os.path.join(db, "ltx", lvl, fn))
    ok = srv.wait_for(lambda: (srv.status("e.db") or {}).get("txid") == "%016x" % 5, 5, 0.05)
    ck.ok(ok, f"went back from {st0.get('txid')} to 5: {(srv.status('e.db') or {}).get('txid')}")
    # and a TXID that only a compaction (L1) reaches is caught up without L0
    src = H.vec(main["root"])
    d1 = os.path.join(db, "ltx", "1")
    os.makedirs(d1, exist_ok=True)
    shutil.copyfile(os.path.join(src, "ltx", "1", "0000000000000006-0000000000000008.ltx"),
                    os.path.join(d1, "0000000000000006-0000000000000008.ltx"))
    ok = srv.wait_for(lambda: (srv.status("e.db") or {}).get("txid") == "%016x" % 8, 5, 0.05)
    ck.ok(ok, f"caught up from L1 to 8: {(srv.status('e.db') or {}).get('txid')}")
    st, _, b = H.http_get(srv.base + "/e.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, main["states"][7]["sha256"]), "bytes at 8")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    if srv:
        out = srv.output()
        srv.stop()
        print(out[-3000:])
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
