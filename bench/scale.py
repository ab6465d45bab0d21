#!/usr/bin/env python3
"""Issue 12 server-side scale measurements, reference and subject in one run.

  bench/scale.py --ref REF_LTXPAGED --new NEW_LTXPAGED --ltxgen LTXGEN [--pages N] [--dbs N] [--only a,b]

Sections (each runs both binaries back to back on the same data):
  memory  index bytes per page: (RSS ready with an N-page database - RSS
          with a 10-page one) / N
  idle    store LISTs per second with --dbs idle databases under one file
          --replica root (default poll settings), measured after the
          subject's back-off reached its ceiling
  idle_s3 the same on S3 (moto): --dbs idle databases under one s3:// root,
          subject only (LISTs per second after --settle, over --window, in
          all and by kind, and the databases' states; then what one
          database read all the time adds)
  disk    cold page latency: --cache-dir hit (after a restart) vs the store
          (moto S3), when the subject has --cache-dir
Prints one JSON object; bench/RESULTS.md's "Scale" block is written from it
by hand."""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


class Srv:
    def __init__(self, binary, args, log):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "wb")
        self.p = subprocess.Popen([binary, "--listen", f"127.0.0.1:{self.port}"] + args, stdout=self.log,
                                  stderr=subprocess.STDOUT)
        t0 = time.time()
        while http(self.url + "/healthz", 1)[0] != 200:
            if self.p.poll() is not None or time.time() - t0 > 60:
                raise RuntimeError(f"{binary} did not start")
            time.sleep(0.02)

    def ready(self, timeout=600):
        t0 = time.time()
        while http(self.url + "/readyz", 5)[0] != 200:
            if time.time() - t0 > timeout:
                raise RuntimeError("not ready")
            time.sleep(0.05)
        return time.time() - t0

    def rss_kb(self):
        return _harness().rss_kib(self.p.pid)

    def lists(self):
        st, b = http(self.url + "/admin/status")
        j = json.loads(b) if st == 200 else {}
        return sum(s.get("lists", 0) for s in j.get("object_stores", []))

    def lists_by_kind(self):
        """LISTs by the call that made them (lists_by_kind; {} from a server without it)."""
        st, b = http(self.url + "/admin/status")
        out = {}
        for s in (json.loads(b) if st == 200 else {}).get("object_stores", []):
            for k, v in s.get("lists_by_kind", {}).items():
                out[k] = out.get(k, 0) + v
        return out

    def states(self):
        st, b = http(self.url + "/admin/status")
        out = {}
        for d in (json.loads(b) if st == 200 else {}).get("databases", []):
            out[d.get("state")] = out.get(d.get("state"), 0) + 1
        return out

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def memory(a, work):
    tiny, big = os.path.join(work, "tiny.db"), os.path.join(work, "big.db")
    subprocess.run([a.ltxgen, "synth", tiny, "--pages", "10"], check=True, capture_output=True)
    subprocess.run([a.ltxgen, "synth", big, "--pages", str(a.pages), "--l0", "0"], check=True, capture_output=True)
    out = {"pages": a.pages}
    for name, binary in (("ref", a.ref), ("new", a.new)):
        r = {}
        for db, key in ((tiny, "base_kb"), (big, "ready_kb")):
            s = Srv(binary, ["--db", "m.db=" + db, "--cache-size", "64M"], os.path.join(work, f"mem-{name}.log"))
            try:
                r["index_s" if db == big else "tiny_s"] = s.ready()
                time.sleep(0.5)
                r[key] = s.rss_kb()
            finally:
                s.stop()
        r["bytes_per_page"] = (r["ready_kb"] - r["base_kb"]) * 1024 / a.pages
        out[name] = r
        print(f"memory {name}: {r}", file=sys.stderr, flush=True)
    out["ratio"] = out["ref"]["bytes_per_page"] / max(out["new"]["bytes_per_page"], 0.01)
    return out


def idle_lists(s, settle, window):
    """Once s is ready and has settled: its store listings a second over
    window seconds idle (in all and by kind) and the databases' states, then
    over 15 s with one database read all the time (what that adds), and its
    RSS."""
    r = {"ready_s": s.ready()}
    time.sleep(settle)
    l0, k0, t0 = s.lists(), s.lists_by_kind(), time.time()
    time.sleep(window)
    r["window_s"] = window
    k1, dt = s.lists_by_kind(), time.time() - t0
    r["lists_per_s"] = (s.lists() - l0) / dt
    r["lists_per_s_by_kind"] = {k: round((v - k0.get(k, 0)) / dt, 3) for k, v in k1.items()}
    r["states"] = s.states()
    l0, t0 = s.lists(), time.time()
    while time.time() - t0 < 15:
        http(s.url + "/db00000.db/pages/1")
        time.sleep(0.05)
    r["lists_per_s_one_read"] = (s.lists() - l0) / (time.time() - t0)
    r["rss_kb"] = s.rss_kb()
    return r


def idle(a, work):
    src = os.path.join(work, "one.db")
    subprocess.run([a.ltxgen, "synth", src, "--pages", "100", "--l0", "3"], check=True, capture_output=True)
    root = os.path.join(work, "root")
    os.makedirs(root)
    for i in range(a.dbs):
        os.symlink(src, os.path.join(root, "db%05d.db" % i))
    out = {"dbs": a.dbs}
    for name, binary, settle, window in (("ref", a.ref, 10, 30.0), ("new", a.new, a.settle, a.window)):
        s = Srv(binary, ["--replica", "file://" + root, "--cache-size", "16M"], os.path.join(work, f"idle-{name}.log"))
        try:
            r = idle_lists(s, settle, window)
        finally:
            s.stop()
        out[name] = r
        print(f"idle {name}: {r}", file=sys.stderr, flush=True)
    out["ratio"] = out["ref"]["lists_per_s"] / max(out["new"]["lists_per_s"], 0.01)
    return out


