#!/usr/bin/env python3
"""ltxhttp benchmarks: run everything on this machine, print absolute numbers
and ratios measured in the same run, write bench/RESULTS.md.

Started by bench/run.sh (which builds first). Usage:
  bench/run.sh [--quick] [--only throughput,lookups,freshness,economy,coldstart,memory]
               [--keep] [--no-write] [--write] [--out FILE]
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
import harness  # noqa: E402  (ports, processes, moto)
import nginxconf  # noqa: E402

ALL = ["throughput", "lookups", "freshness", "economy", "coldstart", "memory"]

# Sizes: full run / --quick.
SIZES = {
    False: dict(db_rows=1_200_000, wrk_seconds=10, wrk_rounds=2, lookups=20000, cold_lookups=300,
                fresh_counts=(100, 100, 100, 100), econ_window=60, econ_readers=(1, 10, 100),
                cold_files=1200, mem_pages=1_000_000, mem_caches=("64M", "256M")),
    True: dict(db_rows=120_000, wrk_seconds=4, wrk_rounds=1, lookups=5000, cold_lookups=100,
               fresh_counts=(20, 30, 30, 30), econ_window=15, econ_readers=(1, 10, 100),
               cold_files=1000, mem_pages=200_000, mem_caches=("32M",)),
}

PAGE = 4096


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, flush=True)


def http_json(url, timeout=10):
    st, _, body = harness.http_get(url, timeout=timeout)
    if st != 200:
        raise RuntimeError(f"GET {url} -> {st}: {body[:200]!r}")
    return json.loads(body)


def find_key(obj, names, path=()):
    """Depth-first search for the first key in names; returns (value, path)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in names and isinstance(v, (int, float)):
                return v, path + (k,)
        for k, v in obj.items():
            r = find_key(v, names, path + (k,))
            if r is not None:
                return r
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            r = find_key(v, names, path + (i,))
            if r is not None:
                return r
    return None


def objstore_counters(status):
    """gets/lists from /admin/status: prefer an object named like the object
    store ('objstore', 'store', 'object_store'), else the first hit."""
    def sub(o):
        if isinstance(o, dict):
            for k in ("objstore", "object_store", "store", "storage"):
                if isinstance(o.get(k), dict):
                    return o[k]
            for v in o.values():
                r = sub(v)
                if r is not None:
                    return r
        return None
    stores = status.get("object_stores") if isinstance(status, dict) else None
    if isinstance(stores, list) and stores and all(isinstance(x, dict) for x in stores):
        out = {}
        for key in ("gets", "lists", "bytes_read", "heads"):
            vals = [x.get(key) for x in stores]
            out[key] = sum(vals) if all(isinstance(v, (int, float)) for v in vals) else None
        return out
    base = sub(status) or status
    out = {}
    for key, names in (("gets", ("gets", "get", "get_requests")), ("lists", ("lists", "list", "list_requests")),
                       ("bytes_read", ("bytes_read",)), ("heads", ("heads",))):
        r = find_key(base, names)
        out[key] = r[0] if r else None
    return out


def delta(a, b, k):
    if a.get(k) is None or b.get(k) is None:
        return None
    return a[k] - b[k]


def pages_fetched_of(st):
    """Pages a VFS connection fetched from the server (PRAGMA ltxhttp_stats:
    misses are pages read from the server, readahead_pages the extra pages
    fetched in the same batches)."""
    if "misses" not in st:
        return None
    return st["misses"] + st.get("readahead_pages", 0)


