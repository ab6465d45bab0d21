"""ltxhttp VFS through the loadable extension: /usr/bin/python3's sqlite3 and
the sqlite3 CLI, against the real ltxpaged.

Checks:
 1. every chain in manifest.json: at every state's TXID (PRAGMA ltxhttp_txid=T)
    integrity_check is ok and every table equals states/<source>; the latest
    TXID is the last state's; a TXID beyond the chain is a clear error;
 2. every chain served from replicas truncated at each T (one server per
    chain, one database per T): the latest view equals state T;
 3. PRAGMA ltxhttp_time=<state timestamp> reaches that state's TXID;
    'latest' returns; URI txid= opens in the past;
 4. the sqlite3 CLI (.load, .open URI) reads the same answers, refuses
    INSERT/CREATE with "attempt to write a readonly database";
 5. open errors: unknown database and unreachable server fail fast with
    "unable to open database file" and a clear ltxhttp message on stderr.
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vfs_common as V  # noqa: E402
from test_vfs_common import harness  # noqa: E402

V.load_extension()
ck = harness.Checker("test_vfs")
work = V.tmpdir("ext")
servers = []
try:
    # ---- 1. every chain, every TXID, through time travel on one server
    dbs = {}
    for ch in V.chains():
        dbs[ch["name"] + ".db"] = harness.vec(ch["root"])
    srv = V.Server(dbs=dbs)
    servers.append(srv)
    for ch in V.chains():
        name = ch["name"] + ".db"
        last = ch["states"][-1]
        srv.wait_db(name, V.txid_int(last["txid"]))
        c = V.connect(srv.url, name)
        ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], last["txid"], f"{name}: latest TXID")
        for st in ch["states"]:
            got = c.execute(f"PRAGMA ltxhttp_txid='{st['txid']}'").fetchone()[0]
            ck.eq(got, st["txid"], f"{name}: pragma ltxhttp_txid={st['txid']}")
            ck.eq(c.execute("PRAGMA integrity_check").fetchall(), [("ok",)], f"{name}@{st['txid']}: integrity_check")
            ck.ok(V.dump(c) == V.state_dump(st["source"]), f"{name}@{st['txid']}: contents equal states/{st['source']}")
            pc = c.execute("PRAGMA page_count").fetchone()[0]
            ck.eq(pc, st["commit"], f"{name}@{st['txid']}: page_count")
        ck.eq(c.execute("PRAGMA ltxhttp_txid='latest'").fetchone()[0], last["txid"], f"{name}: back to latest")
        ck.ok(V.dump(c) == V.state_dump(last["source"]), f"{name}: latest contents")
        beyond = "%016x" % (V.txid_int(last["txid"]) + 100)
        V.expect_error(ck, lambda: c.execute(f"PRAGMA ltxhttp_txid='{beyond}'").fetchall(),
                       ["ltxhttp", beyond], f"{name}: beyond-chain error is clear")
        ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], last["txid"], f"{name}: still latest after bad TXID")
        V.expect_error(ck, lambda: c.execute("PRAGMA ltxhttp_txid='xyz'").fetchall(),
                       ["bad TXID"], "non-hex TXID error")
        c.close()

    # ---- 3. time travel by time and URI txid=
    # (a file replica's times are the files' mtimes, as Litestream sets them:
    # serve a copy whose mtimes come from the LTX headers)
    ch = V.chain("main-4096")
    srv_t = V.Server(dbs={"timed.db": V.build_replica(ch, os.path.join(work, "timed"))})
    servers.append(srv_t)
    srv_t.wait_db("timed.db", V.txid_int(ch["states"][-1]["txid"]))
    c = V.connect(srv_t.url, "timed.db")
    # A restore at time T uses files created strictly before T (LTX-FORMAT.md
    # 3.1): 1 s after state i's timestamp reaches TXID i; exactly at it, i-1.
    def rfc3339(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)
    for i, st in enumerate(ch["states"]):
        when = rfc3339(st["timestamp_ms"] + 1000)
        try:
            got = c.execute(f"PRAGMA ltxhttp_time='{when}'").fetchone()[0]
        except Exception as e:
            got = f"error: {e}"
        ck.eq(got, st["txid"], f"ltxhttp_time={when}")
        ck.eq(c.execute("PRAGMA ltxhttp_time").fetchone()[0], when, "ltxhttp_time reads back")
        if got == st["txid"]:
            ck.ok(V.dump(c) == V.state_dump(st["source"]), f"contents at time {when}")
        try:
            got = c.execute(f"PRAGMA ltxhttp_time='{st['timestamp']}'").fetchone()[0]
        except Exception as e:
            got = f"error: {e}"
        if i == 0:
            ck.ok(got.startswith("error:") and "no TXID" in got, f"exactly at the first TXID's time: {got}")
        else:
            ck.eq(got, ch["states"][i - 1]["txid"], f"ltxhttp_time={st['timestamp']} (strictly before)")
    ck.eq(c.execute("PRAGMA ltxhttp_time='latest'").fetchone()[0], ch["states"][-1]["txid"], "ltxhttp_time=latest")
    ck.eq(c.execute("PRAGMA ltxhttp_time").fetchone()[0], "latest", "ltxhttp_time reads latest")
    before = "2024-12-31T23:00:00Z"
    V.expect_error(ck, lambda: c.execute(f"PRAGMA ltxhttp_time='{before}'").fetchall(),
                   ["no TXID"], "time before the first TXID")
    c.close()
    srv_t.stop()
    mid = ch["states"][len(ch["states"]) // 2]
    c = V.connect(srv.url, "main-4096.db", txid=mid["txid"])
    ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], mid["txid"], "URI txid= opens in the past")
    ck.ok(V.dump(c) == V.state_dump(mid["source"]), "URI txid= contents")
    c.close()
    c = V.connect(srv.url, "anything", db="main-4096.db")
    ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], ch["states"][-1]["txid"], "db= overrides the file name")
    c.close()

    # ---- 4. the sqlite3 CLI
    sqlite3_cli = shutil.which("sqlite3") or "/usr/bin/sqlite3"
    st = ch["states"][-1]
    lc = V.local_state(st["source"])
    tables = [r[0] for r in lc.execute("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name")]
    want = [str(lc.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables]
    lc.close()
    script = f".load {V.ext_path()[:-3]}\n.open 'file:main-4096.db?vfs=ltxhttp&server={srv.url}'\n"
    script += "".join(f'SELECT count(*) FROM "{t}";\n' for t in tables)
    script += "PRAGMA ltxhttp_txid;\nPRAGMA integrity_check;\n"
    r = subprocess.run([sqlite3_cli, "-batch"], input=script, capture_output=True, text=True, timeout=60)
    ck.eq(r.returncode, 0, f"CLI exit (stderr: {r.stderr.strip()})")
    ck.eq(r.stdout.split(), want + [st["txid"], "ok"], "CLI counts, TXID and integrity_check")
    for stmt in ("INSERT INTO tags(name) VALUES ('x');", "CREATE TABLE t_new(x);", "DELETE FROM users;"):
        r = subprocess.run([sqlite3_cli, "-batch", "-bail"], capture_output=True, text=True, timeout=60,
                           input=f".load {V.ext_path()[:-3]}\n.open 'file:main-4096.db?vfs=ltxhttp&server={srv.url}'\n{stmt}\n")
        ck.ok(r.returncode != 0 and "attempt to write a readonly database" in r.stderr,
              f"CLI refuses {stmt!r}: rc={r.returncode} stderr={r.stderr.strip()!r}")
    c = V.connect(srv.url, "main-4096.db")
    before = V.dump(c)
    for stmt in ("INSERT INTO tags(name) VALUES ('x')", "CREATE TABLE t_new(x)", "DROP TABLE users"):
        V.expect_error(ck, lambda: c.execute(stmt),
                       ["attempt to write a readonly database"], f"python refuses {stmt}")
    ck.ok(V.dump(c) == before, "no damage after refused writes")
    c.close()

    # ---- 5. open errors
    t0 = time.time()
    r = V.try_open(f"file:no-such.db?vfs=ltxhttp&server={srv.url}")
    ck.ok("unable to open database file" in r.stdout and "no database no-such.db" in r.stderr,
          f"unknown db: stdout={r.stdout.strip()!r} stderr={r.stderr.strip()!r}")
    ck.ok(time.time() - t0 < 10, "unknown db fails fast")
    dead = f"http://127.0.0.1:{harness.free_port()}"
    t0 = time.time()
    r = V.try_open(f"file:app.db?vfs=ltxhttp&server={dead}&retry_ms=500")
    el = time.time() - t0
    ck.ok("unable to open database file" in r.stdout and "cannot reach server" in r.stderr,
          f"unreachable server: stdout={r.stdout.strip()!r} stderr={r.stderr.strip()!r}")
    ck.ok(el < 5, f"unreachable server fails within the retry budget ({el:.2f}s)")
    for bad in ({"nolock": 1}, {"immutable": 1}, {"cache_size": "abc"}, {"readahead": 5000}):
        V.expect_error(ck, lambda: V.connect(srv.url, "main-4096.db", log=0, **bad).execute("select 1"),
                       ["unable to open"], f"open with {bad} refused")
    V.expect_error(ck, lambda: V.connect(srv.url, "main-4096.db", server="ftp://nope").execute("select 1"),
                   ["unable to open"], "bad server URL")
    # ---- settings from the environment (CLI): LTXHTTP_SERVER
    env = dict(os.environ, LTXHTTP_SERVER=srv.url, LTXHTTP_CACHE_SIZE="1M", LTXHTTP_READAHEAD="8")
    r = subprocess.run([sqlite3_cli, "-batch"], capture_output=True, text=True, timeout=60, env=env,
                       input=f".load {V.ext_path()[:-3]}\n.open 'file:main-4096.db?vfs=ltxhttp'\n"
                             "PRAGMA ltxhttp_txid;\nPRAGMA ltxhttp_stats;\n")
    lines = r.stdout.split("\n")
    ck.ok(lines[0] == ch["states"][-1]["txid"], f"LTXHTTP_SERVER from env: {r.stdout!r} {r.stderr!r}")
    try:
        cmax = json.loads(lines[1])["cache_max_pages"]
    except Exception as e:
        cmax = f"unparsable: {e}"
    ck.eq(cmax, (1 << 20) // ch["page_size"], "LTXHTTP_CACHE_SIZE=1M bounds the cache")
    env["LTXHTTP_CACHE_SIZE"] = "lots"
    r = subprocess.run([sqlite3_cli, "-batch"], capture_output=True, text=True, timeout=60, env=env,
                       input=f".load {V.ext_path()[:-3]}\n.open 'file:main-4096.db?vfs=ltxhttp'\nPRAGMA ltxhttp_txid;\n")
    ck.ok("bad cache_size 'lots'" in r.stderr, f"bad LTXHTTP_CACHE_SIZE is reported: {r.stderr.strip()!r}")
    srv.stop()

    # ---- bearer token
    srv = V.Server(dbs={"main-4096.db": harness.vec(ch["root"])}, extra=["--read-token", "s3cret"])
    servers.append(srv)
    V.expect_error(ck, lambda: V.connect(srv.url, "main-4096.db", log=0).execute("select 1"),
                   ["authorization denied"], "open without token")
    V.expect_error(ck, lambda: V.connect(srv.url, "main-4096.db", token="wrong", log=0).execute("select 1"),
                   ["authorization denied"], "open with a wrong token")
    c = V.connect(srv.url, "main-4096.db", token="s3cret")
    ck.ok(V.dump(c) == V.state_dump(ch["states"][-1]["source"]), "token= reads")
    ck.eq(c.execute(f"PRAGMA ltxhttp_txid='{ch['states'][0]['txid']}'").fetchone()[0], ch["states"][0]["txid"],
          "time travel with token")
    ck.ok(V.dump(c) == V.state_dump(ch["states"][0]["source"]), "token= time travel contents")
    c.close()
    r = V.run_python(f"""
