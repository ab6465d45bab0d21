"""ltxhttp VFS with a moving database and a server that goes away, through
the loadable extension in /usr/bin/python3, against the real ltxpaged.

Checks:
 1. freshness: L0 files of main-4096 are copied into the served replica one
    at a time (as Litestream would upload them); an open connection sees each
    new TXID - and exactly that state's contents - within 2 s, without being
    reopened;
 2. snapshot isolation: a transaction opened before the first copy keeps
    giving the same answer (its TXID and contents) until it ends, then sees
    the newest state;
 3. the shared cache and watcher: a second connection sees the same TXID,
    stats count hits, the watcher counted updates;
 5. a pinned TXID that the (restarted) server can no longer restore fails
    with SQLITE_IOERR / LTXHTTP_IOERR_TXID_GONE and a clear message, and
    'latest' works again afterwards;
 6. with server=A,B both connections prefer the same server (rendezvous
    hashing, whatever the order given); when it stops, reads and opens fail
    over to the other;
 7. a real writer: rows committed to a WAL-mode SQLite database that
    `ltxctl replicate` ships as L0 files are visible through the VFS within
    2 s, equal to the writer's rows, while a long transaction keeps its count;
 8. a database opened while it has no TXID yet (server state "waiting") is
    never empty: a short open_timeout_ms gives SQLITE_BUSY with a message, a
    waiting open gets the database once its files arrive (own page size);
 4b. with max_stale_ms, a transaction is refused once the watcher has failed
    for longer (while a default connection keeps reading cached data);
 4. server stopped: a read needing the server fails with a clear error
    (SQLITE_IOERR, message in PRAGMA ltxhttp_error) and a new open fails
    fast; after a restart on the same port, reads resume on both the old and
    new connections, and the watcher delivers a TXID added after the restart.
"""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

