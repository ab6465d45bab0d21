#!/usr/bin/python3
"""Write-mode benchmark (issue 11): commit latency with sync_interval=0 and
rows/s with sync_interval=1s through vfs=ltxhttp, against local SQLite
(rollback journal, synchronous=FULL) in the same run, on a directory root
(and on moto with --s3).

    /usr/bin/python3 bench/bench_write.py [--build build] [--seconds 3] [--n 300] [--s3]

Needs Debian's /usr/bin/python3 (its sqlite3 module loads extensions) and a
built ltxpaged + libltxhttp.so. Prints a markdown table; PUTs = LTX files
published (one per sync), LISTs from ltxpaged's /admin/status.
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402

W, A = "w-bench", "a-bench"


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


def lists_of(url):
    req = urllib.request.Request(f"{url}/admin/status", headers={"Authorization": "Bearer " + A})
    with urllib.request.urlopen(req, timeout=10) as r:
        return sum(s.get("lists", 0) for s in json.loads(r.read()).get("object_stores", []))


def commit_latency(conn, n):
    conn.execute("CREATE TABLE IF NOT EXISTS lat(id INTEGER PRIMARY KEY, v TEXT)")
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("INSERT INTO lat(v) VALUES (?)", ("x" * 100,))
        out.append((time.perf_counter() - t0) * 1000)
    return out


def rows_per_s(conn, seconds, batch=1):
    conn.execute("CREATE TABLE IF NOT EXISTS thr(id INTEGER PRIMARY KEY, v TEXT)")
    n = 0
    end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < end:
        conn.execute("BEGIN")
        for _ in range(batch):
            conn.execute("INSERT INTO thr(v) VALUES (?)", ("x" * 100,))
        conn.execute("COMMIT")
        n += batch
    return n / (time.perf_counter() - t0)


def vfs(url, name, **p):
    q = "&".join(["vfs=ltxhttp", f"server={url}", f"token={W}", "write=1", "mode=rwc"] + [f"{k}={v}" for k, v in p.items()])
    return sqlite3.connect(f"file:{name}?{q}", uri=True, isolation_level=None)


def run(args, backend, env, root, tmp):
    port = harness.free_port()
    srv = harness.Proc([harness.binary("ltxpaged"), "--listen", f"127.0.0.1:{port}", "--replica", root,
                        "--write-token", W, "--admin-token", A, "--rescan-interval", "1s"], env=env)
    harness.wait_port(port, 20, srv.p)
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        local = sqlite3.connect(os.path.join(tmp, f"local-{backend}.db"), isolation_level=None)
        local.execute("PRAGMA journal_mode=DELETE")
        local.execute("PRAGMA synchronous=FULL")
        lat_local = commit_latency(local, args.n)
        thr_local = rows_per_s(local, args.seconds)
        local.close()

        w0 = vfs(url, "lat.db", sync_interval=0)
        lat_vfs = commit_latency(w0, args.n)
        w0.close()

        w1 = vfs(url, "thr.db", sync_interval="1s")
        l0 = lists_of(url)
        t0 = time.perf_counter()
        thr_vfs = rows_per_s(w1, args.seconds)
        st = json.loads(w1.execute("PRAGMA ltxhttp_write").fetchone()[0])
        tc = time.perf_counter()
        w1.close()
        close_ms = (time.perf_counter() - tc) * 1000
        minutes = (time.perf_counter() - t0) / 60
        lists = (lists_of(url) - l0) / minutes

        r = lambda v: f"{v:.2f}"  # noqa: E731
        rows.append((backend, "commit latency p50 / p99 (ms), 1-row autocommit", f"{r(pct(lat_local, 50))} / {r(pct(lat_local, 99))}",
                     f"{r(pct(lat_vfs, 50))} / {r(pct(lat_vfs, 99))} (sync_interval=0)",
                     f"{statistics.median(lat_vfs) / statistics.median(lat_local):.1f}x"))
        rows.append((backend, "rows/s, 1-row transactions", f"{thr_local:,.0f}", f"{thr_vfs:,.0f} (sync_interval=1s)",
                     f"{thr_vfs / thr_local:.2f}x"))
        rows.append((backend, "object store while writing (1s)", "—",
                     f"{(st['syncs'] + 1) / minutes:.0f} PUTs/min (LTX files), {lists:.0f} LISTs/min; close {close_ms:.0f} ms",
                     ""))
    finally:
        srv.stop()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--s3", action="store_true", help="also on moto_server")
    args = ap.parse_args()
    os.environ["LTXHTTP_BUILD"] = os.path.abspath(args.build)
    harness.BUILD = os.path.abspath(args.build)
    c = sqlite3.connect(":memory:")
    c.enable_load_extension(True)
    c.load_extension(harness.binary("libltxhttp.so")[:-3])
    c.close()
    tmp = tempfile.mkdtemp(prefix="ltxbench-write-")
    rows = []
    moto = None
    try:
        os.makedirs(os.path.join(tmp, "root"))
        rows += run(args, "file", {}, "file://" + os.path.join(tmp, "root"), tmp)
        if args.s3:
            moto = harness.Moto()
            urllib.request.urlopen(urllib.request.Request(moto.endpoint + "/bkt", method="PUT"), timeout=10).read()
            rows += run(args, "s3 (moto)", moto.env(), "s3://bkt/w", tmp)
    finally:
        if moto:
            moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("| store | measure | local SQLite | vfs=ltxhttp write=1 | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
