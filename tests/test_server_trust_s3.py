#!/usr/bin/env python3
"""Issue 10, database layer, on S3 (moto behind the fault proxy):
  - damaged files at cold start: an L0 with a bit flipped inside an LZ4
    literal (stalled at the TXID before it, named, never served) and a
    damaged L2 with covering L1s (the latest through the L1s, bytes equal
    to `ltxctl restore`);
  - the store failing (500s, then stalls beyond the client timeout):
    degraded with the current error and its time, lag growing, metrics
    saying so; ok again once the store answers; a request that has to read
    the stalled store answers 504 with Retry-After at its deadline;
  - damaged L1 and L9 files over L0 at cold start: routed around, exact
    bytes; latest never 410 after retention removed its L0 objects;
  - a database recreated under the same name (every object deleted, a new
    history written): the new latest within seconds, point-in-time too;
  - time lookups at or before the epoch or the first file are 410, a
    future one the latest;
  - an early open while the first index is being built (slow store,
    concurrency 1): every read path answers 503, never an empty database,
    then the right bytes."""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from test_server_common import H, Server, curl, jget  # noqa: E402
import test_server_trust_lib as T  # noqa: E402

ck = H.Checker("test_server_trust_s3")
if not H.python_with_moto() or not shutil.which("moto_server"):
    print("SKIP: moto_server not available")
    ck.ok(True, "skipped")
    ck.done()
from faultproxy import FaultProxy  # noqa: E402

BUCKET = "trust"
tmp = tempfile.mkdtemp(prefix="ltxpaged-trust-s3-")
moto = px = srv = srv2 = None


def tx(t):
    return f"{t:016x}"


def upload(s3, rep, db):
    for lvl in sorted(os.listdir(os.path.join(rep, "ltx"))):
        d = os.path.join(rep, "ltx", lvl)
        for fn in sorted(os.listdir(d)):
            with open(os.path.join(d, fn), "rb") as f:
                body = f.read()
            ms = int.from_bytes(body[32:40], "big", signed=True)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)
            s3.put_object(Bucket=BUCKET, Key="pfx/%s/%04x/%s" % (db, int(lvl), fn), Body=body,
                          Metadata={"litestream-timestamp": stamp})


