#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for S3 (moto, MinIO, the test fakes).

Stdlib only. It listens on 127.0.0.1:<port> and forwards every request
verbatim to one upstream (method, path and query, every header including
Host and Authorization, the body streamed in chunks), and streams the answer
back. A rule set, changeable at runtime, picks requests and injects a fault
instead of (or into) the real answer.

In-process use (a test):

    from faultproxy import FaultProxy
    px = FaultProxy("http://127.0.0.1:5000", port=free_port(), seed=1).start()
    px.add("error", status=503, code="SlowDown", op="get", prob=0.3)
    px.add("reset", key=r"/0000/", prob=0.2, count=5)
    ...                          # point the client at px.url
    px.clear()                   # faults stop; in-flight stalls are released
    print(px.stats())            # what was injected, per action and rule
    px.stop()

Rules are tried in order; the first rule that matches the request *and* fires
(probability, count) is applied; requests no rule fires on are forwarded.

Filters (all optional): ``method`` (regex on GET/PUT/HEAD/DELETE),
``key`` (regex searched in the object key, e.g. ``pre/app.db/0000/…ltx``;
"" for bucket requests such as LIST), ``op`` (one of, or a list of: list,
get (whole object), range (GET with Range), head, put, delete, other),
``prob`` (0..1, drawn from a random.Random(seed) shared by all rules),
``count`` (fire at most this many times), ``skip`` (let this many matching
requests through first).

Actions and their parameters:

  error          answer ``status`` (500) with an S3 XML error ``code``
                 (InternalError; SlowDown → 503; ServiceUnavailable → 503)
  reset          read the request, then close the connection with a TCP RST
                 (no answer at all)
  stall          read the request, then send nothing for ``seconds`` (30,
                 beyond a 10 s client timeout) and close; released at once
                 by clear()/release_stalls()/stop()
  slow_first_byte  wait ``seconds`` (2) before forwarding, then answer normally
  slow_body      forward the headers, then the body in ``chunk`` bytes every
                 ``seconds``
  truncate       forward the real status and headers (Content-Length of the
                 full body) but send only ``fraction`` (0.5) of the body, then
                 close: a Content-Length longer than the body sent
  bad_content_range  206 answers: shift the start (and end) of
                 ``Content-Range`` by ``shift`` (+1) bytes, body unchanged;
                 ``total`` instead sets a wrong total size
  corrupt        forward the answer with one byte of the body flipped (xor
                 0xff) at a position drawn from the seeded generator — wrong
                 bytes that only a checksum can catch (to show a byte check
                 fails when it should)
  garbage_list   LIST answers: 200 with a body that is not a ListBucketResult
                 (a few variants, chosen by the seeded random generator, or
                 ``variant`` 0..5)
  hook           call ``fn(proxy, request_info)`` (Python API only) before
                 forwarding (``when="before"``) or after the answer went out
                 (``when="after"``) — e.g. delete or replace the object
                 mid-read with the helpers at the end of this file

Control over HTTP (for a proxy in another process; bucket names cannot start
with "_", so these never clash with S3 paths):

  GET  /__fault/stats              counters (JSON)
  GET  /__fault/rules              the rules (JSON)
  POST /__fault/rules              replace the rules: a JSON list of objects
                                   {"action": "error", "status": 503, …}
  POST /__fault/add                append one rule (JSON object)
  POST /__fault/clear              drop every rule, release stalls

CLI (manual runs):

  python3 tests/lib/faultproxy.py --upstream http://127.0.0.1:5000 --port 9100 \\
      --seed 7 --rule action=error,status=503,code=SlowDown,prob=0.3 \\
      --rule action=stall,seconds=15,op=range,prob=0.05
  curl -s localhost:9100/__fault/stats
