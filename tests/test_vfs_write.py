#!/usr/bin/env python3
"""The VFS write mode (write=1, issue 11) against the real ltxpaged with
--write-token, on a file root (argument "s3": the same on moto).

Checks:
  - the sqlite3 CLI creates a database with write=1&mode=rwc (sync_interval=0);
    without mode=rwc a missing database is not created; read-only stays the
    default ("readonly database");
  - Debian's python3: thousands of inserts/updates/deletes in 200
    transactions with a VACUUM, mirrored into a local SQLite file; a reader
    on the same server sees the mirror after each sync (PRAGMA ltxhttp_sync,
    and the 1 s background sync alone); ltxctl restore equals the mirror,
    integrity_check ok, ltxctl verify ok, one file per TXID;
  - ROLLBACK leaves nothing; journal_mode=WAL is refused; a transaction over
    write_buffer fails with SQLITE_FULL and leaves the database intact;
  - two writers on one base: the second COMMIT gets SQLITE_BUSY_SNAPSHOT,
    its retry succeeds;
  - a second server on the same root: its writer gets SQLITE_BUSY
    (LTXHTTP_BUSY_LEASE) and PRAGMA ltxhttp_error names the lease holder;
  - kill -9 of a writer: sync_interval=0 loses no COMMIT that returned;
    sync_interval=1s loses only commits of the last interval (+ 1 s slack);
    the replica stays restorable.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as C  # noqa: E402

H = C.harness
BACKEND = sys.argv[1] if len(sys.argv) > 1 else "file"
ck = H.Checker(f"vfs_write[{BACKEND}]")
W = "w-secret"
BUSY_SNAPSHOT = 5 | (2 << 8)
BUSY_LEASE = 5 | (200 << 8)


def start_server(root, env, port=None):
    port = port or H.free_port()
    args = [H.binary("ltxpaged"), "--listen", f"127.0.0.1:{port}", "--replica", root, "--write-token", W,
            "--poll-interval", "1s", "--rescan-interval", "1s"]
    p = H.Proc(args, env=env)
    H.wait_port(port, 20, p.p)
    p.url = f"http://127.0.0.1:{port}"
    return p


def uri(srv, name, **params):
    q = "&".join(["vfs=ltxhttp", f"server={srv.url}", f"token={W}", "log=0"] + [f"{k}={v}" for k, v in params.items()])
    return f"file:{name}?{q}"


def connect(srv, name, **params):
    import sqlite3
    return sqlite3.connect(uri(srv, name, **params), uri=True, isolation_level=None, check_same_thread=False,
                           timeout=0)


def ltxctl(*args, env):
    return subprocess.run([H.binary("ltxctl")] + list(args), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **env))


def restore(root, name, out, env):
    r = ltxctl("restore", root, out, "--db", name, "-f", "-q", env=env)
    ck.ok(r.returncode == 0, f"ltxctl restore {name}: {r.stdout}{r.stderr}")
    return out


def restored_dump(root, name, env):
    import sqlite3
    out = restore(root, name, os.path.join(tmp, f"restored-{name}"), env)
    c = sqlite3.connect(out)
    try:
        ck.eq(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", f"restored {name}: integrity_check")
        return C.dump(c)
    finally:
        c.close()


def wait_db(srv, name, txid, timeout=30):
    """Until srv serves name at txid or later."""
    import json
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, body = H.http_get(f"{srv.url}/{name}", headers={"Authorization": "Bearer " + W}, timeout=5)
        if st == 200:
            j = json.loads(body)
            if j.get("state") == "ok" and int(j.get("txid", "0"), 16) >= txid:
                return True
        time.sleep(0.1)
    return ck.ok(False, f"{name} at {txid:x} on {srv.url}")


def wait_reader(reader, txid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if int(reader.execute("PRAGMA ltxhttp_txid").fetchone()[0], 16) >= txid:
            return True
        time.sleep(0.02)
    return False


def test_cli(srv, root, env):
    """Create with the sqlite3 CLI; mode=rwc needed; read-only by default."""
    lib = C.ext_path()[:-3]
    sql = ("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n"
           "INSERT INTO t(v) VALUES ('a'),('b'),('c');\n"
           "UPDATE t SET v = v || '!' WHERE id = 2;\n"
           "SELECT group_concat(v) FROM t;\n")
    r = subprocess.run(["sqlite3", "-cmd", f".load {lib}", "-cmd",
                        f".open '{uri(srv, 'cli.db', write=1, mode='rwc', sync_interval=0)}'"],
                       input=sql, capture_output=True, text=True, timeout=60)
    ck.eq((r.returncode, r.stdout.strip()), (0, "a,b!,c"), f"sqlite3 CLI creates cli.db: {r.stderr}")
    rd = connect(srv, "cli.db")
    ck.eq(rd.execute("SELECT group_concat(v) FROM t").fetchone()[0], "a,b!,c", "a reader sees the CLI's commits")
    C.expect_error(ck, lambda: rd.execute("INSERT INTO t(v) VALUES ('x')"), ["readonly"],
                   "read-only stays the default")
    rd.close()
    r = subprocess.run(["sqlite3", "-cmd", f".load {lib}", "-cmd",
                        f".open '{uri(srv, 'missing.db', write=1, sync_interval=0)}'"],
                       input="CREATE TABLE x(a);\n", capture_output=True, text=True, timeout=60)
    ck.ok("unable to open" in r.stderr, f"without mode=rwc a missing database is not created: {r.stdout}{r.stderr}")
    r = C.try_open(uri(srv, "cli.db", write=1, sync_interval="soon").replace("log=0", "log=1"))
    ck.ok("error" in r.stdout and "bad sync_interval 'soon'" in r.stderr, f"bad sync_interval refused: {r.stdout}{r.stderr}")
    ck.eq(restored_dump(root, "cli.db", env)[0][2], [(1, "a"), (2, "b!"), (3, "c")], "restore of cli.db")


def workload(w, m, rnd, i):
    """Transaction i, the same SQL on the VFS writer w and the mirror m."""
    ops = []
    k = i % 5
    if k == 0:
        for _ in range(40):
            ops.append(("INSERT INTO t(v, n) VALUES (?, ?)", ("x" * rnd.randint(1, 400), rnd.randint(0, 1000))))
    elif k == 1:
        ops.append(("UPDATE t SET v = v || 'u', n = n + 1 WHERE id % 7 = ?", (i % 7,)))
    elif k == 2:
        ops.append(("DELETE FROM t WHERE id % 13 = ?", (i % 13,)))
    elif k == 3:
        ops.append(("INSERT INTO t(v, n) VALUES (?, ?)", (os.urandom(3000).hex(), i)))
    else:
        for _ in range(20):
            ops.append(("INSERT INTO u(k, blob) VALUES (?, ?)", (rnd.randint(0, 10 ** 9), os.urandom(rnd.randint(10, 900)))))
    for c in (w, m):
        c.execute("BEGIN")
        for sql, args in ops:
            c.execute(sql, args)
        c.execute("COMMIT")
    return len(ops)


def test_workload(srv, root, env):
    import random
    import sqlite3
    rnd = random.Random(7)
    w = connect(srv, "app.db", write=1, mode="rwc")
    m = sqlite3.connect(os.path.join(tmp, "mirror.db"), isolation_level=None)
    for c in (w, m):
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
        c.execute("CREATE TABLE u(k INTEGER, blob BLOB)")
        c.execute("CREATE INDEX u_k ON u(k)")
    rd = None
    seen_bad = nstmt = 0
    for i in range(200):
        nstmt += workload(w, m, rnd, i)
        if i == 120:
            for c in (w, m):
                c.execute("DELETE FROM t WHERE id % 3 = 0")
                c.execute("VACUUM")
        if i % 20 == 19:
            txid = int(w.execute("PRAGMA ltxhttp_sync").fetchone()[0], 16)
            rd = rd or connect(srv, "app.db")
            if not wait_reader(rd, txid) or C.dump(rd) != C.dump(m):
                seen_bad += 1
    ck.eq(seen_bad, 0, "the reader sees the mirror after every sync (10 syncs)")
    ck.eq(C.dump(w), C.dump(m), "the writer reads its own writes")
    # the background sync alone (default 1s)
    workload(w, m, rnd, 200)
    st = w.execute("PRAGMA ltxhttp_write").fetchone()[0]
    ck.ok('"buffered_pages":0' not in st, f"the last commit is buffered: {st}")
    txid = int(w.execute("PRAGMA ltxhttp_txid").fetchone()[0], 16)
    ck.ok(wait_reader(rd, txid + 1, timeout=5), "the background sync publishes within 5 s")
    ck.eq(C.dump(rd), C.dump(m), "the reader sees the background sync")
    ck.eq(w.execute("PRAGMA integrity_check").fetchone()[0], "ok", "writer: integrity_check")
    n = m.execute("SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM u)").fetchone()[0]
    ck.ok(nstmt > 2000 and n > 1000, f"thousands of statements: {nstmt}, rows left: {n}")

    # SQLite keeps its page cache across its own commits and syncs (page 1's
    # counter is the one it wrote), so a scan after a sync asks the server nothing
    import json
    w.execute("PRAGMA cache_size=-65536")
    scan = "SELECT sum(length(v)), sum(n) FROM t"
    w.execute(scan).fetchone()
    workload(w, m, rnd, 201)
    w.execute("PRAGMA ltxhttp_sync")
    before = json.loads(w.execute("PRAGMA ltxhttp_stats").fetchone()[0])
    ck.eq(w.execute(scan).fetchone(), m.execute(scan).fetchone(), "scan after the sync")
    after = json.loads(w.execute("PRAGMA ltxhttp_stats").fetchone()[0])
    # no page missed the VFS cache (a dropped SQLite cache would read every
    # page of t again); at most one request: the TXID check at the read
    # transaction's start when the watcher's long-poll has not answered yet
    # (seen once on a loaded CI machine)
    print(f"scan after the sync: hits +{after['hits'] - before['hits']}, misses +{after['misses'] - before['misses']}, "
          f"requests +{after['requests'] - before['requests']}", flush=True)
    ck.ok(after["misses"] == before["misses"] and after["hits"] - before["hits"] <= 2,
          "SQLite's cache survives the writer's own commit and sync (no page read through the VFS but "
          f"the change counter: hits +{after['hits'] - before['hits']}, misses +{after['misses'] - before['misses']})")
    ck.ok(after["requests"] - before["requests"] <= 1,
          f"the scan after the sync asks the server nothing but the TXID: {after['requests'] - before['requests']}")

    # ROLLBACK, WAL refused, write_buffer
    w.execute("BEGIN")
    w.execute("INSERT INTO t(v, n) VALUES ('rolled back', -1)")
    w.execute("ROLLBACK")
    ck.eq(w.execute("SELECT count(*) FROM t WHERE n = -1").fetchone()[0], 0, "ROLLBACK leaves nothing")
    C.expect_error(ck, lambda: w.execute("PRAGMA journal_mode=WAL").fetchall(), ["WAL"], "journal_mode=WAL refused")
    w.close()
    rd.close()
    small = connect(srv, "app.db", write=1, write_buffer="256K", sync_interval="1h")
    try:
        small.execute("BEGIN")
        small.execute("INSERT INTO u(k, blob) VALUES (1, randomblob(2000000))")
        small.execute("COMMIT")
        ck.ok(False, "a transaction over write_buffer was accepted")
    except sqlite3.Error as e:
        ck.eq(getattr(e, "sqlite_errorcode", None), sqlite3.SQLITE_FULL, f"over write_buffer: {e}")
        if small.in_transaction:
            small.execute("ROLLBACK")
    ck.eq(C.dump(small), C.dump(m), "after SQLITE_FULL the database is intact")
    ck.eq(small.execute("PRAGMA integrity_check").fetchone()[0], "ok", "after SQLITE_FULL: integrity_check")
    small.close()
    ck.eq(restored_dump(root, "app.db", env), C.dump(m), "ltxctl restore equals the mirror")
    with open(os.path.join(tmp, "restored-app.db"), "rb") as f:
        hdr = f.read(100)
        size = f.seek(0, 2)
    be = lambda o: int.from_bytes(hdr[o:o + 4], "big")  # noqa: E731
    ck.ok(hdr[18:20] == b"\x01\x01" and be(24) == be(92) and be(28) * 4096 == size,
          f"page 1 in the LTX is SQLite's own header (rollback mode, counter {be(24)} = valid-for {be(92)}, "
          f"size {be(28)} pages)")
    r = ltxctl("verify", root.rstrip("/") + "/app.db", env=env)
    ck.ok(r.returncode == 0, f"ltxctl verify: {r.stdout[-300:]}{r.stderr[-300:]}")
    m.close()


def test_conflict_and_lease(srv, root, env):
    import sqlite3
    a = connect(srv, "app.db", write=1, sync_interval=0)
    b = connect(srv, "app.db", write=1, sync_interval=0)
    b.execute("BEGIN")
    b.execute("SELECT count(*) FROM t").fetchone()  # b's snapshot
    a.execute("INSERT INTO t(v, n) VALUES ('from a', -2)")
    try:
        b.execute("INSERT INTO t(v, n) VALUES ('from b', -3)")
        b.execute("COMMIT")
        ck.ok(False, "a writer on a stale base was accepted")
    except sqlite3.Error as e:
        ck.eq(getattr(e, "sqlite_errorcode", None), BUSY_SNAPSHOT, f"stale base: SQLITE_BUSY_SNAPSHOT ({e})")
    if b.in_transaction:
        b.execute("ROLLBACK")
    b.execute("INSERT INTO t(v, n) VALUES ('from b', -3)")
    ck.eq(b.execute("SELECT v FROM t WHERE n IN (-2, -3) ORDER BY n").fetchall(),
          [("from b",), ("from a",)], "the retry succeeds on the refreshed base")
    a.close()
    b.close()
    txid = int(connect(srv, "app.db").execute("PRAGMA ltxhttp_txid").fetchone()[0], 16)
    port = int(srv.url.rsplit(":", 1)[1])
    other = start_server(root, env)
    try:
        wait_db(other, "app.db", txid)
        c = connect(other, "app.db", write=1, sync_interval=0)
        try:
            c.execute("INSERT INTO t(v, n) VALUES ('second server', -4)")
            ck.ok(False, "a second server's writer was accepted while the lease is held")
        except sqlite3.Error as e:
            ck.eq(getattr(e, "sqlite_errorcode", None), BUSY_LEASE, f"lease held: SQLITE_BUSY family ({e})")
            msg = c.execute("PRAGMA ltxhttp_error").fetchone()[0]
            ck.ok("locked by" in msg and "until" in msg and ":" in msg, f"the message names holder and expiry: {msg}")
        ck.eq(c.execute("SELECT count(*) FROM t WHERE n = -4").fetchone()[0], 0, "the refused commit is undone")
        c.close()
        # the first server stops (releasing the lease): the other one's writer goes through
        srv.stop()
        c = connect(other, "app.db", write=1, sync_interval=0)
        c.execute("INSERT INTO t(v, n) VALUES ('second server', -4)")
        ck.eq(c.execute("SELECT count(*) FROM t WHERE n = -4").fetchone()[0], 1, "after the release the other writes")
        c.close()
    finally:
        other.stop()
    srv = start_server(root, env, port)
    wait_db(srv, "app.db", 1)
    return srv


def test_retry(root, env):
    """A background sync that fails keeps the buffer, reports at the next
    write, and lands once the server is back."""
    import sqlite3
    srv = start_server(root, env)
    port = int(srv.url.rsplit(":", 1)[1])
    wait_db(srv, "app.db", 1)
    w = connect(srv, "app.db", write=1, sync_interval="200ms", retry_ms=300)
    w.execute("VACUUM")  # no freelist: the inserts below allocate without reading the server
    base = int(w.execute("PRAGMA ltxhttp_sync").fetchone()[0], 16)
    w.execute("PRAGMA cache_size=-65536")
    w.execute("SELECT sum(length(v)) FROM t").fetchone()  # t's pages in SQLite's cache: the insert needs no server
    srv.stop()
    w.execute("INSERT INTO t(v, n) VALUES ('while down', -5)")
    time.sleep(1.5)
    st = w.execute("PRAGMA ltxhttp_write").fetchone()[0]
    ck.ok('"failing":1' in st and '"buffered_pages":0' not in st, f"failed sync keeps the buffer: {st}")
    try:
        w.execute("INSERT INTO t(v, n) VALUES ('refused', -6)")
        ck.ok(False, "the sync failure did not surface at the next write")
    except sqlite3.Error as e:
        ck.eq(getattr(e, "sqlite_errorcode", None), 10 | (203 << 8), f"next write: LTXHTTP_IOERR_SYNC ({e})")
    ck.eq(w.execute("SELECT v FROM t WHERE n IN (-5, -6)").fetchall(), [("while down",)],
          "the failed write is undone, the buffered one kept")
    srv = start_server(root, env, port)
    try:
        wait_db(srv, "app.db", base)
        deadline = time.time() + 20
        while time.time() < deadline and int(w.execute("PRAGMA ltxhttp_txid").fetchone()[0], 16) <= base:
            time.sleep(0.1)
        ck.eq(int(w.execute("PRAGMA ltxhttp_txid").fetchone()[0], 16), base + 1, "the retry lands once the server is back")
        w.execute("INSERT INTO t(v, n) VALUES ('after', -7)")
        w.close()
        rd = connect(srv, "app.db")
        ck.ok(wait_reader(rd, base + 2), "the close synced the last commit")
        ck.eq(rd.execute("SELECT v FROM t WHERE n IN (-5, -6, -7) ORDER BY n").fetchall(),
              [("after",), ("while down",)], "the server has the retried and the closing sync")
        rd.close()
    finally:
        srv.stop()


class LostAnswerProxy:
    """HTTP proxy to ltxpaged that forwards the drop-th POST but never
    answers it (the client sees an empty reply): the write landed, the
    writer does not know."""

    def __init__(self, upstream, drop):
        import http.client
        import http.server
        import threading
        up = upstream.split("//", 1)[1]
        outer = self
        self.posts = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self, body):
                c = http.client.HTTPConnection(up, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                c.request(self.command, self.path, body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                c.close()
                return r, data

            def _serve(self, body=None):
                try:
                    self._relay(body)
                except OSError:  # the client went away (the watcher's long poll at close)
                    self.close_connection = True

            def _relay(self, body):
                r, data = self._forward(body)
                if self.command == "POST":
                    outer.posts += 1
                    if outer.posts == drop:
                        self.close_connection = True
                        return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve()

            def do_POST(self):
                self._serve(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", H.free_port()), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_lost_answer(srv, root, env):
    """The answer to a POST is lost although the file landed: the retry's
    409 txid_conflict names base + 1, the writer finds its own pages there
    and goes on without dropping anything."""
    import sqlite3
    px = LostAnswerProxy(srv.url, drop=2)
    try:
        w = connect(px, "amb.db", write=1, mode="rwc", sync_interval="200ms", retry_ms=300)
        w.execute("CREATE TABLE t(v)")
        w.execute("INSERT INTO t VALUES ('one')")
        ck.eq(w.execute("PRAGMA ltxhttp_sync").fetchone()[0], "0000000000000001", "first sync through the proxy")
        w.execute("INSERT INTO t VALUES ('two')")
        try:  # libcurl may resend on a fresh connection at once (409: the file is found), else the thread retries
            w.execute("PRAGMA ltxhttp_sync").fetchone()
        except sqlite3.Error as e:
            ck.ok("ltxhttp" in str(e), f"a lost answer fails that sync: {e}")
        deadline = time.time() + 15
        while time.time() < deadline and w.execute("PRAGMA ltxhttp_txid").fetchone()[0] != "0000000000000002":
            time.sleep(0.05)
        ck.eq(w.execute("PRAGMA ltxhttp_txid").fetchone()[0], "0000000000000002",
              "the retry finds its own file at base + 1 (no conflict)")
        st = w.execute("PRAGMA ltxhttp_write").fetchone()[0]
        ck.ok('"failing":0' in st and '"buffered_pages":0' in st, f"nothing dropped, nothing pending: {st}")
        w.execute("INSERT INTO t VALUES ('three')")
        ck.eq(w.execute("PRAGMA ltxhttp_sync").fetchone()[0], "0000000000000003", "the next sync goes on")
        w.close()
        ck.ok(px.posts in (4, 5), f"POSTs: create, the lost answer, its resend (409), the next: {px.posts}")
        if root.startswith("file://"):
            ck.eq(sorted(os.listdir(os.path.join(root[len("file://"):], "amb.db", "ltx", "0"))),
                  [f"{t:016x}-{t:016x}.ltx" for t in (1, 2, 3)], "one L0 file per TXID")
    finally:
        px.stop()
    rd = connect(srv, "amb.db")
    ck.ok(wait_reader(rd, 3), "a reader reaches TXID 3")
    ck.eq(rd.execute("SELECT group_concat(v) FROM t").fetchone()[0], "one,two,three", "a reader sees every row once")
    rd.close()


CHILD = r"""
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], uri=True, isolation_level=None, timeout=0)
c.execute("CREATE TABLE IF NOT EXISTS k(i INTEGER PRIMARY KEY, t REAL)")
i = 0
while True:
    i += 1
    c.execute("INSERT INTO k(i, t) VALUES (?, ?)", (i, time.time()))
    print(i, time.time(), flush=True)
    time.sleep(0.005)
