#!/usr/bin/env python3
"""S3 backend of store/ against a real moto_server.

Starts moto and a small fault-injecting proxy in front of it, uploads the
fixture (vectors main-4096 under replicas/app.db, >1000 tiny L0 files under
replicas/big.db, one file under "replicas/a&b.db", foreign keys), then runs
the C test binary test_store_s3 (cmocka) with the environment pointing at
them. Afterwards it checks with boto3 what the C code wrote (key layout,
x-amz-meta-litestream-timestamp in RFC3339Nano, body).

Proxy behaviour is chosen by the bucket name in the (path-style) request:
  flaky   first two requests per path answer 500, then proxied to moto
  down    always 503
  drop    connection closed without an answer
  slow    answers after 2 s
  deny    403 AccessDenied
  norange proxied with the Range header removed (server sends 200 + all)
  record  requests are recorded (checked here afterwards): empty listing / 404
  moved   301 PermanentRedirect with x-amz-bucket-region: eu-west-1
  short   206 answers cut to half their body (Content-Range unchanged)
"""
import concurrent.futures
import http.client
import http.server
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

BUCKET = "ltx-store"
BIG = 1050  # > 1000 keys: ListObjectsV2 continuation


class FaultProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that time out / get dropped on purpose are expected

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.counts = {}
        self.recorded = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", harness.free_port()), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, code, body=b"", ctype="application/xml"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        mode = path.split("?")[0].split("/")[1]
        rest = path[len("/" + mode):]
        if mode == "record":
            with self.server.lock:
                self.server.recorded.append((self.command, path, {k.lower(): v for k, v in self.headers.items()}))
            if "list-type=2" in path:
                return self._reply(200, b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                                        b'<IsTruncated>false</IsTruncated></ListBucketResult>')
            return self._reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        if mode == "moved":
            body = b"<Error><Code>PermanentRedirect</Code><Message>use the right endpoint</Message></Error>"
            self.send_response(301)
            self.send_header("x-amz-bucket-region", "eu-west-1")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        if mode == "down":
            return self._reply(503, b"<Error><Code>SlowDown</Code></Error>")
        if mode == "deny":
            return self._reply(403, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
        if mode == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode == "slow":
            time.sleep(2)
            return self._reply(500, b"")
        if mode == "flaky":
            k = self.command + " " + path.split("?")[0]
            with self.server.lock:
                n = self.server.counts.get(k, 0)
                self.server.counts[k] = n + 1
            if n < 2:
                return self._reply(500, b"<Error><Code>InternalError</Code></Error>")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if mode == "norange":
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        short = mode == "short"
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=10)
        conn.request(self.command, "/" + BUCKET + rest, body=body or None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if short and r.status == 206:
            data = data[: len(data) // 2]  # Content-Range still claims the whole range
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("content-type", "content-range", "etag", "last-modified", "accept-ranges"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_DELETE = do_HEAD = _handle


def upload_fixture(moto):
    c = moto.client()
    c.create_bucket(Bucket=BUCKET)
    m = harness.manifest()
    chain = next(ch for ch in m["chains"] if ch["name"] == "main-4096")
    moto.upload_tree(BUCKET, harness.vec(chain["s3_root"]), "replicas/app.db")
    one = open(harness.vec(chain["files"][0]["s3_copy_path"]), "rb").read()
    c.put_object(Bucket=BUCKET, Key="replicas/a&b.db/0000/0000000000000001-0000000000000001.ltx", Body=one)
    # foreign things that must be ignored
    for k in ("replicas/app.db/0000/readme.txt", "replicas/app.db/0000/0000000000000001-0000000000000001.ltx.tmp",
              "replicas/app.db/0000/00000000000000AA-00000000000000AA.ltx", "replicas/app.db/lock.json",
              "replicas/notadb/readme.txt", "replicas/notadb/xyz/0000/0000000000000001-0000000000000001.ltx",
              "replicas/.hidden.db/0000/0000000000000001-0000000000000001.ltx", "replicas/loose.txt",
              "replicas/app.db/000a/0000000000000001-0000000000000001.ltx",
              "replicas/app.db/0000/sub/0000000000000002-0000000000000002.ltx",
              "replicas/app.db/00001/0000000000000001-0000000000000001.ltx"):
        c.put_object(Bucket=BUCKET, Key=k, Body=b"x")

    def put(i):
        c.put_object(Bucket=BUCKET, Key="replicas/big.db/0000/%016x-%016x.ltx" % (i, i), Body=b"L")

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(put, range(1, BIG + 1)))
    return c, chain


def main():
    chk = harness.Checker("store_s3")
    exe = harness.test_exe("test_store_s3")
    moto = harness.Moto()
    proxy = None
    try:
        t0 = time.time()
        c, chain = upload_fixture(moto)
        print(f"fixture uploaded in {time.time() - t0:.1f}s", flush=True)
        proxy = FaultProxy(moto.port)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        env = harness.c_test_env(moto, {"AWS_SECRET_ACCESS_KEY": "secret-value-that-must-not-leak",
                                        "STORE_S3_BUCKET": BUCKET,
                                        "STORE_FAULT_ENDPOINT": f"http://127.0.0.1:{proxy.server_address[1]}",
                                        "STORE_BIG_COUNT": str(BIG), "LTX_VECTORS": harness.VECTORS})
        harness.run_c_test(chk, [exe], env, "test_store_s3 exit status")

        # What went over the wire to the recording proxy.
        rec = proxy.recorded
        chk.eq(len(rec), 3, "requests seen by the recording proxy")
        if len(rec) == 3:
            (m1, p1, h1), (m2, p2, h2), (m3, p3, h3) = rec
            chk.eq(p3, "/record/?list-type=2&prefix=replicas%2Fapp.db%2F0001%2F", "listing without start-after")
            chk.ok("/eu-west-2/s3/aws4_request" in h3.get("authorization", ""),
                   "region taken from a bucket.s3.<region>.amazonaws.com URL")
            chk.ok("x-amz-security-token" not in h3, "no session token when none is set")
            chk.eq(m1, "GET", "list method")
            chk.eq(p1, "/record/?list-type=2&prefix=replicas%2Fapp.db%2F0000%2F&start-after="
                       "replicas%2Fapp.db%2F0000%2F0000000000000004-ffffffffffffffff.ltx",
                   "ListObjectsV2 request line (encoded prefix and start-after)")
            chk.eq(h1.get("x-amz-security-token"), "session-token-value" + "T" * 3000, "session token header (3 KiB)")
            auth = h1.get("authorization", "")
            chk.ok(auth.startswith("AWS4-HMAC-SHA256 Credential=testing/") and "/us-east-1/s3/aws4_request" in auth,
                   f"authorization credential scope: {auth[:90]}")
            chk.ok("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token," in auth,
                   f"signed headers of a listing: {auth}")
            chk.eq(h1.get("x-amz-content-sha256"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                   "payload hash of a bodyless request")
            chk.ok(len(h1.get("x-amz-date", "")) == 16 and h1["x-amz-date"].endswith("Z"), "x-amz-date format")
            chk.eq(p2, "/record/replicas/app.db/0000/0000000000000002-0000000000000002.ltx", "object path")
            chk.eq(h2.get("range"), "bytes=100-149", "Range header")
            chk.ok("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token," in
                   h2.get("authorization", ""), "range is signed")
            chk.eq(h2.get("host"), "127.0.0.1:%d" % proxy.server_address[1], "Host header (path style)")

        # What the C side wrote, seen through boto3.
        h = c.head_object(Bucket=BUCKET, Key="replicas/meta.db/0001/0000000000000010-0000000000000020.ltx")
        chk.eq(h["ContentLength"], 5000, "written object size")
        chk.eq(h["Metadata"].get("litestream-timestamp"), "2025-01-01T00:00:00.123Z",
               "litestream-timestamp (RFC3339Nano, ms precision)")
        h = c.head_object(Bucket=BUCKET, Key="replicas/meta.db/0002/0000000000000001-0000000000000020.ltx")
        chk.eq(h["Metadata"].get("litestream-timestamp"), "2025-01-01T00:00:01Z",
               "litestream-timestamp without fraction (as Go's RFC3339Nano prints it)")
        body = c.get_object(Bucket=BUCKET, Key="replicas/meta.db/0001/0000000000000010-0000000000000020.ltx")["Body"].read()
        chk.eq(body, bytes((i * 13 + 1) & 0xFF for i in range(5000)), "written body")
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=BUCKET, Prefix="replicas/new.db/")["Contents"]] \
            if c.list_objects_v2(Bucket=BUCKET, Prefix="replicas/new.db/").get("KeyCount") else []
        chk.eq(keys, [], "deleted object is gone")
    finally:
        if proxy:
            proxy.shutdown()
            proxy.server_close()
        moto.stop()
    auth_phase(chk, exe)
    chk.done()


def auth_phase(chk, exe):
    """A second moto that verifies SigV4 (INITIAL_NO_AUTH_ACTION_COUNT): the
    C client's signatures must be accepted, a wrong secret refused."""
    import boto3
    moto, key, s3 = harness.moto_with_auth(BUCKET)
    try:
        # the server really checks: boto3 with a wrong secret is refused
        bad = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1",
                           aws_access_key_id=key["AccessKeyId"], aws_secret_access_key="wrong")
        try:
            bad.put_object(Bucket=BUCKET, Key="x", Body=b"x")
            chk.ok(False, "moto verifies signatures (a wrong secret was accepted)")
        except Exception:
            chk.ok(True, "moto verifies signatures")
        # moto limitation (why the C auth test sticks to object requests):
        # it refuses even boto3's ListObjectsV2 when the prefix holds '/'.
        try:
            s3.list_objects_v2(Bucket=BUCKET, Prefix="replicas/")
            print("note: this moto accepts signed listings with '/' in the prefix", flush=True)
        except Exception as ex:
            print(f"note: moto refuses boto3's own signed listing with a '/' prefix: {ex}", flush=True)
        env = harness.c_test_env(moto, {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                                        "STORE_LS_KEY": key["AccessKeyId"], "STORE_LS_SECRET": key["SecretAccessKey"],
                                        "STORE_S3_BUCKET": BUCKET, "STORE_FAULT_ENDPOINT": "http://127.0.0.1:9",
                                        "STORE_BIG_COUNT": "0", "STORE_AUTH_ONLY": "1", "LTX_VECTORS": harness.VECTORS})
        harness.run_c_test(chk, [exe], env, "test_store_s3 against a signature-checking moto", timeout=120)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
        chk.eq(keys, ["replicas/a b~c.db/0000/0000000000000001-0000000000000001.ltx",
                      "replicas/plain.db/0000/0000000000000001-0000000000000001.ltx"],
               "keys written through signed requests")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