"""
import argparse
import http.client
import http.server
import json
import os
import random
import re
import shutil
import socket
import struct
import sys
import threading
import time
import urllib.parse

from harness import QuietHandler

OPS = ("list", "get", "range", "head", "put", "delete", "other")
ACTIONS = ("error", "reset", "stall", "slow_first_byte", "slow_body", "truncate", "bad_content_range",
           "garbage_list", "corrupt", "hook")
ERROR_CODES = {"InternalError": 500, "SlowDown": 503, "ServiceUnavailable": 503, "RequestTimeout": 400}
CHUNK = 64 * 1024

GARBAGE_LISTS = [
    b"this is not xml at all",
    b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Contents><Key>x',
    b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>true</IsTruncated>'
    b"<Contents><Key>a/0000/0000000000000001-0000000000000001.ltx</Key></Contents></ListBucketResult>",
    b'<?xml version="1.0"?><ListBucketResult><Contents><Key>&bogus;</Key><Size>1</Size>'
    b"<LastModified>2025-01-01T00:00:00.000Z</LastModified></Contents></ListBucketResult>",
    b'<?xml version="1.0"?><ListBucketResult><Contents><Key>k</Key><Size>-5</Size>'
    b"<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
    bytes(range(256)) * 4,
]


class Rule:
    """One fault rule; see the module docstring for the fields."""
    FIELDS = ("action", "method", "key", "op", "prob", "count", "skip", "status", "code", "seconds",
              "fraction", "shift", "total", "variant", "chunk", "when", "name")

    def __init__(self, action, method=None, key=None, op=None, prob=1.0, count=None, skip=0, status=None,
                 code=None, seconds=None, fraction=0.5, shift=1, total=None, variant=None, chunk=1024,
                 when="before", fn=None, name=None):
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        if action == "hook" and fn is None:
            raise ValueError("a hook rule needs fn (Python API only)")
        if isinstance(op, str):
            op = [op]
        for o in op or []:
            if o not in OPS:
                raise ValueError(f"unknown op {o!r} (one of {', '.join(OPS)})")
        self.action, self.method, self.key, self.op = action, method, key, op
        self._method_re = re.compile(method) if method else None
        self._key_re = re.compile(key) if key is not None else None
        self.prob = float(prob)
        self.count = None if count is None else int(count)
        self.skip = int(skip)
        if action == "error":
            if code is None:
                code = {503: "ServiceUnavailable"}.get(int(status or 500), "InternalError")
            if status is None:
                status = ERROR_CODES.get(code, 500)
        self.code = code
        self.status = None if status is None else int(status)
        if seconds is None:
            seconds = {"stall": 30.0, "slow_first_byte": 2.0, "slow_body": 0.2}.get(action, 0.0)
        self.seconds = float(seconds)
        self.fraction = float(fraction)
        self.shift = int(shift)
        self.total = None if total is None else int(total)
        self.variant = None if variant is None else int(variant)
        self.chunk = max(1, int(chunk))
        self.when = when
        self.fn = fn
        self.name = name or action
        self.matched = 0   # requests that passed the filters
        self.fired = 0     # faults injected

    def matches(self, info):
        if self._method_re and not self._method_re.fullmatch(info["method"]):
            return False
        if self._key_re is not None and not self._key_re.search(info["key"]):
            return False
        if self.op and info["op"] not in self.op:
            return False
        return True

    def to_dict(self):
        d = {f: getattr(self, f) for f in self.FIELDS}
        d.update(matched=self.matched, fired=self.fired)
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d):
        d = {k: v for k, v in d.items() if k in cls.FIELDS}
        return cls(**d)


def parse_rule(text):
    """'action=error,status=503,prob=0.3,op=get|range' -> Rule (CLI form)."""
    d = {}
    for part in text.split(","):
        if not part.strip():
            continue
        k, _, v = part.partition("=")
        k = k.strip()
        if k == "op":
            d[k] = v.split("|")
        elif k in ("prob", "seconds", "fraction"):
            d[k] = float(v)
        elif k in ("count", "skip", "status", "shift", "total", "variant", "chunk"):
            d[k] = int(v)
        else:
            d[k] = v
    return Rule.from_dict(d)


class FaultProxy(http.server.ThreadingHTTPServer):
    """The proxy. upstream: "http://host:port"; port 0 lets the kernel pick."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, upstream, port=0, seed=0, upstream_timeout=60.0):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("upstream must be http://host:port")
        self.upstream = (u.hostname, u.port or 80)
        self.upstream_timeout = upstream_timeout
        self.rules = []
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stall_gen = 0
        self.stall_cv = threading.Condition(self.lock)
        self.stopping = False
        self.counters = {"requests": 0, "forwarded": 0, "upstream_errors": 0, "control": 0}
        self.injected = {a: 0 for a in ACTIONS}
        self.by_op = {o: 0 for o in OPS}
        self.log = []          # (time, op, key, action) of every injected fault, newest last
        self._thread = None
        super().__init__(("127.0.0.1", port), _Handler)
        self.port = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    # ---- lifecycle
    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        with self.lock:
            self.stopping = True
            self.stall_gen += 1
            self.stall_cv.notify_all()
        self.shutdown()
        self.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def handle_error(self, request, client_address):
        pass  # clients dropped or timed out on purpose are expected

    # ---- rules
    def add(self, action, **kw):
        """Append a rule; returns it (its .fired counts injections)."""
        r = action if isinstance(action, Rule) else Rule(action, **kw)
        with self.lock:
            self.rules.append(r)
        return r

    def set_rules(self, rules):
        rs = [r if isinstance(r, Rule) else Rule.from_dict(r) for r in rules]
        with self.lock:
            self.rules = rs
            self.stall_gen += 1
            self.stall_cv.notify_all()

    def clear(self):
        """No more faults; stalled requests are released (their connection closed)."""
        self.set_rules([])

    def release_stalls(self):
        with self.lock:
            self.stall_gen += 1
            self.stall_cv.notify_all()

    def stats(self):
        with self.lock:
            return {"counters": dict(self.counters), "injected": {k: v for k, v in self.injected.items() if v},
                    "injected_total": sum(self.injected.values()), "by_op": dict(self.by_op),
                    "rules": [r.to_dict() for r in self.rules]}

    def pick(self, info):
        """The rule to apply to this request, or None (counts it)."""
        with self.lock:
            self.counters["requests"] += 1
            self.by_op[info["op"]] += 1
            for r in self.rules:
                if not r.matches(info):
                    continue
                r.matched += 1
                if r.matched <= r.skip:
                    continue
                if r.count is not None and r.fired >= r.count:
                    continue
                if r.prob < 1.0 and self.rng.random() >= r.prob:
                    continue
                r.fired += 1
                self.injected[r.action] += 1
                self.log.append((time.time(), info["op"], info["key"], r.name))
                if len(self.log) > 10000:
                    del self.log[:5000]
                return r
        return None

    def wait_stall(self, seconds):
        """Sleep up to seconds; returns early when stalls are released."""
        deadline = time.time() + seconds
        with self.lock:
            gen = self.stall_gen
            while self.stall_gen == gen and not self.stopping:
                left = deadline - time.time()
                if left <= 0:
                    break
                self.stall_cv.wait(left)

    def random_choice(self, n):
        with self.lock:
            return self.rng.randrange(n)


