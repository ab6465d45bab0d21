"""Run tests/test_vfs_driver.c (linked with ltxhttp_static) against the real
ltxpaged, for several chains. In the ASan build the driver is ASan/UBSan/LSan
instrumented, so leaks and memory errors in the VFS fail this test.

Per chain the driver gets every state's TXID=states/<source> pair from
manifest.json and, in 2 threads x N rounds (open/close each round), checks
integrity_check and full table contents at every TXID, refused writes, a bad
TXID error, back-to-latest, and CANTOPEN for an unknown database.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

ck = harness.Checker("test_vfs_driver")
names = ["main-4096", "ps512", "ps65536-frame", "random-4096-frame", "main-4096-frame"]
rounds = "2" if harness.SANITIZE else "3"
srv = V.Server(dbs={n + ".db": harness.vec(V.chain(n)["root"]) for n in names})
try:
    driver = os.path.join(harness.BUILD, "tests", "test_vfs_driver")
    env = dict(os.environ)
    if harness.SANITIZE:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env["ASAN_OPTIONS"] += ":detect_leaks=1"
    for n in names:
        ch = V.chain(n)
        srv.wait_db(n + ".db", V.txid_int(ch["states"][-1]["txid"]))
        pairs = [f"{s['txid']}={harness.vec(os.path.join('states', s['source']))}" for s in ch["states"]]
        r = subprocess.run([driver, srv.url, n + ".db", rounds, "2"] + pairs, capture_output=True, text=True,
                           timeout=240, env=env)
        print(f"--- {n}: exit {r.returncode}\n{r.stdout[-1500:]}{r.stderr[-4000:]}", flush=True)
        ck.eq(r.returncode, 0, f"driver on {n}")
        ck.ok(" 0 failures" in r.stdout, f"driver on {n} reported no failures")
        ck.ok("LeakSanitizer" not in r.stderr and "runtime error" not in r.stderr, f"driver on {n}: sanitizers clean")
    # Live: L0 files of main-4096 arrive one by one while the driver reads
    # (exercises the /changes watcher and cache invalidation under ASan too).
    ch = V.chain("main-4096")
    work = V.tmpdir("drvlive")
    rep = V.build_replica(ch, os.path.join(work, "live"), l0_only=True, upto_l0=2)
    live = V.Server(dbs={"live.db": rep}, extra=["--poll-interval", "100ms"])
    try:
        live.wait_db("live.db", 2)
        states = ch["states"][1:]
        pairs = [f"{s['txid']}={harness.vec(os.path.join('states', s['source']))}" for s in states]
        p = subprocess.Popen([driver, "live", live.url, "live.db", "30", "1"] + pairs, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(0.5)
        for s in states[1:]:
            f = [f for f in ch["files"] if f["level"] == 0 and V.file_max_txid(f) == V.txid_int(s["txid"])][0]
            V.add_file(ch, f, rep)
            time.sleep(0.4)
        out, errs = p.communicate(timeout=120)
        print(f"--- live: exit {p.returncode}\n{out[-1500:]}{errs[-4000:]}", flush=True)
        ck.eq(p.returncode, 0, "live driver")
        ck.ok(" 0 failures" in out, "live driver reported no failures")
        ck.ok("LeakSanitizer" not in errs and "runtime error" not in errs, "live driver: sanitizers clean")
    finally:
        live.stop()
        shutil.rmtree(work, ignore_errors=True)
finally:
    rc = srv.stop()
    if rc not in (0, None, -15):
        print(f"server exit {rc}; log tail:\n{srv.output()[-3000:]}")
ck.done()
