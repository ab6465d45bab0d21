#!/usr/bin/env python3
"""Retention of snapshots and L1+ files by the lease holder (--retention),
on a file replica root (argument "s3": on moto).

Phase A: --snapshot-interval 1h (no snapshot ever) with --retention 2s:
writes for 4 s, then after more than the retention the L1..L3 files still
start at TXID 1 (nothing is deleted while no snapshot covers it).
Phase B (a new holder, same bucket): --snapshot-interval 2s --retention 6s,
writes for ~14 s. Checks:
  - old level-9 snapshots and old L1, L2, L3 files go away (the first
    snapshots of phase B and the L1 file starting at TXID 1 are gone), the
    newest snapshot stays, each level stays contiguous;
  - once the holder stopped (its passes would race the listings):
    `ltxctl restore` of the latest equals the writer's database (bytes and
    the sqlite3 CLI's dump), integrity_check ok, `ltxctl verify` passes;
  - point in time within retention (a TXID at or above the oldest kept
    snapshot) serves exactly that state; a TXID below it answers 410;
  - the holder's index (built on files now deleted) keeps serving the
    latest bytes.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, ltxctl, write_replica  # noqa: E402
import ltx_write_helper as LW  # noqa: E402
from ltx_write_helper import post  # noqa: E402
from ltx_write_helper import levels  # noqa: E402

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "file"
ck = H.Checker(f"test_server_write_retention[{BACKEND}]")
W = "w-secret"
DB = "ret.db"


def dump(path):
    r = subprocess.run(["sqlite3", path, ".dump"], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


def write_for(srv, w, seconds, shas):
    def keep_sha(w):
        shas[w.txid] = hashlib.sha256(w.image).hexdigest()

    return LW.churn_for(w, srv.base, DB, seconds, 100, 11, ck, pause=0.05, after=keep_sha)


def serve(srv, txid):
    q = f"?txid={txid:016x}" if txid else ""
    st, _, body = H.http_get(f"{srv.base}/{DB}/file{q}")
    return st, hashlib.sha256(body).hexdigest() if st == 200 else None


tmp = tempfile.mkdtemp(prefix="ltxpaged-ret-")
moto = a = None
try:
    moto, env, root, root_dir = write_replica(BACKEND, tmp)
    common = ["--replica", root, "--write-token", W, "--poll-interval", "60s", "--l1-interval", "60s",
              "--compaction-intervals", "1s,2s,3s", "--l0-retention", "1s", "--write-idle", "60s"]
    lv_of = lambda: levels(moto, root_dir, DB)  # noqa: E731

    # ---- phase A: no snapshot, nothing goes
    a = Server(common + ["--snapshot-interval", "1h", "--retention", "2s"], env=env)
    w = LW.Writer(os.path.join(tmp, "local.db"))
    w.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    shas = {}
    st, j = post(a.base, f"/{DB}/ltx?base=0", w.ltx())
    ck.eq(st, 200, "create")
    shas[w.txid] = hashlib.sha256(w.image).hexdigest()
    write_for(a, w, 4, shas)
    phase_a_end = w.txid
    ok = a.wait_for(lambda: all(lv_of().get(k) and lv_of()[k][-1][1] == phase_a_end for k in (1, 2, 3)),
                    timeout=15, step=0.25)
    ck.ok(ok, f"phase A: L1..L3 reach TXID {phase_a_end}: {lv_of()}")
    time.sleep(3)  # more than --retention, with retention passes every 1 s: they must not delete
    lv = lv_of()
    ck.ok(not lv.get(9), f"phase A: no snapshot: {lv.get(9)}")
    for k in (1, 2, 3):
        ck.ok(lv.get(k) and lv[k][0][0] == 1, f"phase A: L{k} still starts at TXID 1 (no snapshot covers it)")
    ck.ok("event=retention " not in a.output(), "phase A: no retention pass deleted anything")
    ck.eq(a.stop(), 0, "phase A holder stops (releases the lease)")
    a = None

    # ---- phase B: snapshots every 2 s, retention 6 s
    a = Server(common + ["--snapshot-interval", "2s", "--retention", "6s"], env=env)
    ck.ok(a.wait_ready(), "phase B: the holder found the database")
    write_for(a, w, 14, shas)
    final = w.txid
    lv = lv_of()
    snaps = lv.get(9, [])
    print(f"{final} TXIDs; levels {({k: len(v) for k, v in sorted(lv.items())})}; L9 {snaps}", flush=True)
    ck.ok(len(snaps) >= 1, "phase B: snapshots exist")
    # point in time within retention: a kept snapshot and the TXIDs after it
    # (the second oldest when there is one: the oldest may fall out of the
    # window between this listing and the request)
    floor = snaps[1][1] if len(snaps) > 1 else snaps[0][1] if snaps else final
    for t in sorted({floor, (floor + final) // 2, final}):
        ck.eq(serve(a, t), (200, shas.get(t)), f"state at TXID {t:x} (within retention, floor {floor:x})")
    # the first snapshots of phase B and the L1 files from TXID 1 go away
    def pruned():
        lv = lv_of()
        return (lv.get(1) and lv[1][0][0] > phase_a_end and lv.get(2) and lv[2][0][0] > 1 and lv.get(3) and
                lv[3][0][0] > 1 and lv.get(9) and lv[9][0][1] > phase_a_end and lv[9][-1][1] == final)
    ok = a.wait_for(pruned, timeout=20, step=0.25)
    lv = lv_of()
    print({k: (len(v), v[0], v[-1]) for k, v in sorted(lv.items())}, flush=True)
    ck.ok(ok, f"old L1..L3 and L9 files deleted: {lv}")
    ck.ok(lv.get(9) and lv[9][-1][1] == final, "the newest snapshot stays and reaches the last TXID")
    for k, files in lv.items():
        for (a1, b1), (a2, b2) in zip(files, files[1:]):
            ck.ok(a2 == b1 + 1 or k == 9, f"L{k} contiguous: {a1:x}-{b1:x} then {a2:x}-{b2:x}")
    floor = lv[9][0][1] if lv.get(9) else final
    ck.eq(serve(a, 2)[0], 410, "a TXID before retention answers 410")
    got = serve(a, floor)
    if got[0] == 410:  # the window moved on since the listing: the new oldest
        lv = lv_of()
        floor = lv[9][0][1] if lv.get(9) else final
        got = serve(a, floor)
    ck.eq(got, (200, shas.get(floor)), f"the oldest kept snapshot's TXID {floor:x} still serves")
    ck.eq(serve(a, 0), (200, shas[final]), "the holder serves the latest bytes")
    # the holder's passes go on deleting as the window moves: stop it before
    # restoring and verifying the bucket (a file listed, then deleted, would
    # fail them)
    ck.ok("event=retention " in a.output(), "retention passes are logged")
    ck.eq(a.stop(), 0, "holder stops cleanly")
    a = None
    lv = lv_of()
    floor = lv[9][0][1] if lv.get(9) else final

    # restore of the latest equals the source
    out = os.path.join(tmp, "restored.db")
    r = ltxctl("restore", f"{root}/{DB}", out, "--force", env=env)
    ck.eq(r.returncode, 0, f"restore latest: {r.stderr.strip()}")
    if r.returncode == 0:
        with open(out, "rb") as f:
            ck.eq(hashlib.sha256(f.read()).hexdigest(), shas[final], "restore equals the source (bytes)")
        ck.eq(dump(out), dump(w.path), "restore equals the source (sqlite3 .dump)")
        r2 = subprocess.run(["sqlite3", out, "PRAGMA integrity_check"], capture_output=True, text=True)
        ck.eq(r2.stdout.strip(), "ok", "integrity_check")
    r = ltxctl("restore", f"{root}/{DB}", out, "--force", "--txid", f"{floor:016x}", env=env)
    ck.eq(r.returncode, 0, f"restore at the oldest kept snapshot: {r.stderr.strip()}")
    r = ltxctl("restore", f"{root}/{DB}", out, "--force", "--txid", "0000000000000002", env=env)
    ck.ok(r.returncode != 0, "restore before retention fails")
    r = ltxctl("verify", f"{root}/{DB}", env=env)
    ck.eq(r.returncode, 0, f"ltxctl verify: {r.stdout[-400:]} {r.stderr[-300:]}")
except Exception as e:  # noqa: BLE001
    import traceback
    traceback.print_exc()
    ck.ok(False, f"exception: {e}")
finally:
    if a and a.poll() is None:
        a.stop_showing_log()
    if moto:
        moto.stop()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
