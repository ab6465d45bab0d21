#!/usr/bin/env python3
"""Object versions, conditional writes, deadlines and fault retries of the S3
backend against a real moto_server (the file backend runs the same C cases
in the store_cond_file test).

Starts moto and a fault proxy in front of it, then runs
test_store_cond s3://<bucket>/replicas with the environment set. Proxy
behaviour is chosen by the bucket name of the (path-style) request:
  stall    reads the request, never answers
  long     first 2 ranged GETs per path: 206 with 10 bytes more than asked
  shift    first 2 ranged GETs per path: Content-Range starting one byte late
  cut      first 2 ranged GETs per path: Content-Length promised, half sent, closed
  faulty   30 % of ranged GETs fail at random: 500, 503 SlowDown, reset, long,
           shift, cut, stall 1 s (past the test's 400 ms attempt timeout)
  lostack  the first PUT per path reaches moto, then the connection closes
           without the answer
Anything else is proxied unchanged (to the bucket STORE_S3_BUCKET).
"""
import http.client
import http.server
import os
import random
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

BUCKET = "ltx-cond"


class FaultProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # dropped and stalled clients are expected

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.counts = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rng = random.Random(20261204)
        super().__init__(("127.0.0.1", harness.free_port()), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _count(self, path):
        with self.server.lock:
            n = self.server.counts.get(path, 0)
            self.server.counts[path] = n + 1
        return n

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def _upstream(self, body, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=10)
        rest = self.path[len("/" + self.path.split("?")[0].split("/")[1]):]
        conn.request(self.command, "/" + BUCKET + rest, body=body or None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, r.getheaders(), data

    def _send(self, status, hdrs, data, content_range=None, content_length=None, send=None):
        self.send_response(status)
        for k, v in hdrs:
            if k.lower() in ("content-type", "etag", "last-modified", "accept-ranges", "x-amz-meta-litestream-timestamp"):
                self.send_header(k, v)
            elif k.lower() == "content-range":
                self.send_header(k, content_range or v)
        self.send_header("Content-Length", str(len(data) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data if send is None else send)

    def _fault(self, kind, status, hdrs, data):
        """Answer a ranged GET wrongly in the way kind says."""
        if kind == "500":
            return self._send(500, [], b"<Error><Code>InternalError</Code></Error>")
        if kind == "503":
            return self._send(503, [], b"<Error><Code>SlowDown</Code></Error>")
        if kind == "reset":
            return self._drop()
        if kind == "stall":
            self.server.stop.wait(1.0)
            return self._drop()
        if kind == "long":
            return self._send(status, hdrs, data + b"\x00" * 10)
        if kind == "shift":
            m = re.match(r"bytes (\d+)-(\d+)/(\d+)", dict((k.lower(), v) for k, v in hdrs).get("content-range", ""))
            cr = "bytes %d-%d/%s" % (int(m.group(1)) + 1, int(m.group(2)) + 1, m.group(3)) if m else None
            return self._send(status, hdrs, data, content_range=cr)
        if kind == "cut":
            self._send(status, hdrs, data, content_length=len(data), send=data[: len(data) // 2])
            return self._drop()
        raise ValueError(kind)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode = self.path.split("?")[0].split("/")[1]
        path = self.path.split("?")[0]
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if mode == "stall":
            self.server.stop.wait(120)
            return self._drop()
        ranged = self.command == "GET" and "range" in (k.lower() for k in headers)
        if mode == "lostack" and self.command == "PUT" and self._count(path) == 0:
            self._upstream(body, headers)
            return self._drop()
        status, hdrs, data = self._upstream(body, headers)
        if ranged and status == 206 and mode in ("long", "shift", "cut") and self._count(path) < 2:
            return self._fault(mode, status, hdrs, data)
        if ranged and status == 206 and mode == "faulty":
            with self.server.lock:
                hit = self.server.rng.random() < 0.30
                kind = self.server.rng.choice(["500", "503", "reset", "long", "shift", "cut", "stall"])
            if hit:
                return self._fault(kind, status, hdrs, data)
        return self._send(status, hdrs, data)

    do_GET = do_PUT = do_DELETE = do_HEAD = _handle


def main():
    chk = harness.Checker("store_cond_s3")
    exe = harness.test_exe("test_store_cond")
    moto = harness.Moto()
    proxy = None
    try:
        moto.client().create_bucket(Bucket=BUCKET)
        proxy = FaultProxy(moto.port)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        env = harness.c_test_env(moto, {"STORE_FAULT_ENDPOINT": f"http://127.0.0.1:{proxy.server_address[1]}"})
        harness.run_c_test(chk, [exe, f"s3://{BUCKET}/replicas"], env, "test_store_cond against moto exit status")
        # what the C side wrote, seen through boto3: the lock object sits
        # beside the level folders
        c = moto.client()
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=BUCKET, Prefix="replicas/").get("Contents", [])]
        chk.ok(any(re.match(r"replicas/cas-\d+-\d+\.db/lock\.json$", k) for k in keys), "lock.json key layout")
        chk.ok(any(re.match(r"replicas/race-\d+-\d+\.db/0000/0000000000000005-0000000000000005\.ltx$", k)
                   for k in keys), "published LTX key layout")
    finally:
        if proxy:
            proxy.stop.set()
            proxy.shutdown()
            proxy.server_close()
        moto.stop()
    signed_phase(chk, exe)
    chk.done()


def signed_phase(chk, exe):
    """The conditional requests (If-None-Match: *, If-Match, conditional
    DELETE) against a moto that verifies SigV4: the signed headers must be
    accepted, a wrong secret refused."""
    moto, key, _ = harness.moto_with_auth(BUCKET)
    try:
        env = harness.c_test_env(moto, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                                        "STORE_COND_AUTH_ONLY": "1"})
        harness.run_c_test(chk, [exe, f"s3://{BUCKET}/replicas"], env,
                           "conditional requests against a signature-checking moto", timeout=120)
        env["AWS_SECRET_ACCESS_KEY"] = "wrong"
        r = subprocess.run([exe, f"s3://{BUCKET}/replicas"], env=env, capture_output=True, text=True, timeout=120)
        chk.ok(r.returncode != 0, "the same requests with a wrong secret are refused")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
