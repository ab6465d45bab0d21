#!/usr/bin/env python3
"""ltxpaged behind a fault-injecting S3 proxy (tests/lib/faultproxy.py) in
front of moto, while a live writer (`ltxctl replicate`, straight to moto)
pushes L0 files.

Default mode (CTest server_faults): phases of injected faults — 500/503/
SlowDown, connection resets, truncated bodies and wrong Content-Range, slow
first bytes, garbage LIST XML, L0 objects deleted mid-read (put back 1 s
later), stalls beyond the store's 10 s request timeout — while reader threads
ask for /file, pages and batches at the latest and at random older TXIDs.
Checks:
  * no wrong bytes: every 200 answer (its TXID from the URL or `Ltx-Txid`)
    equals `ltxctl restore --txid T` of the same bucket read straight from
    moto (a mirror of the bucket for every TXID, cross-checked against
    restores run directly on moto for a sample);
  * no crash: the server runs throughout and exits 0 on SIGTERM;
  * every phase injected faults (the test exercised what it claims);
  * recovery: after the faults stop the server applies a new TXID within
    5 s, reaches the TXID the writer had at that moment within
    max(RECOVERY_LIMIT, 0.2 s per TXID of backlog) — new L0 files are applied
    one GET at a time — then catches up with the live writer and follows it.

--states mode (CTest server_faults_states): the store fails completely
(503s, then resets, then stalls) for several polls; the status must say so
(state not "ok", `last_error` current and about the failure) and return to
"ok" afterwards; during the stall, a /file read the 16-page cache cannot
answer gets 504 with Retry-After at the store's deadline. Today's server keeps "ok" (issue 10 case 3): those checks
are expected failures while STATES_XFAIL is True — the test then exits 77
(CTest: skipped, reason printed). When they all pass it fails with "XPASS"
so the flag gets flipped; LTXHTTP_FAULT_STATES_STRICT=1 makes them ordinary
checks without editing.

LTXHTTP_FAULT_CORRUPT=1 adds a phase whose answers have a flipped byte (the
proxy's "corrupt" action on ranged reads): today's server serves some of
them (issue 10 case 1), and this test must then FAIL with "WRONG BYTES" —
a way to see that the byte check can fail.

LTXHTTP_FAULT_SECONDS (default 30) scales the fault phases for longer manual
runs; LTXHTTP_FAULT_SEED picks the proxy's random seed (default 1).
"""
import concurrent.futures
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_server_common as T  # noqa: E402
from test_server_common import H  # noqa: E402
from test_vfs_common import PortTaken, pick_port, wait_listening  # noqa: E402
import faultproxy as F  # noqa: E402  (tests/lib is on sys.path via test_server_common)

# issue 10 case 3: the server keeps state "ok" while the store fails. Flip to
# False once the server reports honest states (or set LTXHTTP_FAULT_STATES_STRICT=1).
STATES_XFAIL = False  # issue 10 cases 3 and 9 fixed: every state check is an ordinary check
XFAIL_REASON = "issue 10 case 9: a poll stalled in the store is not counted as failed before the store's deadline"

SECONDS = float(os.environ.get("LTXHTTP_FAULT_SECONDS", "30"))
SEED = int(os.environ.get("LTXHTTP_FAULT_SEED", "1"))
RECOVERY_LIMIT = 10.0       # seconds from "faults stop" to the writer's latest TXID
BUCKET, PREFIX, DB = "ltxfault", "pre", "app.db"
LTXCTL = H.binary("ltxctl")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def say(msg):
    print(f"[{now_iso()}] {msg}", flush=True)


def parse_rfc3339(s):
    return datetime.datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Moto(H.Moto):
    """harness.Moto on a port from pick_port() (no parallel test takes it)."""

    def __init__(self):
        super().__init__(port=pick_port())


