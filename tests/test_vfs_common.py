"""Shared helpers for the ltxhttp VFS tests (tests/test_vfs*.py).

Starts the real ltxpaged on replicas built from the vector chains, loads the
extension into this interpreter's sqlite3 (needs /usr/bin/python3, whose
sqlite3 module can load extensions), and compares databases table by table.
"""
import fcntl
import json
import os
import random
import shutil
import socket
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


# ---- ports ---------------------------------------------------------------
# harness.free_port() returns a port from the kernel's ephemeral range and
# lets it go: until ltxpaged binds it, an outgoing connection of any test
# running in parallel (ctest -j) may take it as its source port (ltxpaged
# then fails with "address in use"), and because ltxpaged binds with
# SO_REUSEPORT, a server of another test that picked the same port would
# share it with ours (the kernel splits connections between both, issue 10
# case 5), while wait_port() only checks that *something* accepts on it.
# pick_port() takes ports below the ephemeral range, not in use, reserved by
# a lock file for the life of this process; Server waits until *its* process
# listens there, alone, and retries on another port otherwise.

_held_ports = {}  # port -> fd of its lock file, kept open while this process runs


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _tcp_sockets():
    """[(local port, state hex, inode)] of every TCP socket in this network namespace."""
    out = []
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            p = line.split()
            if len(p) > 9:
                out.append((int(p[1].rsplit(":", 1)[1], 16), p[3], p[9]))
    return out


def pick_port():
    """A free 127.0.0.1 port for a server this test starts (see above)."""
    lo, hi = _ephemeral_range()
    cands = range(20000, lo) if lo > 21000 else range(hi + 1, 65536)
    lockdir = os.path.join(tempfile.gettempdir(), f"ltxhttp-test-ports-{os.getuid()}")
    os.makedirs(lockdir, exist_ok=True)
    rng = random.SystemRandom()
    used = {port for port, _, _ in _tcp_sockets()}
    for _ in range(500):
        port = rng.choice(cands)
        if port in used or port in _held_ports:
            continue
        try:
            fd = os.open(os.path.join(lockdir, str(port)), os.O_CREAT | os.O_RDWR, 0o666)
        except OSError:
            continue  # e.g. a lock file of another user
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # another test process holds it
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))  # no SO_REUSEADDR: fails if anything uses the port
        except OSError:
            os.close(fd)
            continue
        finally:
            s.close()
        _held_ports[port] = fd
        return port
    return harness.free_port()


class PortTaken(RuntimeError):
    pass


def wait_listening(proc, port, timeout=20.0):
    """Wait until proc (a harness.Proc) listens on 127.0.0.1:port and no
    other process does; PortTaken when it exits with "address in use" or
    shares the port with another listener."""
    if not os.path.exists("/proc/net/tcp"):
        return harness.wait_port(port, timeout, proc.p)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.output()
            if "in use" in out.lower():
                raise PortTaken(f"port {port} taken: {out.strip()[-300:]}")
            raise RuntimeError(f"ltxpaged exited with {proc.returncode} before listening on {port}: {out[-2000:]}")
        listen = {ino for p, st, ino in _tcp_sockets() if p == port and st == "0A"}
        if listen:
            mine = set()
            try:
                for fd in os.listdir(f"/proc/{proc.p.pid}/fd"):
                    try:
                        link = os.readlink(f"/proc/{proc.p.pid}/fd/{fd}")
                    except OSError:
                        continue
                    if link.startswith("socket:["):
                        mine.add(link[8:-1])
            except OSError:
                pass
            if listen & mine:
                if listen - mine:
                    raise PortTaken(f"port {port} is shared with another listening process")
                return
        time.sleep(0.02)
    raise TimeoutError(f"ltxpaged (pid {proc.p.pid}) not listening on 127.0.0.1:{port} after {timeout}s")


class Server:
    """ltxpaged on 127.0.0.1:<port> serving name -> replica dir pairs.
    port: reuse a port (a restart); by default pick_port(), and another one
    when that port turns out to be taken."""

    def __init__(self, dbs=None, root=None, port=None, extra=None, env=None):
        self.names = list((dbs or {}).keys())
        for attempt in range(5):
            self.port = port or pick_port()
            self.url = f"http://127.0.0.1:{self.port}"
            args = [harness.binary("ltxpaged"), "--listen", f"127.0.0.1:{self.port}"]
            for name, d in (dbs or {}).items():
                args += ["--db", f"{name}=file://{os.path.abspath(d)}"]
            if root:
                args += ["--replica", f"file://{os.path.abspath(root)}"]
            args += extra or []
            self.proc = harness.Proc(args, env=dict(os.environ, **env) if env else None)
            try:
                wait_listening(self.proc, self.port, 20)
                return
            except PortTaken as e:
                self.proc.stop()
                if port is not None and attempt < 4:
                    time.sleep(0.5)  # a restart on the same port: the old one is going
                    continue
                if port is not None:
                    raise
                print(f"{e}: trying another port", flush=True)
            except Exception:
                print(self.proc.output())
                self.proc.stop()
                raise
        raise RuntimeError("could not start ltxpaged on a port of its own")

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


