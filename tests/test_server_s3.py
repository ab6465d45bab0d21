#!/usr/bin/env python3
"""ltxpaged on S3 (moto): --replica s3://bucket/prefix discovers every
database (the vectors' S3-layout copy and a converted chain), every TXID
is byte-identical via curl, a database uploaded while the server runs is
discovered, its L0 files show up within poll interval + 1 s, L0 files
deleted by "retention" during reads still serve correct bytes, --db with
an s3:// URL, and object-store counters in /metrics."""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, MAN, Server, chain, curl, jget  # noqa: E402

ck = H.Checker("test_server_s3")
if H.python_with_moto() is None or shutil.which("moto_server") is None:
    print("SKIP: moto_server not available")
    ck.ok(True, "skipped")
    ck.done()

moto = srv = srv2 = None
BUCKET = "ltxb"
try:
    moto = H.Moto()
    s3 = moto.client()
    s3.create_bucket(Bucket=BUCKET)
    main = chain("main-4096")
    ps = chain("ps512")

    def put_file(key, path):
        with open(path, "rb") as f:
            body = f.read()
        ms = int.from_bytes(body[32:40], "big", signed=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={"litestream-timestamp": stamp})

    # the vectors' own S3 copy: <prefix>/db/<%04x>/...
    moto.upload_tree(BUCKET, H.vec("block/main-4096/replica-s3"), "pfx")
    # a file-layout chain converted to the S3 layout
    for f in ps["files"]:
        put_file("pfx/ps.db/%04x/%s" % (f["level"], os.path.basename(f["path"])), H.vec(f["path"]))

    env = moto.env()
    srv = Server(["--replica", f"s3://{BUCKET}/pfx", "--s3-endpoint", moto.endpoint, "--s3-path-style",
                  "--s3-region", "us-east-1", "--poll-interval", "200ms", "--rescan-interval", "500ms",
                  "--cache-size", "128K"], env=env)
    ck.ok(srv.wait_ready(20), "ready")
    st, j = jget(srv.base + "/admin/dbs")
    ck.eq(sorted(d["name"] for d in (j or {}).get("databases", [])), ["db", "ps.db"], "discovered S3 databases")
    for name, c in (("db", main), ("ps.db", ps)):
        for s in c["states"]:
            st, h, body = curl(f"{srv.base}/{name}/file?txid={s['txid']}")
            ck.eq((st, H.sha256_bytes(body)), (200, s["sha256"]), f"s3 {name} txid {s['txid'][-2:]} bytes")
            ck.eq(h.get("ltx-timestamp"), s["timestamp"], f"s3 {name} txid {s['txid'][-2:]} timestamp")
    st, _, b = H.http_get(f"{srv.base}/db/pages?n=1-77")
    ck.eq(H.sha256_bytes(b), main["states"][-1]["sha256"], "s3 batch equals latest state")
    # time resolution with S3 metadata timestamps
    for e in MAN["restore_plans"]:
        if e["replica"] == "full" and e["target"].startswith("ts=") and "error" not in e:
            st, j = jget(f"{srv.base}/db?time=2025-01-01T{e['target'][3:]}Z")
            ck.eq((st, j and j.get("txid")), (200, e["restored_txid"]), f"s3 time {e['target']}")

    # a new database appears while running; its L0 files one at a time
    l0 = [f for f in main["files"] if f["level"] == 0]
    put_file("pfx/new.db/0000/" + os.path.basename(l0[0]["path"]), H.vec(l0[0]["path"]))
    t0 = time.time()
    ok = srv.wait_for(lambda: (srv.status("new.db") or {}).get("txid") == "0000000000000001", 5)
    ck.ok(ok, f"new database discovered and indexed after {time.time() - t0:.2f}s")
    for f in l0[1:4]:
        put_file("pfx/new.db/0000/" + os.path.basename(f["path"]), H.vec(f["path"]))
        t0 = time.time()
        ok = srv.wait_for(lambda: (srv.status("new.db") or {}).get("txid") == f["max_txid"], 1.2, 0.02)
        ck.ok(ok, f"s3 TXID {f['max_txid'][-1]} visible after {time.time() - t0:.2f}s (limit 1.2s)")
    st, _, body = curl(f"{srv.base}/new.db/file")
    ck.eq(H.sha256_bytes(body), main["states"][3]["sha256"], "new.db bytes at TXID 4")

    # retention deletes L0 1..8 of "db" while it is served (tiny cache)
    for f in l0[:8]:
        s3.delete_object(Bucket=BUCKET, Key="pfx/db/0000/" + os.path.basename(f["path"]))
    st, _, body = curl(f"{srv.base}/db/file")
    ck.eq((st, H.sha256_bytes(body)), (200, main["states"][-1]["sha256"]), "latest bytes after S3 retention")
    for s in main["states"]:
        t = int(s["txid"], 16)
        st, _, body = curl(f"{srv.base}/db/file?txid={s['txid']}")
        if t in (5, 7, 8, 9):
            ck.eq((st, H.sha256_bytes(body)), (200, s["sha256"]), f"s3 TXID {t} after retention")
        elif st == 200:
            # still answerable from pages cached before the deletion: must be exact
            if not ck.eq(H.sha256_bytes(body), s["sha256"], f"s3 TXID {t} served from cache is exact"):
                print(open(srv.log_path, errors="replace").read()[-6000:])
        else:
            ck.eq(st, 410, f"s3 TXID {t} gone after retention -> 410")

    st, h, body = curl(srv.base + "/metrics")
    m = body.decode()
    ck.ok(re.search(r'^ltxpaged_objstore_gets_total\{store="s3://ltxb/pfx"\} [1-9]\d*$', m, re.M) is not None,
          "s3 gets metric")
    ck.ok(re.search(r'^ltxpaged_objstore_lists_total\{store="s3://ltxb/pfx"\} [1-9]\d*$', m, re.M) is not None,
          "s3 lists metric")
    ck.ok(re.search(r'^ltxpaged_db_txid\{db="new.db"\} 4$', m, re.M) is not None, "metric txid of new.db")
    if not ck.eq(srv.stop(), 0, "clean exit"):
        print(open(srv.log_path, errors="replace").read()[-12000:])
    srv = None

    # --db NAME=s3://bucket/prefix (the prefix holds the levels)
    srv2 = Server(["--db", f"one.db=s3://{BUCKET}/pfx/ps.db", "--s3-endpoint", moto.endpoint], env=env)
    ck.ok(srv2.wait_ready(20), "--db s3 ready")
    for s in ps["states"]:
        st, _, body = curl(f"{srv2.base}/one.db/file?txid={s['txid']}")
        ck.eq((st, H.sha256_bytes(body)), (200, s["sha256"]), f"--db s3 txid {s['txid'][-1]}")
    ck.eq(srv2.stop(), 0, "clean exit (--db s3)")
    srv2 = None
finally:
    for p in (srv, srv2):
        if p:
            p.stop()
            print(open(p.log_path, errors="replace").read()[-4000:])
    if moto:
        moto.stop()
ck.done()