class Server(T.Server):
    """ltxpaged on a port of its own (pick_port, and it alone listens there);
    wait_ready/wait_for are test_server_common's."""

    def __init__(self, args, env=None):
        for attempt in range(5):
            self.port = pick_port()
            self.base = f"http://127.0.0.1:{self.port}"
            H.Proc.__init__(self, [H.binary("ltxpaged"), "--listen", f"127.0.0.1:{self.port}"] + list(args),
                            env=dict(env or {}, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23",
                                     LSAN_OPTIONS="exitcode=23"))
            try:
                wait_listening(self, self.port, 20)
                return
            except PortTaken as e:
                print(f"{e}: another port", flush=True)
                self.stop()
        raise RuntimeError("no port for ltxpaged")


class Rig:
    """moto + proxy + a WAL database with a live writer + ltxpaged via the proxy."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.moto = self.proxy = self.writer = self.server = None
        self.stop_rows = threading.Event()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        tmp = self.tmp
        self.moto = Moto()
        self.s3 = self.moto.client()
        self.s3.create_bucket(Bucket=BUCKET)
        self.env = self.moto.env()  # straight to moto: the writer and the reference restores
        self.proxy = F.FaultProxy(self.moto.endpoint, seed=SEED).start()
        self.db = os.path.join(tmp, "app.db")
        self.url = f"s3://{BUCKET}/{PREFIX}/{DB}"
        c = sqlite3.connect(self.db)
        c.executescript("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
                        "INSERT INTO t(v) SELECT hex(randomblob(250)) FROM n;")
        c.close()
        r = self.ctl("replicate", self.db, self.url, "--once")
        if r.returncode != 0:
            raise RuntimeError(f"first replicate tick failed: {r.stderr}")
        self.writer = H.Proc([LTXCTL, "replicate", self.db, self.url, "--interval", "200ms"], env=self.env)
        self.rows = 0
        self.writing = threading.Event()
        self.writing.set()
        self.row_thread = threading.Thread(target=self._rows, daemon=True)
        self.row_thread.start()
        self.server = Server(["--replica", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint", self.proxy.url,
                              "--s3-path-style", "--s3-region", "us-east-1", "--poll-interval", "250ms",
                              "--l1-interval", "2s", "--rescan-interval", "2s", "--cache-size", "64K"],
                             env=self.env)

    def ctl(self, *args, timeout=60):
        return subprocess.run([LTXCTL, *args], env=dict(os.environ, **self.env), capture_output=True,
                              text=True, timeout=timeout)

    def _rows(self):
        c = sqlite3.connect(self.db, timeout=10)
        rng = random.Random(SEED)
        while not self.stop_rows.wait(0.25):
            if not self.writing.is_set():
                continue
            if rng.random() < 0.3:
                c.execute("UPDATE t SET v = hex(randomblob(250)) WHERE id = ?", (rng.randrange(1, 200),))
            else:
                c.execute("INSERT INTO t(v) VALUES (hex(randomblob(250)))")
            c.commit()
            self.rows += 1
        c.close()

    def writer_txid(self):
        """The newest TXID in the bucket (listed straight from moto)."""
        best = 0
        kw = {"Bucket": BUCKET, "Prefix": f"{PREFIX}/{DB}/0000/"}
        while True:
            r = self.s3.list_objects_v2(**kw)
            for o in r.get("Contents", []):
                m = re.search(r"/([0-9a-f]{16})-([0-9a-f]{16})\.ltx$", o["Key"])
                if m:
                    best = max(best, int(m.group(2), 16))
            if not r.get("IsTruncated"):
                return best
            kw["ContinuationToken"] = r["NextContinuationToken"]

    def status(self):
        try:
            st, _, b = H.http_get(f"{self.server.base}/{DB}", timeout=10)
            return json.loads(b) if st == 200 else None
        except (OSError, ValueError):
            return None

    def server_txid(self):
        s = self.status()
        return int(s["txid"], 16) if s and s.get("txid") else 0

    def wait_txid(self, want, limit):
        t0 = time.time()
        while time.time() - t0 < limit:
            if self.server_txid() >= want:
                return time.time() - t0
            time.sleep(0.05)
        return None

    def stop(self):
        """Stop everything started, each part even when another one fails to stop."""
        self.stop_rows.set()
        parts = [p.stop for p in (self.server, self.writer) if p is not None and p.poll() is None]
        if self.proxy:
            parts.append(self.proxy.stop)
        if self.moto:
            parts.append(self.moto.stop)
        for stop in parts:
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                print(f"stopping {stop}: {e}", flush=True)


class Readers:
    """Threads asking the server for /file, pages and batches at the latest
    TXID and at random older ones; every 200 answer is kept for checking."""

    def __init__(self, rig, n=3):
        self.rig = rig
        self.base = f"{rig.server.base}/{DB}"
        self.lock = threading.Lock()
        self.answers = []        # (txid, kind, page_or_list, sha256 of the body, phase)
        self.codes = {}          # status -> count
        self.short = 0           # 200 answers cut short (connection dropped mid-body)
        self.errors = 0          # no HTTP answer at all (connection refused/reset, timeout)
        self.phase = "start"
        self.max_txid = 0
        self.max_commit = 1
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def _get(self, url):
        req = urllib.request.Request(url)
        try:
            with urllib.request.urlopen(req, timeout=70) as r:
                h = {k.lower(): v for k, v in r.headers.items()}
                try:
                    body = r.read()
                except Exception:  # http.client.IncompleteRead and friends
                    return "short", h, None
                n = int(h.get("content-length", "-1"))
                if n >= 0 and len(body) != n:
                    return "short", h, None
                return r.status, h, body
        except urllib.error.HTTPError as e:
            return e.code, {}, None
        except Exception:
            return None, {}, None

    def _run(self, i):
        rng = random.Random(SEED * 100 + i)
        while not self.done.is_set():
            hi = self.max_txid
            kind = rng.choice(["file", "file", "page", "batch", "status"])
            latest = hi == 0 or rng.random() < 0.4
            t = None if latest else rng.randrange(1, hi + 1)
            q = "" if t is None else f"txid={t:016x}"
            page = None
            if kind == "file":
                url = f"{self.base}/file" + (f"?{q}" if q else "")
            elif kind == "page":
                page = rng.randrange(1, self.max_commit + 1)
                url = f"{self.base}/pages/{page}" + (f"?{q}" if q else "")
            elif kind == "batch":
                a = rng.randrange(1, self.max_commit + 1)
                page = list(range(a, min(a + 6, self.max_commit) + 1)) + [1]
                url = f"{self.base}/pages?n={a}-{page[-2]},1" + (f"&{q}" if q else "")
            else:
                url = self.base
            phase = self.phase
            st, h, body = self._get(url)
            with self.lock:
                if st is None:
                    self.errors += 1
                    continue
                if st == "short":
                    self.short += 1
                    continue
                self.codes[st] = self.codes.get(st, 0) + 1
                if st != 200:
                    continue
                if kind == "status":
                    j = json.loads(body)
                    if j.get("txid"):
                        self.max_txid = max(self.max_txid, int(j["txid"], 16))
                        self.max_commit = max(self.max_commit, int(j.get("commit") or 1))
                    continue
                got = h.get("ltx-txid")
                if got is None:
                    self.answers.append((t, kind, page, None, phase))  # checked: must name its TXID
                    continue
                self.answers.append((int(got, 16), kind, page, hashlib.sha256(body).digest(), phase))
                if t is not None and int(got, 16) != t:
                    self.answers.append((t, "wrong-txid-header", got, None, phase))

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(80)


def reference(rig, txids, ck):
    """{txid: bytes} restored by `ltxctl restore --txid T` from a mirror of
    the bucket taken straight from moto; a sample is also restored directly
    on moto and must be identical."""
    mirror = os.path.join(rig.tmp, "mirror")
    shutil.rmtree(mirror, ignore_errors=True)
    kw = {"Bucket": BUCKET, "Prefix": f"{PREFIX}/{DB}/"}
    keys = []
    while True:
        r = rig.s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            break
        kw["ContinuationToken"] = r["NextContinuationToken"]

    def fetch(k):
        m = re.search(r"/(\d{4})/([0-9a-f]{16}-[0-9a-f]{16}\.ltx)$", k)
        if not m:
            return
        d = os.path.join(mirror, "ltx", str(int(m.group(1), 16)))
        os.makedirs(d, exist_ok=True)
        body = rig.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()
        with open(os.path.join(d, m.group(2)), "wb") as f:
            f.write(body)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(fetch, keys))

    def restore(src, t, tag):
        out = os.path.join(rig.tmp, f"ref-{tag}-{t}.db")
        r = subprocess.run([LTXCTL, "restore", src, out, "--txid", f"{t:016x}", "--force", "--quiet"],
                           env=dict(os.environ, **rig.env), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            return None, r.stderr.strip()
        with open(out, "rb") as f:
            data = f.read()
        os.unlink(out)
        return data, ""
    ref = {}
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        for t, (data, err) in zip(sorted(txids), ex.map(lambda t: restore(mirror, t, "m"), sorted(txids))):
            ref[t] = data
            ck.ok(data is not None, f"ltxctl restore --txid {t} from the bucket ({err})")
    sample = sorted(txids)
    sample = sorted(set(sample[:: max(1, len(sample) // 4)] + sample[-1:]))
    for t in sample:
        data, err = restore(rig.url, t, "s3")
        ck.ok(data is not None and data == ref.get(t),
              f"restore at TXID {t} straight from moto equals the mirror's ({err})")
    return ref


def check_answers(readers, ref, ck):
    wrong = {}
    checked = 0
    by_phase = {}
    for t, kind, page, body, phase in readers.answers:
        if kind == "wrong-txid-header":
            ck.ok(False, f"asked TXID {t}, answer says Ltx-Txid {page} ({phase})")
            continue
        if body is None:
            ck.ok(False, f"a 200 {kind} answer without Ltx-Txid ({phase})")
            continue
        want = ref.get(t)
        if want is None:
            ck.ok(False, f"no reference for TXID {t}")
            continue
        if kind == "file":
            exp = want
        elif kind == "page":
            exp = want[(page - 1) * 4096: page * 4096]
        else:
            exp = b"".join(want[(p - 1) * 4096: p * 4096] for p in page)
        checked += 1
        by_phase[phase] = by_phase.get(phase, 0) + 1
        if body != hashlib.sha256(exp).digest():
            wrong.setdefault(phase, []).append((t, kind, page if kind != "batch" else f"{page[0]}.."))
    for phase, w in wrong.items():
        ck.ok(False, f"WRONG BYTES in phase {phase}: {len(w)} answers, e.g. {w[:5]}")
    ck.ok(checked >= 50, f"answers checked against ltxctl restore: {checked} (at least 50)")
    return checked, by_phase


PHASES = [
    # (name, share of SECONDS, rules)
    ("errors", 4, [dict(action="error", code="SlowDown", prob=0.15),
                   dict(action="error", status=500, prob=0.15),
                   dict(action="error", status=503, prob=0.1)]),
    ("resets", 3, [dict(action="reset", prob=0.3)]),
    ("truncated", 4, [dict(action="truncate", op=["get", "range"], prob=0.25),
                      dict(action="bad_content_range", op="range", prob=0.2),
                      dict(action="bad_content_range", op="range", prob=0.1, total=7)]),
    ("slow-first-byte", 3, [dict(action="slow_first_byte", seconds=1.5, prob=0.3)]),
    ("garbage-list", 3, [dict(action="garbage_list", op="list", prob=0.6)]),
    ("deleted-mid-read", 3, "delete"),
    ("stalls", 11, [dict(action="stall", seconds=30, prob=0.3)]),
]


if os.environ.get("LTXHTTP_FAULT_CORRUPT") == "1":
    PHASES.insert(0, ("corrupt", 4, [dict(action="corrupt", op="range", prob=0.5)]))


def faults_main(ck):
    tmp = tempfile.mkdtemp(prefix="ltxfault-")
    rig = readers = None
    report = {}
    try:
        rig = Rig(tmp)
        srv = rig.server
        ck.ok(srv.wait_ready(20), "server ready through the proxy")
        ck.ok(rig.wait_txid(1, 10) is not None, "TXID 1 indexed")
        readers = Readers(rig)
        time.sleep(2)
        scale = SECONDS / 30.0
        deletions = []
        for name, share, rules in PHASES:
            dur = share * scale if name != "stalls" else max(11.0, share * scale)
            readers.phase = name
            before = rig.proxy.stats()["injected_total"]
            if rules == "delete":
                rig.proxy.set_rules([F.Rule("hook", op=["get", "range"], key=r"/0000/", count=2,
                                            fn=F.moto_delete_hook(rig.moto.client(), restore_after=1.0,
                                                                  log=deletions))])
            else:
                rig.proxy.set_rules([F.Rule.from_dict(r) for r in rules])
            say(f"phase {name}: {dur:.1f}s")
            time.sleep(dur)
            rig.proxy.clear()
            n = rig.proxy.stats()["injected_total"] - before
            report[name] = n
            ck.ok(n > 0, f"phase {name} injected faults ({n})")
            ck.ok(srv.poll() is None, f"server alive after phase {name}")
            if name == "deleted-mid-read":
                time.sleep(1.2)  # the deleted objects are back before the next phase
        # faults stop: the server must resume at once and catch up with the writer
        t_clear = time.time()
        readers.phase = "recovery"
        at_clear = rig.server_txid()
        want = rig.writer_txid()
        backlog = max(0, want - at_clear)
        resumed = rig.wait_txid(at_clear + 1, 10) if backlog else 0.0
        ck.ok(resumed is not None and resumed <= 5.0,
              f"server applies a new TXID within 5 s after faults stopped ({resumed and round(resumed, 2)} s)")
        # new L0 files are applied one GET at a time (~10/s on moto here): a
        # long outage leaves a backlog that takes longer than a short one
        limit = max(RECOVERY_LIMIT, backlog * 0.2)
        rec = rig.wait_txid(want, limit + 20)
        report.update(backlog=backlog, resumed_s=resumed, recovery_s=rec)
        ck.ok(rec is not None and rec <= limit,
              f"recovered to the writer's TXID {want} (backlog {backlog}) within {limit:.0f}s after faults stopped "
              f"({'never' if rec is None else f'{rec:.2f}s'})")
        # caught up with the live writer (it kept committing meanwhile)
        t0 = time.time()
        while time.time() - t0 < 30 and rig.server_txid() < rig.writer_txid():
            time.sleep(0.1)
        report["caught_up_s"] = time.time() - t_clear
        st = rig.status() or {}
        say(f"after recovery: state={st.get('state')} txid={st.get('txid')} last_error={st.get('last_error')!r}")
        # and keeps following: a TXID written from now on shows up within poll + 2 s
        time.sleep(1.0)
        want2 = rig.writer_txid()
        rec2 = rig.wait_txid(want2, 5)
        ck.ok(want2 > want and rec2 is not None,
              f"follows new commits after recovery (TXID {want2}: {rec2 and f'{rec2:.2f}s'})")
        readers.phase = "clean"
        time.sleep(1.0)
        # final state: stop writing, the server serves exactly the final TXID
        rig.writing.clear()
        final, t_stable = rig.writer_txid(), time.time()
        t_end = time.time() + 15
        while time.time() - t_stable < 1.0 and time.time() < t_end:  # the writer's last tick is out
            time.sleep(0.25)
            t = rig.writer_txid()
            if t != final:
                final, t_stable = t, time.time()
        ck.ok(rig.wait_txid(final, 5) is not None, f"server reaches the final TXID {final}")
        readers.stop()
        ck.ok(srv.poll() is None, "server did not crash")
        say(f"readers: {len(readers.answers)} answers kept, codes {readers.codes}, "
            f"short bodies {readers.short}, no answer {readers.errors}")
        st, h, body = H.http_get(f"{srv.base}/{DB}/file", timeout=30)
        final_txid = int(h.get("ltx-txid", "0"), 16)
        readers.answers.append((final_txid, "file", None, hashlib.sha256(body).digest(), "final"))
        txids = {a[0] for a in readers.answers if a[0] is not None}
        ref = reference(rig, txids, ck)
        checked, by_phase = check_answers(readers, ref, ck)
        report.update(checked=checked, by_phase=by_phase, txids=len(txids), codes=readers.codes,
                      short=readers.short, no_answer=readers.errors, proxy=rig.proxy.stats()["counters"],
                      injected=rig.proxy.stats()["injected"], deletions=len([d for d in deletions
                                                                              if d[0] == "deleted"]))
        ck.eq(final_txid, final, "latest /file names the final TXID")
        t0 = time.time()
        rc = srv.stop(timeout=20)
        ck.eq(rc, 0, f"clean exit on SIGTERM ({time.time() - t0:.1f}s)")
        with open(srv.log_path, errors="replace") as f:
            out = f.read()
        ck.ok("AddressSanitizer" not in out and "runtime error" not in out, "no sanitizer report")
        say("report: " + json.dumps(report, default=str))
    except Exception:
        import traceback
        traceback.print_exc()
        ck.ok(False, "test raised")
    finally:
        if readers:
            readers.done.set()
        if rig:
            show_log(rig, ck)
            rig.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def show_log(rig, ck):
    """The end of the server's log after a failure (never raises: the rig must still be stopped)."""
    if ck.failures and rig.server is not None:
        try:
            with open(rig.server.log_path, errors="replace") as f:
                print(f.read()[-6000:])
        except OSError as e:
            print(f"(no server log: {e})")


