#!/usr/bin/env python3
"""Object-store requests per minute while writing through ltxpaged (issue 11).

moto + ltxpaged --write-token (default ladder: 30s,5m,1h, L0 retention 5m),
one database, a client committing COMMITS_PER_S small transactions a second
for SECONDS, sent either one LTX per commit (what sync_interval=0 sends) or
one LTX per second (sync_interval=1s). The server's own object-store counters
(/metrics: ltxpaged_objstore_{puts,lists,gets,deletes,heads}_total) give the
requests per minute. Usage:
  bench/write_economy.py [--seconds 60] [--rate 10]
Needs a build (LTXHTTP_BUILD, default build/) and moto_server."""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness as H  # noqa: E402
import ltx_write_helper as LW  # noqa: E402
from test_server_common import Server  # noqa: E402


def counters(base):
    st, _, body = H.http_get(base + "/metrics")
    out = {}
    for m in re.finditer(r"^ltxpaged_objstore_(\w+)_total\{[^}]*\} (\d+)", body.decode(), re.M):
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(2))
    return out


def run(mode, seconds, rate, tmp):
    moto = H.Moto()
    try:
        moto.client().create_bucket(Bucket="bkt")
        srv = Server(["--replica", "s3://bkt/dbs", "--write-token", LW.WRITE_TOKEN], env=moto.env())
        try:
            w = LW.Writer(os.path.join(tmp, f"{mode}.db"))
            w.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
            st, _ = LW.post(srv.base, "/b.db/ltx?base=0", w.ltx())
            assert st == 200
            c0 = counters(srv.base)
            t0 = time.time()
            commits = posts = 0
            next_sync = t0 + 1
            while time.time() - t0 < seconds:
                w.db.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(100).hex(),))
                commits += 1
                if mode == "per-commit" or time.time() >= next_sync:
                    base = w.txid
                    st, j = LW.post(srv.base, f"/b.db/ltx?base={base:x}", w.ltx())
                    assert st == 200, j
                    posts += 1
                    next_sync += 1
                time.sleep(1.0 / rate)
            el = time.time() - t0
            c1 = counters(srv.base)
        finally:
            srv.stop()
    finally:
        moto.stop()
    per_min = {k: (c1.get(k, 0) - c0.get(k, 0)) * 60.0 / el for k in ("puts", "lists", "gets", "heads", "deletes")}
    return commits * 60.0 / el, posts * 60.0 / el, per_min


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=10, help="commits per second")
    a = ap.parse_args()
    import tempfile
    tmp = tempfile.mkdtemp(prefix="ltx-write-bench-")
    print(f"| sends | commits/min | LTX files/min | PUT/min | LIST/min | GET/min | HEAD/min | DELETE/min |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in ("per-commit", "per-second"):
        c, p, m = run(mode, a.seconds, a.rate, tmp)
        print(f"| {mode} | {c:.0f} | {p:.0f} | {m['puts']:.0f} | {m['lists']:.0f} | {m['gets']:.0f} | "
              f"{m['heads']:.0f} | {m['deletes']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
