#!/usr/bin/env python3
"""ltxpaged --cache-dir (server/disk.c): with a memory cache far smaller
than the database, pages missing from memory are read from the store the
first time, then the verified LTX files are kept on local disk and later
misses read them there (no store GETs); a restart is warm (files found
again, re-verified, then used); a cached file corrupted while the server
was down is rejected at the re-verification and its pages come from the
store, with exact bytes throughout; --cache-dir-size bounds the bytes
kept (least recently read files deleted)."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget  # noqa: E402

ck = H.Checker("test_server_disk")
tmp = tempfile.mkdtemp(prefix="ltxpaged-disk-")
srv = None
c = chain("main-4096")
want = c["states"][-1]["sha256"]
replica = os.path.join(tmp, "app.db")
cache = os.path.join(tmp, "cache")


def start(size="64M"):
    s = Server(["--db", "app.db=" + replica, "--cache-size", "16K", "--cache-dir", cache,
                "--cache-dir-size", size, "--poll-interval", "200ms"])
    ck.ok(s.wait_ready(30), "ready")
    return s


def admin():
    st, j = jget(srv.base + "/admin/status")
    j = j if st == 200 else {}
    gets = sum(x.get("gets", 0) for x in j.get("object_stores", []))
    return gets, j.get("disk") or {}


def read_all(what):
    st, _, b = curl(srv.base + "/app.db/file")
    ck.eq((st, H.sha256_bytes(b)), (200, want), f"{what}: exact bytes")


def settled(pred, what, timeout=20):
    ok = srv.wait_for(lambda: pred(admin()[1]), timeout, 0.05)
    ck.ok(ok, f"{what}: {admin()[1]}")


try:
    shutil.copytree(H.vec(c["root"]), replica)
    srv = start()
    read_all("first read (store)")
    settled(lambda d: d.get("files", 0) > 0 and d.get("fetches", 0) == d.get("files", 0) + d.get("evictions", 0)
            and not os.path.exists(os.path.join(cache, "app.db", ".tmp")), "files fetched and kept")
    nfiles = admin()[1]["files"]
    g0, d0 = admin()
    read_all("second read (disk)")
    g1, d1 = admin()
    ck.eq(g1 - g0, 0, "second read: no store GET")
    print(f"second read: disk {d1}, store GETs {g1 - g0}", flush=True)
    ck.ok(d1["hits"] > d0["hits"], f"second read: disk hits {d1['hits'] - d0['hits']}")
    ck.eq(srv.stop(), 0, "clean exit")

    # restart: warm
    srv = start()
    settled(lambda d: d.get("files") == nfiles and d.get("unverified") == 0, "restart: files found and re-verified")
    g0, _ = admin()
    read_all("after restart")
    g1, d1 = admin()
    ck.eq(g1 - g0, 0, "after restart: no store GET")
    ck.eq(d1.get("rejected"), 0, "nothing rejected")
    ck.eq(srv.stop(), 0, "clean exit")

    # a corrupted copy is rejected at start; its pages come from the store again
    files = sorted(os.path.join(cache, "app.db", f) for f in os.listdir(os.path.join(cache, "app.db")))
    victim = max(files, key=os.path.getsize)
    with open(victim, "r+b") as f:
        f.seek(os.path.getsize(victim) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    srv = start()
    settled(lambda d: d.get("unverified") == 0 and d.get("rejected") == 1, "restart: the corrupt copy is rejected")
    ck.ok(not os.path.exists(victim), "the corrupt copy is deleted")
    g0, _ = admin()
    read_all("after the rejection")
    ck.ok(admin()[0] > g0, "pages of the rejected file come from the store")
    ck.eq(srv.stop(), 0, "clean exit")

    # a bound below what the files take: the least recently read go
    total = sum(os.path.getsize(f) for f in files)
    cap = total // 2
    srv = start(str(cap))
    read_all("with a bound of half the files")
    settled(lambda d: d.get("evictions", 0) > 0 and d.get("bytes", 0) <= cap, "bytes kept under the bound")
    kept = sum(os.path.getsize(os.path.join(cache, "app.db", f)) for f in os.listdir(os.path.join(cache, "app.db"))
               if not f.startswith("."))
    ck.ok(kept <= cap, f"on disk {kept} <= {cap}")
    read_all("after evictions")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
