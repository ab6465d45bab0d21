"""Shared helpers for the ltxhttp VFS tests (tests/test_vfs*.py).

Starts the real ltxpaged on replicas built from the vector chains, loads the
extension into this interpreter's sqlite3 (needs /usr/bin/python3, whose
sqlite3 module can load extensions), and compares databases table by table.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

SKIP = 77  # CTest SKIP_RETURN_CODE


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def chains():
    return harness.manifest()["chains"]


def chain(name):
    for c in chains():
        if c["name"] == name:
            return c
    raise KeyError(name)


def txid_int(t):
    return int(t, 16)


def build_replica(ch, dst, max_txid=None, l0_only=False, upto_l0=None):
    """Copy chain ch's replica files into dst/ltx/... (mtimes from headers).
    max_txid: keep only files whose max TXID <= it (a replica truncated there).
    l0_only: keep only level 0. upto_l0: keep L0 files with max TXID <= it."""
    os.makedirs(dst, exist_ok=True)
    for f in ch["files"]:
        if max_txid is not None and file_max_txid(f) > max_txid:
            continue
        if l0_only and f["level"] != 0:
            continue
        if upto_l0 is not None and file_max_txid(f) > upto_l0:
            continue
        add_file(ch, f, dst)
    return dst


def add_file(ch, f, dst):
    src = harness.vec(f["path"])
    rel = os.path.relpath(src, harness.vec(ch["root"]))
    out = os.path.join(dst, rel)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    shutil.copyfile(src, tmp)
    harness.set_mtime_from_header(tmp)
    os.rename(tmp, out)
    return out


def file_max_txid(f):
    v = f["max_txid"]
    return v if isinstance(v, int) else int(v, 16)


class Server:
    """ltxpaged on 127.0.0.1:<port> serving name -> replica dir pairs."""

    def __init__(self, dbs=None, root=None, port=None, extra=None):
        self.port = port or harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [harness.binary("ltxpaged"), "--listen", f"127.0.0.1:{self.port}"]
        for name, d in (dbs or {}).items():
            args += ["--db", f"{name}=file://{os.path.abspath(d)}"]
        if root:
            args += ["--replica", f"file://{os.path.abspath(root)}"]
        args += extra or []
        self.names = list((dbs or {}).keys())
        self.proc = harness.Proc(args)
        try:
            harness.wait_port(self.port, 20, self.proc)
        except Exception:
            print(self.proc.output())
            self.proc.stop()
            raise

    def wait_db(self, name, txid=None, timeout=20):
        """Wait until GET /name says state ok (and at least txid)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            st, _, body = harness.http_get(f"{self.url}/{name}", timeout=5)
            last = (st, body[:300])
            if st == 200:
                j = json.loads(body)
                if j.get("state") == "ok" and (txid is None or int(j.get("txid", "0"), 16) >= txid):
                    return j
            time.sleep(0.05)
        raise TimeoutError(f"{name} not ready on {self.url}: {last}")

    def stop(self):
        return self.proc.stop()

    def output(self):
        return self.proc.output()


def dump(conn):
    """Every table's schema and rows, in name order."""
    out = []
    tables = conn.execute("SELECT name, sql FROM sqlite_schema WHERE type='table' ORDER BY name").fetchall()
    for name, sql in tables:
        rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
        out.append((name, sql, rows))
    return out


def local_state(source):
    p = harness.vec(os.path.join("states", source))
    return sqlite3.connect(f"file:{p}?mode=ro&immutable=1", uri=True)


def state_dump(source):
    c = local_state(source)
    try:
        return dump(c)
    finally:
        c.close()


def ext_path():
    return harness.binary("libltxhttp.so")


def load_extension():
    """Load libltxhttp into this process (once); the VFS stays registered."""
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        skip(f"{sys.executable}'s sqlite3 cannot load extensions")
    if harness.SANITIZE:
        skip("ASan build: an ASan-built libltxhttp.so cannot be loaded into python without LD_PRELOAD of "
             "libasan; the same code runs under ASan through tests/test_vfs_driver.c (test vfs_driver)")
    c = sqlite3.connect(":memory:")
    c.enable_load_extension(True)
    c.load_extension(ext_path()[:-3])  # SQLite adds .so
    c.close()


def run_python(code, env=None, timeout=60):
    """Run code in a new interpreter (no VFS state shared with this process)
    that has loaded the extension first; returns the CompletedProcess."""
    prelude = ("import sqlite3\n"
               "c = sqlite3.connect(\":memory:\"); c.enable_load_extension(True); "
               f"c.load_extension({ext_path()[:-3]!r}); c.close()\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True,
                          timeout=timeout, env=env)


def try_open(uri, env=None):
    """Open uri and read from it in a new interpreter: stdout says "opened"
    or "error: <message>"; the extension's log lines are on stderr."""
    return run_python(f"""
try:
    sqlite3.connect({uri!r}, uri=True).execute("select 1")
    print("opened")
except Exception as e:
    print("error:", e)
""", env=env)


def expect_error(ck, fn, needles, what):
    """One check: fn() raises, and the error's text holds every string in needles."""
    try:
        fn()
    except Exception as e:
        return ck.ok(all(n in str(e) for n in needles), f"{what}: {e}")
    return ck.ok(False, f"{what}: no error (accepted)")


def connect(server_url, name, **params):
    params = dict({"server": server_url}, **params)
    q = "&".join(["vfs=ltxhttp"] + [f"{k}={v}" for k, v in params.items()])
    return sqlite3.connect(f"file:{name}?{q}", uri=True, isolation_level=None, check_same_thread=False)


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix=f"ltxvfs-{prefix}-")
