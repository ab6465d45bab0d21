#!/usr/bin/env python3
"""Idle databases on S3 (moto) cost LISTs by the idle schedule, not by how
many databases exist (issue 12): N databases nobody reads, counted per kind
from ltxpaged_objstore_list_requests_total over a window longer than one
level-listing cycle:
  - rescans (every --rescan-interval) list the root but probe no folder of
    a database already served (before: one LIST per database per rescan);
  - L0 polls: about one per database per --poll-idle-max;
  - level listings of a backed-off database: about one per 10 x its poll
    interval, and they do come (before they were pushed back at every poll
    and never came while the database stayed idle);
  - a backed-off database whose store answers is `ok`, not `degraded`
    (before: degraded once its interval passed 3 x --poll-interval).
Bounds are generous (2-core, noisy machine): late polls only lower counts."""
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain  # noqa: E402

N = 40
IDLE_MAX, RESCAN = 3.0, 1.0
LEVEL_EVERY = 10 * IDLE_MAX  # --l1-interval is below it
WINDOW = LEVEL_EVERY + 4.0
ck = H.Checker("test_server_idle_s3")
if H.python_with_moto() is None or shutil.which("moto_server") is None:
    print("SKIP: moto_server not available")
    ck.ok(True, "skipped")
    ck.done()

KINDS = ("dbs", "probe", "level", "all", "other")
moto = srv = None


def by_kind():
    st, _, b = H.http_get(srv.base + "/metrics")
    out = dict.fromkeys(KINDS, 0)
    for m in re.finditer(rb'^ltxpaged_objstore_list_requests_total\{store="[^"]*",kind="(\w+)"\} (\d+)$', b, re.M):
        out[m.group(1).decode()] += int(m.group(2))
    return out


try:
    moto = H.Moto()
    s3 = moto.client()
    s3.create_bucket(Bucket="idle")
    files = []
    for f in chain("ps512")["files"]:
        with open(H.vec(f["path"]), "rb") as fh:
            files.append(("%04x/%s" % (f["level"], os.path.basename(f["path"])), fh.read()))
    for i in range(N):
        for key, body in files:
            s3.put_object(Bucket="idle", Key="p/idle%03d.db/%s" % (i, key), Body=body)
    srv = Server(["--replica", "s3://idle/p", "--s3-endpoint", moto.endpoint, "--s3-path-style",
                  "--s3-region", "us-east-1", "--poll-interval", "200ms", "--poll-idle-after", "1s",
                  "--poll-idle-max", f"{int(IDLE_MAX * 1000)}ms", "--l1-interval", "1s",
                  "--rescan-interval", f"{int(RESCAN * 1000)}ms", "--poll-threads", "2", "--cache-size", "1M"],
                 env=moto.env())
    ck.ok(srv.wait_ready(60), "ready: every database discovered and indexed")
    time.sleep(6)  # nobody reads: every poll interval is at --poll-idle-max
    a, t0 = by_kind(), time.time()
    time.sleep(WINDOW)
    b, dt = by_kind(), time.time() - t0
    d = {k: b[k] - a[k] for k in KINDS}
    print(f"{N} idle databases, {dt:.1f} s: LISTs by kind {d}; "
          f"{sum(d.values()) / dt:.1f}/s", flush=True)
    ck.eq(d["probe"], 0, "rescans probe no folder of a database already served")
    ck.ok(d["dbs"] <= 3 * dt / RESCAN + 3, f"rescans: {d['dbs']} root listings in {dt:.0f} s")
    l0_expected = N * dt / IDLE_MAX
    ck.ok(d["level"] <= 2 * l0_expected, f"L0 polls: {d['level']} (backed off: ~{l0_expected:.0f})")
    lv_expected = N * dt / LEVEL_EVERY
    ck.ok(N / 4 <= d["all"] <= 3 * lv_expected + N / 4,
          f"level listings of idle databases: {d['all']} (~{lv_expected:.0f}: they come, ten times rarer than L0)")
    per_db = sum(d.values()) / dt / N
    limit = 2 * (1 / IDLE_MAX + 1 / LEVEL_EVERY) + 3 / RESCAN / N
    ck.ok(per_db <= limit, f"idle LISTs per database per second {per_db:.2f} (limit {limit:.2f})")
    st, _, m = H.http_get(srv.base + "/metrics")
    states = {k.decode(): int(v) for k, v in re.findall(rb'^ltxpaged_databases\{state="(\w+)"\} (\d+)$', m, re.M)}
    ck.eq((states.get("ok"), states.get("degraded")), (N, 0), f"idle databases are ok, not degraded: {states}")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None
finally:
    if srv:
        srv.stop_showing_log()
    if moto:
        moto.stop()
ck.done()
