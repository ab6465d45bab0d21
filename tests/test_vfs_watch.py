"""Two connections of one process share the change watcher of a database
(same server, database and token). The first transaction that starts more
than 100 ms after the open starts the watcher and waits for its first
answer, so it pins the newest TXID, not the open answer's. A second
connection whose transaction starts while that first answer is still on its
way must wait for it too: it used to see the watcher running and pin the
open answer's TXID at once, an old snapshot with no error.

Run by Debian's /usr/bin/python3 (it loads the extension), against the real
ltxpaged behind a proxy that holds each /changes request 1.5 s.
"""
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

V.load_extension()
ck = harness.Checker("test_vfs_watch")
work = V.tmpdir("watch")
srv = px = None
try:
    ch = V.chain("main-4096")
    states = ch["states"]
    rep = os.path.join(work, "app")
    V.build_replica(ch, rep, l0_only=True, upto_l0=3)
    srv = V.Server(dbs={"app.db": rep}, extra=["--poll-interval", "100ms"])
    srv.wait_db("app.db", 3)
    px = V.Proxy(srv.url)
    px.mode = "slow_changes:1.5"

    a = V.connect(px.url, "app.db")
    b = V.connect(px.url, "app.db")  # the same shared state as a
    # both opened at TXID 3; the server moves to 4 before either reads
    for f in ch["files"]:
        if f["level"] == 0 and V.file_max_txid(f) == 4:
            V.add_file(ch, f, rep)
    srv.wait_db("app.db", 4)
    time.sleep(0.3)  # the open answer is no longer fresh

    seen = {}

    def read(name, conn):
        conn.execute("BEGIN")
        seen[name] = (conn.execute("PRAGMA ltxhttp_txid").fetchone()[0], V.dump(conn), time.time())
        conn.execute("COMMIT")

    t0 = time.time()
    ta = threading.Thread(target=read, args=("a", a))
    ta.start()
    time.sleep(0.5)  # a waits for the watcher's first answer (held by the proxy)
    ck.ok("a" not in seen, "the first transaction waits for the watcher's first answer")
    read("b", b)
    ta.join(30)
    want = states[3]
    for name in ("a", "b"):
        txid, rows, _ = seen.get(name, (None, None, 0))
        ck.eq(txid, want["txid"], f"connection {name} pins the newest TXID")
        ck.ok(rows == V.state_dump(want["source"]), f"connection {name} reads that TXID's contents")
    ck.ok(seen.get("b", (0, 0, 0))[2] - t0 >= 1.0, "the second connection waited for the same first answer")
    a.close()
    b.close()
finally:
    if px:
        px.stop()
    if srv:
        srv.stop()
    shutil.rmtree(work, ignore_errors=True)
ck.done()
