#!/usr/bin/env python3
"""Cold start against a latency-bound store. ltxpaged builds a database's
index from its restore plan by reading every plan file's page-index tail;
with --index-fetch-concurrency those reads run in parallel. A replica of
N small L0 files (ltxctl replicate --once after each commit; one row is
rewritten by every commit, so a wrong merge order shows in the bytes) sits
behind the fake S3 with every ranged GET delayed by D seconds:
  - --index-fetch-concurrency 1 (one after another) takes at least N x D
    to become ready (the delay is real);
  - the default (16) becomes ready in well under N x D / 2;
  - both serve /file byte-identical to the checkpointed SQLite file;
  - with two files' page indexes broken (position K and the newest), both
    serve the state before K and name K's page-index error in last_error:
    the first failure in plan order counts, as when reading serially."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, curl  # noqa: E402
from test_server_fakes3 import S3_ENV, FakeS3  # noqa: E402

N = 200      # L0 files
DELAY = 0.02  # seconds per ranged GET
K = 120      # plan position of the first file broken in the corruption case

ck = H.Checker("test_server_coldstart")
tmp = tempfile.mkdtemp(prefix="ltxpaged-cold-")
fake = srv = None
ltxctl = H.binary("ltxctl")


def replicate(db, rep):
    r = subprocess.run([ltxctl, "replicate", db, rep, "--once"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ltxctl replicate: {r.stdout}{r.stderr}")


def image(db):
    """The database file's bytes with the WAL checkpointed into it."""
    c = sqlite3.connect(db)
    c.execute("pragma wal_checkpoint(TRUNCATE)")
    c.close()
    with open(db, "rb") as f:
        return f.read()


def start(conc):
    """Start ltxpaged; (server, seconds from spawn to /readyz 200 or None)."""
    t0 = time.time()
    s = Server(fake.db_args("c.db") + ["--index-fetch-concurrency", str(conc), "--poll-interval", "1h",
                                       "--l1-interval", "1h"], env=S3_ENV)
    ok = s.wait_ready(60)
    return s, (time.time() - t0 if ok else None)


try:
    root = os.path.join(tmp, "bucket")
    rep = os.path.join(tmp, "rep")  # ltxctl's directory layout, ltx/0/

    def workload(name, commits, rep=None):
        """One commit per L0 file; the bytes after the last commit."""
        dbp = os.path.join(tmp, name)
        c = sqlite3.connect(dbp)
        c.execute("pragma journal_mode=wal")
        c.execute("create table t(k integer primary key, v text)")
        c.execute("insert into t values (1, 'start')")
        c.commit()
        if rep:
            replicate(dbp, rep)
        for i in range(1, commits):
            c.execute("update t set v = ? where k = 1", (f"version {i}",))
            if i % 3 == 0:
                c.execute("insert into t(v) values (?)", ("r" * 200 + str(i),))
            c.commit()
            if rep:
                replicate(dbp, rep)
        c.close()
        return image(dbp)

    want = workload("w.db", N, rep)
    # the same commits up to TXID K, for the corruption case
    prev_img = workload("k.db", K)
    l0 = sorted(os.listdir(os.path.join(rep, "ltx", "0")))
    ck.eq(len(l0), N, f"{N} L0 files written")
    # the S3 layout: <prefix>/0000/<file>
    l0dir = os.path.join(root, "db", "0000")
    shutil.copytree(os.path.join(rep, "ltx", "0"), l0dir)

    fake = FakeS3(root)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    fake.delay = DELAY

    timings = {}
    for conc in (1, 16):
        n0 = len(fake.gets)
        srv, dt = start(conc)
        ck.ok(dt is not None, f"ready with --index-fetch-concurrency {conc}")
        gets = len(fake.gets) - n0
        timings[conc] = dt
        print(f"concurrency {conc}: ready in {dt if dt is None else round(dt, 3)} s, "
              f"{gets} GETs, {N} files x {DELAY} s delay = {N * DELAY:.1f} s serial")
        st, _, body = curl(f"{srv.base}/c.db/file")
        ck.eq((st, len(body), H.sha256_bytes(body)), (200, len(want), H.sha256_bytes(want)),
              f"/file byte-identical to the SQLite file (concurrency {conc})")
        ck.eq(srv.stop(), 0, f"clean exit (concurrency {conc})")
        srv = None
    if timings.get(1) is not None:
        ck.ok(timings[1] >= N * DELAY, f"serial build waits for every delayed read ({timings[1]:.2f}s)")
    if timings.get(16) is not None and timings.get(1) is not None:
        # against the serial build of the same run (a loaded or sanitized
        # machine slows both): 16 reads in flight must at least halve it
        ck.ok(timings[16] < timings[1] / 2,
              f"parallel build well under the serial one ({timings[16]:.2f}s < {timings[1]:.2f}s / 2)")

    # two broken files, K and the newest: their page-index size fields are
    # garbage. The first in plan order decides, whichever read finishes first.
    for name in (l0[K], l0[-1]):
        with open(os.path.join(l0dir, name), "r+b") as f:
            data = f.read()
            f.seek(len(data) - 24)
            f.write(b"\xff" * 8)
    fake.delay = 0.005
    for conc in (1, 16):
        srv, dt = start(conc)
        ck.ok(dt is not None, f"ready despite corrupt files (concurrency {conc})")
        st, _, body = curl(f"{srv.base}/c.db/file")
        ck.eq((st, H.sha256_bytes(body)), (200, H.sha256_bytes(prev_img)),
              f"corrupt files: serves the state before the first (concurrency {conc})")
        st, _, b = curl(f"{srv.base}/c.db")
        js = json.loads(b.decode() or "null") if st == 200 else {}
        ck.eq(js.get("txid"), f"{K:016x}", f"corrupt files: indexed up to the first broken one (concurrency {conc})")
        err = js.get("last_error") or ""
        ck.ok(l0[K][:33] in err and "page index" in err,
              f"the first broken file in plan order is the error (concurrency {conc}): {err}")
        ck.eq(srv.stop(), 0, f"clean exit, corrupt files (concurrency {conc})")
        srv = None
finally:
    H.cleanup(tmp, srv, fake)
ck.done()
