"""Shared helpers for integration tests: ports, processes, moto, vectors.

Integration tests are plain Python scripts (stdlib only, plus boto3 where
moto is used) registered with CTest. They bind only to 127.0.0.1 on ports
they pick, and stop what they start.
"""
import hashlib
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


def python_with_moto():
    """A python interpreter that can import moto (the machine's pyenv one)."""
    for cand in (shutil.which("python3"), sys.executable, "/root/.pyenv/shims/python3"):
        if not cand:
            continue
        r = subprocess.run([cand, "-c", "import moto.server, boto3"], capture_output=True)
        if r.returncode == 0:
            return cand
    return None


class Moto(Proc):
    """moto_server on 127.0.0.1:<free port>; .endpoint, .client() (boto3)."""

    def __init__(self):
        self.port = free_port()
        exe = shutil.which("moto_server")
        if exe is None:
            raise RuntimeError("moto_server not found on PATH")
        super().__init__([exe, "-H", "127.0.0.1", "-p", str(self.port)])
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
