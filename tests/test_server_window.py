#!/usr/bin/env python3
"""ltxpaged version window and pins: superseded TXIDs stay in the live
index while the window lasts or while requests pin them, then leave it
(oldest_live_txid advances, /changes from before answers reset), and a
TXID that left the window is still served byte-identical from a
historical index built from the restore plan."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, l0_by_txid, states_by_txid  # noqa: E402

ck = H.Checker("test_server_window")
tmp = tempfile.mkdtemp(prefix="ltxpaged-win-")
srv = None
c = chain("main-4096")
states = states_by_txid(c)
l0 = l0_by_txid(c)


def put(t):
    H.put_l0(db_dir, l0[t]["path"])


def status():
    return srv.status("w.db") or {}


try:
    db_dir = os.path.join(tmp, "w.db")
    os.makedirs(os.path.join(db_dir, "ltx", "0"))
    put(1)
    srv = Server(["--db", "w.db=" + db_dir, "--poll-interval", "100ms", "--version-window", "700ms"])
    ck.ok(srv.wait_ready(), "ready")
    for t in (2, 3, 4):
        put(t)
        ck.ok(srv.wait_for(lambda: status().get("txid") == "%016x" % t, 2, 0.02), f"TXID {t} indexed")
    st = status()
    ck.eq(st.get("oldest_live_txid"), "0000000000000001", "all TXIDs live inside the window")
    stc, j = jget(srv.base + "/w.db/changes?since=1")
    want = sorted(set().union(*(l0[t]["pages"] for t in (2, 3, 4))))
    ck.eq(j and j.get("pages"), want, "changes since 1 inside the window")

    # pin TXID 2 by reading at it while the window passes
    t_end = time.time() + 2.0
    while time.time() < t_end:
        stc, h, b = curl(srv.base + "/w.db/pages/1?txid=2")
        time.sleep(0.15)
    st = status()
    ck.eq(st.get("oldest_live_txid"), "0000000000000002", "TXID 1 left the window; pinned TXID 2 stayed")
    ck.eq(st.get("counters", {}).get("historical_builds"), 0, "pinned reads used the live index")
    stc, j = jget(srv.base + "/w.db/changes?since=1")
    ck.eq(j and j.get("reset"), True, "changes since a pruned TXID -> reset")
    stc, j = jget(srv.base + "/w.db/changes?since=2")
    ck.ok(j and not j.get("reset") and j.get("pages") == sorted(set(l0[3]["pages"]) | set(l0[4]["pages"])),
          "changes since pinned TXID 2 still listed")

    # stop pinning: everything but the newest leaves
    ok = srv.wait_for(lambda: status().get("oldest_live_txid") == "0000000000000004", 3, 0.1)
    ck.ok(ok, f"unpinned TXIDs left the window: {status().get('oldest_live_txid')}")
    st = status()
    ck.eq(st.get("live_txids"), 1, "one live TXID left")
    ck.ok(st.get("page_versions", 0) <= states[4]["commit"], f"one version per page: {st.get('page_versions')}")
    for t in (1, 2, 3):
        stc, h, b = curl(f"{srv.base}/w.db/file?txid={t}")
        ck.eq((stc, H.sha256_bytes(b)), (200, states[t]["sha256"]), f"TXID {t} from a historical index")
    st = status()
    ck.ok(st.get("counters", {}).get("historical_builds", 0) >= 3, f"historical builds: {st.get('counters')}")
    ck.ok(len(st.get("historical_txids", [])) >= 1, "historical indexes listed in status")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv, tail=4000)
ck.done()
