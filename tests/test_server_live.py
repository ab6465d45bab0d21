#!/usr/bin/env python3
"""ltxpaged following a live file replica: state waiting -> ok; L0 files
copied in one at a time show up within poll interval + 1 s; a /changes
long-poll wakes up when a TXID arrives and lists exactly that TXID's pages;
a reader pinned at an older TXID keeps getting its bytes; a gap stalls
the database (with the reason) while it keeps serving; corrupt and
truncated newest files are refused and reported while the previous TXID
is served; after retention deletes the L0 files the server re-plans from
L1+/snapshots and still serves correct bytes (tiny cache, so reads go to
the store), and only unrestorable TXIDs answer 410."""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, states_by_txid  # noqa: E402

POLL = 0.2
ck = H.Checker("test_server_live")
tmp = tempfile.mkdtemp(prefix="ltxpaged-live-")
srv = None
c = chain("main-4096")
states = states_by_txid(c)
src = H.vec(c["root"])
l0 = {f["min_txid"]: f for f in c["files"] if f["level"] == 0}


def put(rel_src, data=None, level=None):
    """Copy one LTX file into the live replica atomically (tmp + rename), with mtime."""
    lvl = level if level is not None else rel_src.split("/")[-2]
    fn = os.path.basename(rel_src)
    d = os.path.join(db_dir, "ltx", str(lvl))
    os.makedirs(d, exist_ok=True)
    tmpf = os.path.join(d, "." + fn + ".tmp")
    with open(tmpf, "wb") as f:
        if data is None:
            with open(os.path.join(H.VECTORS, rel_src), "rb") as s:
                data = s.read()
        f.write(data)
    os.rename(tmpf, os.path.join(d, fn))
    H.set_mtime_from_header(os.path.join(d, fn))


def l0_path(t):
    return l0["%016x" % t]["path"]


def sha_at(t):
    st, h, b = curl(f"{srv.base}/live.db/file?txid={t:x}")
    return st, H.sha256_bytes(b)


def wait_txid(t, timeout):
    t0 = time.time()
    ok = srv.wait_for(lambda: (srv.status("live.db") or {}).get("txid") == "%016x" % t, timeout, 0.02)
    return ok, time.time() - t0