print(sqlite3.connect("file:main-4096.db?vfs=ltxhttp&server={srv.url}", uri=True).execute("pragma ltxhttp_txid").fetchone()[0])
""", env=dict(os.environ, LTXHTTP_TOKEN="s3cret"))
    ck.eq(r.stdout.strip(), ch["states"][-1]["txid"], f"LTXHTTP_TOKEN from env ({r.stderr.strip()})")
    srv.stop()

    # ---- 2. servers started on replicas truncated at each T
    for ch in V.chains():
        name = ch["name"]
        root = os.path.join(work, f"trunc-{name}")
        for st in ch["states"]:
            V.build_replica(ch, os.path.join(root, f"t{st['txid']}.db"), max_txid=V.txid_int(st["txid"]))
        srv = V.Server(root=root)
        servers.append(srv)
        for st in ch["states"]:
            db = f"t{st['txid']}.db"
            try:
                srv.wait_db(db, V.txid_int(st["txid"]))
            except TimeoutError as e:
                ck.ok(False, str(e))
                continue
            c = V.connect(srv.url, db)
            ck.eq(c.execute("PRAGMA ltxhttp_txid").fetchone()[0], st["txid"], f"truncated {name}@{st['txid']}: TXID")
            ck.eq(c.execute("PRAGMA integrity_check").fetchall(), [("ok",)], f"truncated {name}@{st['txid']}: integrity")
            ck.ok(V.dump(c) == V.state_dump(st["source"]), f"truncated {name}@{st['txid']}: contents")
            c.close()
        srv.stop()
finally:
    for s in servers:
        rc = s.stop()
        if rc not in (0, None, -15):
            print(f"server exit {rc}; log:\n{s.output()[-3000:]}")
    shutil.rmtree(work, ignore_errors=True)
ck.done()
