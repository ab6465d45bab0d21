"""Failover that returns (issue 10, case 7): two real ltxpaged processes on
one replica that `ltxctl replicate` keeps moving (a commit every 50 ms, L0
files every 100 ms, servers polling every second as in production), one
client connection with server=A,B reading in a loop. The preferred server
(rendezvous order) is killed, then restarted on the same port; after a
restart it is up to one poll behind and answers 409 txid_ahead to TXIDs it
has not indexed yet, which must be a wait, not a failure.

Checks:
 1. while the preferred server is down no read fails, and no transaction
    takes longer than about one connect timeout (connect_timeout_ms=500);
 2. reads move to the other server;
 3. after the restart the client is back on the preferred server within a
    few seconds (of the restarted server's first answer) and stays there;
 4. no read ever fails, counts never go backwards, and the final contents
    equal the writer's;
 5. a server whose connects time out (accept queue full) costs a read at
    most about one connect timeout, and only the first reads.
"""
import os
import shutil
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

V.load_extension()
ck = harness.Checker("test_vfs_failover")
work = V.tmpdir("failover")
procs = []
blackhole = []
stop = threading.Event()
try:
    src = os.path.join(work, "src.db")
    rep = os.path.join(work, "rep")
    os.makedirs(rep)
    w = sqlite3.connect(src, isolation_level=None, check_same_thread=False)
    w.execute("PRAGMA journal_mode=WAL")
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    w.execute("INSERT INTO t(v) VALUES ('first')")
    writer = harness.Proc([harness.binary("ltxctl"), "replicate", src, rep, "--interval", "100ms"])
    procs.append(writer)
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.isdir(os.path.join(rep, "ltx", "0")):
        time.sleep(0.05)

    def write_loop():
        i = 0
        while not stop.is_set():
            w.execute("INSERT INTO t(v) VALUES (?)", (f"row {i} " + "x" * 100,))
            i += 1
            time.sleep(0.05)

    wt = threading.Thread(target=write_loop, daemon=True)
    wt.start()

    poll = ["--poll-interval", "1s"]
    a = V.Server(dbs={"w.db": rep}, extra=poll)
    b = V.Server(dbs={"w.db": rep}, extra=poll)
    procs += [a, b]
    a.wait_db("w.db")
    b.wait_db("w.db")
    c = V.connect(f"{a.url},{b.url}", "w.db", connect_timeout_ms=500)
    first = c.execute("PRAGMA ltxhttp_server").fetchone()[0]
    pref, spare = (a, b) if first.startswith(a.url + "/") else (b, a)

    log = []  # (start time, duration, server in use, (count, max id) or error text)

    def read_loop():
        while not stop.is_set():
            t0 = time.time()
            try:
                got = c.execute("SELECT count(*), max(id) FROM t").fetchone()
            except Exception as e:
                got = f"error {e}: {c.execute('PRAGMA ltxhttp_error').fetchone()[0]}"
            d = time.time() - t0
            log.append((t0, d, c.execute("PRAGMA ltxhttp_server").fetchone()[0], got))
            time.sleep(0.02)

    rt = threading.Thread(target=read_loop, daemon=True)
    rt.start()
    time.sleep(1.5)
    t_kill = time.time()
    pref.stop()
    time.sleep(3)
    t_restart = time.time()
    pref2 = V.Server(dbs={"w.db": rep}, port=pref.port, extra=poll)
    procs.append(pref2)
    pref2.wait_db("w.db")
    t_ready = time.time()
    back = None
    while time.time() - t_ready < 15:
        if log and log[-1][2] == first and log[-1][0] > t_ready:
            back = log[-1][0] - t_ready
            break
        time.sleep(0.05)
    time.sleep(2)
    stop.set()
    rt.join(10)
    wt.join(10)

    down = [x for x in log if t_kill <= x[0] < t_restart]
    errors = [x for x in log if isinstance(x[3], str)]
    ck.ok(len(down) > 20, f"reads while the preferred server was down ({len(down)})")
    ck.ok(not [x for x in down if isinstance(x[3], str)], "no read failed while it was down")
    worst = max((x[1] for x in down), default=0)
    ck.ok(worst < 0.5, f"slowest transaction while it was down: {worst:.3f}s (connect_timeout_ms=500)")
    ck.ok(any(x[2] == spare.url + "/w.db" for x in down), "reads moved to the other server")
    ck.ok(back is not None and back < 7, f"back on the preferred server {back if back is None else round(back, 2)}s "
          "after it was ready again")
    after = [x for x in log if back is not None and x[0] > t_ready + back + 0.5]
    ck.ok(after and all(x[2] == first for x in after), f"stays on the preferred server ({len(after)} reads)")
    ck.ok(not errors, f"no read failed at all ({len(errors)}: {errors[:2]})")
    counts = [x[3][0] for x in log if not isinstance(x[3], str)]
    ck.ok(all(p <= q for p, q in zip(counts, counts[1:])), "counts never go backwards")
    slow = sorted((x[1] for x in log), reverse=True)[:3]
    print(f"{len(log)} reads; {len(down)} while down; slowest {', '.join(f'{s:.3f}' for s in slow)} s; "
          f"back {back} s after ready (restart took {t_ready - t_restart:.2f} s)", flush=True)
    want = w.execute("SELECT count(*), max(id) FROM t").fetchone()
    got = None
    t0 = time.time()
    while time.time() - t0 < 5:
        got = c.execute("SELECT count(*), max(id) FROM t").fetchone()
        if got == want:
            break
        time.sleep(0.05)
    ck.eq(got, want, "final contents equal the writer's")
    c.close()

    # ---- 5: a preferred server that never completes a connection (its
    # accept queue is full: SYNs dropped, the client's connect times out)
    bh = socket.socket()
    bh.bind(("127.0.0.1", V.preferred_port([spare.url], "w.db")))  # rendezvous hashing puts it first
    bh_url = f"http://127.0.0.1:{bh.getsockname()[1]}"
    bh.listen(0)
    blackhole.append(bh)
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(bh.getsockname())
        blackhole.append(s)
    servers = f"{spare.url},{bh_url}"  # the VFS orders them by rendezvous hashing
    bh_first = V.rendezvous_first([bh_url, spare.url], "w.db") == bh_url
    ck.ok(bh_first, "the black-holed server is the preferred one")
    t0 = time.time()
    c = V.connect(servers, "w.db", connect_timeout_ms=300)
    durs = []
    for _ in range(30):
        t1 = time.time()
        c.execute("SELECT count(*), max(id) FROM t").fetchone()
        durs.append(time.time() - t1)
        time.sleep(0.05)
    opened_and_read = time.time() - t0
    c.close()
    print(f"black-holed server {'preferred' if bh_first else 'second'}: open+30 reads {opened_and_read:.2f}s, "
          f"slowest read {max(durs):.3f}s", flush=True)
    ck.ok(max(durs) < 0.6, f"a server that times out its connects costs a read at most ~one connect timeout "
          f"({max(durs):.3f}s, connect_timeout_ms=300)")
    ck.ok(sum(durs) < 0.9, f"... and not every read ({sum(durs):.3f}s for 30 reads)")
    w.close()
finally:
    stop.set()
    for x in blackhole:
        x.close()
    for p in procs:
        p.stop()
    shutil.rmtree(work, ignore_errors=True)
ck.done()
