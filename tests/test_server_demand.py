#!/usr/bin/env python3
"""ltxpaged polling that follows demand (server/demand.c): under one
--replica root, 300 databases nobody reads back off (their poll interval
doubles up to --poll-idle-max), so the store sees a small fraction of the
LISTs that polling every database every --poll-interval takes; a database
being read is polled every interval (a new TXID visible within poll
interval + 0.5 s); and the first read of a backed-off database polls it at
once and waits for that poll, so it answers the TXID the replica had when
the read came in (never an older latest)."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, l0_by_txid  # noqa: E402

N = 300
POLL, IDLE_AFTER, IDLE_MAX = 0.2, 1.0, 3.0
ck = H.Checker("test_server_demand")
tmp = tempfile.mkdtemp(prefix="ltxpaged-demand-")
srv = None
c = chain("main-4096")
l0 = l0_by_txid(c)
db_dir = os.path.join(tmp, "live.db")


def put(t):
    """Copy L0 file of TXID t into live.db's replica (tmp + rename)."""
    H.put_l0(db_dir, l0[t]["path"])


def lists():
    st, j = jget(srv.base + "/admin/status")
    return sum(s.get("lists", 0) for s in (j or {}).get("object_stores", [])) if st == 200 else None


def lists_per_second(seconds):
    a, t0 = lists(), time.time()
    time.sleep(seconds)
    return (lists() - a) / (time.time() - t0)


try:
    src = H.vec(c["root"])
    for i in range(N):  # real replicas (one copy, linked), so polls are L0 polls, not re-plans
        os.symlink(src, os.path.join(tmp, "idle%04d.db" % i))
    os.makedirs(os.path.join(db_dir, "ltx", "0"))
    put(1)
    srv = Server(["--replica", "file://" + tmp, "--poll-interval", f"{int(POLL * 1000)}ms",
                  "--poll-idle-after", f"{int(IDLE_AFTER * 1000)}ms", "--poll-idle-max", f"{int(IDLE_MAX * 1000)}ms",
                  "--poll-threads", "2", "--l1-interval", "1s", "--cache-size", "1M"])
    ck.eq(curl(srv.base + "/healthz")[0], 200, "/healthz answers as soon as the server listens")
    ck.ok(srv.wait_ready(60), "ready: every database discovered and indexed once")

    # every database backs off: LISTs per second far below one poll of each per interval
    time.sleep(IDLE_MAX * 2)
    rate = lists_per_second(4.0)
    print(f"idle LISTs/s: {rate:.1f} ({N + 1} databases)", flush=True)
    every_interval = (N + 1) / POLL
    # backed off: one L0 LIST per database per IDLE_MAX, and a level listing
    # (10 LISTs on a file root) ten times rarer: ~2 N / IDLE_MAX
    ck.ok(rate is not None and rate < min(3 * N / IDLE_MAX, every_interval / 5),
          f"idle: {rate:.0f} LISTs/s for {N + 1} databases (polling each every {POLL}s: >= {every_interval:.0f}/s)")

    # backed off is not degraded: a database nobody reads has not asked the
    # store anything for longer than 3 poll intervals, and the store is fine
    # (before, about a third of them showed `degraded` at any time here)
    _, _, body = curl(srv.base + "/metrics")
    by_state = {}
    for line in body.decode().splitlines():
        if line.startswith("ltxpaged_databases{state="):
            by_state[line.split('"')[1]] = float(line.rsplit(" ", 1)[1])
    ck.eq((by_state.get("ok"), by_state.get("degraded")), (float(N + 1), 0.0),
          f"backed-off databases are ok, none degraded: {by_state}")

    # the first read of a backed-off database polls it and waits for that poll
    t = 1
    for rnd in range(3):
        time.sleep(IDLE_AFTER + IDLE_MAX)  # backed off again
        t += 1
        put(t)
        t0 = time.time()
        st, h, _ = curl(srv.base + "/live.db/pages/1")
        dt = time.time() - t0
        print(f"round {rnd}: first read of a backed-off database {dt * 1000:.0f} ms", flush=True)
        ck.eq((st, h.get("ltx-txid")), (200, "%016x" % t), f"round {rnd}: first read answers the new TXID {t}")
        ck.ok(dt < 0.45, f"round {rnd}: first read took {dt * 1000:.0f} ms (one poll, bounded wait)")

    # a database being read is polled every interval
    lags = []
    for _ in range(4):
        t += 1
        put(t)
        t0 = time.time()
        seen = srv.wait_for(lambda: curl(srv.base + "/live.db/pages/1")[1].get("ltx-txid") == "%016x" % t, 5, 0.02)
        lags.append(time.time() - t0)
        ck.ok(seen, f"TXID {t} visible to a reader")
        time.sleep(0.3)
    ck.ok(max(lags) < POLL + 0.5, f"read database: new TXIDs visible within {max(lags):.2f}s (limit {POLL + 0.5}s)")

    # readers of one database do not wake the others: the rate stays low
    rate2 = lists_per_second(3.0)
    print(f"LISTs/s with one database read: {rate2:.1f}; lags {[round(x, 3) for x in lags]}", flush=True)
    ck.ok(rate2 < min(3 * N / IDLE_MAX, every_interval / 5) + 2 / POLL,
          f"one read database: {rate2:.0f} LISTs/s (idle: {rate:.0f})")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    H.cleanup(tmp, srv)
ck.done()