class XCheck:
    """Checks that split into ordinary ones and expected failures."""

    def __init__(self, ck):
        self.ck = ck
        self.known_failed = []
        self.known_passed = []

    def known(self, cond, what):
        """A check that today's server fails (issue 10 case 3)."""
        if not STATES_XFAIL:
            return self.ck.ok(cond, what)
        print(("xpass: " if cond else "xfail: ") + what, flush=True)
        (self.known_passed if cond else self.known_failed).append(what)
        return cond


def states_main(ck):
    x = XCheck(ck)
    tmp = tempfile.mkdtemp(prefix="ltxfault-st-")
    rig = None
    try:
        rig = Rig(tmp)
        ck.ok(rig.server.wait_ready(20), "server ready through the proxy")
        ck.ok(rig.wait_txid(1, 10) is not None, "TXID 1 indexed")
        time.sleep(1.5)
        s = rig.status() or {}
        ck.eq(s.get("state"), "ok", "state ok before faults")
        # (name, rules, seconds, what last_error must mention, which checks today's server fails)
        # a poll stuck in a stall fails at the store's 10 s deadline (issue 10
        # case 9): the stall outage lasts 20 s, so that failure is counted
        # with room to spare on a loaded machine
        outages = [("503s", [dict(action="error", status=503)], 5.0, r"503|ServiceUnavailable", set()),
                   ("resets", [dict(action="reset")], 5.0, r"reset|connection|recv", set()),
                   ("stalls", [dict(action="stall", seconds=60)], 20.0, r"time|stall", set())]
        for name, rules, dur, err_re, known in outages:
            def chk(tag, cond, what):
                return x.known(cond, what) if tag in known else ck.ok(cond, what)
            s0 = rig.status() or {}
            errs0 = (s0.get("counters") or {}).get("poll_errors", 0)
            fails0 = s0.get("consecutive_poll_failures") or 0
            pinned = rig.server_txid()
            rig.proxy.set_rules([F.Rule.from_dict(r) for r in rules])
            t0 = time.time()
            say(f"outage {name}: {dur}s")
            timed = {}
            if name == "stalls":
                # a read the cache cannot answer (a 16-page cache, a bigger
                # database) ends at the store's deadline: 504 + Retry-After
                def read_stalled():
                    try:
                        with urllib.request.urlopen(f"{rig.server.base}/{DB}/file?txid={pinned:x}", timeout=30) as r:
                            timed["answer"] = (r.status, None, None)
                    except urllib.error.HTTPError as e:
                        body = e.read()
                        code = json.loads(body).get("code") if body.startswith(b"{") else None
                        timed["answer"] = (e.code, code, e.headers.get("Retry-After"))
                    except OSError as e:
                        timed["answer"] = (None, str(e), None)
                    timed["seconds"] = time.time() - t0
                reader = threading.Thread(target=read_stalled, daemon=True)
                reader.start()
            samples = []
            while time.time() - t0 < dur:
                s = rig.status()
                if s:
                    samples.append((time.time() - t0, s))
                time.sleep(0.25)
            if name == "stalls":
                reader.join(15)
                say(f"  /file?txid={pinned:x} during the stall: {timed}")
                ck.eq(timed.get("answer"), (504, "upstream_error", "1"),
                      "stalls: a read that needs the store answers 504 upstream_error with Retry-After: 1")
                ck.ok(timed.get("seconds", 99) < 16,
                      f"stalls: the 504 comes at the store's deadline ({timed.get('seconds', 0):.1f} s)")
            # "several polls": 3 s of 503s/resets, or past the first 10 s timeout of a stall
            late = [s for t, s in samples if t >= (11.5 if name == "stalls" else 3.0)]
            states = sorted({s.get("state") for _, s in samples})
            last = samples[-1][1] if samples else {}
            say(f"  states seen {states}; last_error={last.get('last_error')!r} at {last.get('last_error_at')}")
            ck.ok(len(late) >= 2, f"{name}: status answered during the outage ({len(late)} late samples)")
            ok_late = [(round(t, 1), s.get("consecutive_poll_failures"), s.get("last_store_ok"))
                       for t, s in samples if t >= (11.5 if name == "stalls" else 3.0) and s.get("state") == "ok"]
            chk("state", bool(late) and not ok_late,
                f"{name}: state not ok after several failed polls (saw {states}; ok at (s, failures in a row, "
                f"last_store_ok): {ok_late[:4]})")
            le_at = last.get("last_error_at")
            at = parse_rfc3339(le_at) if le_at else 0
            # during a stall each poll fails at the 10 s store deadline, so
            # the newest error is up to one deadline (plus a poll) old
            max_age = 12.0 if name == "stalls" else 6.0
            chk("current", at >= t0 and time.time() - at < max_age,
                f"{name}: last_error is from this outage and at most {max_age:.0f} s old "
                f"({le_at}; outage began {time.time() - t0:.1f} s ago)")
            chk("names", bool(re.search(err_re, last.get("last_error") or "", re.I)),
                f"{name}: last_error names the failure ({last.get('last_error')!r})")
            # the counter moves when a failed poll ends: during a stall that is
            # up to one store deadline (10 s) after the poll began, so a poll
            # that started just before the window's end is still waiting.
            # Wait for it (the outage still on) up to two deadlines more: room
            # for a loaded machine, and still a failure when polls that fail
            # are never counted.
            def errs_now():
                return ((rig.status() or {}).get("counters") or {}).get("poll_errors", 0)
            errs1 = (last.get("counters") or {}).get("poll_errors", 0)
            if errs1 <= errs0:
                rig.server.wait_for(lambda: errs_now() > errs0, 20.0 if name == "stalls" else 5.0, step=0.25)
                errs1 = errs_now()
            chk("counted", errs1 > errs0, f"{name}: poll_errors counted ({errs0} -> {errs1}, "
                f"{time.time() - t0:.1f} s into the outage)")
            # every failed poll is counted, whichever of its requests failed (a
            # poll whose L0 listing answered and whose levels listing timed out
            # was once not): the counter is never behind the failures in a row
            behind = [(round(t, 1), (s.get("counters") or {}).get("poll_errors", 0) - errs0,
                       (s.get("consecutive_poll_failures") or 0) - fails0) for t, s in samples]
            behind = [b for b in behind if b[1] < b[2]]
            chk("counted", not behind, f"{name}: poll_errors never behind consecutive_poll_failures "
                f"((s, counted, failed in a row): {behind[:3]})")
            rig.proxy.clear()
            want = rig.writer_txid()
            rec = rig.wait_txid(want, RECOVERY_LIMIT + 10)
            ck.ok(rec is not None and rec <= RECOVERY_LIMIT,
                  f"{name}: back to the writer's TXID {want} after the outage ({rec and round(rec, 2)} s)")
            ok_t = rig.server.wait_for(lambda: (rig.status() or {}).get("state") == "ok", 5)
            ck.ok(ok_t, f"{name}: state ok again after the outage")
        root_stall(rig, ck)
        ck.ok(rig.server.poll() is None, "server did not crash")
        ck.eq(rig.server.stop(timeout=20), 0, "clean exit on SIGTERM")
    except Exception:
        import traceback
        traceback.print_exc()
        ck.ok(False, "test raised")
    finally:
        if rig:
            show_log(rig, ck)
            rig.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return x


