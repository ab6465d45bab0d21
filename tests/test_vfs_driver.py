"""Run tests/test_vfs_driver.c (linked with ltxhttp_static) against the real
ltxpaged, for several chains. In the ASan build the driver is ASan/UBSan/LSan
instrumented, so leaks and memory errors in the VFS fail this test.

Per chain the driver gets every state's TXID=states/<source> pair from
manifest.json and, in 2 threads x N rounds (open/close each round), checks
integrity_check and full table contents at every TXID, refused writes, a bad
TXID error, back-to-latest, and CANTOPEN for an unknown database; then the
same on main-4096 with a dead preferred server and with a preferred proxy
whose page answers lack Ltx-Txid (the failover paths).
"""
import os
import shutil
import socket
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
    env = harness.driver_env()
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
    # Several servers whose preferred one is dead (connection refused) or
    # hands out pages without Ltx-Txid (a proxy): the driver's checks at
    # every TXID hold through the failover paths (ASan/LSan in that build).
    ch = V.chain("main-4096")
    pairs = [f"{s['txid']}={harness.vec(os.path.join('states', s['source']))}" for s in ch["states"]]
    hold = socket.socket()  # bound, never listening: connections refused, and no other process takes the port
    hold.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{hold.getsockname()[1]}"
    proxy = V.Proxy(srv.url, port=V.preferred_port([srv.url], "main-4096.db"))  # rendezvous puts it first
    try:
        proxy.mode = "strip"
        for what, servers in (("dead preferred server", f"{dead},{srv.url}"),
                              ("proxy without Ltx-Txid", f"{srv.url},{proxy.url}")):
            t0 = time.time()
            r = subprocess.run([driver, servers, "main-4096.db", "1", "2"] + pairs, capture_output=True, text=True,
                               timeout=240, env=env)
            print(f"--- {what}: exit {r.returncode} in {time.time() - t0:.2f}s\n{r.stdout[-800:]}{r.stderr[-2000:]}", flush=True)
            ck.eq(r.returncode, 0, f"driver with a {what}")
            ck.ok(" 0 failures" in r.stdout, f"driver with a {what} reported no failures")
            ck.ok("LeakSanitizer" not in r.stderr and "runtime error" not in r.stderr,
                  f"driver with a {what}: sanitizers clean")
        ck.ok(proxy.page_requests > 0, f"the proxy was asked for pages ({proxy.page_requests})")
    finally:
        proxy.stop()
        hold.close()
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