"""


def test_kill(srv, root, env, name, interval):
    """kill -9 a writer; returns (committed lines, rows restored)."""
    u = uri(srv, name, write=1, mode="rwc", sync_interval=interval)
    prelude = ("import sqlite3\nc = sqlite3.connect(':memory:'); c.enable_load_extension(True); "
               f"c.load_extension({C.ext_path()[:-3]!r}); c.close()\n")
    p = subprocess.Popen([sys.executable, "-c", prelude + CHILD, u], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    lines = []
    # 300 commits, or as many as 60 s allow (sync_interval=0 is one store
    # round trip per COMMIT: slow on a loaded machine); the property is
    # that none that returned is lost, so a few dozen suffice
    deadline = time.time() + 60
    while len(lines) < 300 and time.time() < deadline:
        ln = p.stdout.readline()
        if not ln:
            break
        lines.append(ln.split())
    os.kill(p.pid, signal.SIGKILL)
    killed = time.time()
    p.wait()
    p.stdout.close()
    p.stderr.close()
    ck.ok(len(lines) >= 30, f"{name}: the writer committed rows before the kill ({len(lines)} of 300 in 60 s)")
    import sqlite3
    out = restore(root, name, os.path.join(tmp, f"restored-{name}"), env)
    c = sqlite3.connect(out)
    ck.eq(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", f"{name}: restorable after kill -9")
    have = {r[0] for r in c.execute("SELECT i FROM k")}
    c.close()
    return lines, have, killed


def test_kills(srv, root, env):
    lines, have, _ = test_kill(srv, root, env, "k0.db", "0")
    lost = [int(i) for i, _ in lines if int(i) not in have]
    ck.eq(lost, [], "sync_interval=0: no COMMIT that returned is lost")
    lines, have, killed = test_kill(srv, root, env, "k1.db", "1s")
    lost = [(int(i), float(t)) for i, t in lines if int(i) not in have]
    early = [i for i, t in lost if t < killed - 2.0]
    ck.eq(early, [], f"sync_interval=1s: only the last interval is lost ({len(lost)} rows lost, all in the last 2 s)")
    ck.ok(len(have) > 0, f"sync_interval=1s: earlier syncs are in the replica ({len(have)} rows)")


tmp = C.tmpdir("write")
moto = srv = None
try:
    C.load_extension()
    env = {}
    if BACKEND == "s3":
        moto = H.Moto()
        env = moto.env()
        urllib.request.urlopen(urllib.request.Request(moto.endpoint + "/bkt", method="PUT"), timeout=10).read()
        root = "s3://bkt/dbs"
    else:
        os.makedirs(os.path.join(tmp, "root"))
        root = "file://" + os.path.join(tmp, "root")
    srv = start_server(root, env)
    test_cli(srv, root, env)
    test_workload(srv, root, env)
    srv = test_conflict_and_lease(srv, root, env)
    test_kills(srv, root, env)
    test_lost_answer(srv, root, env)
    srv.stop()
    srv = None
    test_retry(root, env)
except SystemExit:
    raise
except Exception as e:  # report, then fail
    import traceback
    traceback.print_exc()
    ck.ok(False, f"exception: {e}")
finally:
    if srv:
        if ck.failures:
            print(srv.output()[-3000:])
        srv.stop()
    if moto:
        moto.stop()
ck.done()