try:
    db_dir = os.path.join(tmp, "live.db")
    os.makedirs(os.path.join(db_dir, "ltx", "0"))
    srv = Server(["--db", "live.db=" + db_dir, "--poll-interval", "200ms", "--cache-size", "64K",
                  "--l1-interval", "1s"])
    ck.ok(srv.wait_ready(), "ready once the first plan attempt finished")
    st = srv.status("live.db")
    ck.eq(st and st.get("state"), "waiting", "no files yet -> waiting")
    stc, j = jget(srv.base + "/live.db/pages/1")
    ck.eq((stc, j and j.get("code")), (503, "unavailable"), "page while waiting -> 503")

    # L0 1..3 one at a time, each visible within poll interval + 1 s
    for t in (1, 2, 3):
        put(l0_path(t))
        ok, dt = wait_txid(t, POLL + 1.0)
        ck.ok(ok, f"TXID {t} visible after {dt:.2f}s (limit {POLL + 1.0}s)")
        ck.eq(sha_at(t), (200, states[t]["sha256"]), f"bytes at TXID {t}")
    ck.eq((srv.status("live.db") or {}).get("state"), "ok", "state ok")

    # long-poll wakes up on TXID 4 and lists exactly its pages
    res = {}

    def longpoll():
        t0 = time.time()
        res["st"], res["j"] = jget(srv.base + "/live.db/changes?since=0000000000000003&wait=10")
        res["t"] = time.time()
        res["dt"] = res["t"] - t0

    th = threading.Thread(target=longpoll)
    th.start()
    time.sleep(0.5)
    ck.ok(th.is_alive(), "long-poll is waiting while nothing is newer")
    t_put = time.time()
    put(l0_path(4))
    th.join(15)
    ck.eq(res.get("st"), 200, "long-poll status")
    j = res.get("j") or {}
    ck.eq(j.get("txid"), "0000000000000004", "long-poll answers with the new TXID")
    ck.eq(j.get("pages"), l0["0000000000000004"]["pages"], "long-poll lists TXID 4's pages")
    ck.ok(res.get("t", 1e18) - t_put < POLL + 1.0, f"long-poll answered {res.get('t', 0) - t_put:.2f}s after the file")
    # a timed-out long-poll answers with no pages
    t0 = time.time()
    stc, j = jget(srv.base + "/live.db/changes?since=4&wait=1")
    ck.ok(stc == 200 and j.get("pages") == [] and 0.8 < time.time() - t0 < 3, "long-poll times out after wait=1")
    # changes since 1 = union of TX2..4 pages
    want = sorted(set(l0["0000000000000002"]["pages"]) | set(l0["0000000000000003"]["pages"])
                  | set(l0["0000000000000004"]["pages"]))
    stc, j = jget(srv.base + "/live.db/changes?since=1")
    ck.eq(j and j.get("pages"), want, "changes since 1 = pages of TX 2..4")

    # pinned reader keeps its bytes
    ck.eq(sha_at(3), (200, states[3]["sha256"]), "pinned TXID 3 after 4 arrived")

    # gap: TXID 6 without 5 -> stalled, still serving 4
    put(l0_path(6))
    s = srv.wait_for(lambda: (srv.status("live.db") or {}).get("state") == "stalled" and srv.status("live.db"),
                     POLL + 2.0)
    ck.ok(bool(s), "gap -> stalled")
    s = s or {}
    ck.eq(s.get("txid"), "0000000000000004", "stalled keeps serving TXID 4")
    ck.ok("0000000000000005" in (s.get("stall_reason") or ""), f"stall reason names the gap: {s.get('stall_reason')}")
    ck.eq(sha_at(4), (200, states[4]["sha256"]), "bytes at 4 while stalled")
    put(l0_path(5))
    ok, dt = wait_txid(6, POLL + 1.5)
    ck.ok(ok, f"gap filled -> TXID 6 after {dt:.2f}s")
    ck.eq((srv.status("live.db") or {}).get("state"), "ok", "state ok after gap filled")
    for t in (5, 6):
        ck.eq(sha_at(t), (200, states[t]["sha256"]), f"bytes at TXID {t} (shrink at 5)")

    # corrupt newest file -> refused, reported, previous TXID served
    good7 = open(os.path.join(H.VECTORS, l0_path(7)), "rb").read()
    bad = bytearray(good7)
    bad[len(bad) // 2] ^= 0xFF
    put(l0_path(7), bytes(bad))
    s = srv.wait_for(lambda: (srv.status("live.db") or {}).get("last_error") and srv.status("live.db"), POLL + 2.0)
    s = s or {}
    ck.ok("0000000000000007" in (s.get("last_error") or ""), f"corrupt file reported: {s.get('last_error')}")
    ck.eq(s.get("txid"), "0000000000000006", "corrupt file refused: still TXID 6")
    ck.eq(sha_at(6), (200, states[6]["sha256"]), "bytes at 6 with a corrupt 7 present")
    # truncated
    put(l0_path(7), good7[:len(good7) // 3])
    time.sleep(POLL * 3)
    s = srv.status("live.db") or {}
    ck.eq(s.get("txid"), "0000000000000006", "truncated file refused: still TXID 6")
    ck.ok("0000000000000007" in (s.get("last_error") or ""), "truncated file reported")
    stc, h, _ = curl(srv.base + "/live.db/pages/1")
    ck.eq(h.get("ltx-txid"), "0000000000000006", "latest page served at 6")
    # the good file replaces it
    put(l0_path(7), good7)
    ok, dt = wait_txid(7, POLL + 1.0)
    ck.ok(ok, f"good TXID 7 accepted after {dt:.2f}s")
    for t in (8, 9):
        put(l0_path(t))
        ok, dt = wait_txid(t, POLL + 1.0)
        ck.ok(ok, f"TXID {t} visible after {dt:.2f}s")
    for t in range(1, 10):
        ck.eq(sha_at(t), (200, states[t]["sha256"]), f"every TXID in the live window: {t}")
    stc, _, b = H.http_get(f"{srv.base}/live.db/pages?n=1-77")
    ck.eq(H.sha256_bytes(b), states[9]["sha256"], "batch of all pages at latest")

    # retention: compactions appear, then every L0 file but 9 goes away
    for f in c["files"]:
        if f["level"] != 0:
            put(f["path"])
    time.sleep(1.3)  # let the L1 interval notice the levels
    for t in range(1, 9):
        os.remove(os.path.join(db_dir, "ltx", "0", os.path.basename(l0_path(t))))
    # latest pages still right (tiny cache: reads hit the store and 404 -> re-plan)
    stc, _, b = curl(f"{srv.base}/live.db/file")
    ck.eq((stc, H.sha256_bytes(b)), (200, states[9]["sha256"]), "latest bytes after L0 retention")
    for t in range(1, 10):
        stc, b = sha_at(t)
        if t in (5, 7, 8, 9):
            ck.eq((stc, b), (200, states[t]["sha256"]), f"TXID {t} restorable from L1+/L9 after retention")
        else:
            ck.eq(stc, 410, f"TXID {t} no longer restorable -> 410")
    s = srv.status("live.db") or {}
    ck.ok(s.get("counters", {}).get("replans", 0) >= 2, f"re-planned after 404s: {s.get('counters')}")
    st2, j = jget(srv.base + "/admin/status")
    cache = (j or {}).get("cache", {})
    ck.ok(cache.get("evictions", 0) > 0 and cache.get("bytes", 1 << 30) <= 64 * 1024,
          f"tiny cache evicts and stays bounded: {cache}")

    rc = srv.stop()
    ck.eq(rc, 0, "clean exit on SIGTERM")
    log = open(srv.log_path, errors="replace").read()
    ck.ok("event=new_txid" in log and "event=file_rejected" in log and "event=db_state" in log,
          "log lines for new TXIDs, rejected files, state changes")
    srv = None

    # a truncated newest file already there at start: the TXID before it is
    # served and the file reported; the good file is taken when it appears
    db2 = os.path.join(tmp, "start.db")
    H.copy_replica(c["root"], db2)
    f9 = os.path.join(db2, "ltx", "0", os.path.basename(l0_path(9)))
    good9 = open(f9, "rb").read()
    os.chmod(f9, 0o644)
    with open(f9, "wb") as f:
        f.write(good9[:len(good9) // 2])
    srv = Server(["--db", "start.db=" + db2, "--poll-interval", "200ms"])
    ck.ok(srv.wait_ready(), "ready with a truncated newest file")
    s = srv.status("start.db") or {}
    # issue 10 case 3: held behind a truncated newest file is not "ok"
    ck.eq((s.get("state"), s.get("txid")), ("stalled", "0000000000000008"), "serves TXID 8 at start, stalled")
    ck.ok("0000000000000009" in (s.get("stall_reason") or ""), f"stall names the file: {s.get('stall_reason')}")
    ck.ok("0000000000000009" in (s.get("last_error") or ""), f"truncated file reported: {s.get('last_error')}")
    stc, h, b = curl(srv.base + "/start.db/file")
    ck.eq(H.sha256_bytes(b), states[8]["sha256"], "bytes of TXID 8")
    with open(f9 + ".tmp", "wb") as f:
        f.write(good9)
    os.rename(f9 + ".tmp", f9)
    ok = srv.wait_for(lambda: (srv.status("start.db") or {}).get("txid") == "0000000000000009", POLL + 1.0)
    ck.ok(ok, "good file replaces the truncated one")
    ok = srv.wait_for(lambda: (srv.status("start.db") or {}).get("state") == "ok", POLL + 1.0)
    ck.ok(ok, "ok again once the good file is applied")
    stc, h, b = curl(srv.base + "/start.db/file")
    ck.eq(H.sha256_bytes(b), states[9]["sha256"], "bytes of TXID 9")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None

    # a gap already there at start: serve the newest TXID before it, stalled
    db3 = os.path.join(tmp, "gap.db")
    os.makedirs(os.path.join(db3, "ltx", "0"))
    for t in (1, 2, 3, 5):
        shutil.copy(H.vec(l0_path(t)), os.path.join(db3, "ltx", "0"))
    srv = Server(["--db", "gap.db=" + db3, "--poll-interval", "200ms"])
    ck.ok(srv.wait_ready(), "ready with a gap")
    s = srv.status("gap.db") or {}
    ck.eq((s.get("state"), s.get("txid")), ("stalled", "0000000000000003"), "gap at start: stalled at TXID 3")
    ck.ok("0000000000000005" in (s.get("stall_reason") or ""), f"stall reason names the gap: {s.get('stall_reason')}")
    stc, h, b = curl(srv.base + "/gap.db/file")
    ck.eq(H.sha256_bytes(b), states[3]["sha256"], "bytes of TXID 3 while stalled")
    shutil.copy(H.vec(l0_path(4)), os.path.join(db3, "ltx", "0"))
    seen = []  # every sample at TXID 5: the stall must clear with the TXID, never after it

    def at5():
        s = srv.status("gap.db") or {}
        if s.get("txid") == "0000000000000005":
            seen.append(s.get("state"))
        return s.get("txid") == "0000000000000005"

    ok = srv.wait_for(at5, POLL + 1.5)
    ck.ok(ok, "gap filled: TXID 5")
    ck.eq((srv.status("gap.db") or {}).get("state"), "ok", "state ok after the gap is filled")
    ck.eq(seen, ["ok"], "the first status at TXID 5 already says ok")
    stc, h, b = curl(srv.base + "/gap.db/file")
    ck.eq(H.sha256_bytes(b), states[5]["sha256"], "bytes of TXID 5")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv, tail=4000)
ck.done()