V.load_extension()
ck = harness.Checker("test_vfs_live")
work = V.tmpdir("live")
srv = None
POLL = ["--poll-interval", os.environ.get("LTXHTTP_TEST_POLL", "100ms")]
try:
    ch = V.chain("main-4096")
    states = ch["states"]
    first = 3  # start with L0 1..first, then add the rest one by one
    rep = os.path.join(work, "app")
    V.build_replica(ch, rep, l0_only=True, upto_l0=first)
    other = V.chain("ps512")
    rep2 = V.build_replica(other, os.path.join(work, "other"), l0_only=True, upto_l0=V.txid_int(other["states"][-2]["txid"]))
    srv = V.Server(dbs={"app.db": rep, "other.db": rep2}, extra=POLL)
    srv.wait_db("app.db", first)
    srv.wait_db("other.db")

    reader = V.connect(srv.url, "app.db")
    ck.eq(reader.execute("PRAGMA ltxhttp_txid").fetchone()[0], states[first - 1]["txid"], "initial TXID")
    ck.ok(V.dump(reader) == V.state_dump(states[first - 1]["source"]), "initial contents")
    longtx = V.connect(srv.url, "app.db")
    longtx.execute("BEGIN")
    snap = V.dump(longtx)
    snap_txid = longtx.execute("PRAGMA ltxhttp_txid").fetchone()[0]
    ck.eq(snap_txid, states[first - 1]["txid"], "long transaction pinned the initial TXID")

    # ---- 1 + 2: add L0 files one at a time
    lat = []
    for st in states[first:]:
        t = V.txid_int(st["txid"])
        f = [f for f in ch["files"] if f["level"] == 0 and V.file_max_txid(f) == t][0]
        t0 = time.time()
        V.add_file(ch, f, rep)
        seen = None
        while time.time() - t0 < 2.0:
            if reader.execute("PRAGMA ltxhttp_txid").fetchone()[0] == st["txid"]:
                seen = time.time() - t0
                break
            time.sleep(0.01)
        lat.append(seen)
        ck.ok(seen is not None, f"TXID {st['txid']} seen within 2 s (took {seen})")
        if seen is not None:
            ck.ok(V.dump(reader) == V.state_dump(st["source"]), f"contents at {st['txid']} equal {st['source']}")
        ck.eq(longtx.execute("PRAGMA ltxhttp_txid").fetchone()[0], snap_txid, f"long txn keeps its TXID after {st['txid']}")
        ck.ok(V.dump(longtx) == snap, f"long txn keeps its answer after {st['txid']}")
    print("freshness latencies (s):", ", ".join("-" if x is None else f"{x:.3f}" for x in lat))
    longtx.execute("COMMIT")
    ck.eq(longtx.execute("PRAGMA ltxhttp_txid").fetchone()[0], states[-1]["txid"], "after COMMIT: newest TXID")
    ck.ok(V.dump(longtx) == V.state_dump(states[-1]["source"]), "after COMMIT: newest contents")

    # ---- 3: shared cache / watcher
    s = json.loads(reader.execute("PRAGMA ltxhttp_stats").fetchone()[0])
    print("reader stats:", s)
    ck.ok(s["watch_updates"] >= len(states) - first, f"watcher applied updates ({s['watch_updates']})")
    ck.ok(s["hits"] > 0 and s["requests"] > 0 and s["bytes"] > 0, "stats count hits, requests, bytes")
    ck.eq(s["connections"], 2, "two connections share one cache")
    # No round trip per transaction, and SQLite keeps its own page cache while
    # the TXID is unchanged (only the 16-byte header check reaches the VFS).
    s0 = json.loads(reader.execute("PRAGMA ltxhttp_stats").fetchone()[0])
    for _ in range(50):
        reader.execute("SELECT count(*) FROM posts").fetchall()
    s1 = json.loads(reader.execute("PRAGMA ltxhttp_stats").fetchone()[0])
    ck.eq(s1["requests"] - s0["requests"], 0, "50 unchanged transactions: no HTTP request")
    ck.ok(s1["hits"] - s0["hits"] <= 60, f"50 unchanged transactions: SQLite kept its cache ({s1['hits'] - s0['hits']} VFS page reads)")
    # Across fork() a connection refuses to work (its watcher is gone).
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            reader.execute("SELECT count(*) FROM posts").fetchall()
            os.write(wfd, b"worked")
        except Exception as e:
            os.write(wfd, str(e).encode()[:200])
        os._exit(0)
    os.close(wfd)
    os.waitpid(pid, 0)
    msg = os.read(r, 300).decode()
    os.close(r)
    ck.ok(msg != "worked" and "disk I/O error" in msg, f"use after fork() is refused: {msg!r}")
    ck.eq(reader.execute("SELECT count(*) FROM posts").fetchone()[0],
          V.local_state(states[-1]["source"]).execute("SELECT count(*) FROM posts").fetchone()[0],
          "parent connection still works after a fork")
    # Sequential scan through a cold connection uses read-ahead batches.
    third = V.connect(srv.url, "app.db", cache_size="64K")  # shares the existing cache (first opener's size)
    third.close()
    cold = V.connect(srv.url, "app.db", token="other-cache-key", readahead=32)  # separate cache (token in key)
    cold.execute("SELECT count(*), sum(length(payload)) FROM big").fetchall()
    cs = json.loads(cold.execute("PRAGMA ltxhttp_stats").fetchone()[0])
    print("cold scan stats:", cs)
    ck.ok(cs["readahead_pages"] > 0 and cs["requests"] < cs["misses"] + cs["readahead_pages"],
          "cold sequential scan used read-ahead batches")
    cold.close()

    # ---- 4: server goes away and comes back
    idle = V.connect(srv.url, "other.db", retry_ms=300, readahead=0)  # only page 1 read so far
    strict = V.connect(srv.url, "app.db", max_stale_ms=300)
    strict_want = strict.execute("SELECT count(*) FROM posts").fetchall()
    ost = other["states"][-2]
    srv.stop()
    time.sleep(0.8)
    V.expect_error(ck, lambda: strict.execute("SELECT count(*) FROM posts").fetchall(),
                   ["disk I/O error"], "max_stale_ms refuses a possibly stale read")
    msg = strict.execute("PRAGMA ltxhttp_error").fetchone()[0]
    ck.ok("max_stale_ms=300" in msg, f"max_stale_ms error explains: {msg!r}")
    ck.eq(reader.execute("SELECT count(*) FROM posts").fetchall(), strict_want,
          "without max_stale_ms cached data stays readable while the server is gone")
    t0 = time.time()
    V.expect_error(ck, lambda: idle.execute("SELECT count(*) FROM kv").fetchall(),
                   ["disk I/O error"], "read with server stopped")
    el = time.time() - t0
    ck.ok(el < 5, f"read failure is fast ({el:.2f}s)")
    msg = idle.execute("PRAGMA ltxhttp_error").fetchone()[0]
    ck.ok("other.db" in msg and srv.url in msg, f"ltxhttp_error explains: {msg!r}")
    t0 = time.time()
    V.expect_error(ck, lambda: V.connect(srv.url, "app.db", retry_ms=200).execute("select 1"),
                   ["unable to open database file"], "open with server stopped")
    ck.ok(time.time() - t0 < 5, "open failure is fast")

    srv = V.Server(dbs={"app.db": rep, "other.db": rep2}, port=srv.port, extra=POLL)
    srv.wait_db("app.db", V.txid_int(states[-1]["txid"]))
    srv.wait_db("other.db")
    rows = None
    for _ in range(100):
        try:
            rows = idle.execute("SELECT count(*) FROM kv").fetchall()
            break
        except Exception:
            time.sleep(0.05)
    lc = V.local_state(ost["source"])
    ck.eq(rows, lc.execute("SELECT count(*) FROM kv").fetchall(), "old connection reads again after restart")
    lc.close()
    ck.ok(V.dump(idle) == V.state_dump(ost["source"]), "old connection contents after restart")
    # The watcher resumed: a new TXID after the restart reaches the old connection.
    newest = other["states"][-1]
    f = [f for f in other["files"] if f["level"] == 0 and V.file_max_txid(f) == V.txid_int(newest["txid"])][0]
    V.add_file(other, f, rep2)
    t0 = time.time()
    while time.time() - t0 < 3 and idle.execute("PRAGMA ltxhttp_txid").fetchone()[0] != newest["txid"]:
        time.sleep(0.02)
    ck.eq(idle.execute("PRAGMA ltxhttp_txid").fetchone()[0], newest["txid"],
          f"after restart a new TXID arrives through the watcher ({time.time() - t0:.2f}s)")
    ck.ok(V.dump(idle) == V.state_dump(newest["source"]), "contents of the TXID added after restart")
    c = V.connect(srv.url, "app.db")
    ck.ok(V.dump(c) == V.state_dump(states[-1]["source"]), "new connection after restart")
    c.close()
    rows = None
    for _ in range(100):  # the watcher reconnects within its backoff (<= 2 s)
        try:
            rows = strict.execute("SELECT count(*) FROM posts").fetchall()
            break
        except Exception:
            time.sleep(0.05)
    ck.eq(rows, strict_want, "max_stale_ms connection reads again once the watcher is back")
    strict.close()
    ck.ok(V.dump(reader) == V.state_dump(states[-1]["source"]), "reader after restart")
    for x in (idle, reader, longtx):
        x.close()
    srv.stop()

    # ---- 5: the pinned TXID is no longer restorable (manifest: a TXID the
    # pruned replica cannot restore): clear error, no mix of versions.
    gone = [p for p in harness.manifest()["restore_plans"]
            if p.get("replica") == "pruned" and p["target"].startswith("txid=") and p.get("error")][0]
    gone_txid = "%016x" % int(gone["target"][5:])
    srv = V.Server(dbs={"gone.db": harness.vec(ch["root"])})
    srv.wait_db("gone.db")
    c = V.connect(srv.url, "gone.db", readahead=0, retry_ms=300)
    ck.eq(c.execute(f"PRAGMA ltxhttp_txid='{gone_txid}'").fetchone()[0], gone_txid, "pinned a TXID the full replica has")
    srv.stop()
    srv = V.Server(dbs={"gone.db": harness.vec(gone["replica_root"])}, port=srv.port)
    srv.wait_db("gone.db")
    try:
        c.execute("SELECT count(*) FROM posts").fetchall()
        ck.ok(False, f"read at TXID {gone_txid} after it became unrestorable succeeded")
    except Exception as e:
        code = getattr(e, "sqlite_errorcode", None)
        ck.ok("disk I/O error" in str(e), f"read at a gone TXID: {e}")
        if code is not None:
            ck.eq(code, 10 | (200 << 8), "extended code LTXHTTP_IOERR_TXID_GONE")
    msg = c.execute("PRAGMA ltxhttp_error").fetchone()[0]
    ck.ok("no longer served" in msg and gone_txid in msg, f"ltxhttp_error for a gone TXID: {msg!r}")
    ck.eq(c.execute("PRAGMA ltxhttp_txid='latest'").fetchone()[0], states[-1]["txid"], "back to latest after gone")
    ck.ok(V.dump(c) == V.state_dump(states[-1]["source"]), "latest contents after gone")
    c.close()
    srv.stop()

    # ---- 7: a real writer: SQLite commits replicated by `ltxctl replicate`
    import sqlite3
    src = os.path.join(work, "src.db")
    w = sqlite3.connect(src, isolation_level=None)
    w.execute("PRAGMA journal_mode=WAL")
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    w.execute("INSERT INTO t(v) VALUES ('first')")
    wrep = os.path.join(work, "wrep")
    os.makedirs(wrep)
    writer = harness.Proc([harness.binary("ltxctl"), "replicate", src, wrep, "--interval", "100ms"])
    extra_procs = [writer]
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.isdir(os.path.join(wrep, "ltx", "0")):
        time.sleep(0.05)
    srv = V.Server(dbs={"w.db": wrep}, extra=POLL)
    srv.wait_db("w.db")
    rc_ = V.connect(srv.url, "w.db")
    lt = V.connect(srv.url, "w.db")
    deadline = time.time() + 5
    while time.time() < deadline and rc_.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0:
        time.sleep(0.05)
    lt.execute("BEGIN")
    lt_count = lt.execute("SELECT count(*) FROM t").fetchone()[0]
    wl = []
    for i in range(5):
        w.execute("BEGIN")
        for k in range(20):
            w.execute("INSERT INTO t(v) VALUES (?)", (f"row {i}.{k} " + "x" * 200,))
        w.execute("COMMIT")
        want = w.execute("SELECT count(*), max(id) FROM t").fetchone()
        t0 = time.time()
        got = None
        while time.time() - t0 < 2.0:
            got = rc_.execute("SELECT count(*), max(id) FROM t").fetchone()
            if got == want:
                break
            time.sleep(0.01)
        wl.append(time.time() - t0)
        ck.eq(got, want, f"writer commit {i} visible through the VFS within 2 s")
        ck.eq(lt.execute("SELECT count(*) FROM t").fetchone()[0], lt_count, f"long txn unchanged after commit {i}")
    print("writer->reader latencies (s):", ", ".join(f"{x:.3f}" for x in wl))
    ck.eq(rc_.execute("PRAGMA integrity_check").fetchall(), [("ok",)], "integrity_check on the replicated db")
    ck.eq(rc_.execute("SELECT * FROM t ORDER BY id").fetchall(), w.execute("SELECT * FROM t ORDER BY id").fetchall(),
          "replicated contents equal the writer's")
    lt.execute("COMMIT")
    for x in (rc_, lt):
        x.close()
    w.close()
    writer.stop()
    srv.stop()

    # ---- 8: opened while the database has no TXID yet (state "waiting"):
    # never an empty database. A short open_timeout_ms fails with SQLITE_BUSY
    # and a clear message; an open waiting with the default open_timeout_ms
    # gets the database once its first files arrive, with a page size other
    # than the assumed 4096.
    import threading
    small = V.chain("ps512")
    wdir = os.path.join(work, "waiting")
    os.makedirs(os.path.join(wdir, "ltx", "0"))
    srv = V.Server(dbs={"late.db": wdir}, extra=POLL)
    harness.wait_port(srv.port)
    st, _, body = harness.http_get(f"{srv.url}/late.db", timeout=5)
    # 503 + the status fields while nothing is indexed (never a 200 a reader could take for an empty file)
    ck.ok(st == 503 and json.loads(body).get("state") == "waiting", f"server says waiting: {st} {body[:80]!r}")
    t0 = time.time()
    V.expect_error(ck, lambda: V.connect(srv.url, "late.db", open_timeout_ms=400).execute("select 1"),
                   ["database is locked"], "waiting database: open fails with SQLITE_BUSY, not empty")
    el = time.time() - t0
    ck.ok(0.3 < el < 3, f"open waited about open_timeout_ms ({el:.2f}s)")
    out = V.try_open(f"file:late.db?vfs=ltxhttp&server={srv.url}&open_timeout_ms=300")
    ck.ok(out.stdout.startswith("error:") and "late.db is not ready" in out.stderr and "is waiting" in out.stderr
          and "open_timeout_ms=300" in out.stderr, f"waiting database: message {out.stderr.strip()!r}")
    threading.Timer(1.0, lambda: V.build_replica(small, wdir, l0_only=True)).start()
    t0 = time.time()
    late = V.connect(srv.url, "late.db")
    el = time.time() - t0
    ck.ok(0.8 < el < 9, f"open waited for the first files ({el:.2f}s)")
    ck.ok(late.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0, "late database is never seen empty")
    lt_last = small["states"][-1]
    t0 = time.time()
    while time.time() - t0 < 3 and late.execute("PRAGMA ltxhttp_txid").fetchone()[0] != lt_last["txid"]:
        time.sleep(0.02)
    ck.eq(late.execute("PRAGMA ltxhttp_txid").fetchone()[0], lt_last["txid"], "late database appears")
    ck.eq(late.execute("PRAGMA integrity_check").fetchall(), [("ok",)], "late database integrity")
    ck.ok(V.dump(late) == V.state_dump(lt_last["source"]), "late database contents (page size learned)")
    ck.eq(json.loads(late.execute("PRAGMA ltxhttp_stats").fetchone()[0])["page_size"], small["page_size"],
          "page size learned from the server")
    late.close()
    srv.stop()

    # ---- 6: several servers: rendezvous choice and failover
    a = V.Server(dbs={"fo.db": harness.vec(ch["root"])})
    b = V.Server(dbs={"fo.db": harness.vec(ch["root"])})
    extra_srv = [a, b]
    a.wait_db("fo.db")
    b.wait_db("fo.db")
    c1 = V.connect(f"{a.url},{b.url}", "fo.db", readahead=0, retry_ms=400)
    c2 = V.connect(f"{b.url},{a.url}/", "fo.db", readahead=0, retry_ms=400)
    p1 = c1.execute("PRAGMA ltxhttp_server").fetchone()[0]
    p2 = c2.execute("PRAGMA ltxhttp_server").fetchone()[0]
    ck.ok(p1 == p2 and p1 in (a.url + "/fo.db", b.url + "/fo.db"), f"same preferred server whatever the order: {p1} {p2}")
    pref, spare = (a, b) if p1.startswith(a.url + "/") else (b, a)
    pref.stop()
    try:
        ok = V.dump(c1) == V.state_dump(states[-1]["source"])
    except Exception as e:
        ok = False
        print("failover read error:", e)
    ck.ok(ok, "reads fail over to the other server")
    ck.eq(c1.execute("PRAGMA ltxhttp_server").fetchone()[0], spare.url + "/fo.db", "now on the other server")
    c3 = V.connect(f"{a.url},{b.url}", "fo.db", retry_ms=400)
    ck.ok(V.dump(c3) == V.state_dump(states[-1]["source"]), "open fails over too")
    for x in (c1, c2, c3):
        x.close()
    spare.stop()
finally:
    for x in locals().get("extra_srv", []) + locals().get("extra_procs", []):
        x.stop()
    if srv:
        srv.stop()
    shutil.rmtree(work, ignore_errors=True)
ck.done()
