"""Shared helpers for integration tests: ports, processes, moto, vectors.

Integration tests are plain Python scripts (stdlib only, plus boto3 where
moto is used) registered with CTest. They bind only to 127.0.0.1 on ports
they pick, and stop what they start.
"""
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SRC = os.environ.get("LTXHTTP_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("LTXHTTP_BUILD", os.path.join(SRC, "build"))
VECTORS = os.environ.get("LTX_VECTORS", os.path.abspath(os.path.join(SRC, "..", "shared", "ltx-vectors")))
SANITIZE = os.environ.get("LTXHTTP_SANITIZE", "0") == "1"


def binary(name):
    """Path of a built binary (ltxpaged, ltxctl) or library."""
    for sub in ("server", "tools", "client-vfs", "bench", ""):
        p = os.path.join(BUILD, sub, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{name} not built under {BUILD}")


def manifest():
    with open(os.path.join(VECTORS, "manifest.json")) as f:
        return json.load(f)


def vec(path):
    return os.path.join(VECTORS, path)


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256_file(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=15.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def small_db(path, rows=1000):
    """A SQLite database at path: table t(x) holding 0..rows-1."""
    import sqlite3
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t(x)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    con.commit()
    con.close()


def copy_replica(src_rel, dst, set_mtimes=True):
    """Copy a vector replica (dir holding ltx/) to dst and set each file's
    mtime from its header timestamp, as Litestream's file backend does."""
    src = vec(src_rel)
    shutil.copytree(src, dst)
    if set_mtimes:
        for root, _, files in os.walk(dst):
            for fn in files:
                if fn.endswith(".ltx"):
                    set_mtime_from_header(os.path.join(root, fn))
    return dst


def put_l0(db_dir, rel):
    """Commit one vector L0 file (path rel under VECTORS) into the replica
    folder db_dir atomically (tmp + rename), its mtime from its header."""
    d = os.path.join(db_dir, "ltx", "0")
    os.makedirs(d, exist_ok=True)
    fn = os.path.basename(rel)
    shutil.copyfile(vec(rel), os.path.join(d, "." + fn))
    os.rename(os.path.join(d, "." + fn), os.path.join(d, fn))
    set_mtime_from_header(os.path.join(d, fn))


def set_mtime_from_header(path):
    with open(path, "rb") as f:
        hdr = f.read(100)
    if len(hdr) >= 40:
        ms = int.from_bytes(hdr[32:40], "big", signed=True)
        os.utime(path, ns=(ms * 1_000_000, ms * 1_000_000))


class Proc:
    """A child process that is always stopped (SIGTERM, then SIGKILL)."""

    def __init__(self, args, env=None, log=None, **kw):
        self.args = args
        self.log_path = log or tempfile.mktemp(prefix="ltxtest-", suffix=".log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=full_env,
                                  start_new_session=True, **kw)

    def poll(self):
        return self.p.poll()

    @property
    def returncode(self):
        return self.p.returncode

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=10):
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_PY_MOTO = []


def python_with_moto():
    """A python interpreter that can import moto (the machine's pyenv one)."""
    if _PY_MOTO:
        return _PY_MOTO[0]
    for cand in (shutil.which("python3"), sys.executable, "/root/.pyenv/shims/python3"):
        if not cand:
            continue
        r = subprocess.run([cand, "-c", "import moto.server, boto3"], capture_output=True)
        if r.returncode == 0:
            _PY_MOTO.append(cand)
            return cand
    return None


class Moto(Proc):
    """moto's S3 server on 127.0.0.1:<free port>; .endpoint, .client() (boto3).
    Run by moto_atomic.py (moto_server's application with S3's atomic
    conditional writes: moto alone lets two racing create-only PUTs win)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        py = python_with_moto()
        if py is None:
            raise RuntimeError("no python3 that imports moto (moto_server's)")
        super().__init__([py, os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_atomic.py"),
                          "127.0.0.1", str(self.port)])
        wait_port(self.port, 30, self.p)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def env(self):
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.endpoint}

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def upload_tree(self, bucket, local_dir, prefix):
        """Upload every file under local_dir to bucket/prefix/<relpath>, with
        the litestream-timestamp metadata taken from LTX headers."""
        c = self.client()
        try:
            c.create_bucket(Bucket=bucket)
        except Exception:
            pass
        for root, _, files in os.walk(local_dir):
            for fn in sorted(files):
                p = os.path.join(root, fn)
                rel = os.path.relpath(p, local_dir)
                key = (prefix.rstrip("/") + "/" + rel) if prefix else rel
                with open(p, "rb") as f:
                    body = f.read()
                meta = {}
                if fn.endswith(".ltx") and len(body) >= 40:
                    ms = int.from_bytes(body[32:40], "big", signed=True)
                    meta["litestream-timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)
                c.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta)


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A test server's request handler: HTTP/1.1, no log lines, TCP_NODELAY
    (headers and body go out in separate writes: without it the body waits
    for the client's delayed ACK, ~40 ms per request)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", headers=None):
        """Answer code with headers (a dict) and body (not sent to a HEAD),
        its Content-Length added."""
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def http_get(url, headers=None, method="GET", timeout=10):
    """(status, headers dict lower-cased, body bytes); never raises on HTTP errors."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class Checker:
    """Tiny assertion collector: every check prints, failures fail the run."""

    def __init__(self, name):
        self.name = name
        self.failures = 0
        self.checks = 0

    def ok(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures += 1
            print(f"FAIL: {what}", flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, f"{what}: got {got!r}, want {want!r}")

    def done(self):
        print(f"{self.name}: {self.checks} checks, {self.failures} failures", flush=True)
        if self.checks == 0:
            print("FAIL: no checks ran", flush=True)
            sys.exit(1)
        sys.exit(1 if self.failures else 0)


def cleanup(tmp, *procs, running_only=False, tail=None):
    """A test's finally: stop every process still set, in order, then remove tmp.
    One with stop_showing_log (an ltxpaged left running: the test failed part-way)
    prints the end of its log (tail characters); with running_only, only one that
    is still running."""
    for p in procs:
        if not p:
            continue
        show = getattr(p, "stop_showing_log", None)
        if show and (not running_only or p.poll() is None):
            show(*([tail] if tail else []))
        elif not show:
            p.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def moto_with_auth(bucket):
    """A moto_server that verifies SigV4 (INITIAL_NO_AUTH_ACTION_COUNT lets the
    setup through): an IAM user allowed s3:* and BUCKET made with its key.
    Returns (moto, key {AccessKeyId, SecretAccessKey}, boto3 s3 client)."""
    import boto3
    saved = os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT")
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  # create_user, create_access_key, put_user_policy
    try:
        moto = Moto()
    finally:
        if saved is None:
            os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        else:
            os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = saved
    try:
        iam = boto3.client("iam", endpoint_url=moto.endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="ltx")
        key = iam.create_access_key(UserName="ltx")["AccessKey"]
        iam.put_user_policy(UserName="ltx", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        s3.create_bucket(Bucket=bucket)
    except BaseException:
        moto.stop()
        raise
    return moto, key, s3


def c_test_env(moto, extra):
    """The environment of a C store test run against moto: ours, moto's
    credentials and region, extra; no AWS_ENDPOINT_URL (each test names its
    endpoint); under ASan a leak fails the run."""
    env = dict(os.environ)
    env.update(moto.env())
    env.update(extra)
    env.pop("AWS_ENDPOINT_URL", None)
    if SANITIZE:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    return env


def driver_env():
    """The environment of a C driver run by a test: ours; under ASan a
    leak fails the run and an error aborts it."""
    env = dict(os.environ)
    if SANITIZE:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env["ASAN_OPTIONS"] += ":detect_leaks=1"
    return env


def rss_kib(pid):
    """VmRSS of a process in KiB (-1 if /proc does not say)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def read_terminal(master, timeout):
    """All a child writes to the pseudo-terminal of this master end, until
    it closes it or stays silent for timeout seconds."""
    import select
    got = b""
    while True:
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not chunk:
            break
        got += chunk
    return got


def run_c_test(chk, cmd, env, what, timeout=240):
    """Run a C test program (cmd) with env: its output printed with how
    long it ran, exit status 0 checked as `what`. Returns the result."""
    t0 = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    print(r.stdout + r.stderr, flush=True)
    print(f"{os.path.basename(cmd[0])} ran in {time.time() - t0:.1f}s", flush=True)
    chk.eq(r.returncode, 0, what)
    return r


def test_exe(name):
    """Path of the C test program tests/NAME in the build; a missing one fails the run."""
    exe = os.path.join(BUILD, "tests", name)
    if not os.path.exists(exe):
        print(f"FAIL: {exe} not built")
        sys.exit(1)
    return exe
