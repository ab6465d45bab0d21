#!/usr/bin/env python3
"""ltxpaged on file replicas (copies of every vector chain under one
--replica root, plus the pruned replica): for every TXID the replica can
restore, `curl /{db}/file?txid=T` is byte-identical to the state's SHA-256
from manifest.json; page and batch routes agree with it; journal=delete
differs only in page 1 bytes 18-19; ranges, HEAD, ETag/304, Cache-Control;
410 for TXIDs the bucket cannot restore, 409 for TXIDs ahead; time ->
TXID resolution as restore_plans say; clean exit on SIGTERM."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, MAN, Server, chain, curl, jget, restorable_txids, files_of  # noqa: E402

ck = H.Checker("test_server_file")
tmp = tempfile.mkdtemp(prefix="ltxpaged-file-")
srv = None
try:
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    dbs = {}
    for c in MAN["chains"]:
        name = c["name"] + ".db"
        H.copy_replica(c["root"], os.path.join(root, name))
        dbs[name] = c
    H.copy_replica(MAN["pruned_replica"]["root"], os.path.join(root, "pruned.db"))
    srv = Server(["--replica", "file://" + root, "--poll-interval", "200ms", "--cache-size", "8M"])
    ck.ok(srv.wait_ready(), "server ready")
    base = srv.base

    # /admin/dbs lists every database
    st, j = jget(base + "/admin/dbs")
    ck.eq(st, 200, "/admin/dbs status")
    names = sorted(d["name"] for d in j["databases"]) if j else []
    ck.eq(names, sorted(list(dbs) + ["pruned.db"]), "discovered databases")

    # every state of every chain, byte-identical (real curl)
    for name, c in dbs.items():
        for s in c["states"]:
            t = int(s["txid"], 16)
            st, h, body = curl(f"{base}/{name}/file?txid={s['txid']}")
            ck.eq(st, 200, f"{name} txid {t} status")
            ck.eq(H.sha256_bytes(body), s["sha256"], f"{name} /file?txid={t} sha256")
            ck.eq(h.get("ltx-txid"), s["txid"], f"{name} txid {t} Ltx-Txid")
            ck.eq(h.get("ltx-commit"), str(s["commit"]), f"{name} txid {t} Ltx-Commit")
            ck.eq(h.get("ltx-page-size"), str(c["page_size"]), f"{name} Ltx-Page-Size")
            ck.eq(h.get("ltx-timestamp"), s["timestamp"], f"{name} txid {t} Ltx-Timestamp")
            ck.ok("immutable" in h.get("cache-control", ""), f"{name} txid {t} immutable")
        last = c["states"][-1]
        st, h, body = curl(f"{base}/{name}/file")
        ck.eq(H.sha256_bytes(body), last["sha256"], f"{name} latest /file sha256")
        ck.eq(h.get("cache-control"), "no-cache", f"{name} latest Cache-Control")

    # pages and batches agree with /file for main-4096 at every TXID
    name = "main-4096.db"
    c = dbs[name]
    ps = c["page_size"]
    for s in c["states"]:
        st, _, whole = curl(f"{base}/{name}/file?txid={s['txid']}")
        n = s["commit"]
        st, h, batch = H.http_get(f"{base}/{name}/pages?n=1-{n}&txid={s['txid']}")
        ck.eq(st, 200, f"batch 1-{n} at {s['txid']}")
        ck.ok(batch == whole, f"batch 1-{n} equals /file at {s['txid']}")
        if s["txid"].endswith(("1", "5", "9")):
            for p in range(1, n + 1):
                st, h, page = H.http_get(f"{base}/{name}/pages/{p}?txid={s['txid']}")
                if not ck.ok(st == 200 and page == whole[(p - 1) * ps:p * ps],
                             f"page {p} at {s['txid']} equals /file slice (status {st})"):
                    break
        # order as asked, duplicates allowed
        st, h, b = H.http_get(f"{base}/{name}/pages?n=3,1,2-4,1&txid={s['txid']}")
        want = b"".join(whole[(p - 1) * ps:p * ps] for p in (3, 1, 2, 3, 4, 1))
        ck.ok(st == 200 and b == want, f"batch 3,1,2-4,1 order at {s['txid']}")
        ck.eq(h.get("ltx-txid"), s["txid"], "batch Ltx-Txid")

    # journal=delete: only page 1 bytes 18-19 differ (2 -> 1)
    st, _, wal = curl(f"{base}/{name}/file?txid=0000000000000009")
    st, h, jd = curl(f"{base}/{name}/file?txid=0000000000000009&journal=delete")
    ck.eq(st, 200, "journal=delete status")
    ck.eq(len(jd), len(wal), "journal=delete length")
    diff = [i for i in range(min(len(jd), len(wal))) if jd[i] != wal[i]]
    ck.eq(diff, [18, 19], "journal=delete differs only at bytes 18-19")
    ck.eq((wal[18], wal[19], jd[18], jd[19]), (2, 2, 1, 1), "WAL bytes 2/2 became 1/1")

    # ranges
    total = len(wal)
    st, h, b = curl(f"{base}/{name}/file?txid=9", "-H", "Range: bytes=100-9000")
    ck.eq(st, 206, "range status")
    ck.ok(b == wal[100:9001], "range bytes 100-9000")
    ck.eq(h.get("content-range"), f"bytes 100-9000/{total}", "Content-Range")
    st, h, b = curl(f"{base}/{name}/file?txid=9&journal=delete", "-H", "Range: bytes=10-30")
    ck.ok(st == 206 and b == jd[10:31], "range over page 1 header with journal=delete")
    st, h, b = curl(f"{base}/{name}/file?txid=9", "-H", "Range: bytes=-10")
    ck.ok(st == 206 and b == wal[-10:], "suffix range")
    st, h, b = curl(f"{base}/{name}/file?txid=9", "-H", f"Range: bytes={total}-")
    ck.eq(st, 416, "unsatisfiable range -> 416")
    ck.eq(h.get("content-range"), f"bytes */{total}", "416 Content-Range")
    st, h, b = H.http_get(f"{base}/{name}/file?txid=9", method="HEAD")
    ck.eq(st, 200, "HEAD /file")
    ck.eq(h.get("content-length"), str(total), "HEAD Content-Length")
    ck.eq(b, b"", "HEAD has no body")

    # ETag / 304
    st, h, b = curl(f"{base}/{name}/pages/2?txid=3")
    etag = h.get("etag", "")
    ck.ok(etag.startswith('"') and "0000000000000003" in etag, f"strong ETag {etag}")
    st, h2, b2 = curl(f"{base}/{name}/pages/2?txid=3", "-H", f"If-None-Match: {etag}")
    ck.eq(st, 304, "If-None-Match -> 304")
    ck.eq(b2, b"", "304 has no body")
    st, h, b = curl(f"{base}/{name}/pages/2")
    ck.eq(h.get("cache-control"), "no-cache", "latest page Cache-Control")

    # TXID ahead, zero, out of range
    st, j = jget(f"{base}/{name}/pages/1?txid=a")
    ck.eq((st, j and j.get("code")), (409, "txid_ahead"), "TXID ahead -> 409")
    st, j = jget(f"{base}/{name}/pages/78")
    ck.eq((st, j and j.get("code")), (404, "page_out_of_range"), "page beyond commit 77 -> 404")
    st, j = jget(f"{base}/{name}/pages/45?txid=7")
    ck.eq((st, j and j.get("code")), (404, "page_out_of_range"), "page 45 beyond commit 36 at TXID 7 -> 404")

    # pruned replica: exactly the restorable TXIDs answer, with the right bytes
    pr = os.path.join(root, "pruned.db")
    ok = restorable_txids(files_of(pr))
    ck.ok(ok == {5, 7, 8, 9}, f"reachability helper on pruned replica: {sorted(ok)}")
    main = chain("main-4096")
    for s in main["states"]:
        t = int(s["txid"], 16)
        st, h, body = curl(f"{base}/pruned.db/file?txid={s['txid']}")
        if t in ok:
            ck.eq(st, 200, f"pruned txid {t} status")
            ck.eq(H.sha256_bytes(body), s["sha256"], f"pruned /file?txid={t} sha256")
        else:
            ck.eq(st, 410, f"pruned txid {t} -> 410")
            ck.ok(b"txid_gone" in body, f"pruned txid {t} code txid_gone")
    for e in MAN["restore_plans"]:
        if e["replica"] == "pruned" and e["target"].startswith("txid="):
            t = int(e["target"][5:])
            st, _, body = curl(f"{base}/pruned.db/file?txid={t:x}")
            if "error" in e:
                ck.eq(st, 410, f"restore_plans pruned {e['target']} -> 410")
            else:
                ck.eq(H.sha256_bytes(body), e["restored_sha256"], f"restore_plans pruned {e['target']}")

    # time -> TXID, as restore_plans say (CreatedAt = mtime = header timestamp)
    for e in MAN["restore_plans"]:
        if not e["target"].startswith("ts="):
            continue
        db = "main-4096.db" if e["replica"] == "full" else "pruned.db"
        ts = "2025-01-01T" + e["target"][3:] + "Z"
        st, j = jget(f"{base}/{db}?time={ts}")
        if "error" in e:
            ck.eq(st, 410, f"{db} time {ts} -> 410")
        else:
            ck.eq((st, j and j.get("txid")), (200, e["restored_txid"]), f"{db} time {ts} -> txid")
            st, _, body = curl(f"{base}/{db}/file?txid={e['restored_txid']}")
            ck.eq(H.sha256_bytes(body), e["restored_sha256"], f"{db} time {ts} bytes")

    # changes: latest -> empty; older than the live window -> reset
    st, j = jget(f"{base}/{name}/changes?since=0000000000000009")
    ck.eq((st, j and j.get("pages"), j and j.get("txid")), (200, [], "0000000000000009"), "changes since latest")
    st, j = jget(f"{base}/{name}/changes?since=1")
    ck.eq((st, j and j.get("reset")), (200, True), "changes since before the window -> reset")
    ck.eq(j and j.get("commit"), 77, "reset carries commit")

    # status JSON
    st, j = jget(f"{base}/{name}")
    ck.eq((st, j and j.get("state"), j and j.get("txid")), (200, "ok", "0000000000000009"), "status")
    ck.eq(j and j.get("levels", {}).get("0", {}).get("files"), 9, "status levels L0 files")

    # --replica pointing at one database's replica serves it under its folder name
    srv2 = Server(["--replica", "file://" + os.path.join(root, "ps512.db")])
    try:
        ck.ok(srv2.wait_ready(), "single-database --replica ready")
        st, h, body = curl(f"{srv2.base}/ps512.db/file")
        ck.eq((st, H.sha256_bytes(body)), (200, chain("ps512")["states"][-1]["sha256"]),
              "--replica at a database folder serves it by name")
    finally:
        ck.eq(srv2.stop(), 0, "clean exit (single-database replica)")

    rc = srv.stop()
    ck.eq(rc, 0, "clean exit on SIGTERM (no leaks under ASan)")
    out = open(srv.log_path, errors="replace").read()
    ck.ok("event=index_built" in out and "event=db_added" in out, "structured log lines")
    srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
