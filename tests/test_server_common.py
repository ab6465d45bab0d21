"""Helpers shared by the ltxpaged integration tests (test_server*.py)."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as H  # noqa: E402

MAN = H.manifest()


def chain(name):
    for c in MAN["chains"]:
        if c["name"] == name:
            return c
    raise KeyError(name)


def states_by_txid(c):
    """A manifest chain's states keyed by TXID (int)."""
    return {int(s["txid"], 16): s for s in c["states"]}


def l0_by_txid(c):
    """A manifest chain's L0 files keyed by their min TXID (int)."""
    return {int(f["min_txid"], 16): f for f in c["files"] if f["level"] == 0}


def curl(url, *args):
    """Run the real curl binary: (status, headers (last response, lower-case), body)."""
    with tempfile.TemporaryDirectory() as td:
        hp, bp = os.path.join(td, "h"), os.path.join(td, "b")
        cmd = ["curl", "-sS", "--max-time", "30", "-D", hp, "-o", bp, "-w", "%{http_code}"] + list(args) + [url]
        r = subprocess.run(cmd, capture_output=True, text=True)
        status = int((r.stdout or "0").strip() or 0)
        headers = {}
        if os.path.exists(hp):
            with open(hp, "rb") as f:
                blocks = f.read().decode("latin1").split("\r\n\r\n")
            blocks = [b for b in blocks if b.strip()]
            for line in (blocks[-1] if blocks else "").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        body = b""
        if os.path.exists(bp):
            with open(bp, "rb") as f:
                body = f.read()
        return status, headers, body


def jget(url, headers=None):
    st, h, b = H.http_get(url, headers=headers)
    try:
        return st, json.loads(b.decode() or "null")
    except ValueError:
        return st, None


class Server(H.Proc):
    """ltxpaged on 127.0.0.1:<free port>."""

    def __init__(self, args, env=None):
        self.port = H.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        e = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23",
             "LSAN_OPTIONS": "exitcode=23"}
        if env:
            e.update(env)
        super().__init__([H.binary("ltxpaged"), "--listen", f"127.0.0.1:{self.port}"] + list(args), env=e)
        H.wait_port(self.port, 20, self.p)

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, _ = H.http_get(self.base + "/readyz")
            if st == 200:
                return True
            time.sleep(0.05)
        return False

    def wait_for(self, pred, timeout=10, step=0.05):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(step)
        return pred()

    def status(self, db, headers=None):
        return jget(f"{self.base}/{db}", headers)[1]

    def stop_showing_log(self, tail=3000):
        """Stop it (a test that failed part-way) and print the end of its log."""
        self.stop()
        with open(self.log_path, errors="replace") as f:
            print(f.read()[-tail:])


def write_replica(backend, tmp):
    """The replica a write test writes to: bucket bkt on a new moto ("s3") or
    the folder tmp/root ("file"). Returns (moto or None, the env that reaches
    it, root URL, root folder or None)."""
    if backend == "s3":
        moto = H.Moto()
        try:
            moto.client().create_bucket(Bucket="bkt")
        except BaseException:
            moto.stop()
            raise
        return moto, moto.env(), "s3://bkt/dbs", None
    root_dir = os.path.join(tmp, "root")
    os.makedirs(root_dir)
    return None, {}, "file://" + root_dir, root_dir


def ltxctl(*args, env=None, timeout=120):
    """Run ltxctl, output captured as text, with env (write_replica's) added
    to the environment."""
    return subprocess.run([H.binary("ltxctl")] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


rss_kib = H.rss_kib


def restorable_txids(files):
    """TXIDs that some chain of files (starting with a min-1 file) ends at
    exactly; files = [(min, max)]. Reachability, not the plan algorithm."""
    out = set()
    maxt = max(m for _, m in files)
    for t in range(1, maxt + 1):
        cur = {m for (lo, m) in files if lo == 1 and m <= t}
        seen = set()
        while cur:
            c = cur.pop()
            if c in seen:
                continue
            seen.add(c)
            for lo, m in files:
                if lo <= c + 1 and c < m <= t:
                    cur.add(m)
        if t in seen:
            out.add(t)
    return out


def files_of(root):
    """[(min, max)] of the LTX files under a file replica root (holding ltx/)."""
    res = []
    for lvl in os.listdir(os.path.join(root, "ltx")):
        for fn in os.listdir(os.path.join(root, "ltx", lvl)):
            if fn.endswith(".ltx"):
                a, b = fn[:-4].split("-")
                res.append((int(a, 16), int(b, 16)))
    return res