def root_stall(rig, ck):
    """Only the listings of the root (the --rescan-interval discovery) stall,
    past the store's 10 s deadline: the database's own polls must go on (the
    rescan once ran on the first poller, so its databases were not polled
    for 10 s while their state said "ok")."""
    release = threading.Event()
    stalled = []

    def hook(_proxy, info):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(info["path"]).query)
        if info["op"] == "list" and q.get("prefix") == [f"{PREFIX}/"]:
            stalled.append(time.time())
            release.wait(12.0)

    rig.proxy.add("hook", fn=hook)
    say("outage root-listing stall: 12.0s")
    try:
        t0 = time.time()
        # a rescan starts within --rescan-interval (2 s) and hangs
        while not stalled and time.time() - t0 < 6:
            time.sleep(0.1)
        ck.ok(bool(stalled), "root stall: a rescan listed the root (and now hangs)")
        time.sleep(1.0)
        t1 = time.time()
        lags = []
        while time.time() - t1 < 7.0:
            want = rig.writer_txid()
            rec = rig.wait_txid(want, 3.0)
            lags.append(rec)
            time.sleep(0.5)
        say(f"  while the rescan hangs, seconds to reach the writer's TXID: {[r and round(r, 2) for r in lags]}")
        ck.ok(lags and all(r is not None for r in lags),
              f"root stall: the database follows the writer while a rescan hangs ({lags})")
        s = rig.status() or {}
        ck.eq(s.get("state"), "ok", "root stall: the database's own polls succeed, its state is ok")
    finally:
        release.set()
        rig.proxy.clear()


def main():
    if H.python_with_moto() is None or shutil.which("moto_server") is None:
        print("moto_server/boto3 not available")
        sys.exit(1)
    states = "--states" in sys.argv[1:]
    ck = H.Checker("server_faults_states" if states else "server_faults")
    if not states:
        faults_main(ck)
        ck.done()
    x = states_main(ck)
    if STATES_XFAIL and ck.failures == 0:
        if x.known_failed:
            print(f"{ck.name}: {ck.checks} checks passed; {len(x.known_failed)} expected failures "
                  f"({len(x.known_passed)} of the known-issue checks pass already)")
            print(f"SKIP: {XFAIL_REASON}", flush=True)
            sys.exit(77)
        if x.known_passed:
            print(f"XPASS: every state check passes now: set STATES_XFAIL = False in {__file__} ({XFAIL_REASON})")
            ck.ok(False, "expected failures passed (XPASS): flip STATES_XFAIL")
    ck.done()


if __name__ == "__main__":
    main()
