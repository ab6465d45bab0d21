#!/usr/bin/env python3
"""ltxctl (and the store under ltxpaged) on S3 over https:// with a private
CA (issue 13): moto_server behind a TLS-terminating proxy (Python ssl +
sockets, 127.0.0.1), a self-signed certificate made with the openssl CLI at
test time, the endpoint given as AWS_ENDPOINT_URL_S3=https://127.0.0.1:PORT.

- `ltxctl restore s3://… --cafile cert.pem` restores the reference state
  byte for byte, and its requests went through the proxy;
- without a CA: exit 1 at once (no retries) with the certificate problem
  named, no output file;
- a CA that did not sign the server's certificate: the same refusal;
- AWS_CA_BUNDLE, and SSL_CERT_FILE, in the environment work like --cafile;
- --cafile naming a missing file: usage error (exit 2) naming it;
- verify, inspect of an s3:// object, and the writer (snapshot into a new
  prefix, then a restore of it) over TLS with --cafile;
- ltxpaged (same store code) with AWS_CA_BUNDLE serves the replica's latest
  TXID over the TLS endpoint.
"""
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

C = harness.Checker("test_ltxctl_tls")
M = harness.manifest()
LTXCTL = harness.binary("ltxctl")


class TLSProxy:
    """TLS on 127.0.0.1:<free port>, plain TCP to upstream_port: byte pipe."""

    def __init__(self, upstream_port, ctx):
        self.upstream_port = upstream_port
        self.ctx = ctx
        self.handshakes = 0
        self.failed_handshakes = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        conn.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.failed_handshakes += 1
            conn.close()
            return
        with self.lock:
            self.handshakes += 1
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        except OSError:
            tls.close()
            return
        t = threading.Thread(target=self.pipe, args=(up, tls), daemon=True)
        t.start()
        self.pipe(tls, up)
        t.join(timeout=30)
        for s in (tls, up):
            try:
                s.close()
            except OSError:
                pass

    @staticmethod
    def pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ssl.SSLError):
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except (OSError, ssl.SSLError):
            pass

    def stop(self):
        self.stopping = True
        self.sock.close()


def make_cert(d, name):
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + "-key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    C.eq(r.returncode, 0, f"openssl made {name}.pem ({r.stderr.strip()[-200:]})")
    return cert, key