def classify(method, path):
    """(op, bucket, key) of an S3 path-style request."""
    u = urllib.parse.urlsplit(path)
    parts = u.path.lstrip("/").split("/", 1)
    bucket = urllib.parse.unquote(parts[0])
    key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
    if method == "GET" and key == "":
        op = "list"
    elif method == "GET":
        op = "get"
    elif method == "HEAD":
        op = "head"
    elif method == "PUT":
        op = "put"
    elif method == "DELETE":
        op = "delete"
    else:
        op = "other"
    return op, bucket, key


class _Handler(QuietHandler):
    server: FaultProxy

    def do_GET(self):
        self.handle_one()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    # ---- helpers
    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        out = bytearray()
        while len(out) < n:
            b = self.rfile.read(min(CHUNK, n - len(out)))
            if not b:
                break
            out += b
        return bytes(out)

    def _answer(self, status, body, ctype="application/xml"):
        self.reply(status, body, {"Content-Type": ctype})

    def _reset(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _control(self):
        srv = self.server
        with srv.lock:
            srv.counters["control"] += 1
        path = urllib.parse.urlsplit(self.path).path
        body = self._read_body() if self.command in ("POST", "PUT") else b""
        try:
            if path == "/__fault/stats" and self.command == "GET":
                out = srv.stats()
            elif path == "/__fault/rules" and self.command == "GET":
                out = srv.stats()["rules"]
            elif path == "/__fault/rules" and self.command in ("POST", "PUT"):
                srv.set_rules(json.loads(body or b"[]"))
                out = {"rules": len(srv.rules)}
            elif path == "/__fault/add" and self.command == "POST":
                srv.add(Rule.from_dict(json.loads(body)))
                out = {"rules": len(srv.rules)}
            elif path == "/__fault/clear" and self.command == "POST":
                srv.clear()
                out = {"rules": 0}
            else:
                return self._answer(404, b'{"error":"unknown control path"}', "application/json")
        except (ValueError, TypeError) as e:
            return self._answer(400, json.dumps({"error": str(e)}).encode(), "application/json")
        self._answer(200, json.dumps(out).encode(), "application/json")

    # ---- one request
    def handle_one(self):
        srv = self.server
        if self.path.startswith("/__fault/"):
            return self._control()
        op, bucket, key = classify(self.command, self.path)
        if op == "get" and self.headers.get("Range"):
            op = "range"
        info = {"method": self.command, "path": self.path, "op": op, "bucket": bucket, "key": key,
                "range": self.headers.get("Range")}
        rule = srv.pick(info)
        body = self._read_body() if self.headers.get("Content-Length") else b""
        act = rule.action if rule else None
        if act == "error":
            msg = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{rule.code}</Code>'
                   f"<Message>injected by faultproxy</Message><Key>{key}</Key>"
                   f"<RequestId>fault{rule.fired}</RequestId></Error>").encode()
            return self._answer(rule.status, msg)
        if act == "reset":
            return self._reset()
        if act == "stall":
            srv.wait_stall(rule.seconds)
            return self._reset()
        if act == "slow_first_byte":
            srv.wait_stall(rule.seconds)
        if act == "hook" and rule.when == "before":
            rule.fn(srv, info)
        if act == "garbage_list" and op == "list":
            v = rule.variant if rule.variant is not None else srv.random_choice(len(GARBAGE_LISTS))
            return self._answer(200, GARBAGE_LISTS[v % len(GARBAGE_LISTS)])
        self._forward(info, body, rule)
        if act == "hook" and rule.when == "after":
            rule.fn(srv, info)

    def _forward(self, info, body, rule):
        srv = self.server
        act = rule.action if rule else None
        try:
            conn = http.client.HTTPConnection(*srv.upstream, timeout=srv.upstream_timeout)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() in ("connection", "keep-alive", "proxy-connection", "transfer-encoding"):
                    continue
                if k.lower() == "content-length" and body is not None:
                    continue
                conn.putheader(k, v)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders()
            if body:
                for i in range(0, len(body), CHUNK):
                    conn.send(body[i:i + CHUNK])
            resp = conn.getresponse()
        except OSError as e:
            with srv.lock:
                srv.counters["upstream_errors"] += 1
            msg = f"<Error><Code>ProxyUpstreamError</Code><Message>{e}</Message></Error>".encode()
            return self._answer(502, msg)
        with srv.lock:
            srv.counters["forwarded"] += 1
        try:
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length")]
            length = resp.getheader("Content-Length")
            if length is None and self.command != "HEAD":
                data = resp.read()  # unknown length (chunked): buffer it
                stream = None
                length = len(data)
            else:
                data = None
                stream = resp
                length = int(length or 0)
            if act == "bad_content_range" and resp.status == 206:
                headers = [(k, _bad_range(v, rule) if k.lower() == "content-range" else v) for k, v in headers]
            self.send_response(resp.status, resp.reason)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            limit = length
            flip = -1
            if act == "corrupt" and length > 0:
                flip = srv.random_choice(length)
            if act == "truncate":
                limit = min(length - 1, int(length * rule.fraction)) if length > 0 else 0
                self.close_connection = True
            sent = 0
            while sent < limit:
                want = min(CHUNK if act != "slow_body" else rule.chunk, limit - sent)
                if data is not None:
                    piece = data[sent:sent + want]
                else:
                    piece = stream.read(want)
                if not piece:
                    break
                if sent <= flip < sent + len(piece):
                    piece = bytearray(piece)
                    piece[flip - sent] ^= 0xFF
                    piece = bytes(piece)
                self.wfile.write(piece)
                sent += len(piece)
                if act == "slow_body":
                    self.wfile.flush()
                    srv.wait_stall(rule.seconds)
            if sent < length:
                self.close_connection = True
                self.wfile.flush()
                self._reset() if act != "truncate" else self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            self.close_connection = True
        finally:
            conn.close()