def page_latencies(url, pages):
    """Sequential single-page GETs on one keep-alive connection: ms each."""
    import http.client
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    out = []
    for p in pages:
        t0 = time.perf_counter()
        conn.request("GET", f"{u.path}/pages/{p}")
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"page {p}: {r.status}")
        out.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return out


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def _harness():
    lib = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    import harness
    return harness


def idle_s3(a, work):
    harness = _harness()
    src = os.path.join(work, "one-s3.db")
    subprocess.run([a.ltxgen, "synth", src, "--pages", "100", "--l0", "3"], check=True, capture_output=True)
    files = []
    for level in os.listdir(os.path.join(src, "ltx")):
        for fn in os.listdir(os.path.join(src, "ltx", level)):
            with open(os.path.join(src, "ltx", level, fn), "rb") as f:
                files.append(("%04x/%s" % (int(level), fn), f.read()))
    moto = harness.Moto()
    out = {"dbs": a.dbs, "files_per_db": len(files)}
    try:
        c = moto.client()
        c.create_bucket(Bucket="bench")
        for i in range(a.dbs):
            for key, body in files:
                c.put_object(Bucket="bench", Key="p/db%05d.db/%s" % (i, key), Body=body)
        os.environ.update(moto.env())
        s = Srv(a.new, ["--replica", "s3://bench/p", "--s3-endpoint", moto.endpoint, "--s3-path-style",
                        "--cache-size", "16M"], os.path.join(work, "idle-s3.log"))
        try:
            r = idle_lists(s, a.settle, a.window)
        finally:
            s.stop()
        out["new"] = r
        print(f"idle_s3: {r}", file=sys.stderr, flush=True)
    finally:
        moto.stop()
    return out


def disk(a, work):
    harness = _harness()
    import random
    rep = os.path.join(work, "s3.db")
    subprocess.run([a.ltxgen, "synth", rep, "--pages", str(a.disk_pages), "--l0", "20"], check=True,
                   capture_output=True)
    moto = harness.Moto()
    out = {"pages": a.disk_pages}
    try:
        c = moto.client()
        c.create_bucket(Bucket="bench")
        for level in os.listdir(os.path.join(rep, "ltx")):
            for fn in os.listdir(os.path.join(rep, "ltx", level)):
                with open(os.path.join(rep, "ltx", level, fn), "rb") as f:
                    c.put_object(Bucket="bench", Key="p/d.db/%04x/%s" % (int(level), fn), Body=f.read())
        env = dict(os.environ, **moto.env())
        sample = random.Random(5).sample(range(1, a.disk_pages + 1), a.disk_samples)
        cdir = os.path.join(work, "cache")
        base = ["--db", "d.db=s3://bench/p/d.db", "--s3-endpoint", moto.endpoint, "--s3-path-style",
                "--cache-size", "256K"]
        runs = (("store", a.new, []), ("warm-up", a.new, ["--cache-dir", cdir]), ("disk", a.new, ["--cache-dir", cdir]))
        for name, binary, extra in runs:
            os.environ.update(env)
            s = Srv(binary, base + extra, os.path.join(work, f"disk-{name}.log"))
            try:
                s.ready()
                if name == "warm-up":
                    http(s.url + "/d.db/pages/1")
                    t0 = time.time()
                    while time.time() - t0 < 120:
                        d = json.loads(http(s.url + "/admin/status")[1]).get("disk") or {}
                        if d.get("files") and d.get("fetches") == d.get("files"):
                            break
                        time.sleep(0.2)
                    out["disk_files"] = d
                    continue
                g0 = sum(x.get("gets", 0) for x in json.loads(http(s.url + "/admin/status")[1])["object_stores"])
                lat = page_latencies(s.url + "/d.db", sample)
                st = json.loads(http(s.url + "/admin/status")[1])
                g1 = sum(x.get("gets", 0) for x in st["object_stores"])
                out[name] = {"p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9), "p99_ms": pct(lat, 0.99),
                             "mean_ms": sum(lat) / len(lat), "store_gets": g1 - g0, "disk": st.get("disk")}
            finally:
                s.stop()
            print(f"disk {name}: {out.get(name)}", file=sys.stderr, flush=True)
    finally:
        moto.stop()
    out["ratio_p50"] = out["store"]["p50_ms"] / max(out["disk"]["p50_ms"], 1e-6)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--ltxgen", required=True)
    ap.add_argument("--pages", type=int, default=300000)
    ap.add_argument("--dbs", type=int, default=1000)
    ap.add_argument("--settle", type=float, default=130.0, help="seconds before measuring the subject's idle rate")
    ap.add_argument("--window", type=float, default=600.0, help="idle window of the subject (a level listing cycle)")
    ap.add_argument("--disk-pages", type=int, default=20000)
    ap.add_argument("--disk-samples", type=int, default=500)
    ap.add_argument("--only", default="memory,idle,disk")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ltx-scale-")
    res = {}
    try:
        for sec in a.only.split(","):
            res[sec] = globals()[sec](a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