class Proxy:
    """A small HTTP/1.1 proxy on 127.0.0.1 in front of an ltxpaged (upstream
    base URL), on a thread, for answers a real server never gives. mode (may
    change while running): None forwards as is; "strip" drops Ltx-Txid from
    page answers; "other:<hex>" asks the server for that TXID instead of the
    one in ?txid= (a cache handing out another TXID's pages, with its own
    header); "error" answers every page request 502 with message `error_msg`;
    "timeout:<n>" answers the next n page requests 504 with `Retry-After: 1`
    (a server whose store read passed its deadline), then forwards;
    "slow_changes:<s>" holds every /changes request <s> seconds before
    forwarding it (a watcher whose answers come late).
    ssl_ctx: terminate TLS (https://) with that server context."""

    def __init__(self, upstream, ssl_ctx=None, port=None):
        import http.client
        import http.server
        import re
        import socket
        import threading
        import urllib.parse
        self.upstream = urllib.parse.urlsplit(upstream)
        self.mode = None
        self.error_msg = "page 1: page 1: page 1: object store read failed"
        self.page_requests = 0
        self.requests = 0
        proxy = self

        class Handler(harness.QuietHandler):
            def reply(self, code, body, headers):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path
                mode = proxy.mode
                is_page = "/pages" in path.split("?")[0]
                proxy.requests += 1
                if is_page:
                    proxy.page_requests += 1
                if is_page and mode == "error":
                    body = json.dumps({"error": proxy.error_msg, "code": "upstream"}).encode()
                    return self.reply(502, body, [("Content-Type", "application/json")])
                if is_page and mode and mode.startswith("timeout:") and int(mode[8:]) > 0:
                    proxy.mode = f"timeout:{int(mode[8:]) - 1}"
                    body = json.dumps({"error": "page 1: deadline of 10000 ms passed", "code": "upstream_error"})
                    return self.reply(504, body.encode(), [("Content-Type", "application/json"), ("Retry-After", "1")])
                if mode and mode.startswith("slow_changes:") and path.split("?")[0].endswith("/changes"):
                    time.sleep(float(mode[13:]))
                if is_page and mode and mode.startswith("other:"):
                    path = re.sub(r"txid=[0-9a-fA-F]+", "txid=" + mode[6:], path)
                up = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=90)
                try:
                    hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "range")}
                    up.request("GET", path, headers=hdrs)
                    r = up.getresponse()
                    body = r.read()
                    out = [(k, v) for k, v in r.getheaders()
                           if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server")]
                    if is_page and mode == "strip":
                        out = [(k, v) for k, v in out if k.lower() != "ltx-txid"]
                    self.reply(r.status, body, out)
                finally:
                    up.close()

        class Srv(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.port = port or harness.free_port()
        self.httpd = Srv(("127.0.0.1", self.port), Handler)
        if ssl_ctx is not None:
            self.httpd.socket = ssl_ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if ssl_ctx else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def rendezvous_first(urls, db):
    """The server the VFS prefers for db among urls (lh_settings_score:
    FNV-1a over "url\\ndb" from 1469598103934665603, splitmix64 finaliser;
    highest score first, ties by URL)."""
    M = (1 << 64) - 1

    def score(u):
        h = 1469598103934665603
        for b in (u.rstrip("/") + "\n" + db).encode():
            h = ((h ^ b) * 1099511628211) & M
        h ^= h >> 30
        h = (h * 0xbf58476d1ce4e5b9) & M
        h ^= h >> 27
        h = (h * 0x94d049bb133111eb) & M
        h ^= h >> 31
        return h

    return sorted(urls, key=lambda u: (-score(u), u.rstrip("/")))[0]


def preferred_port(others, db, scheme="http"):
    """A free 127.0.0.1 port whose URL the VFS prefers for db over the URLs
    in others (to start a proxy or server there)."""
    for _ in range(200):
        port = harness.free_port()
        url = f"{scheme}://127.0.0.1:{port}"
        if rendezvous_first([url] + list(others), db) == url:
            return port
    raise RuntimeError("no preferred port found")
