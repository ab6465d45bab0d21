#!/usr/bin/env python3
"""Compaction by the lease holder (issue 11), on a file replica root
(argument "s3": on moto).

ltxpaged --compaction-intervals 1s,2s,4s --snapshot-interval 5s
--l0-retention 2s takes writes for ~7 s, then idles. Checks:
  - L1, L2, L3 files and a level-9 snapshot appear, named by the layout;
  - old L0 files are retired (fewer L0 files than TXIDs), the newest L0
    file stays;
  - a restore from levels 1+ alone (L0 removed from a copy) equals the
    writer's database, and `ltxctl verify` passes on the bucket;
  - the holder keeps serving exactly the writer's bytes while its L0 files
    disappear, and so does a second server that follows the bucket by
    polling (it bridges from L1+);
  - no level holds two files for one TXID range start;
  - --write-idle 3s: once writes stop, the holder compacts what is left
    into L1 and releases the lease (lock.json gone, status not ours).
"""
import hashlib
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, write_replica, ltxctl  # noqa: E402
import ltx_write_helper as LW  # noqa: E402
from ltx_write_helper import post  # noqa: E402
from ltx_write_helper import levels as levels_of  # noqa: E402

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "file"
ck = H.Checker(f"test_server_write_ladder[{BACKEND}]")
W = "w-secret"
DB = "ladder.db"


tmp = tempfile.mkdtemp(prefix="ltxpaged-ladder-")
moto = a = b = None
try:
    moto, env, root, root_dir = write_replica(BACKEND, tmp)
    a = Server(["--replica", root, "--write-token", W, "--poll-interval", "60s", "--l1-interval", "60s",
                "--compaction-intervals", "1s,2s,4s", "--snapshot-interval", "5s", "--l0-retention", "2s",
                "--write-idle", "3s"],
               env=env)
    w = LW.Writer(os.path.join(tmp, "local.db"))
    w.db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    st, j = post(a.base, f"/{DB}/ltx?base=0", w.ltx())
    ck.eq(st, 200, "create")
    b = Server(["--replica", root, "--poll-interval", "200ms", "--l1-interval", "500ms", "--rescan-interval", "1s"],
               env=env)
    LW.churn_for(w, a.base, DB, 7, 200, 13, ck, pause=0.05)
    final = w.txid
    image = w.image_now()
    sha = hashlib.sha256(image).hexdigest()
    print(f"{final} TXIDs written", flush=True)

    def settled():
        lv = levels_of(moto, root_dir, DB)
        ok = all(lv.get(k) for k in (1, 2, 3, 9)) and max(m for _, m in lv.get(1, [(0, 0)])) == final
        ok = ok and len(lv.get(0, [])) < final
        return lv if ok else None

    deadline = time.time() + 20
    lv = None
    while time.time() < deadline and not lv:
        lv = settled()
        time.sleep(0.25)
    lv = lv or levels_of(moto, root_dir, DB)
    print({k: len(v) for k, v in sorted(lv.items())}, flush=True)
    for k in (1, 2, 3):
        ck.ok(bool(lv.get(k)), f"L{k} files appear")
    ck.ok(bool(lv.get(9)) and all(mn == 1 for mn, _ in lv[9]), f"a level-9 snapshot appears: {lv.get(9)}")
    ck.ok(len(lv.get(0, [])) < final, f"old L0 files retired: {len(lv.get(0, []))} of {final}")
    ck.ok(lv.get(0) and lv[0][-1][1] == final, "the newest L0 file stays")
    ck.eq(max(m for _, m in lv.get(1, [(0, 0)])), final, "L1 reaches the last TXID")
    for k, files in lv.items():
        mins = [mn for mn, _ in files]
        ck.eq(len(mins), len(set(mins)), f"L{k}: one file per start TXID")
        for (a1, b1), (a2, b2) in zip(files, files[1:]):
            ck.ok(a2 == b1 + 1 or k == 9, f"L{k} contiguous: {a1:x}-{b1:x} then {a2:x}-{b2:x}")

    # idle: the lease is released
    def released():
        if moto:
            return moto.client().list_objects_v2(Bucket="bkt", Prefix=f"dbs/{DB}/lock.json").get("KeyCount", 0) == 0
        return not os.path.exists(os.path.join(root_dir, DB, "lock.json"))
    ok = a.wait_for(released, timeout=15, step=0.25)
    ck.ok(ok, "lease released after --write-idle without writes")
    ck.ok(not (a.status(DB) or {}).get("lease", {}).get("ours"), "status: the lease is no longer ours")

    # readers keep serving the right bytes while L0 files disappear
    st, _, got = H.http_get(f"{a.base}/{DB}/file")
    ck.eq((st, hashlib.sha256(got).hexdigest()), (200, sha), "holder serves the writer's bytes")
    ok = b.wait_for(lambda: (b.status(DB) or {}).get("txid") == f"{final:016x}", timeout=15)
    ck.ok(ok, f"follower reaches the last TXID: {b.status(DB)}")
    st, _, got = H.http_get(f"{b.base}/{DB}/file")
    ck.eq((st, hashlib.sha256(got).hexdigest()), (200, sha), "follower serves the writer's bytes")

    # a restore from levels 1+ alone
    out = os.path.join(tmp, "restored.db")
    if BACKEND == "s3":
        c = moto.client()
        # copy levels 1+ to another prefix
        for k, files in lv.items():
            if k == 0:
                continue
            for mn, mx in files:
                key = f"dbs/{DB}/{k:04x}/{mn:016x}-{mx:016x}.ltx"
                c.copy_object(Bucket="bkt", Key=f"only/{DB}/{k:04x}/{mn:016x}-{mx:016x}.ltx",
                              CopySource={"Bucket": "bkt", "Key": key})
        src = f"s3://bkt/only/{DB}"
    else:
        src = os.path.join(tmp, "only")
        shutil.copytree(os.path.join(root_dir, DB), src)
        shutil.rmtree(os.path.join(src, "ltx", "0"))
    r = ltxctl("restore", src, out, "--force", env=env)
    ck.eq(r.returncode, 0, f"restore from levels 1+: {r.stderr.strip()}")
    if r.returncode == 0:
        with open(out, "rb") as f:
            ck.eq(hashlib.sha256(f.read()).hexdigest(), sha, "restore from levels 1+ equals the source")
    r = ltxctl("verify", f"{root}/{DB}", env=env)
    ck.eq(r.returncode, 0, f"ltxctl verify: {r.stdout[-400:]} {r.stderr[-300:]}")
    ck.eq(a.stop(), 0, "holder stops cleanly")
    ck.eq(b.stop(), 0, "follower stops cleanly")
except Exception as e:  # noqa: BLE001
    import traceback
    traceback.print_exc()
    ck.ok(False, f"exception: {e}")
finally:
    H.cleanup(tmp, a, b, moto, running_only=True)
ck.done()