def _bad_range(value, rule):
    m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", value)
    if not m:
        return value
    a, b, total = int(m.group(1)), int(m.group(2)), m.group(3)
    if rule.total is not None:
        return f"bytes {a}-{b}/{rule.total}"
    return f"bytes {a + rule.shift}-{b + rule.shift}/{total}"


# ---- helpers: objects deleted or replaced while they are read ------------------

def moto_delete_hook(s3, restore_after=None, log=None):
    """A hook fn for FaultProxy.add("hook", fn=…): delete the requested object
    in the upstream bucket (s3: a boto3 client of the upstream) before the
    request is forwarded, so this read (and the ones after it) find it gone.
    restore_after: seconds after which the same bytes are put back (a
    transient disappearance); None leaves it deleted."""
    def fn(proxy, info):
        b, k = info["bucket"], info["key"]
        try:
            obj = s3.get_object(Bucket=b, Key=k)
            saved = (obj["Body"].read(), obj.get("Metadata", {}))
        except Exception:
            return
        s3.delete_object(Bucket=b, Key=k)
        if log is not None:
            log.append(("deleted", b, k, time.time()))
        if restore_after is not None:
            def put_back():
                time.sleep(restore_after)
                s3.put_object(Bucket=b, Key=k, Body=saved[0], Metadata=saved[1])
                if log is not None:
                    log.append(("restored", b, k, time.time()))
            threading.Thread(target=put_back, daemon=True).start()
    return fn


