#!/usr/bin/env python3
"""Never a mix for HTTP range readers (issue 10 case 4), CORS and TLS
(issue 13), with the real ltxpaged and curl:
  1. a writer commits between two range requests on the latest /file:
     the ETag names the new TXID, If-Match with the old ETag is 412,
     If-Range with the old ETag is the whole current file (200, exact
     bytes), If-Range with the current ETag is 206; pages and batches
     answer If-Match the same way; 304s carry the 200's length;
  2. the status JSON's file_url / file_url_journal_delete and
     /file?pin=1 (307) pin the TXID: ranges read through them equal that
     TXID's restore although the writer moved on;
  3. --cors-origin: allowed origins get Access-Control-Allow-Origin and
     the exposed headers, others none, Vary: Origin; OPTIONS preflight
     204 without a token (with --read-token), GET with the token; '*';
  4. --tls-cert/--tls-key with a self-signed certificate made by openssl
     now: curl --cacert reads exact bytes over https."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H, Server, chain, curl, jget, l0_by_txid, states_by_txid  # noqa: E402

ck = H.Checker("test_server_pin")
tmp = tempfile.mkdtemp(prefix="ltxpaged-pin-")
srv = None
c = chain("main-4096")
states = states_by_txid(c)
l0 = l0_by_txid(c)
db_dir = os.path.join(tmp, "live.db")


def put_l0(t):
    """Commit TXID t: copy its L0 file in atomically (tmp + rename)."""
    H.put_l0(db_dir, l0[t]["path"])


def wait_txid(t, timeout=10):
    return srv.wait_for(lambda: (srv.status("live.db") or {}).get("txid") == "%016x" % t, timeout, 0.02)


def restore(t):
    """The bytes of TXID t (pinned /file, checked against the manifest)."""
    st, _, b = curl(f"{srv.base}/live.db/file?txid={t:x}")
    ck.ok(st == 200 and H.sha256_bytes(b) == states[t]["sha256"], f"pinned /file at {t} is the manifest state")
    return b


def writer_and_conditionals():
    for t in range(1, 6):
        put_l0(t)
    ck.ok(srv.wait_ready() and wait_txid(5), "live replica at TXID 5")
    url = f"{srv.base}/live.db/file"
    st, h1, b1 = curl(url, "-r", "0-4095")
    e1 = h1.get("etag")
    ck.eq(st, 206, "first range of the latest /file")
    ck.eq(e1, '"0000000000000005-fw"', "strong ETag names the TXID and journal mode")
    ck.eq(h1.get("ltx-txid"), "0000000000000005", "Ltx-Txid of the first range")
    put_l0(6)  # the writer commits between the two range requests
    ck.ok(wait_txid(6), "writer committed TXID 6")
    cur = restore(6)
    st, h, b = curl(url, "-r", "4096-8191", "-H", f"If-Match: {e1}")
    ck.eq(st, 412, "If-Match with the old ETag after a commit")
    ck.eq(h.get("etag"), '"0000000000000006-fw"', "412 names the current ETag")
    ck.ok(b"precondition_failed" in b and len(b) < 300, "412 body is a JSON error, not file bytes")
    st, h, b = curl(url, "-r", "4096-8191", "-H", f"If-Range: {e1}")
    ck.eq(st, 200, "If-Range with the old ETag: the whole current file")
    ck.ok(b == cur, f"If-Range 200 body is exactly TXID 6 ({len(b)} bytes)")
    e2 = h.get("etag")
    st, h, b = curl(url, "-r", "4096-8191", "-H", f"If-Range: {e2}")
    ck.eq(st, 206, "If-Range with the current ETag: the range")
    ck.ok(b == cur[4096:8192], "206 bytes are TXID 6's")
    st, h, b = curl(url, "-r", "0-99", "-H", f'If-Match: "x", {e2}')
    ck.eq(st, 206, "If-Match listing the current ETag")
    st, _, _ = curl(url, "-r", "0-99", "-H", f"If-Match: W/{e2}")
    ck.eq(st, 412, "a weak ETag never satisfies If-Match")
    st, _, _ = curl(url, "-r", "0-99", "-H", "If-Match: *")
    ck.eq(st, 206, "If-Match: *")
    st, h, b = curl(url, "-H", f"If-None-Match: {e2}")
    ck.eq(st, 304, "If-None-Match current -> 304")
    ck.eq(h.get("content-length"), str(len(cur)), "304 Content-Length is the 200's length (not 0)")
    # pages and batches: the same rule
    st, hp, _ = curl(f"{srv.base}/live.db/pages/2")
    ck.eq(hp.get("etag"), '"0000000000000006-p2"', "latest page ETag")
    st, _, _ = curl(f"{srv.base}/live.db/pages/2", "-H", 'If-Match: "0000000000000005-p2"')
    ck.eq(st, 412, "page: If-Match with the previous TXID's ETag")
    st, h, _ = curl(f"{srv.base}/live.db/pages/2", "-H", f"If-None-Match: {hp.get('etag')}")
    ck.ok(st == 304 and h.get("content-length") == "4096", f"page 304 with Content-Length 4096 ({st}, {h})")
    st, hb, _ = curl(f"{srv.base}/live.db/pages?n=1-3")
    st, _, _ = curl(f"{srv.base}/live.db/pages?n=1-3", "-H", f"If-Match: {hb.get('etag')}")
    ck.eq(st, 200, "batch: If-Match current")
    put_l0(7)
    ck.ok(wait_txid(7), "TXID 7")
    st, _, _ = curl(f"{srv.base}/live.db/pages?n=1-3", "-H", f"If-Match: {hb.get('etag')}")
    ck.eq(st, 412, "batch: If-Match after a commit")


def pinned_urls():
    st, j = jget(f"{srv.base}/live.db")
    t = int(j["txid"], 16)
    ck.eq(j.get("file_url"), f"/live.db/file?txid={t:016x}", "status JSON carries the pinned file_url")
    ck.eq(j.get("file_url_journal_delete"), f"/live.db/file?txid={t:016x}&journal=delete", "and its journal=delete")
    st, h, _ = curl(f"{srv.base}/live.db/file?pin=1&journal=delete")
    ck.eq(st, 307, "?pin=1 redirects")
    ck.eq(h.get("location"), j.get("file_url_journal_delete"), "to the pinned URL")
    ck.eq(h.get("cache-control"), "no-store", "the redirect is not cached")
    pinned = srv.base + (j.get("file_url") or f"/live.db/file?txid={t:x}")
    want = restore(t)
    put_l0(t + 1)  # the writer moves on; the pinned reader must not notice
    ck.ok(wait_txid(t + 1), f"TXID {t + 1}")
    parts = b""
    for a in range(0, len(want), 65536):
        st, h, b = curl(pinned, "-r", f"{a}-{min(a + 65535, len(want) - 1)}")
        ck.ok(st == 206, f"pinned range at {a}: {st}")
        parts += b
    ck.ok(parts == want, f"ranges read through file_url ({len(parts)} bytes) equal TXID {t}")
    ck.eq(h.get("cache-control"), "public, max-age=31536000, immutable", "pinned ranges are immutable")
    st, h, b = curl(f"{srv.base}/live.db/file?pin=1", "-L", "-r", "0-99")
    ck.ok(st == 206 and b == restore(t + 1)[:100], "curl -L follows ?pin=1 to the current TXID's bytes")


def cors_and_tokens():
    global srv
    srv.stop()
    srv = Server(["--db", "live.db=" + db_dir, "--poll-interval", "200ms", "--cors-origin", "https://a.example",
                  "--cors-origin", "https://b.example", "--read-token", "tok"])
    ck.ok(srv.wait_ready(), "ready with --cors-origin")
    auth = ["-H", "Authorization: Bearer tok"]
    st, h, _ = curl(f"{srv.base}/live.db/pages/1", "-H", "Origin: https://b.example", *auth)
    ck.eq(st, 200, "GET with an allowed Origin")
    ck.eq(h.get("access-control-allow-origin"), "https://b.example", "Allow-Origin echoes the allowed origin")
    exp = [x.strip().lower() for x in h.get("access-control-expose-headers", "").split(",")]
    for need in ("etag", "content-range", "accept-ranges", "content-length", "ltx-txid", "ltx-commit",
                 "ltx-page-size", "ltx-timestamp"):
        ck.ok(need in exp, f"{need} exposed")
    ck.eq(h.get("vary"), "Origin", "Vary: Origin with a list of origins")
    st, h, _ = curl(f"{srv.base}/live.db/pages/1", "-H", "Origin: https://evil.example", *auth)
    ck.ok(st == 200 and "access-control-allow-origin" not in h, "no Allow-Origin for another origin")
    ck.eq(h.get("vary"), "Origin", "Vary: Origin also there")
    st, h, _ = curl(f"{srv.base}/live.db/file", "-X", "OPTIONS", "-H", "Origin: https://a.example",
                    "-H", "Access-Control-Request-Method: GET",
                    "-H", "Access-Control-Request-Headers: range, authorization, if-range")
    ck.eq(st, 204, "preflight answered 204 without a token")
    ck.eq(h.get("access-control-allow-origin"), "https://a.example", "preflight Allow-Origin")
    methods = h.get("access-control-allow-methods", "")
    ck.ok("GET" in methods and "HEAD" in methods, f"preflight allows GET, HEAD ({methods})")
    hdrs = h.get("access-control-allow-headers", "").lower()
    for need in ("range", "authorization", "if-match", "if-none-match", "if-range"):
        ck.ok(need in hdrs, f"preflight allows {need}")
    ck.ok(int(h.get("access-control-max-age", "0")) > 0, "preflight Max-Age")
    st, h, b = curl(f"{srv.base}/live.db/file", "-H", "Origin: https://a.example")
    ck.ok(st == 401 and h.get("access-control-allow-origin") == "https://a.example",
          "a 401 also carries Allow-Origin (the page can read the error)")
    st, h, _ = curl(f"{srv.base}/live.db/file", "-X", "OPTIONS", "-H", "Origin: https://evil.example",
                    "-H", "Access-Control-Request-Method: GET")
    ck.ok("access-control-allow-origin" not in h and "access-control-allow-methods" not in h,
          f"preflight from another origin gets no CORS headers ({st})")
    ck.eq(srv.stop(), 0, "clean exit (cors)")
    srv = Server(["--db", "live.db=" + db_dir, "--cors-origin", "*"])
    ck.ok(srv.wait_ready(), "ready with --cors-origin '*'")
    st, h, _ = curl(f"{srv.base}/live.db/pages/1", "-H", "Origin: https://any.example")
    ck.eq(h.get("access-control-allow-origin"), "*", "'*' answers Allow-Origin: *")
    ck.ok("vary" not in h, "no Vary with '*'")
    st, h, _ = curl(f"{srv.base}/live.db/pages/1")
    ck.ok("access-control-allow-origin" not in h, "no CORS headers without Origin")
    ck.eq(srv.stop(), 0, "clean exit (cors *)")
    srv = Server(["--db", "live.db=" + db_dir])
    st, _, _ = curl(f"{srv.base}/live.db/file", "-X", "OPTIONS", "-H", "Origin: https://a.example")
    ck.eq(st, 405, "without --cors-origin OPTIONS stays 405")
    ck.eq(srv.stop(), 0, "clean exit")
    srv = None


def tls():
    global srv
    crt, key = os.path.join(tmp, "crt.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True)
    ck.eq(r.returncode, 0, "openssl made a self-signed certificate")
    srv = Server(["--db", "live.db=" + db_dir, "--tls-cert", crt, "--tls-key", key])
    https = f"https://127.0.0.1:{srv.port}"
    ok = srv.wait_for(lambda: curl(https + "/readyz", "--cacert", crt)[0] == 200, 15, 0.1)
    ck.ok(ok, "https /readyz with --cacert")
    st, h, b = curl(https + "/live.db/file", "--cacert", crt)
    t = int(h.get("ltx-txid", "0"), 16)
    ck.ok(st == 200 and t in states and H.sha256_bytes(b) == states[t]["sha256"], f"/file over TLS exact (TXID {t})")
    st, _, _ = curl(https + "/live.db/pages/1")
    ck.eq(st, 0, "curl without the CA refuses the self-signed certificate")
    st, _, _ = curl(f"http://127.0.0.1:{srv.port}/live.db/pages/1")
    ck.ok(st != 200, f"plain HTTP to the TLS port is not served ({st})")
    ck.eq(srv.stop(), 0, "clean exit (tls)")
    srv = None
    p = subprocess.run([H.binary("ltxpaged"), "--db", "live.db=" + db_dir, "--listen", f"127.0.0.1:{H.free_port()}",
                        "--tls-cert", crt], capture_output=True, text=True, timeout=20)
    ck.ok(p.returncode == 1 and "--tls-key" in p.stderr, "--tls-cert without --tls-key fails start-up")


try:
    os.makedirs(db_dir)
    srv = Server(["--db", "live.db=" + db_dir, "--poll-interval", "200ms"])
    writer_and_conditionals()
    pinned_urls()
    cors_and_tokens()
    tls()
finally:
    H.cleanup(tmp, srv)
ck.done()