def main():
    if not shutil.which("openssl"):
        print("SKIP: the openssl CLI is not installed")
        C.ok(True, "skipped")
        C.done()
    tmp = tempfile.mkdtemp(prefix="ltxctl-tls-")
    moto = proxy = srv = None
    try:
        cert, key = make_cert(tmp, "cert")
        other, _ = make_cert(tmp, "other")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        moto = harness.Moto()
        ch = M["chains"][0]
        moto.upload_tree("vec", harness.vec(ch["s3_root"]), "db")
        proxy = TLSProxy(moto.port, ctx)
        https = f"https://127.0.0.1:{proxy.port}"
        base = {k: v for k, v in os.environ.items()
                if k not in ("AWS_CA_BUNDLE", "SSL_CERT_FILE", "AWS_ENDPOINT_URL", "CURL_CA_BUNDLE")}
        base.update(moto.env())
        base["AWS_ENDPOINT_URL_S3"] = https
        if harness.SANITIZE:
            base.setdefault("ASAN_OPTIONS", "detect_leaks=1")

        def run(*args, env=None):
            e = dict(base)
            e.update(env or {})
            t0 = time.time()
            p = subprocess.run([LTXCTL, *args], capture_output=True, text=True, env=e, timeout=120)
            return p.returncode, p.stdout, p.stderr, time.time() - t0

        latest = ch["states"][-1]
        out = os.path.join(tmp, "out.db")

        # --cafile
        rc, so, se, _ = run("restore", "s3://vec/db", out, "--cafile", cert)
        if C.eq(rc, 0, f"restore over https with --cafile ({se.strip()})"):
            C.eq(harness.sha256_file(out), latest["sha256"], "restore over https: the latest state byte for byte")
            C.ok(f"TXID {latest['txid']}" in so, f"restore over https reports TXID {latest['txid']} ({so.strip()})")
        C.ok(proxy.handshakes > 0, f"the requests went through the TLS proxy ({proxy.handshakes} handshakes)")

        # no CA: a certificate error, at once
        out2 = os.path.join(tmp, "none.db")
        before = proxy.failed_handshakes
        rc, so, se, el = run("restore", "s3://vec/db", out2)
        C.ok(rc == 1 and "certificate" in se, f"without a CA: exit 1 naming the certificate ({rc}, {se.strip()!r})")
        C.ok("vec" in se, f"without a CA: the message names the bucket ({se.strip()!r})")
        C.eq(proxy.failed_handshakes - before, 1, "without a CA: one refused handshake, no retries")
        C.ok(el < 5, f"without a CA: fails fast ({el:.2f} s)")
        C.ok(not os.path.exists(out2), "without a CA: no output file")
        print("without a CA:", se.strip(), flush=True)

        # a CA that did not sign the certificate
        rc, so, se, _ = run("restore", "s3://vec/db", out2, "--cafile", other)
        C.ok(rc == 1 and "certificate" in se, f"the wrong CA: refused ({se.strip()!r})")

        # the environment
        for var in ("AWS_CA_BUNDLE", "SSL_CERT_FILE"):
            rc, so, se, _ = run("restore", "s3://vec/db", out, "--force", env={var: cert})
            if C.eq(rc, 0, f"{var}=cert.pem ({se.strip()})"):
                C.eq(harness.sha256_file(out), latest["sha256"], f"{var}: the latest state")
        rc, so, se, _ = run("restore", "s3://vec/db", out, "--force", "--cafile", cert, env={"AWS_CA_BUNDLE": other})
        C.eq(rc, 0, f"--cafile wins over AWS_CA_BUNDLE ({se.strip()})")
        rc, so, se, _ = run("restore", "s3://vec/db", out, "--force", env={"AWS_CA_BUNDLE": other, "SSL_CERT_FILE": cert})
        C.ok(rc == 1 and "certificate" in se, f"AWS_CA_BUNDLE wins over SSL_CERT_FILE ({se.strip()!r})")

        # a missing CA file: usage error before any request
        rc, so, se, _ = run("restore", "s3://vec/db", out2, "--cafile", os.path.join(tmp, "missing.pem"))
        C.ok(rc == 2 and "--cafile" in se and "missing.pem" in se, f"missing --cafile: exit 2 ({rc}, {se.strip()!r})")

        # the other commands
        rc, so, se, _ = run("verify", "s3://vec/db", "--cafile", cert)
        C.ok(rc == 0 and "ok: s3://vec/db" in so, f"verify over https ({so.strip()} {se.strip()})")
        f = ch["files"][0]
        url = "s3://vec/" + f["s3_copy_path"][len(ch["s3_root"]) - 2:]
        rc, so, se, _ = run("inspect", url, "--json", "--cafile", cert)
        if C.eq(rc, 0, f"inspect {url} over https ({se.strip()})"):
            C.eq(json.loads(so).get("sha256"), f["sha256"], "inspect over https: the object's SHA-256")
        rc, so, se, _ = run("inspect", url, "--json")
        C.ok(rc == 1 and "certificate" in se, f"inspect without a CA: refused ({se.strip()!r})")
        db = os.path.join(tmp, "small.db")
        harness.small_db(db)
        rc, so, se, _ = run("snapshot", db, "s3://vec/new", "--cafile", cert)
        C.eq(rc, 0, f"snapshot into s3 over https ({so.strip()} {se.strip()})")
        rc, so, se, _ = run("restore", "s3://vec/new", os.path.join(tmp, "new.db"), "--cafile", cert)
        if C.eq(rc, 0, f"restore of the snapshot over https ({se.strip()})"):
            C.eq(harness.sha256_file(os.path.join(tmp, "new.db")), harness.sha256_file(db), "snapshot round trip")
        rc, so, se, _ = run("snapshot", db, "s3://vec/new2")
        C.ok(rc == 1 and "certificate" in se, f"snapshot without a CA: refused ({se.strip()!r})")
        c = sqlite3.connect(db)
        c.execute("INSERT INTO t VALUES (-1)")
        c.commit()
        c.close()
        rc, so, se, _ = run("replicate", db, "s3://vec/new", "--once", "--cafile", cert)
        C.ok(rc == 0 and "wrote L0 0000000000000002" in so, f"replicate --once over https ({so.strip()} {se.strip()})")
        rc, so, se, _ = run("compact", "s3://vec/new", "--level", "1", "--cafile", cert)
        C.ok(rc == 0 and "wrote L1" in so, f"compact --level 1 over https ({so.strip()} {se.strip()})")
        rc, so, se, _ = run("restore", "s3://vec/new", os.path.join(tmp, "new.db"), "--force", "--cafile", cert)
        if C.eq(rc, 0, f"restore after replicate and compact over https ({se.strip()})"):
            C.eq(harness.sha256_file(os.path.join(tmp, "new.db")), harness.sha256_file(db), "replicate round trip")
        for cmd in ("inspect", "verify", "restore", "snapshot", "replicate", "compact"):
            rc, so, se, _ = run(cmd, "--help")
            C.ok(rc == 0 and "--cafile FILE" in so, f"ltxctl {cmd} --help lists --cafile")

        # ltxpaged: the same store, AWS_CA_BUNDLE from the environment
        port = harness.free_port()
        env = dict(base, AWS_CA_BUNDLE=cert)
        srv = harness.Proc([harness.binary("ltxpaged"), "--listen", f"127.0.0.1:{port}", "--replica", "s3://vec",
                            "--poll-interval", "200ms"], env=env)
        harness.wait_port(port, 20, srv.p)
        txid = None
        deadline = time.time() + 20
        while time.time() < deadline and txid != latest["txid"]:
            st, _, body = harness.http_get(f"http://127.0.0.1:{port}/db")
            if st == 200:
                txid = json.loads(body).get("txid")
            time.sleep(0.1)
        C.eq(txid, latest["txid"], "ltxpaged with AWS_CA_BUNDLE serves the replica over the https endpoint")
    finally:
        for x in (srv, proxy, moto):
            if x:
                x.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    C.done()


if __name__ == "__main__":
    main()