def moto_replace_hook(s3, transform, log=None):
    """A hook fn that replaces the requested object with transform(bytes)
    (e.g. other bytes of the same or another length) before it is read."""
    def fn(proxy, info):
        b, k = info["bucket"], info["key"]
        try:
            obj = s3.get_object(Bucket=b, Key=k)
            data, meta = obj["Body"].read(), obj.get("Metadata", {})
        except Exception:
            return
        s3.put_object(Bucket=b, Key=k, Body=transform(data), Metadata=meta)
        if log is not None:
            log.append(("replaced", b, k, time.time()))
    return fn


def file_delete(path, restore_after=None):
    """Delete a file of a file:// bucket now; with restore_after, put the same
    bytes back (atomically, same mtime) that many seconds later on a thread."""
    with open(path, "rb") as f:
        data = f.read()
    st = os.stat(path)
    os.unlink(path)
    if restore_after is not None:
        def put_back():
            time.sleep(restore_after)
            file_replace(path, data, mtime_ns=st.st_mtime_ns)
        t = threading.Thread(target=put_back, daemon=True)
        t.start()
        return t
    return None


def file_replace(path, data, mtime_ns=None):
    """Replace a file of a file:// bucket atomically (rename over it), as a
    writer re-uploading the object would; a reader holding the old file open
    keeps the old bytes, the next open sees the new ones."""
    tmp = path + ".faultproxy.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    if mtime_ns is not None:
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.rename(tmp, path)


class FileMutator:
    """Deletes or replaces files of a file:// bucket at random moments on a
    thread while a server reads them: mutate(paths) → each call of step()
    (every `interval` s while running) applies fn(path) to one random path.
    fn: e.g. lambda p: file_delete(p, restore_after=0.5)."""

    def __init__(self, paths_fn, fn, interval=0.5, seed=0):
        self.paths_fn, self.fn, self.interval = paths_fn, fn, interval
        self.rng = random.Random(seed)
        self.done = threading.Event()
        self.applied = []
        self.t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t.start()
        return self

    def _run(self):
        while not self.done.wait(self.interval):
            paths = list(self.paths_fn())
            if paths:
                p = paths[self.rng.randrange(len(paths))]
                try:
                    self.fn(p)
                    self.applied.append((time.time(), p))
                except OSError:
                    pass

    def stop(self):
        self.done.set()
        self.t.join(5)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fault-injecting S3 proxy (see the module docstring)")
    ap.add_argument("--upstream", required=True, help="http://host:port of the real store (moto)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick one and print it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rule", action="append", default=[],
                    help="action=…,key=REGEX,op=get|range,method=GET,prob=P,count=N,skip=N,status=…,code=…,"
                         "seconds=…,fraction=…,shift=…,total=…,variant=…")
    ap.add_argument("--stats-every", type=float, default=0, help="print counters every N seconds")
    a = ap.parse_args(argv)
    px = FaultProxy(a.upstream, a.port, a.seed)
    for r in a.rule:
        px.add(parse_rule(r))
    print(f"faultproxy: {px.url} -> http://{px.upstream[0]}:{px.upstream[1]} ({len(px.rules)} rules); "
          f"control: {px.url}/__fault/stats", flush=True)
    px.start()
    try:
        while True:
            time.sleep(a.stats_every or 3600)
            if a.stats_every:
                s = px.stats()
                print(json.dumps({"counters": s["counters"], "injected": s["injected"]}), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        px.stop()


if __name__ == "__main__":
    main()