try:
    moto = H.Moto()
    s3 = moto.client()
    s3.create_bucket(Bucket=BUCKET)
    px = FaultProxy(moto.endpoint, port=H.free_port(), seed=10).start()

    # a.db: L0 7 of 10 damaged
    ra = os.path.join(tmp, "ra")
    pa = T.damaged_l0(tmp, ra).rep
    upload(s3, ra, "a.db")
    # b.db: damaged L2 over L1 1-10, 11-20, no L0
    rb = os.path.join(tmp, "rb")
    pb, _ = T.damaged_l2(tmp, rb)
    upload(s3, rb, "b.db")
    # l1.db: a damaged L1 1-10 over L0 1..12; l9.db: a damaged L9 snapshot
    # over the same L0 files (case 1: every level verified at cold start)
    pl = T.leveled(tmp, "l")
    for db, keep, lv in (("l1.db", 1, 9), ("l9.db", 9, 1)):
        r_ = os.path.join(tmp, "r" + db)
        T.damaged_level_copy(pl, r_, keep, lv)
        upload(s3, r_, db)
    # f.db: an old history (TXIDs 1..10), replaced while running (case 8)
    wf = T.history(tmp, "f", 9, "old")
    pf = wf.rep
    upload(s3, pf, "f.db")

    env = moto.env()
    env["AWS_ENDPOINT_URL_S3"] = px.url
    endpoint = env["AWS_ENDPOINT_URL_S3"]
    srv = Server(["--replica", f"s3://{BUCKET}/pfx", "--s3-endpoint", endpoint, "--s3-path-style",
                  "--s3-region", "us-east-1", "--poll-interval", "200ms", "--l1-interval", "1s",
                  "--rescan-interval", "1s"], env=env)
    ck.ok(srv.wait_ready(30), "ready")

    def status(db, s=None):
        return jget(f"{(s or srv).base}/{db}")[1] or {}

    s = status("a.db")
    ck.eq((s.get("state"), s.get("txid")), ("stalled", tx(6)), "s3 a.db: damaged L0 7 -> stalled at 6")
    ck.ok(T.l0_name(7)[:16] in (s.get("stall_reason") or ""), f"s3 a.db: L0 7 named: {s.get('stall_reason')}")
    st, _, b = curl(f"{srv.base}/a.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pa, tmp, 6))), "s3 a.db: latest is TXID 6")
    for t in (7, 10):
        st, _, _ = curl(f"{srv.base}/a.db/file?txid={t:x}")
        ck.ok(st != 200, f"s3 a.db: TXID {t} never served ({st})")
    s = status("b.db")
    ck.eq((s.get("state"), s.get("txid")), ("ok", tx(20)), "s3 b.db: damaged L2 routed around through L1")
    for t in (None, 10):
        st, _, b = curl(f"{srv.base}/b.db/file" + (f"?txid={t:x}" if t else ""))
        ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pb, tmp, t))),
              f"s3 b.db: /file at {t or 'latest'} == ltxctl restore")

    for db, lv in (("l1.db", "L1"), ("l9.db", "L9")):
        s = status(db)
        ck.eq((s.get("state"), s.get("txid")), ("ok", tx(12)), f"s3 {db}: damaged {lv} routed around through L0")
        ck.ok(any((r.get("file") or "").startswith(lv) for r in s.get("rejected_files", [])),
              f"s3 {db}: {lv} rejected: {s.get('rejected_files')}")
        for t in (None, 10):
            st, _, b = curl(f"{srv.base}/{db}/file" + (f"?txid={t:x}" if t else ""))
            ck.eq((st, H.sha256_bytes(b)), (200, H.sha256_bytes(T.restore(pl, tmp, t))),
                  f"s3 {db}: /file at {t or 'latest'} == ltxctl restore")

    # time lookups (case 11): at or before the epoch, or before the first
    # file, 410 (time=0 was the plan's "no bound" and answered the latest); a
    # future time the latest
    for when in ("1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2000-01-01T00:00:00Z"):
        st, j = jget(f"{srv.base}/b.db?time={when}")
        ck.eq((st, (j or {}).get("code")), (410, "txid_gone"), f"s3 b.db: time={when} -> 410 txid_gone")
    st, j = jget(f"{srv.base}/b.db?time=2999-01-01T00:00:00Z")
    ck.eq((st, (j or {}).get("txid")), (200, tx(20)), "s3 b.db: a time in the future -> the latest TXID")

    # ---- f.db: recreated under the same name (case 8) -----------------------
    # every object of the old history deleted and a new history (TXIDs 1..7)
    # written under the same name: the new latest within seconds, no
    # point-in-time index of the old history left, its TXIDs never served
    st, _, b_old5 = curl(f"{srv.base}/f.db/file?txid=5")
    ck.eq(st, 200, "s3 f.db: TXID 5 of the old history served (point-in-time index built)")
    wn = T.history(tmp, "n", 6, "new")
    pn = wn.rep
    old = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="pfx/f.db/").get("Contents", [])]
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in old]})
    upload(s3, pn, "f.db")
    new_latest = H.sha256_bytes(T.restore(pn, tmp))
    ok = srv.wait_for(lambda: H.sha256_bytes(curl(f"{srv.base}/f.db/file")[2]) == new_latest, 10, 0.1)
    ck.ok(ok, "s3 f.db: the new history's latest served within seconds")
    st, _, b5 = curl(f"{srv.base}/f.db/file?txid=5")
    ck.eq((st, H.sha256_bytes(b5)), (200, H.sha256_bytes(T.restore(pn, tmp, 5))),
          "s3 f.db: TXID 5 is the new history's (no point-in-time index of the old one)")
    ck.ok(b5 != b_old5, "s3 f.db: not the old history's TXID 5")
    st, _, _ = curl(f"{srv.base}/f.db/file?txid=a")
    ck.ok(st != 200, f"s3 f.db: TXID 10 of the old history not served ({st})")

    # ---- the store failing: 500s --------------------------------------------
    px.add("error", status=500)
    t0 = time.time()
    # degraded, and a poll has come back with the 500s: until one has (each
    # poll retries for a second or more, and one poller thread serves every
    # database here) last_error rightly says a poll is still waiting
    ok = srv.wait_for(lambda: (lambda s: s.get("state") == "degraded" and
                               (s.get("consecutive_poll_failures") or 0) >= 1)(status("b.db")), 15, 0.2)
    s1 = status("b.db")
    ck.ok(ok, f"s3 b.db: 500s -> degraded after {time.time() - t0:.1f}s ({s1.get('state')})")
    err_at = s1.get("last_error_at") or ""
    ck.ok("500" in (s1.get("last_error") or "") or "nternal" in (s1.get("last_error") or ""),
          f"s3 b.db: last_error is the current one: {s1.get('last_error')}")
    time.sleep(1.2)
    s2 = status("b.db")
    ck.ok((s2.get("lag_seconds") or 0) > (s1.get("lag_seconds") or 0) + 0.8,
          f"s3 b.db: lag grows while degraded ({s1.get('lag_seconds')} -> {s2.get('lag_seconds')})")
    ck.ok((s2.get("last_error_at") or "") >= err_at, f"s3 b.db: last_error_at current ({s2.get('last_error_at')})")
    st, _, m = curl(srv.base + "/metrics")
    ck.ok('ltxpaged_db_state{db="b.db",state="degraded"} 1' in m.decode(), "s3 b.db: metrics say degraded")
    px.clear()
    ok = srv.wait_for(lambda: status("b.db").get("state") == "ok", 20, 0.2)
    ck.ok(ok, f"s3 b.db: ok again once the store answers ({status('b.db').get('state')})")
    ck.ok((status("b.db").get("lag_seconds") or 99) < 2, "s3 b.db: lag small again")

    # ---- the store stalling beyond the client timeout -----------------------
    px.add("stall", seconds=30)
    # a request that has to read the stalled store (a time lookup lists the
    # bucket) ends at the store's 10 s deadline with 504 + Retry-After
    t0 = time.time()
    st, h, body = curl(f"{srv.base}/b.db?time=2999-01-01T00:00:00Z")
    dt = time.time() - t0
    code = (json.loads(body or b"null") or {}).get("code") if body.startswith(b"{") else None
    ck.eq((st, code, h.get("retry-after")), (504, "upstream_error", "1"),
          f"s3 b.db: a time lookup on a stalled store -> 504 upstream_error, Retry-After 1 ({dt:.1f}s)")
    ck.ok(dt < 20, f"s3 b.db: the 504 comes at the store deadline, not after retries ({dt:.1f}s)")
    ok = srv.wait_for(lambda: status("b.db").get("state") == "degraded", 15, 0.2)
    ck.ok(ok, f"s3 b.db: a stalled store -> degraded ({status('b.db').get('state')})")
    s3_ = status("b.db")
    ck.ok("no successful poll" in (s3_.get("degraded_reason") or ""),
          f"s3 b.db: degraded_reason says why: {s3_.get('degraded_reason')}")
    ck.ok("object store" in (s3_.get("last_error") or "") or s3_.get("last_error_at", "") > err_at,
          f"s3 b.db: last_error is the stall, not the older 500: {s3_.get('last_error')} {s3_.get('last_error_at')}")
    px.clear()
    ok = srv.wait_for(lambda: status("b.db").get("state") == "ok", 30, 0.2)
    ck.ok(ok, f"s3 b.db: ok again after the stall ({status('b.db').get('state')})")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None

    # ---- h.db: latest is never 410 (case 6) ---------------------------------
    # indexed at 6 from L0 (cold cache, no polls); then retention removes
    # every L0 object under a new L1 1-7: a latest /file resolves anew to 7
    wh = T.history(tmp, "h", 5)
    ph = wh.rep
    upload(s3, ph, "h.db")
    srv = Server(["--db", f"h.db=s3://{BUCKET}/pfx/h.db", "--s3-endpoint", endpoint, "--s3-path-style",
                  "--s3-region", "us-east-1", "--poll-interval", "1h", "--l1-interval", "1h",
                  "--cache-size", "64K"], env=dict(env, LTXPAGED_WARM="0"))
    ck.ok(srv.wait_ready(30) and status("h.db").get("txid") == tx(6), "s3 h.db: indexed at 6")
    wh.commit()
    T.ltxctl("compact", ph, "--level", 1)
    hl1 = os.path.join(tmp, "rh")
    os.makedirs(os.path.join(hl1, "ltx"))
    T.copy_level(ph, hl1, 1)
    upload(s3, hl1, "h.db")
    old = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="pfx/h.db/0000/").get("Contents", [])]
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in old]})
    st, h, b = curl(f"{srv.base}/h.db/file")
    ck.eq((st, h.get("ltx-txid"), H.sha256_bytes(b)), (200, tx(7), H.sha256_bytes(T.restore(ph, tmp, 7))),
          "s3 h.db: latest /file after retention is TXID 7's bytes, not 410")
    ck.eq(srv.stop(), 0, "clean exit (h.db)")
    srv = None

    # ---- an early open while the first index builds ---------------------------
    wc = T.history(tmp, "c", 119)  # 120 L0 files
    pc = wc.rep
    rows = wc.c.execute("select count(*) from t").fetchone()[0]
    upload(s3, pc, "c.db")
    want = H.sha256_bytes(T.restore(pc, tmp))
    px.add("slow_first_byte", seconds=0.03, op="range")
    srv2 = Server(["--db", f"c.db=s3://{BUCKET}/pfx/c.db", "--s3-endpoint", endpoint, "--s3-path-style",
                   "--s3-region", "us-east-1", "--index-fetch-concurrency", "1"], env=env)
    answers = {}
    vfs_results = []
    lib = os.path.join(H.BUILD, "client-vfs", "libltxhttp")

    def vfs_open():
        try:
            c0 = sqlite3.connect(":memory:")
            c0.enable_load_extension(True)
            c0.load_extension(lib)
            c = sqlite3.connect(f"file:c.db?vfs=ltxhttp&server=http://127.0.0.1:{srv2.port}", uri=True)
            n = c.execute("select count(*) from t").fetchone()[0]
            vfs_results.append(("rows", n))
            c.close()
        except Exception as e:  # an error is fine; an empty database is not
            vfs_results.append(("error", str(e)))

    building_seen = False
    deadline = time.time() + 60
    while time.time() < deadline:
        s = status("c.db", srv2)
        building_seen = building_seen or bool((s.get("verification") or {}).get("building"))
        for p in ("", "/file", "/pages/1", "/pages?n=1-2", "/changes?since=1"):
            st, _, b = curl(f"{srv2.base}/c.db{p}")
            answers.setdefault(p, set()).add(st)
            if st == 200 and p == "/file":
                ck.eq(H.sha256_bytes(b), want, "c.db: a 200 /file is the whole right database")
        if len(vfs_results) < 3:
            vfs_open()
        if s.get("ready"):
            break
    ck.ok(building_seen, "c.db: the status showed the first index building")
    ck.ok(all(st in (503, 200) for v in answers.values() for st in v), f"c.db: only 503 or 200: {answers}")
    ck.ok(all(503 in answers.get(p, set()) for p in ("", "/file", "/pages/1")),
          f"c.db: 503 while building: {answers}")
    ck.ok(all(r[0] == "error" or r[1] == rows for r in vfs_results),
          f"c.db: an early VFS open errs or sees every row, never an empty database: {vfs_results}")
    st, _, b = curl(f"{srv2.base}/c.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, want), "c.db: the right bytes once ready")
    px.clear()
    ck.eq(srv2.stop(), 0, "clean exit")
    srv2 = None
finally:
    H.cleanup(tmp, srv, srv2, px, moto)
ck.done()
