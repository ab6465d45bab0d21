#!/usr/bin/env python3
"""Point-in-time indexes are bounded server-wide, not only per database:
--max-historical caps them per database, but with many databases anyone
who can read could make the server hold max-historical indexes for every
one of them (an index is ~48 bytes per page of the database). With 5
databases and 4 old TXIDs read from each (20 indexes wanted):
  - default flags: at most 16 are held (--max-historical-total 16);
  - --max-historical-total 6: at most 6 are held, the least recently used
    across databases go first;
  - every read still returns exactly the manifest's bytes (an evicted index
    is simply built again)."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, states_by_txid  # noqa: E402

ck = H.Checker("test_server_hist")
tmp = tempfile.mkdtemp(prefix="ltxpaged-hist-")
srv = None
main = chain("main-4096")
states = states_by_txid(main)
DBS = ["h%d.db" % i for i in range(5)]
OLD = [1, 2, 3, 4]


def held():
    st, j = jget(srv.base + "/admin/dbs")
    return {d["name"]: len(d.get("historical_txids") or []) for d in (j or {}).get("databases", [])}


def read_all():
    bad = 0
    for name in DBS:
        for t in OLD:
            st, h, b = curl(f"{srv.base}/{name}/file?txid={t}")
            if (st, H.sha256_bytes(b)) != (200, states[t]["sha256"]):
                bad += 1
                print(f"{name} txid {t}: {st}")
    return bad


try:
    for name in DBS:
        H.copy_replica(main["root"], os.path.join(tmp, name))
    for args, cap in (([], 16), (["--max-historical-total", "6"], 6)):
        srv = Server(["--replica", "file://" + tmp] + args)
        ck.ok(srv.wait_ready(), f"ready {args}")
        ck.eq(read_all(), 0, f"every old TXID of every database exact {args}")
        h = held()
        total = sum(h.values())
        print(f"{args}: historical indexes held {h} (total {total})")
        ck.ok(0 < total <= cap, f"at most {cap} point-in-time indexes held server-wide: {total} {h}")
        if cap == 6:
            # the most recently used database keeps its indexes
            ck.eq(h.get(DBS[-1]), 4, "the last database read keeps its 4 indexes")
            ck.eq(read_all(), 0, "read again (indexes rebuilt after eviction): exact")
            ck.ok(sum(held().values()) <= cap, "still bounded after a second round")
        ck.eq(srv.stop(), 0, f"clean exit {args}")
        srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
