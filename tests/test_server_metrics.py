#!/usr/bin/env python3
"""ltxpaged /metrics as Prometheus expects it (issue 13): a real ltxpaged on
a file replica with two databases, real curl requests, and the real
`promtool check metrics` (Debian package prometheus) on what it answers:

- promtool accepts it with no warning; every metric family has HELP and
  TYPE; histograms are cumulative and their +Inf bucket equals _count;
- latency histograms move with the requests made: page requests by route
  (exactly the number made), object-store calls by operation (list,
  range), polls, index builds (live at start, historical for an old TXID);
- requests refused before a route is known (405, 414, an encoded slash)
  are counted as route="invalid", not "page";
- process_* (RSS, CPU, open and max fds, start time) and
  ltxpaged_build_info{version} are there and plausible;
- --metrics-per-db=false (and LTXPAGED_METRICS_PER_DB=false) drops every
  ltxpaged_db_* series, keeps ltxpaged_databases{state} and still passes
  promtool."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl  # noqa: E402

ck = H.Checker("test_server_metrics")
PROMTOOL = shutil.which("promtool")
if not PROMTOOL:
    print("SKIP: promtool not installed (Debian package prometheus; scripts/install-deps.sh installs it)")
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix="ltxpaged-metrics-")
servers = []


def scrape(srv):
    st, h, body = curl(srv.base + "/metrics")
    ck.eq(st, 200, "GET /metrics")
    return body.decode()


def promtool_ok(text, what):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    ck.ok(r.returncode == 0 and out == "", f"promtool check metrics accepts {what} with no warning "
                                           f"(rc {r.returncode}: {out[:600]})")


def parse(text):
    """{family: {"help", "type"}}, [(name, labels dict, value)]."""
    fams, samples = {}, []
    for ln in text.splitlines():
        if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
            _, kind, name, rest = (ln.split(" ", 3) + [""])[:4]
            fams.setdefault(name, {})[kind.lower()] = rest
            continue
        if not ln or ln.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', ln)
        if not ck.ok(m is not None, f"sample line parses: {ln[:100]}"):
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return fams, samples


def family_of(name, fams):
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and fams.get(name[: -len(suf)], {}).get("type") == "histogram":
            return name[: -len(suf)]
    return name


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == w for k, w in labels.items()):
            return v
    return None


def check_structure(text, what):
    fams, samples = parse(text)
    for n, _, _ in samples:
        f = family_of(n, fams)
        ck.ok("help" in fams.get(f, {}) and "type" in fams.get(f, {}), f"{what}: {f} has HELP and TYPE")
    for f, d in fams.items():
        t = d.get("type")
        if t == "counter":
            ck.ok(f.endswith("_total"), f"{what}: counter {f} ends in _total")
        elif f.endswith("_total"):
            ck.ok(False, f"{what}: {f} ends in _total but is a {t}")
        if t != "histogram":
            continue
        series = {}
        for n, l, v in samples:
            if n == f + "_bucket":
                key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                series.setdefault(key, []).append((float(l["le"]), v))
        for key, bks in series.items():
            counts = [v for _, v in sorted(bks)]
            ck.ok(all(a <= b for a, b in zip(counts, counts[1:])), f"{what}: {f}{key} buckets are cumulative")
            ck.eq(counts[-1], value(samples, f + "_count", **dict(key)), f"{what}: {f}{key} +Inf bucket == _count")
    return fams, samples


def hist_count(samples, name, **labels):
    return value(samples, name + "_count", **labels) or 0


try:
    c = chain("main-4096")
    root = os.path.join(tmp, "root")
    for name in ("app.db", "other.db"):
        H.copy_replica(c["root"], os.path.join(root, name))
    srv = Server(["--replica", "file://" + root, "--poll-interval", "250ms"])
    servers.append(srv)
    ck.ok(srv.wait_ready(), "ready")

    m1 = scrape(srv)
    promtool_ok(m1, "the first scrape")
    fams, s1 = check_structure(m1, "first scrape")
    ck.ok(fams.get("ltxpaged_http_request_duration_seconds", {}).get("type") == "histogram",
          "request latency is a histogram")
    for f in ("ltxpaged_objstore_request_duration_seconds", "ltxpaged_poll_duration_seconds",
              "ltxpaged_index_build_duration_seconds"):
        ck.eq(fams.get(f, {}).get("type"), "histogram", f"{f} is a histogram")
    ver = subprocess.run([H.binary("ltxpaged"), "--version"], capture_output=True, text=True).stdout.split()[-1]
    ck.eq(value(s1, "ltxpaged_build_info", version=ver), 1.0, f"ltxpaged_build_info{{version=\"{ver}\"}} 1")
    now = time.time()
    start = value(s1, "process_start_time_seconds")
    ck.ok(start is not None and now - 120 < start <= now + 1, f"process_start_time_seconds {start} (now {now:.0f})")
    rss = value(s1, "process_resident_memory_bytes")
    H_rss = None
    with open(f"/proc/{srv.p.pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                H_rss = int(ln.split()[1]) * 1024
    ck.ok(rss and H_rss and 0.5 * H_rss < rss < 2 * H_rss, f"process_resident_memory_bytes {rss} ~ VmRSS {H_rss}")
    nfd = len(os.listdir(f"/proc/{srv.p.pid}/fd"))
    ofd = value(s1, "process_open_fds")
    ck.ok(ofd is not None and abs(ofd - nfd) <= 8, f"process_open_fds {ofd} ~ /proc/pid/fd {nfd}")
    ck.ok((value(s1, "process_max_fds") or 0) >= (ofd or 1), "process_max_fds")
    ck.ok(value(s1, "process_cpu_seconds_total") is not None, "process_cpu_seconds_total")
    ck.eq(value(s1, "ltxpaged_databases", state="ok"), 2.0, "ltxpaged_databases{state=ok}")
    ck.ok(value(s1, "ltxpaged_db_txid", db="app.db") == 9, "per-database series by default")
    ck.ok(hist_count(s1, "ltxpaged_index_build_duration_seconds", kind="live") >= 2,
          "an index build observed per database at start")
    ck.ok(hist_count(s1, "ltxpaged_objstore_request_duration_seconds", op="list") > 0, "store LIST calls observed")

    # --- requests: 20 pages (cold then cached), an old TXID, refusals
    for i in range(20):
        ck.eq(curl(f"{srv.base}/app.db/pages/{1 + i % 10}")[0], 200, f"page {1 + i % 10}")
    ck.eq(curl(f"{srv.base}/app.db/file?txid=5")[0], 200, "/file at an old TXID")
    ck.eq(curl(srv.base + "/app.db/pages/1", "-X", "PROPFIND")[0], 405, "PROPFIND (no route takes it) -> 405")
    ck.eq(curl(srv.base + "/" + "a" * 3000)[0], 414, "long target -> 414")
    ck.eq(curl(srv.base + "/a%2fb/pages/1")[0], 400, "encoded slash -> 400")
    ck.eq(curl(srv.base + "/app.db/pages/x")[0], 400, "bad page number -> 400 (a page route)")
    time.sleep(0.6)  # a few polls

    m2 = scrape(srv)
    promtool_ok(m2, "the scrape after requests")
    _, s2 = check_structure(m2, "second scrape")
    d = lambda f, **l: hist_count(s2, f, **l) - hist_count(s1, f, **l)  # noqa: E731
    ck.eq(d("ltxpaged_http_request_duration_seconds", route="page"), 21.0,
          "page latency histogram moved by the 21 page-route requests made")
    ck.eq(d("ltxpaged_http_request_duration_seconds", route="file"), 1.0, "file latency histogram moved by 1")
    ck.eq(d("ltxpaged_http_request_duration_seconds", route="metrics"), 1.0, "the first scrape was observed")
    ck.eq(d("ltxpaged_http_request_duration_seconds", route="invalid"), 3.0, "3 early refusals observed")
    ck.ok(d("ltxpaged_objstore_request_duration_seconds", op="range") >= 1, "cold pages: store range reads observed")
    ck.ok(d("ltxpaged_poll_duration_seconds") >= 2, "polls observed")
    ck.ok(d("ltxpaged_index_build_duration_seconds", kind="historical") >= 1, "historical index build observed")
    req = lambda route, code: value(s2, "ltxpaged_http_requests_total", route=route, code=code)  # noqa: E731
    ck.eq(req("invalid", "405"), 1.0, "405 counted as route=invalid")
    ck.eq(req("invalid", "414"), 1.0, "414 counted as route=invalid")
    ck.eq(req("invalid", "400"), 1.0, "encoded slash counted as route=invalid")
    ck.eq(req("page", "400"), 1.0, "a bad page number stays route=page")
    for code in ("405", "414"):
        ck.eq(req("page", code), None, f"no route=page code={code}")
    ck.eq(req("page", "200"), 20.0, "20 pages answered 200")
    bsum = value(s2, "ltxpaged_http_request_duration_seconds_sum", route="page")
    ck.ok(bsum is not None and 0 < bsum < 20, f"page latency sum {bsum} s")
    ck.ok(not re.search(r'code="other', m2), "no code=\"other...\" label")
    ck.eq(srv.stop(), 0, "clean exit")
    servers.remove(srv)

    # --- --metrics-per-db=false (flag, then environment)
    for how, args, env in (("flag", ["--metrics-per-db=false"], None),
                           ("env", [], {"LTXPAGED_METRICS_PER_DB": "false"})):
        srv = Server(["--replica", "file://" + root] + args, env=env)
        servers.append(srv)
        ck.ok(srv.wait_ready(), f"ready ({how})")
        ck.eq(curl(f"{srv.base}/app.db/pages/1")[0], 200, f"page ({how})")
        m = scrape(srv)
        promtool_ok(m, f"the scrape without per-database series ({how})")
        _, s = check_structure(m, how)
        ck.eq([ln for ln in m.splitlines() if "ltxpaged_db_" in ln or 'db="' in ln], [],
              f"no per-database series ({how})")
        ck.eq(value(s, "ltxpaged_databases", state="ok"), 2.0, f"databases still counted by state ({how})")
        ck.ok(hist_count(s, "ltxpaged_http_request_duration_seconds", route="page") == 1, f"page observed ({how})")
        ck.ok(value(s, "process_resident_memory_bytes"), f"process_* still there ({how})")
        ck.eq(srv.stop(), 0, f"clean exit ({how})")
        servers.remove(srv)
finally:
    for p in servers:
        p.stop_showing_log()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