def rss_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def fmt(x, unit="", nd=1):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15 and unit == ""):
        return f"{int(x):,}{unit}"
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    return f"{x:,.{nd}f}{unit}"


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.{nd}f}×"


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.sz = SIZES[self.quick]
        self.build = args.build
        self.work = tempfile.mkdtemp(prefix="ltxbench-", dir=args.workdir)
        self.procs = []
        self.results = {}
        self.notes = []
        self.started = datetime.datetime.utcnow()
        self.meta = {"date": f"{self.started:%Y-%m-%d %H:%M} UTC", "quick": self.quick}

    # ---------------------------------------------------------------- tools
    def bin(self, name):
        for sub in ("bench", "server", "tools", "client-vfs", ""):
            p = os.path.join(self.build, sub, name)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(f"{name} is not built in {self.build}")

    def run(self, args, check=True, env=None, timeout=None):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        r = subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{os.path.basename(args[0])} exited {r.returncode}: {r.stderr.strip()[-600:]}")
        return r

    def run_json(self, args, env=None, timeout=None, check=True):
        r = self.run(args, env=env, timeout=timeout, check=False)
        lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"{os.path.basename(args[0])} exited {r.returncode}, no JSON: {r.stderr.strip()[-600:]}")
        out = json.loads(lines[-1])
        out["_rc"] = r.returncode
        out["_stderr"] = r.stderr.strip()[-400:]
        if check and r.returncode != 0:
            log(f"  note: {os.path.basename(args[0])} exit {r.returncode}: {out['_stderr'][-200:]}")
        return out

    def start(self, args, env=None, name=None):
        p = harness.Proc(args, env=env, log=os.path.join(self.work, (name or os.path.basename(args[0])) + f"-{len(self.procs)}.log"))
        self.procs.append(p)
        return p

    def stop(self, p):
        try:
            p.stop()
        finally:
            if p in self.procs:
                self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            try:
                self.stop(p)
            except Exception:
                pass

    # ---------------------------------------------------------------- server
    def start_server(self, dbs, cache="512M", poll="1s", extra=(), env=None, name="ltxpaged"):
        port = harness.free_port()
        args = [self.bin("ltxpaged"), "--listen", f"127.0.0.1:{port}", "--cache-size", cache,
                "--poll-interval", poll]
        for n, u in dbs.items():
            args += ["--db", f"{n}={u}"]
        args += list(extra)
        t0 = time.monotonic()
        p = self.start(args, env=env, name=name)
        harness.wait_port(port, 30, p.p)
        p.port = port
        p.url = f"http://127.0.0.1:{port}"
        p.t0 = t0
        return p

    def wait_ready(self, srv, names, timeout=120):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if srv.poll() is not None:
                raise RuntimeError(f"ltxpaged exited {srv.returncode}: {srv.output()[-800:]}")
            ok = True
            for n in names:
                st, _, body = harness.http_get(f"{srv.url}/{n}", timeout=5)
                if st != 200:
                    ok = False
                    last = f"{st} {body[:200]!r}"
                    break
                j = json.loads(body)
                if j.get("state") != "ok":
                    ok = False
                    last = j
                    break
            if ok:
                return time.monotonic()
            time.sleep(0.005)
        raise TimeoutError(f"databases {names} not ready after {timeout}s: {last}")

    def admin(self, srv):
        return http_json(f"{srv.url}/admin/status")

    # ---------------------------------------------------------------- data
    def make_sqlite(self, path, rows):
        """t(id INTEGER PRIMARY KEY, v BLOB): ~200 bytes per row, 4 KiB pages."""
        if os.path.exists(path):
            os.remove(path)
        sql = (f"PRAGMA page_size={PAGE}; PRAGMA journal_mode=DELETE; "
               "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB); "
               f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<{rows}) "
               "INSERT INTO t SELECT i, randomblob(150) || printf('%08d', i) FROM c;")
        self.run(["sqlite3", path, sql])

    def bench_db(self):
        """The ~200 MB (quick: ~20 MB) database, its replica, and nginx's copy."""
        if hasattr(self, "_bench"):
            return self._bench
        d = os.path.join(self.work, "data")
        os.makedirs(d, exist_ok=True)
        db = os.path.join(d, "bench.db")
        t0 = time.monotonic()
        self.make_sqlite(db, self.sz["db_rows"])
        size = os.path.getsize(db)
        npages = size // PAGE
        replica = os.path.join(d, "replica", "bench.db")
        try:  # the project's writer, as a user would do it
            r = self.run([self.bin("ltxctl"), "snapshot", db, replica])
            snap = {"bytes": sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(replica) for f in fs),
                    "tool": "ltxctl snapshot"}
        except Exception as e:
            log(f"ltxctl snapshot failed ({e}); using ltxgen snapshot")
            self.notes.append(f"ltxctl snapshot failed ({str(e)[:200]}); replica written by ltxgen snapshot")
            shutil.rmtree(replica, ignore_errors=True)
            snap = self.run_json([self.bin("ltxgen"), "snapshot", db, replica])
            snap["tool"] = "ltxgen snapshot"
        log(f"bench.db: {size / 1e6:.1f} MB, {npages} pages, replica {snap['bytes'] / 1e6:.1f} MB "
            f"by {snap['tool']} ({time.monotonic() - t0:.1f}s)")
        self._bench = dict(db=db, size=size, pages=npages, replica=replica, rows=self.sz["db_rows"],
                           tool=snap["tool"])
        return self._bench

    def nginx_root(self, b):
        """One static file per page (same URL path as ltxpaged) + the db file."""
        if "www" in b:
            return b["www"]
        www = os.path.join(self.work, "www")
        pages = os.path.join(www, "bench.db", "pages")
        os.makedirs(pages)
        with open(b["db"], "rb") as f:
            for n in range(1, b["pages"] + 1):
                with open(os.path.join(pages, str(n)), "wb") as o:
                    o.write(f.read(PAGE))
        os.link(b["db"], os.path.join(www, "bench.db", "file"))
        b["www"] = www
        return www

    def start_nginx(self, root):
        prefix = os.path.join(self.work, "nginx")
        for sub in ("", "tmp"):
            os.makedirs(os.path.join(prefix, sub), exist_ok=True)
        port = harness.free_port()
        cpath = nginxconf.write_conf(
            prefix,
            "  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
            "  keepalive_requests 10000000;\n  keepalive_timeout 120;\n  open_file_cache max=8000 inactive=120s;\n"
            "  default_type application/octet-stream;\n",
            f"  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n    location / {{ }}\n  }}\n",
            workers=2, connections=4096, error_level="warn")
        # open_file_cache stays far below RLIMIT_NOFILE: with one file per
        # page (50k files) a larger cache runs nginx out of descriptors.
        p = self.start(["nginx", "-c", cpath, "-p", prefix + "/"], name="nginx")
        harness.wait_port(port, 15, p.p)
        p.url = f"http://127.0.0.1:{port}"
        return p

    def start_nginx_cache_tier(self, upstream_port):
        """nginx with deploy/nginx-cache.conf (paths and ports rewritten) in
        front of ltxpaged."""
        src = os.path.join(SRC, "deploy", "nginx-cache.conf")
        with open(src) as f:
            inc = f.read()
        prefix = os.path.join(self.work, "nginx-tier")
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        port = harness.free_port()
        reps = [("/var/cache/nginx/ltxhttp", os.path.join(prefix, "cache")),
                ("127.0.0.1:7070", f"127.0.0.1:{upstream_port}"), ("listen 8080;", f"listen 127.0.0.1:{port};")]
        for a, b in reps:
            if a not in inc:
                raise RuntimeError(f"deploy/nginx-cache.conf no longer contains {a!r}")
            inc = inc.replace(a, b)
        with open(os.path.join(prefix, "ltx-cache.conf"), "w") as f:
            f.write(inc)
        cpath = nginxconf.write_conf(prefix, "  access_log off;\n  keepalive_requests 10000000;\n",
                                     f"  include {prefix}/ltx-cache.conf;\n", workers=2, connections=4096,
                                     error_level="warn")
        p = self.start(["nginx", "-c", cpath, "-p", prefix + "/"], name="nginx-tier")
        harness.wait_port(port, 15, p.p)
        p.url = f"http://127.0.0.1:{port}"
        return p

    # ---------------------------------------------------------------- wrk
    def wrk(self, url, mode, npages, conns=32, seconds=None, batch=32, txid=""):
        seconds = seconds or self.sz["wrk_seconds"]
        args = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", os.path.join(HERE, "pages.lua"),
                url, "--", mode, "bench.db", str(npages), str(batch), str(PAGE), txid]
        r = self.run(args, timeout=seconds + 60)
        m = re.search(r"WRKJSON (\{.*\})", r.stdout)
        if not m:
            raise RuntimeError(f"wrk: no summary: {r.stdout[-500:]} {r.stderr[-300:]}")
        j = json.loads(m.group(1))
        secs = j["duration_us"] / 1e6
        errs = j["errors_status"] + j["errors_connect"] + j["errors_read"] + j["errors_write"] + j["errors_timeout"]
        j.update(rps=j["requests"] / secs, mbps=j["bytes"] / secs / 1e6, errors=errs)
        return j

    def warm_server(self, srv, name, npages):
        """Read every page once through batches (fills ltxpaged's cache)."""
        step = 1024
        for a in range(1, npages + 1, step):
            b = min(npages, a + step - 1)
            st, _, body = harness.http_get(f"{srv.url}/{name}/pages?n={a}-{b}", timeout=60)
            if st != 200:
                raise RuntimeError(f"warm {a}-{b}: {st} {body[:200]!r}")

    # ============================================================ benchmarks
    def b_throughput(self):
        b = self.bench_db()
        www = self.nginx_root(b)
        srv = self.start_server({"bench.db": b["replica"]}, cache="1G")
        self.wait_ready(srv, ["bench.db"])
        ngx = self.start_nginx(www)
        try:
            # correctness spot check: same bytes from both for a few pages
            for n in (1, 2, b["pages"] // 2, b["pages"]):
                s1, _, a1 = harness.http_get(f"{srv.url}/bench.db/pages/{n}")
                s2, _, a2 = harness.http_get(f"{ngx.url}/bench.db/pages/{n}")
                if s1 != 200 or a1 != a2:
                    raise RuntimeError(f"page {n}: ltxpaged {s1} ({len(a1)} B) differs from the file")
            t0 = time.monotonic()
            self.warm_server(srv, "bench.db", b["pages"])
            warm_s = time.monotonic() - t0
            self.run(["sh", "-c", f"cat {www}/bench.db/file > /dev/null"])
            n = b["pages"]
            res = {"pages": n, "db_mb": b["size"] / 1e6, "warm_seconds": warm_s, "conns": 32}
            rounds = self.sz["wrk_rounds"]
            res["rounds"] = rounds
            plan = [("page_ltx", srv.url, "page", 32), ("page_nginx", ngx.url, "page", 32),
                    ("page128_ltx", srv.url, "page", 128), ("page128_nginx", ngx.url, "page", 128),
                    ("batch_ltx", srv.url, "batch", 32), ("range_nginx", ngx.url, "range", 32),
                    ("range_ltx", srv.url, "range", 32)]
            # Interleaved rounds (A B A B ...) against drift from other load on
            # the machine; each cell reports its best round (all are kept).
            for rnd in range(rounds):
                for key, url, mode, conns in plan:
                    log(f"wrk round {rnd + 1}/{rounds}: {key} ({mode}, {conns} connections)")
                    try:
                        j = self.wrk(url, mode, n, conns=conns)
                    except Exception as e:
                        j = {"error": str(e)[:300]}
                    res.setdefault(key + "_all", []).append(j)
            for key, *_ in plan:
                ok = [x for x in res[key + "_all"] if "rps" in x]
                res[key] = max(ok, key=lambda x: x["rps"]) if ok else res[key + "_all"][-1]
            try:
                res["tier"] = self.cache_tier(srv, ngx, n)
            except Exception as e:
                res["tier"] = {"error": f"{type(e).__name__}: {e}"[:300]}
            res["server_rss_kb"] = rss_kb(srv.p.pid)
            self.results["throughput"] = res
        finally:
            self.stop(ngx)
            self.stop(srv)

    def cache_tier(self, srv, ngx, n):
        """Immutable ?txid= page URLs through deploy/nginx-cache.conf vs
        ltxpaged direct (same URLs) vs nginx static files."""
        txid = http_json(f"{srv.url}/bench.db")["txid"]
        tier = self.start_nginx_cache_tier(srv.port)
        try:
            st, h, body = harness.http_get(f"{tier.url}/bench.db/pages/1?txid={txid}")
            st2, _, direct = harness.http_get(f"{srv.url}/bench.db/pages/1?txid={txid}")
            if st != 200 or body != direct:
                raise RuntimeError(f"cache tier answered {st} ({len(body)} B), direct {st2}")
            log("wrk: cache tier warm-up (immutable ?txid= page URLs)")
            warm = self.wrk(tier.url, "pagetxid", n, seconds=max(2, self.sz["wrk_seconds"]), txid=txid)
            out = {"txid": txid, "warmup": warm}
            for rnd in range(self.sz["wrk_rounds"]):
                for key, url in (("tier", tier.url), ("direct", srv.url)):
                    log(f"wrk round {rnd + 1}: {key} (pagetxid)")
                    j = self.wrk(url, "pagetxid", n, txid=txid)
                    out.setdefault(key + "_all", []).append(j)
            for key in ("tier", "direct"):
                out[key] = max(out[key + "_all"], key=lambda x: x["rps"])
            # hit ratio on a sample after the runs
            rnd_ = random.Random(3)
            stats = {}
            for _ in range(200):
                _, hh, _ = harness.http_get(f"{tier.url}/bench.db/pages/{rnd_.randint(1, n)}?txid={txid}")
                k = hh.get("x-cache-status", "none")
                stats[k] = stats.get(k, 0) + 1
            out["sample_cache_status"] = stats
            return out
        finally:
            self.stop(tier)

    def lookup(self, uri, label, env=None, **kw):
        args = [self.bin("vfs_lookup"), "--db", uri, "--label", label, "--max-id", str(self.bench_db()["rows"])]
        for k, v in kw.items():
            k = "--" + k.replace("_", "-")
            if v is True:
                args.append(k)
            elif v is not None:
                args += [k, str(v)]
        return self.run_json(args, env=env, timeout=900)

    def b_lookups(self):
        b = self.bench_db()
        srv = self.start_server({"bench.db": b["replica"]}, cache="1G")
        self.wait_ready(srv, ["bench.db"])
        try:
            self.warm_server(srv, "bench.db", b["pages"])
            L = self.sz["lookups"]
            C = self.sz["cold_lookups"]
            local = f"file:{b['db']}?mode=ro"
            remote = f"file:bench.db?vfs=ltxhttp&server={srv.url}"
            env = {"LTXHTTP_CACHE_SIZE": str(2 * b["size"])}
            scan = "SELECT sum(length(v)) FROM t"
            r = {}
            self.run(["sh", "-c", f"cat {b['db']} > /dev/null"])
            log("lookups: local file")
            r["local_1"] = self.lookup(local, "local, 1/tx", lookups=L, warm_sql=scan)
            r["local_100"] = self.lookup(local, "local, 100/tx", lookups=L * 5, per_tx=100, warm_sql=scan)
            r["local_cold"] = self.lookup(local, "local, new connection per lookup", lookups=C, reopen=True)
            log("lookups: ltxhttp, warm local cache")
            r["vfs_warm_1"] = self.lookup(remote, "ltxhttp warm, 1/tx", env=env, lookups=L, warm_sql=scan)
            r["vfs_warm_100"] = self.lookup(remote, "ltxhttp warm, 100/tx", env=env, lookups=L * 5, per_tx=100,
                                            warm_sql=scan)
            log("lookups: ltxhttp, cold local cache (new connection per lookup), warm server")
            r["vfs_cold"] = self.lookup(remote, "ltxhttp cold, new connection per lookup", env=env, lookups=C,
                                        reopen=True)
            r["vfs_cold_ra0"] = self.lookup(remote + "&readahead=0", "ltxhttp cold, readahead=0", env=env,
                                            lookups=C, reopen=True)
            r["vfs_nowarm_1"] = self.lookup(remote, "ltxhttp, one connection, cache filling", env=env,
                                            lookups=min(L, 2000))
            log("lookups: one-shot sqlite3 CLI processes (hyperfine)")
            try:
                r["cli"] = self.hyperfine_cli(b, srv)
            except Exception as e:
                r["cli"] = {"error": f"{type(e).__name__}: {e}"[:300]}
            self.results["lookups"] = r
        finally:
            self.stop(srv)

    def hyperfine_cli(self, b, srv):
        """A whole `sqlite3` process doing one lookup: local file vs
        `.load libltxhttp` + the VFS (cold process, warm server)."""
        so = self.bin("libltxhttp.so")
        key = b["rows"] // 3
        q = f"SELECT length(v) FROM t WHERE id={key}"
        local = f"sqlite3 -readonly {b['db']} '{q}'"
        remote = (f"sqlite3 :memory: -cmd '.load {so[:-3]}' "
                  f"-cmd '.open file:bench.db?vfs=ltxhttp&server={srv.url}' '{q}'")
        # sanity: same answer
        a1 = self.run(["sh", "-c", local]).stdout.strip()
        a2 = self.run(["sh", "-c", remote]).stdout.strip()
        if a1 != a2:
            raise RuntimeError(f"CLI answers differ: local {a1!r}, ltxhttp {a2!r}")
        out = os.path.join(self.work, "hyperfine.json")
        runs = "20" if self.quick else "50"
        self.run(["hyperfine", "-N", "--warmup", "3", "--runs", runs, "--export-json", out,
                  "-n", "local", local, "-n", "ltxhttp", remote], timeout=600)
        with open(out) as f:
            j = json.load(f)
        return {x["command"]: {"mean_ms": x["mean"] * 1e3, "stddev_ms": x["stddev"] * 1e3,
                               "median_ms": x["median"] * 1e3, "min_ms": x["min"] * 1e3} for x in j["results"]}

    def b_freshness(self):
        d = os.path.join(self.work, "fresh")
        os.makedirs(d)
        db = os.path.join(d, "fresh.db")
        self.run(["sqlite3", db, f"PRAGMA page_size={PAGE}; PRAGMA journal_mode=DELETE; "
                  "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0);"])
        replica = os.path.join(d, "replica", "fresh.db")
        self.run_json([self.bin("ltxgen"), "snapshot", db, replica])
        counts = self.sz["fresh_counts"]
        total = sum(counts)
        prep = os.path.join(d, "prepared")
        self.run_json([self.bin("ltxgen"), "updates", db, prep, "--start-txid", "2", "--count", str(total),
                       "--sql", "UPDATE t SET v=?1 WHERE id=1"])
        res = {}
        k = 1
        for interval_ms, n in zip((1000, 250, 100, 20), counts):
            srv = self.start_server({"fresh.db": replica}, cache="64M", poll=f"{interval_ms}ms")
            try:
                self.wait_ready(srv, ["fresh.db"])
                gap = f"{max(interval_ms // 2, 10)}:{max(interval_ms * 3 // 2, 30)}"
                log(f"freshness: poll {interval_ms} ms, {n} commits (gap {gap} ms)")
                j = self.run_json([self.bin("freshness"), "--uri", f"file:fresh.db?vfs=ltxhttp&server={srv.url}",
                                   "--prepared", prep, "--replica", replica, "--from", str(k), "--count", str(n),
                                   "--gap-ms", gap, "--label", f"poll {interval_ms} ms",
                                   "--server", srv.url, "--db", "fresh.db"], timeout=n * 4 + 60)
                j["poll_ms"] = interval_ms
                res[str(interval_ms)] = j
            finally:
                self.stop(srv)
            k += n
        self.results["freshness"] = res

    def b_economy(self):
        b = self.bench_db()
        d = os.path.join(self.work, "econ")
        os.makedirs(d)
        W = self.sz["econ_window"]
        # prepared writer chain: one small update per second, like a busy app + Litestream
        work_db = os.path.join(d, "writer.db")
        shutil.copy(b["db"], work_db)
        nfiles = (W + 15) * (len(self.sz["econ_readers"]) + 1)
        prep = os.path.join(d, "prepared")
        self.run_json([self.bin("ltxgen"), "updates", work_db, prep, "--start-txid", "2", "--count", str(nfiles),
                       "--sql", f"UPDATE t SET v=randomblob(150) WHERE id=(?1*7919) % {b['rows']} + 1"])
        prepared = sorted(os.listdir(prep))
        replica = os.path.join(d, "replica", "bench.db")
        os.makedirs(os.path.dirname(replica))
        shutil.copytree(b["replica"], replica)
        l0 = os.path.join(replica, "ltx", "0")
        os.makedirs(l0, exist_ok=True)
        pos = [0]
        res = {}
        rate = 2.0 if not self.quick else 2.0
        runs = [(R, "") for R in self.sz["econ_readers"]] + [(max(self.sz["econ_readers"]), "&readahead=0")]
        for R, extra in runs:
            key = str(R) + (f" ({extra[1:]})" if extra else "")
            srv = self.start_server({"bench.db": replica}, cache="1G", poll="1s")
            stop_writer = threading.Event()
            placed = [0]

            def writer():
                while not stop_writer.wait(1.0):
                    if pos[0] >= len(prepared):
                        return
                    name = prepared[pos[0]]
                    tmp = os.path.join(l0, "." + name + ".tmp")
                    shutil.copy2(os.path.join(prep, name), tmp)
                    os.rename(tmp, os.path.join(l0, name))
                    pos[0] += 1
                    placed[0] += 1
            try:
                self.wait_ready(srv, ["bench.db"])
                # A regional server is long-lived: fill its cache once first
                # (one-time cost reported separately), then measure.
                cw0 = objstore_counters(self.admin(srv))
                t_w = time.monotonic()
                self.warm_server(srv, "bench.db", b["pages"])
                t_w = time.monotonic() - t_w
                cw1 = objstore_counters(self.admin(srv))
                th = threading.Thread(target=writer, daemon=True)
                t0 = time.monotonic()
                th.start()
                readers = []
                env = dict(os.environ, LTXHTTP_CACHE_SIZE=str(10 * 1024 * 1024))
                half = W / 2.0
                for i in range(R):
                    args = [self.bin("vfs_lookup"), "--db", f"file:bench.db?vfs=ltxhttp&server={srv.url}{extra}",
                            "--max-id", str(b["rows"]), "--duration", str(W), "--rate", str(rate),
                            "--seed", str(i + 1), "--label", f"reader {i}", "--mark", str(half)]
                    readers.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                    text=True, env=env))
                t_started = time.monotonic()
                # server counters and writer position at the readers' half-way mark
                while time.monotonic() < t0 + (t_started - t0) / 2 + half:
                    time.sleep(0.05)
                cmid = objstore_counters(self.admin(srv))
                tmid = time.monotonic()
                placed_mid = placed[0]
                outs = []
                for p in readers:
                    o, e = p.communicate(timeout=W + 120)
                    lines = [x for x in o.splitlines() if x.startswith("{")]
                    outs.append(json.loads(lines[-1]) if lines else {"error": e[-300:]})
                elapsed = time.monotonic() - t0
                stop_writer.set()
                th.join()
                c1 = objstore_counters(self.admin(srv))
                misses = misses_half = pages_fetched = 0
                for o in outs:
                    st = o.get("stats", {})
                    pf = pages_fetched_of(st)
                    if pf is not None:
                        pages_fetched += pf
                        misses += st["misses"]
                        misses_half += o.get("stats_since_mark", {}).get("misses", 0)
                errors = sum(o.get("errors", 0) for o in outs) + sum(1 for o in outs if "error" in o)
                lookups = sum(o.get("lookups", 0) for o in outs)

                def pm(x, secs):
                    return None if x is None else x * 60.0 / secs
                # Whole window. Ours: counter deltas since the warm-up ended.
                # Direct readers (Litestream VFS style), per reader: LIST L0 +
                # LIST L1 every second; at open tail + header GET of the plan's
                # file (1 snapshot); tail + header GET per new L0 file; one GET
                # per page SQLite read that missed the local cache (misses: the
                # access trace; our read-ahead extras are not counted for them).
                whole = dict(seconds=elapsed,
                             ours_gets_per_min=pm(delta(c1, cw1, "gets"), elapsed),
                             ours_lists_per_min=pm(delta(c1, cw1, "lists"), elapsed),
                             theirs_gets_per_min=pm(R * (2 + 2 * placed[0]) + misses, elapsed),
                             theirs_lists_per_min=pm(R * 2 * elapsed, elapsed))
                # Second half (caches warm): counter deltas since the mark.
                h = elapsed - (tmid - t0)
                dg = None if c1.get("gets") is None or cmid.get("gets") is None else c1["gets"] - cmid["gets"]
                dl = None if c1.get("lists") is None or cmid.get("lists") is None else c1["lists"] - cmid["lists"]
                steady = dict(seconds=h, ours_gets_per_min=pm(dg, h), ours_lists_per_min=pm(dl, h),
                              theirs_gets_per_min=pm(R * 2 * (placed[0] - placed_mid) + misses_half, h),
                              theirs_lists_per_min=pm(R * 2 * h, h))
                res[key] = dict(readers=R, variant=extra[1:] or "default", seconds=elapsed, l0_files=placed[0], lookups=lookups, errors=errors,
                                warmup=dict(gets=delta(cw1, cw0, "gets"), lists=delta(cw1, cw0, "lists"),
                                            startup=cw0, seconds=t_w),
                                   pages_fetched=pages_fetched, page_misses=misses, page_misses_second_half=misses_half,
                                   whole=whole, steady=steady, server_counters=c1)
                log(f"economy {key}: {res[key]}")
            finally:
                stop_writer.set()
                self.stop(srv)
        self.results["economy"] = {"rate_per_reader": rate, "window_s": W, "by_readers": res}

    def b_coldstart(self):
        d = os.path.join(self.work, "cold")
        replica = os.path.join(d, "cold.db")
        nfiles = self.sz["cold_files"]
        # pages half incompressible (~2 KiB of 4 KiB): a snapshot of ~40 MB
        g = self.run_json([self.bin("ltxgen"), "synth", replica, "--pages", "20000", "--l0", str(nfiles),
                           "--touch", "8", "--random-bytes", "2048"])
        res = {"files": g["files"], "pages": g["pages"], "replica_mb": g["bytes"] / 1e6}
        # file replica first; then the trailer-only start of before
        # (LTXPAGED_TRAILER_ONLY=unverified-bench, bench only) on the same replica: the
        # price of reading every plan file whole to verify its checksum
        for key, env0 in (("file", None), ("file_trailer_only", {"LTXPAGED_TRAILER_ONLY": "unverified-bench"})):
            srv = self.start_server({"cold.db": replica}, cache="256M", env=env0)
            try:
                t = self.wait_ready(srv, ["cold.db"])
                c = objstore_counters(self.admin(srv))
                res[key] = dict(seconds=t - srv.t0, **c, **self.verification(srv, "cold.db"))
            finally:
                self.stop(srv)
        res["restore_file"] = self.restore_time(replica, os.path.join(d, "restored-file.db"))
        # S3 on moto
        moto = harness.Moto()
        self.procs.append(moto)
        try:
            t0 = time.monotonic()
            self.upload(moto, "bench", replica, "cold.db")
            res["upload_seconds"] = time.monotonic() - t0
            env = moto.env()
            for key, extra_env in (("s3", {}), ("s3_trailer_only", {"LTXPAGED_TRAILER_ONLY": "unverified-bench"})):
                srv = self.start_server({"cold.db": "s3://bench/cold.db"}, cache="256M", env=dict(env, **extra_env),
                                        extra=["--s3-endpoint", moto.endpoint, "--s3-region", "us-east-1",
                                               "--s3-path-style"])
                try:
                    t = self.wait_ready(srv, ["cold.db"], timeout=300)
                    c = objstore_counters(self.admin(srv))
                    res[key] = dict(seconds=t - srv.t0, **c, **self.verification(srv, "cold.db"))
                finally:
                    self.stop(srv)
            res["restore_s3"] = self.restore_time("s3://bench/cold.db", os.path.join(d, "restored-s3.db"), env=env)
        finally:
            self.stop(moto)
        # what a Litestream-VFS-style reader issues to open the same replica:
        # a LIST per level (1000 keys per page) + tail and header GET per plan file
        res["theirs_lists"] = 10 + (nfiles // 1000)
        res["theirs_gets"] = 2 * g["files"]
        self.results["coldstart"] = res

    def verification(self, srv, name):
        """The status's verification block: bytes the verifier read, build time."""
        try:
            v = http_json(f"{srv.url}/{name}").get("verification") or {}
            return {"verified_bytes_read": v.get("bytes_read"), "build_seconds": v.get("last_build_seconds")}
        except Exception:
            return {}

    def restore_time(self, replica, out, env=None):
        """The alternative to serving pages: download everything and build
        a local database file (`ltxctl restore`)."""
        try:
            t0 = time.monotonic()
            r = self.run([self.bin("ltxctl"), "restore", replica, out, "--json"], env=env, timeout=600)
            secs = time.monotonic() - t0
            j = json.loads(r.stdout)
            return {"seconds": secs, "files": j.get("files"), "bytes_read": j.get("bytes_read"),
                    "size": j.get("size")}
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"[:300]}
        finally:
            if os.path.exists(out):
                os.remove(out)

    def upload(self, moto, bucket, local_dir, prefix):
        """Upload a file replica as an S3 replica (<prefix>/<%04x level>/...)."""
        c = moto.client()
        c.create_bucket(Bucket=bucket)
        items = []
        ltx = os.path.join(local_dir, "ltx")
        for lvl in os.listdir(ltx):
            for fn in os.listdir(os.path.join(ltx, lvl)):
                items.append((os.path.join(ltx, lvl, fn), f"{prefix}/{int(lvl):04x}/{fn}"))

        clients = threading.local()

        def put_cached(it):
            if not hasattr(clients, "c"):
                clients.c = moto.client()
            path, key = it
            with open(path, "rb") as f:
                body = f.read()
            ms = int.from_bytes(body[32:40], "big", signed=True)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)
            clients.c.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"litestream-timestamp": ts})
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(put_cached, items))

    def b_memory(self):
        d = os.path.join(self.work, "mem")
        tiny = os.path.join(d, "tiny.db")
        os.makedirs(d)
        self.run_json([self.bin("ltxgen"), "synth", tiny, "--pages", "10"])
        big = os.path.join(d, "mem.db")
        n = self.sz["mem_pages"]
        t0 = time.monotonic()
        g = self.run_json([self.bin("ltxgen"), "synth", big, "--pages", str(n), "--l0", "0"])
        res = {"pages": n, "page_size": PAGE, "replica_mb": g["bytes"] / 1e6, "gen_seconds": time.monotonic() - t0,
               "runs": []}
        # baseline: same server, one 10-page database
        srv = self.start_server({"tiny.db": tiny}, cache="64M")
        try:
            self.wait_ready(srv, ["tiny.db"])
            time.sleep(0.5)
            res["baseline_rss_kb"] = rss_kb(srv.p.pid)["VmRSS"]
        finally:
            self.stop(srv)
        # glibc's per-thread malloc arenas keep freed pages; the variant with
        # MALLOC_ARENA_MAX=1 shows how much of the RSS above the cache is that.
        variants = [(c, None) for c in self.sz["mem_caches"]] + [(self.sz["mem_caches"][-1], "1")]
        for cache, arenas in variants:
            cache_bytes = int(cache[:-1]) * (1 << 20)
            env = {"MALLOC_ARENA_MAX": arenas} if arenas else None
            srv = self.start_server({"mem.db": big}, cache=cache, env=env)
            try:
                t = self.wait_ready(srv, ["mem.db"], timeout=600)
                time.sleep(0.5)
                ready = rss_kb(srv.p.pid)
                run = {"cache": cache, "cache_bytes": cache_bytes, "index_seconds": t - srv.t0,
                       "rss_ready_kb": ready["VmRSS"], "malloc_arena_max": arenas}
                # fill the cache: random 64-page batches (256 KiB answers, so
                # response buffers stay small) until 1x, 2x, 4x, 8x the cache size
                # was read; RSS after each step shows whether it stays bounded.
                rnd = random.Random(7)
                fetched = 0
                t1 = time.monotonic()
                run["steps"] = []
                for mult in (1, 2, 4, 8):
                    while fetched < mult * cache_bytes:
                        a = rnd.randint(1, max(1, n - 64))
                        st, _, body = harness.http_get(f"{srv.url}/mem.db/pages?n={a}-{a + 63}", timeout=60)
                        if st != 200:
                            raise RuntimeError(f"batch {a}: {st} {body[:200]!r}")
                        fetched += len(body)
                    time.sleep(0.3)
                    run["steps"].append({"read_mb": fetched / 1e6, "rss_kb": rss_kb(srv.p.pid)["VmRSS"]})
                run["fill_seconds"] = time.monotonic() - t1
                run["fetched_mb"] = fetched / 1e6
                full = rss_kb(srv.p.pid)
                run["rss_full_kb"] = full["VmRSS"]
                run["hwm_kb"] = full["VmHWM"]
                try:
                    adm = self.admin(srv)
                    if isinstance(adm.get("cache"), dict) and "bytes" in adm["cache"]:
                        run["cache_reported"] = (adm["cache"]["bytes"], ("cache", "bytes"))
                    else:
                        run["cache_reported"] = find_key(adm, ("bytes", "cache_bytes", "used_bytes"))
                except Exception as e:
                    run["cache_reported"] = str(e)
                res["runs"].append(run)
                log(f"memory {cache}: {run}")
            finally:
                self.stop(srv)
        self.results["memory"] = res

    # ============================================================ report
    def machine(self):
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
        def ver(cmd):
            try:
                return subprocess.run(cmd, capture_output=True, text=True).stderr.strip().splitlines()[0] or "?"
            except Exception:
                return "?"
        return dict(nproc=os.cpu_count(), cpu=cpu, ram_mb=mem, kernel=platform.release(),
                    nginx=ver(["nginx", "-v"]),
                    wrk=subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip(),
                    sqlite=subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0])

    def report(self):
        R = self.results
        m = self.machine()
        L = []
        cmd = "bench/run.sh" + (" --quick" if self.quick else "") + \
            (f" --only {self.args.only}" if self.args.only and not self.args.merge else "")
        L.append(f"Command: `{cmd}` — {'QUICK run (smaller sizes, shorter windows)' if self.quick else 'full run'}")
        L.append(f"Date: {self.meta.get('date')}; git {self.meta.setdefault('git', self.git_rev())}")
        for rr in self.meta.get("rerun", []):
            L.append(f"Re-run with `--only {','.join(rr['sections'])} --merge`{' --quick' if rr.get('quick') else ''} "
                     f"at {rr['date']}: those sections come from that run, the others from the run above.")
        L.append(f"Machine: {m['nproc']} vCPU ({m['cpu']}), {m['ram_mb']:,} MiB RAM, Linux {m['kernel']}; "
                 f"{m['nginx']}; {m['wrk']}; sqlite {m['sqlite']}. Load generator, servers and other "
                 "processes share the same cores (loopback).")
        L.append("")
        L.extend(self.headlines())
        for t in self.section(L, "throughput",
                              "### 1. Page throughput (wrk, 2 threads, 32 keep-alive connections unless noted, random pages, "
                              "warm caches)"):
            L.append(f"Database {t['db_mb']:.0f} MB, {t['pages']:,} pages of 4 KiB; nginx serves the same pages "
                     "extracted as static files (and the database file for ranges).")
            L.append("")
            L.append("| request | ltxpaged | nginx | ltxpaged / nginx |")
            L.append("| --- | --- | --- | --- |")
            pl, pn = t["page_ltx"], t["page_nginx"]
            L.append(f"| 1 page `/bench.db/pages/N` req/s | {fmt(pl['rps'])} | {fmt(pn['rps'])} | "
                     f"{ratio(pl['rps'], pn['rps'])} |")
            L.append(f"| 1 page p50 / p99 latency | {pl['p50_us'] / 1e3:.2f} / {pl['p99_us'] / 1e3:.2f} ms | "
                     f"{pn['p50_us'] / 1e3:.2f} / {pn['p99_us'] / 1e3:.2f} ms | |")
            p1, p2 = t.get("page128_ltx", {}), t.get("page128_nginx", {})
            if "rps" in p1 and "rps" in p2:
                L.append(f"| 1 page, 128 connections, req/s | {fmt(p1['rps'])} | {fmt(p2['rps'])} | "
                         f"{ratio(p1['rps'], p2['rps'])} |")
            bl, rn = t["batch_ltx"], t["range_nginx"]
            L.append(f"| 32 pages `/pages?n=a-b` vs nginx `Range:` on the file, MB/s | {fmt(bl['mbps'])} | "
                     f"{fmt(rn['mbps'])} | {ratio(bl['mbps'], rn['mbps'])} |")
            L.append(f"| 32 pages, req/s | {fmt(bl['rps'])} | {fmt(rn['rps'])} | {ratio(bl['rps'], rn['rps'])} |")
            rl = t.get("range_ltx", {})
            if "mbps" in rl:
                L.append(f"| 32 pages `Range:` on ltxpaged `/file`, MB/s | {fmt(rl['mbps'])} | {fmt(rn['mbps'])} | "
                         f"{ratio(rl['mbps'], rn['mbps'])} |")
            tr = t.get("tier", {})
            if "tier" in tr and "direct" in tr:
                a, d = tr["tier"], tr["direct"]
                L.append(f"| 1 page `?txid=T` (immutable) via nginx cache tier (`deploy/nginx-cache.conf`) vs "
                         f"ltxpaged direct, req/s | {fmt(d['rps'])} direct | {fmt(a['rps'])} via tier | "
                         f"tier/direct {ratio(a['rps'], d['rps'])}; tier/nginx static "
                         f"{ratio(a['rps'], pn['rps'])} |")
            elif "error" in tr:
                L.append(f"| nginx cache tier | error: {tr['error']} | | |")
            errs = sum(x.get("errors", 0) for k2, v in t.items() if k2.endswith("_all") for x in v)
            L.append("")
            L.append(f"Each cell: best of {t.get('rounds', 1)} interleaved {self.sz['wrk_seconds']} s wrk runs "
                     "(all runs in the raw JSON).")
            L.append(f"wrk errors (non-2xx, socket): {errs}. ltxpaged RSS after: "
                     f"{t['server_rss_kb']['VmRSS'] / 1024:.0f} MiB.")
            if "sample_cache_status" in tr:
                L.append(f"Cache tier: X-Cache-Status of 200 random page requests after the runs: "
                         f"{tr['sample_cache_status']}.")
        for lk in self.section(L, "lookups",
                               "### 2. Point lookups through SQLite (random primary key, `SELECT v FROM t WHERE id=?`)"):
            L.append("| mode | lookups/s | p50 / p99 per transaction | vs local | HTTP req / lookup | "
                     "pages fetched / lookup |")
            L.append("| --- | --- | --- | --- | --- | --- |")

            def row(key, base):
                x = lk.get(key)
                if not x:
                    return
                if "error" in x and "lookups_per_sec" not in x:
                    L.append(f"| {key} | error: {x['error']} | | | | |")
                    return
                b0 = lk.get(base, {}).get("lookups_per_sec")
                st = x.get("stats_sum") if x.get("reopen") and x.get("stats_sum") else x.get("stats", {})
                req = st.get("requests")
                pages = pages_fetched_of(st)
                n = max(1, x["lookups"])
                L.append(f"| {x['label']} | {fmt(x['lookups_per_sec'])} | {x['tx_p50_us']:.0f} / "
                         f"{x['tx_p99_us']:.0f} µs | {ratio(x['lookups_per_sec'], b0) if key != base else '1×'} | "
                         f"{fmt(req / n if req is not None else None, nd=2)} | "
                         f"{fmt(pages / n if pages is not None else None, nd=2)} |")
            for key, base in (("local_1", "local_1"), ("vfs_warm_1", "local_1"), ("local_100", "local_100"),
                              ("vfs_warm_100", "local_100"), ("local_cold", "local_cold"),
                              ("vfs_cold", "local_cold"), ("vfs_cold_ra0", "local_cold"),
                              ("vfs_nowarm_1", "local_1")):
                row(key, base)
            cli = lk.get("cli")
            if cli and "error" not in cli:
                lo, re_ = cli.get("local", {}), cli.get("ltxhttp", {})
                L.append(f"| one-shot `sqlite3` process, one lookup (hyperfine, median) | "
                         f"{lo.get('median_ms', 0):.1f} ms local | {re_.get('median_ms', 0):.1f} ms ltxhttp | "
                         f"{ratio(re_.get('median_ms'), lo.get('median_ms'))} time | | |")
            elif cli:
                L.append(f"| one-shot `sqlite3` process (hyperfine) | error: {cli['error']} | | | | |")
            L.append("")
            L.append("Warm = ltxhttp local cache holds the whole database (filled by one full scan); cold = a "
                     "new connection per lookup, so the process-wide ltxhttp cache starts empty each time "
                     "(server cache warm); local = the same database file on local disk (OS cache warm). "
                     "Stats from `PRAGMA ltxhttp_stats`.")
        for fr in self.section(L, "freshness",
                               "### 3. Freshness: L0 file appears in the replica → a new client transaction sees it"):
            L.append("| poll interval | commits | seen | p50 | p90 | p99 | max | p50 / interval | "
                     "server has it p50 / p99 | then client sees it p50 / p99 |")
            L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for k in ("1000", "250", "100", "20"):
                x = fr.get(k)
                if x is None:
                    continue
                if "error" in x and "p50_ms" not in x:
                    L.append(f"| {k} ms | error: {x['error']} | | | | | | |")
                    continue
                L.append(f"| {k} ms | {x['count']} | {x['seen']} | {x['p50_ms']:.0f} ms | {x['p90_ms']:.0f} ms | "
                         f"{x['p99_ms']:.0f} ms | {x['max_ms']:.0f} ms | {x['p50_ms'] / int(k):.2f} | "
                         f"{x.get('server_p50_ms', 0):.0f} / {x.get('server_p99_ms', 0):.0f} ms | "
                         f"{x.get('client_p50_ms', 0):.1f} / {x.get('client_p99_ms', 0):.1f} ms |")
            L.append("")
            L.append("Files land at random gaps of 0.5–1.5 × the interval (atomic rename); the physical floor "
                     "is ~interval/2 on average (the poll phase) plus fetch, index and notify time. \"Server has "
                     "it\": when a `/changes` long-poll on ltxpaged (run by the driver, like the VFS watcher) "
                     "first reports the file's TXID; \"then client sees it\": from there to the first client "
                     "transaction returning the new value (reader polls every ~1 ms).")
        for ec in self.section(L, "economy",
                               "### 4. Object-store economy (one database, readers doing lookups, one new L0 file per second)"):
            L.append(f"Each reader: a separate process, {ec['rate_per_reader']:g} lookups/s, 10 MiB local cache, "
                     f"window {ec['window_s']} s (scaled to per minute).")
            L.append("")
            L.append("| readers | part of window | ltxpaged GETs/min | ltxpaged LISTs/min | direct readers GETs/min "
                     "| direct readers LISTs/min | GETs: direct / ltxpaged | LISTs: direct / ltxpaged |")
            L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
            for k, x in ec["by_readers"].items():
                if "error" in x:
                    L.append(f"| {k} | error: {x['error']} | | | | | | |")
                    continue
                for part, title in (("whole", "whole window (readers start cold)"),
                                    ("steady", "second half (readers warm)")):
                    y = x.get(part)
                    if not y:
                        continue
                    L.append(f"| {k} | {title} | {fmt(y['ours_gets_per_min'])} | {fmt(y['ours_lists_per_min'])} | "
                             f"{fmt(y['theirs_gets_per_min'])} | {fmt(y['theirs_lists_per_min'])} | "
                             f"{ratio(y['theirs_gets_per_min'], y['ours_gets_per_min'], 1)} | "
                             f"{ratio(y['theirs_lists_per_min'], y['ours_lists_per_min'], 1)} |")
            L.append("")
            L.append("Ours: object-store requests of ltxpaged (counters from `/admin/status`), a fresh server "
                     "per row whose cache was first filled once by reading every page (a long-lived regional "
                     "server's state; that one-time cost is listed below and not in the table). Direct readers "
                     "(Litestream-VFS style, computed from the same run): each polls L0 and L1 every second "
                     "(2 LISTs/s), GETs index + header of every new L0 file and of the plan at open, and one GET "
                     "per page SQLite read that missed its local cache (our readers' `misses` from "
                     "`PRAGMA ltxhttp_stats` — the same access trace; our read-ahead extras are not counted "
                     "for them). \"Second half\": the same counts over the second half of the window only "
                     "(reader caches warm; no open costs).")
            L.append("")
            for k, x in ec["by_readers"].items():
                if "pages_fetched" in x:
                    w = x.get("warmup", {})
                    st = w.get("startup", {})
                    L.append(f"- {k} readers: {x['lookups']:,} lookups, {x['page_misses']:,} local misses, "
                             f"{x['pages_fetched']:,} pages fetched from ltxpaged (with read-ahead), "
                             f"{x['l0_files']} L0 files, {x['errors']} errors; server start-up "
                             f"{fmt(st.get('gets'))} GETs / {fmt(st.get('lists'))} LISTs, one-time cache fill "
                             f"{fmt(w.get('gets'))} GETs in {w.get('seconds', 0):.1f} s.")
        for cs in self.section(L, "coldstart",
                               "### 5. Cold start: database with many LTX files until ready"):
            L.append(f"Replica: {cs['files']:,} LTX files (1 snapshot of {cs['pages']:,} pages + L0 chain), "
                     f"{cs['replica_mb']:.1f} MB.")
            L.append("")
            L.append("| backend | time to state ok | GETs | LISTs | MB read | direct reader GETs | "
                     "direct reader LISTs |")
            L.append("| --- | --- | --- | --- | --- | --- | --- |")
            for k in ("file", "file_trailer_only", "s3", "s3_trailer_only"):
                x = cs.get(k)
                if not x:
                    continue
                mb = x.get("bytes_read")
                lbl = k.replace("_trailer_only", " (trailer-only start of before, unverified)")
                lbl = lbl.replace("s3", "s3 (moto)") if k.startswith("s3") else lbl
                L.append(f"| {lbl} | {x['seconds']:.2f} s | {fmt(x.get('gets'))} | "
                         f"{fmt(x.get('lists'))} | {fmt(mb / 1e6 if mb is not None else None, nd=2)} | "
                         f"{cs['theirs_gets']:,} | {cs['theirs_lists']:,} |")
            if "s3_error" in cs:
                L.append(f"| s3 (moto) | error: {cs['s3_error']} | | | | | |")
            L.append("")
            for k in ("file", "s3"):
                v, u = cs.get(k), cs.get(k + "_trailer_only")
                if not v or not u:
                    continue
                L.append(f"- Price of verification ({k}{' on moto' if k == 's3' else ''}): every plan file read "
                         f"whole and its CRC-64 checked before serving: ready in {v['seconds']:.2f} s vs "
                         f"{u['seconds']:.2f} s trailer-only ({ratio(v['seconds'], u['seconds'])}), "
                         f"{fmt((v.get('bytes_read') or 0) / 1e6, nd=2)} MB vs "
                         f"{fmt((u.get('bytes_read') or 0) / 1e6, nd=2)} MB read from the store, "
                         f"{fmt(v.get('gets'))} vs {fmt(u.get('gets'))} GETs; index build "
                         f"{fmt(v.get('build_seconds'), nd=2)} s vs {fmt(u.get('build_seconds'), nd=2)} s.")
            L.append("")
            for k, title in (("restore_file", "file"), ("restore_s3", "s3 (moto)")):
                x = cs.get(k)
                if not x:
                    continue
                if "error" in x:
                    L.append(f"- Alternative, `ltxctl restore` ({title}): error: {x['error']}")
                    continue
                srv_t = cs.get("file" if k == "restore_file" else "s3", {}).get("seconds")
                L.append(f"- Alternative, download + restore to a local file with `ltxctl restore` ({title}): "
                         f"{x['seconds']:.2f} s, {fmt(x.get('files'))} files, {fmt((x.get('bytes_read') or 0) / 1e6)} MB "
                         f"read, {fmt((x.get('size') or 0) / 1e6)} MB written; ltxpaged ready in "
                         f"{ratio(srv_t, x['seconds'])} of that time.")
        for me in self.section(L, "memory",
                               "### 6. Memory: ltxpaged RSS vs --cache-size, index bytes per page"):
            L.append(f"Synthetic database: {me['pages']:,} pages of {me['page_size']} B "
                     f"({me['pages'] * me['page_size'] / 2**30:.1f} GiB logical, replica {me['replica_mb']:.0f} MB). "
                     f"Baseline RSS (server with a 10-page DB): {me['baseline_rss_kb'] / 1024:.1f} MiB.")
            L.append("")
            L.append("| --cache-size | index build | RSS ready | index bytes/page | RSS after reading 1× / 2× / 4× / 8× "
                     "the cache size | (RSS − RSS ready) / cache-size at 8× | cache bytes reported |")
            L.append("| --- | --- | --- | --- | --- | --- | --- |")
            for r in me["runs"]:
                idx = (r["rss_ready_kb"] - me["baseline_rss_kb"]) * 1024
                cache_part = (r["rss_full_kb"] - r["rss_ready_kb"]) * 1024
                steps = " / ".join(f"{x['rss_kb'] / 1024:.0f}" for x in r.get("steps", []))
                rep = r.get("cache_reported")
                rep = f"{rep[0] / 2**20:.1f} MiB" if isinstance(rep, (list, tuple)) and rep else "n/a"
                label = r["cache"] + (f" (MALLOC_ARENA_MAX={r['malloc_arena_max']})" if r.get("malloc_arena_max") else "")
                L.append(f"| {label} | {r['index_seconds']:.2f} s | {r['rss_ready_kb'] / 1024:.0f} MiB | "
                         f"{idx / me['pages']:.0f} | {steps} MiB | "
                         f"{cache_part / r['cache_bytes']:.2f} | {rep} |")
        if self.notes:
            L.append("### Notes from this run")
            for n in self.notes:
                L.append(f"- {n}")
            L.append("")
        return "\n".join(L)

    def section(self, L, key, title):
        """Report section key: its title, then (once) its results for the
        caller to write, or why it did not run; a blank line after. Nothing
        when the run had no such section."""
        x = self.results.get(key)
        if x is None:
            return
        L.append(title)
        if "error" in x:
            L.append(f"Not run: {x['error']}")
        else:
            yield x
        L.append("")

    def headlines(self):
        """The ratios, one line each (details in the sections below)."""
        R = self.results
        H = []

        def ok(x, *keys):
            for k in keys:
                if not isinstance(x, dict) or k not in x:
                    return None
                x = x[k]
            return x
        t = R.get("throughput", {})
        a, b = ok(t, "page_ltx", "rps"), ok(t, "page_nginx", "rps")
        if a and b:
            H.append(f"- Single 4 KiB pages: ltxpaged {fmt(a)} req/s vs nginx static files {fmt(b)} req/s = "
                     f"**{ratio(a, b)}**.")
        a, b = ok(t, "batch_ltx", "mbps"), ok(t, "range_nginx", "mbps")
        if a and b:
            H.append(f"- 32-page batches: ltxpaged {fmt(a)} MB/s vs nginx range reads {fmt(b)} MB/s = **{ratio(a, b)}**.")
        lk = R.get("lookups", {})
        a, b = ok(lk, "vfs_warm_1", "lookups_per_sec"), ok(lk, "local_1", "lookups_per_sec")
        if a and b:
            H.append(f"- Point lookups via `vfs=ltxhttp`, warm local cache: {fmt(a)}/s vs local SQLite file {fmt(b)}/s "
                     f"= **{ratio(a, b)}**; cold (new connection per lookup, warm server): "
                     f"{fmt(ok(lk, 'vfs_cold', 'lookups_per_sec'))}/s vs {fmt(ok(lk, 'local_cold', 'lookups_per_sec'))}/s "
                     f"= **{ratio(ok(lk, 'vfs_cold', 'lookups_per_sec'), ok(lk, 'local_cold', 'lookups_per_sec'))}**.")
        fr = R.get("freshness", {})
        if ok(fr, "1000", "p50_ms") is not None:
            parts = [f"{k} ms poll: p50 {fr[k]['p50_ms']:.0f} / p99 {fr[k]['p99_ms']:.0f} ms"
                     for k in ("1000", "250", "100", "20") if ok(fr, k, "p50_ms") is not None]
            H.append(f"- Freshness (L0 file appears → client transaction sees it): {'; '.join(parts)}.")
        ec = ok(R.get("economy", {}), "by_readers") or {}
        big = max((x for x in ec.values() if isinstance(x, dict) and "steady" in x
                   and x.get("variant", "default") == "default"), key=lambda x: x["readers"], default=None)
        if big:
            y = big["steady"]
            H.append(f"- Object store, {big['readers']} readers (steady state): ltxpaged "
                     f"{fmt(y['ours_gets_per_min'])} GETs + {fmt(y['ours_lists_per_min'])} LISTs per minute vs "
                     f"{fmt(y['theirs_gets_per_min'])} + {fmt(y['theirs_lists_per_min'])} for direct readers = "
                     f"**{ratio(y['theirs_gets_per_min'], y['ours_gets_per_min'], 0)} fewer GETs, "
                     f"{ratio(y['theirs_lists_per_min'], y['ours_lists_per_min'], 0)} fewer LISTs**.")
        cs = R.get("coldstart", {})
        if ok(cs, "s3", "seconds") is not None:
            H.append(f"- Cold start, {cs['files']:,} LTX files on moto S3: ready in {cs['s3']['seconds']:.2f} s with "
                     f"{fmt(cs['s3'].get('gets'))} GETs + {fmt(cs['s3'].get('lists'))} LISTs "
                     f"({ratio(cs['theirs_gets'], cs['s3'].get('gets'))} fewer GETs than a direct reader's open).")
        me = R.get("memory", {})
        if me.get("runs"):
            r0 = [r for r in me["runs"] if not r.get("malloc_arena_max")][-1]
            idx = (r0["rss_ready_kb"] - me["baseline_rss_kb"]) * 1024 / me["pages"]
            H.append(f"- Memory: ~{idx:.0f} bytes of RSS per indexed page ({me['pages']:,} pages); with "
                     f"--cache-size {r0['cache']}, RSS after reading 8× the cache size: "
                     f"{r0['rss_full_kb'] / 1024:.0f} MiB.")
        errs = [k for k, v in R.items() if isinstance(v, dict) and "error" in v]
        if errs:
            H.append(f"- Not measured (failed in this run): {', '.join(errs)} — see below.")
        if H:
            H = ["### Headlines", ""] + H + [""]
        return H

    def git_rev(self):
        r = subprocess.run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return r.stdout.strip() or "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    ap.add_argument("--write", action="store_true", help="write RESULTS.md even with --only")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: replace just these sections in the existing RESULTS.md (raw JSON kept)")
    ap.add_argument("--workdir", default=None, help="parent of the temp work directory")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    which = [w for w in args.only.split(",") if w] or ALL
    for w in which:
        if w not in ALL:
            ap.error(f"unknown benchmark {w}; choose from {','.join(ALL)}")
    b = Bench(args)
    log(f"work dir {b.work}; running {', '.join(which)}{' (quick)' if b.quick else ''}")

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for w in which:
            log(f"=== {w}")
            t0 = time.monotonic()
            try:
                getattr(b, "b_" + w)()
            except KeyboardInterrupt:
                raise
            except Exception as e:
                traceback.print_exc()
                b.results[w] = {"error": f"{type(e).__name__}: {e}"[:500]}
                b.notes.append(f"{w}: failed — {type(e).__name__}: {str(e)[:300]}")
            finally:
                b.stop_all()
            log(f"=== {w} done in {time.monotonic() - t0:.0f}s")
    finally:
        b.stop_all()
        if not args.keep:
            shutil.rmtree(b.work, ignore_errors=True)
        else:
            log(f"kept {b.work}")
    if args.merge and os.path.exists(args.out):
        with open(args.out) as f:
            m = re.search(r"```json\n(.*)\n```", f.read(), re.S)
        if m:
            prev = json.loads(m.group(1))
            meta = prev.pop("_meta", {}) or {"date": "?", "quick": b.quick}
            for k, v in prev.items():
                if k not in which:
                    b.results[k] = v
            meta.setdefault("rerun", []).append({"sections": which, "date": f"{b.started:%Y-%m-%d %H:%M} UTC",
                                                 "quick": b.quick, "git": b.git_rev()})
            b.meta = meta
            args.write = True
    text = b.report()
    print()
    print(text)
    raw = json.dumps(dict(b.results, _meta=b.meta), indent=1, default=str)
    if args.only and not args.write and not args.no_write:
        log("--only: not rewriting RESULTS.md (add --write to do so)")
    elif not args.no_write:
        # keep a hand-written analysis block across re-runs
        kept = ""
        if os.path.exists(args.out):
            with open(args.out) as f:
                old = f.read()
            m = re.search(r"<!-- analysis -->.*?<!-- /analysis -->\n?", old, re.S)
            if m:
                kept = m.group(0)
        with open(args.out, "w") as f:
            f.write(HEADER)
            if kept:
                f.write(kept + "\n")
            f.write(text)
            f.write("\n<details><summary>Raw results (JSON)</summary>\n\n```json\n" + raw + "\n```\n</details>\n")
        log(f"wrote {args.out}")
    return 0


HEADER = """# ltxhttp benchmark results

How to run, what each number means and how the comparisons are built:
[docs/bench.md](../docs/bench.md). This file is rewritten by `bench/run.sh`
(a hand-written block between the HTML comments "analysis" and "/analysis" is kept; re-read
it against the new numbers).

"""

if __name__ == "__main__":
    sys.exit(main())
